/*
 * smtp/policy: the one reception policy of the process (relay check,
 * domains taken from anyone, sender check, AUTH back-end, STARTTLS
 * context). The built-in plugins set it at init;
 * sessions, AUTH and commands read it through reception_get().
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "lib/xmalloc.h"
#include "smtp/policy.h"

static struct reception policy;

const struct reception *
reception_get(void)
{
	return &policy;
}

int
auth_method_allowed(unsigned methods, unsigned method, int tls, int loopback)
{
	if (!(methods & method))
		return 0;
	if ((method & (AUTH_PLAIN | AUTH_LOGIN)) && !tls && !loopback)
		return 0;
	return 1;
}

void
reception_set_relay(relay_fn fn, void *data)
{
	policy.relay = fn;
	policy.relay_data = data;
}

void
reception_set_local_domain(local_domain_fn fn, void *data, int anti_spoof)
{
	policy.local_domain = fn;
	policy.local_domain_data = data;
	policy.anti_spoof = anti_spoof;
}

void
reception_set_mail_check(mail_check_fn fn, void *data)
{
	policy.mail_check = fn;
	policy.mail_check_data = data;
}

void
reception_set_auth(const struct auth_backend *a)
{
	policy.auth = a;
}

void
reception_set_tls(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	if (policy.tls != NULL)
		SSL_CTX_free(policy.tls);
	policy.tls = ctx;
}

void
reception_set_feedback(feedback_domain_fn is, feedback_take_fn take,
    void *data)
{
	policy.feedback_domain = is;
	policy.feedback_take = take;
	policy.feedback_data = data;
}

int
reception_feedback_rcpt(const char *addr)
{
	const char *at = strrchr(addr, '@');
	char *d;
	int yes;

	if (policy.feedback_domain == NULL)
		return 0;
	d = xstrdup(at != NULL ? at + 1 : addr);
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	yes = policy.feedback_domain(d, policy.feedback_data);
	free(d);
	return yes;
}
