/*
 * mail_from.is_resolvable: Haraka's plugin of that name. At MAIL the
 * sender's domain must have an MX whose host resolves to a usable
 * address (not matching re_bogus_ip, not a non-unicast IPv6 address);
 * with allow_mx_ip=true an implicit MX (the domain's own A/AAAA) or an IP
 * exchange counts too. Lookups go through c-ares on the loop (a resolver
 * of its own, on net-utils.ini's servers), each step bounded by
 * timeout_ms. Config mail_from.is_resolvable.ini: [main] allow_mx_ip
 * (false), re_bogus_ip, timeout_ms (5000; Haraka's older `timeout`, in
 * seconds, is read too), [reject] no_mx = deny (550) | defer (450) | no.
 * Replies are Haraka's texts with enhanced codes: `550 5.1.8 No MX for
 * your FROM address`, `550 5.1.8 No valid MX for your FROM address`,
 * `550 5.7.27 Null MX: <domain> does not send mail` (RFC 7505),
 * `450 4.4.3 Temp. resolver error (<why>)`.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <event2/event.h>

#include "core/dns_config.h"
#include "delivery/dns.h"
#include "delivery/mx.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "smtp/policy.h"

#define NAME		"mail_from.is_resolvable"
#define DEF_BOGUS	"^(0\\.0\\.0\\.0|255\\.255\\.255\\.255|127\\.)"

enum no_mx { NO_MX_DENY, NO_MX_DEFER, NO_MX_NO };

struct resolvable {
	struct event_base	*base;
	struct dns		*dns;
	regex_t			 bogus;
	int			 allow_mx_ip;
	enum no_mx		 no_mx;
	unsigned		 timeout_ms;
	struct check		*checks;	/* in flight */
};

struct check {
	struct resolvable	*r;
	struct check		*next, **prevp;
	char			*domain;
	char			 uuid[64];
	mail_check_done_fn	 done;
	void			*cookie;
	struct dns_query	*q;
	struct event		*timer;
};

static void
check_end(struct check *c, const char *reply)
{
	mail_check_done_fn done = c->done;
	void *cookie = c->cookie;

	if (c->q != NULL)
		dns_cancel(c->q);
	event_free(c->timer);
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	*c->prevp = c->next;
	free(c->domain);
	free(c);
	done(cookie, reply);
}

/* A refusal for "no (valid) MX", as [reject] no_mx says; NULL: accept. */
static void
no_mx(struct check *c, const char *text)
{
	char *reply;

	switch (c->r->no_mx) {
	case NO_MX_NO:
		op_log(OP_LOG_INFO, NAME, c->uuid, "%s: %s (no_mx=no)",
		    c->domain, text);
		check_end(c, NULL);
		return;
	case NO_MX_DEFER:
		reply = xasprintf("450 4.1.8 %s", text);
		break;
	default:
		reply = xasprintf("550 5.1.8 %s", text);
		break;
	}
	check_end(c, reply);
	free(reply);
}

static void
temp_error(struct check *c, const char *why)
{
	char *reply = xasprintf("450 4.4.3 Temp. resolver error (%s)", why);

	check_end(c, reply);
	free(reply);
}

/* Haraka's ipv6_bogus: anything but global unicast. */
static int
v6_bogus(const char *s)
{
	struct in6_addr a;
	const unsigned char *b = a.s6_addr;

	if (inet_pton(AF_INET6, s, &a) != 1)
		return 1;
	if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LOOPBACK(&a) ||
	    IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a) ||
	    b[0] == 0xff ||				/* multicast */
	    (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||	/* link-local */
	    (b[0] & 0xfe) == 0xfc ||			/* unique local */
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d &&
	    b[3] == 0xb8) ||				/* documentation */
	    (b[0] == 0x20 && b[1] == 0x02) ||		/* 6to4 */
	    (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff &&
	    b[3] == 0x9b))				/* NAT64 */
		return 1;
	return (b[0] & 0xe0) != 0x20;			/* 2000::/3 */
}

static int
usable_ip(const struct resolvable *r, const char *ip)
{
	switch (mx_ip_family(ip)) {
	case 4:
		return regexec(&r->bogus, ip, 0, NULL, 0) != 0;
	case 6:
		return !v6_bogus(ip);
	default:
		return 0;
	}
}

static void
arm(struct check *c)
{
	struct timeval tv = { c->r->timeout_ms / 1000,
	    (c->r->timeout_ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

static void
on_addresses(void *arg, struct dns_answer *ans)
{
	struct check *c = arg;

	c->q = NULL;
	for (size_t i = 0; i < ans->n; i++)
		if (ans->mxs[i].exchange != NULL &&
		    usable_ip(c->r, ans->mxs[i].exchange)) {
			check_end(c, NULL);
			return;
		}
	no_mx(c, "No valid MX for your FROM address");
}

static void
on_mx(void *arg, struct dns_answer *ans)
{
	struct check *c = arg;
	struct mx *names;
	size_t n = 0;
	char *reply;

	c->q = NULL;
	switch (ans->status) {
	case DNS_TEMP:
		temp_error(c, ans->error ? ans->error : "DNS error");
		return;
	case DNS_NXDOMAIN:
	case DNS_NOWHERE:
		no_mx(c, "No MX for your FROM address");
		return;
	case DNS_NULL_MX:
		if (c->r->no_mx == NO_MX_NO) {
			check_end(c, NULL);
			return;
		}
		reply = xasprintf("550 5.7.27 Null MX: %s does not send mail",
		    c->domain);
		check_end(c, reply);
		free(reply);
		return;
	case DNS_OK:
		break;
	}
	names = xcalloc(ans->n ? ans->n : 1, sizeof(*names));
	for (size_t i = 0; i < ans->n; i++) {
		const struct mx *m = &ans->mxs[i];

		if (m->exchange == NULL)
			continue;
		if (mx_ip_family(m->exchange) == 0)
			names[n++] = *m;	/* copied by dns_addresses */
		else if (c->r->allow_mx_ip && usable_ip(c->r, m->exchange)) {
			free(names);
			check_end(c, NULL);
			return;
		}
	}
	if (n == 0) {
		free(names);
		no_mx(c, "No valid MX for your FROM address");
		return;
	}
	evtimer_del(c->timer);
	arm(c);
	c->q = dns_addresses(c->r->dns, names, n, INET_PREFER_DEFAULT,
	    on_addresses, c);
	free(names);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;

	(void)fd;
	(void)what;
	op_log(OP_LOG_INFO, NAME, c->uuid, "%s: lookup timed out after %u ms",
	    c->domain, c->r->timeout_ms);
	temp_error(c, "ETIMEOUT");
}

static void
resolvable_check(const char *domain, const char *uuid, mail_check_done_fn done,
    void *cookie, void *data)
{
	struct resolvable *r = data;
	struct check *c = xcalloc(1, sizeof(*c));

	c->r = r;
	c->domain = xstrdup(domain);
	snprintf(c->uuid, sizeof(c->uuid), "%s", uuid ? uuid : "-");
	c->done = done;
	c->cookie = cookie;
	c->next = r->checks;
	if (c->next != NULL)
		c->next->prevp = &c->next;
	c->prevp = &r->checks;
	r->checks = c;
	c->timer = evtimer_new(r->base, on_timeout, c);
	arm(c);
	c->q = dns_mx(r->dns, domain, on_mx, c);
}

static void
resolvable_shutdown(void *data)
{
	struct resolvable *r = data;

	if (r == NULL)
		return;
	reception_set_mail_check(NULL, NULL);
	/* The loop has stopped: pending senders are answered 421 and their
	 * sessions released. */
	while (r->checks != NULL)
		check_end(r->checks, "421 4.3.2 Service shutting down");
	dns_free(r->dns);
	regfree(&r->bogus);
	free(r);
}

/* A JavaScript pattern as a POSIX extended one: (?: becomes (, \d a
 * digit class. */
static char *
posix_pattern(const char *p)
{
	char *out = xmalloc(strlen(p) * 5 + 1), *o = out;

	while (*p) {
		if (strncmp(p, "(?:", 3) == 0) {
			*o++ = '(';
			p += 3;
		} else if (p[0] == '\\' && p[1] == 'd') {
			memcpy(o, "[0-9]", 5);
			o += 5;
			p += 2;
		} else if (p[0] == '\\' && p[1] != '\0') {
			*o++ = *p++;
			*o++ = *p++;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static int
resolvable_init(struct op_env *env, void **data)
{
	const char *dir = op_config_dir(env);
	char *path = xasprintf("%s/mail_from.is_resolvable.ini", dir);
	struct resolvable *r = xcalloc(1, sizeof(*r));
	struct dns_config dc = { NULL, 0, 0 };
	struct ini *ini;
	const char *v;
	char *err = NULL, *pat;
	long long n;
	int exists, rc = -1, e;

	*data = NULL;
	r->base = op_event_base(env);
	r->timeout_ms = 5000;
	if ((ini = ini_load(path, "mail_from.is_resolvable.ini", &exists,
	    NULL, NULL)) == NULL) {
		op_log(OP_LOG_CRIT, NAME, NULL, "cannot read "
		    "config/mail_from.is_resolvable.ini");
		free(path);
		free(r);
		return -1;
	}
	free(path);
	r->allow_mx_ip = ini_bool(ini, "main", "allow_mx_ip", 0);
	v = ini_get(ini, "main", "re_bogus_ip");
	pat = v != NULL && *v != '\0' ? posix_pattern(v) : xstrdup(DEF_BOGUS);
	if ((e = regcomp(&r->bogus, pat, REG_EXTENDED | REG_NOSUB)) != 0) {
		op_log(OP_LOG_CRIT, NAME, NULL, "config/mail_from.is_resolvable"
		    ".ini:%u: re_bogus_ip: not a regular expression: '%s'",
		    ini_line(ini, "main", "re_bogus_ip"), v);
		free(pat);
		ini_free(ini);
		free(r);
		return -1;
	}
	free(pat);
	if (ini_int(ini, "main", "timeout", &n) == INI_OK && n > 0 &&
	    n <= 300)
		r->timeout_ms = (unsigned)n * 1000;
	switch (ini_int(ini, "main", "timeout_ms", &n)) {
	case INI_OK:
		if (n > 0 && n <= 300000) {
			r->timeout_ms = (unsigned)n;
			break;
		}
		/* FALLTHROUGH */
	case INI_BAD:
		op_log(OP_LOG_CRIT, NAME, NULL, "config/mail_from.is_resolvable"
		    ".ini:%u: timeout_ms: expected milliseconds from 1 to "
		    "300000, got '%s'", ini_line(ini, "main", "timeout_ms"),
		    ini_get(ini, "main", "timeout_ms"));
		goto done;
	case INI_ABSENT:
		break;
	}
	v = ini_get(ini, "reject", "no_mx");
	r->no_mx = NO_MX_DENY;
	if (v != NULL && strcmp(v, "no") == 0)
		r->no_mx = NO_MX_NO;
	else if (v != NULL && (strcmp(v, "defer") == 0 ||
	    strcmp(v, "false") == 0))
		r->no_mx = NO_MX_DEFER;
	if (dns_config_load(dir, &dc, &err) != 0 ||
	    (r->dns = dns_new(r->base, &dc, &err)) == NULL) {
		op_log(OP_LOG_CRIT, NAME, NULL, "%s", err);
		free(err);
		goto done;
	}
	reception_set_mail_check(resolvable_check, r);
	op_log(OP_LOG_INFO, NAME, NULL, "senders' domains need a usable MX "
	    "(allow_mx_ip=%s, no_mx=%s, timeout %u ms)",
	    r->allow_mx_ip ? "true" : "false", r->no_mx == NO_MX_NO ? "no" :
	    r->no_mx == NO_MX_DEFER ? "defer" : "deny", r->timeout_ms);
	rc = 0;
done:
	dns_config_clear(&dc);
	ini_free(ini);
	if (rc != 0) {
		regfree(&r->bogus);
		free(r);
	} else
		*data = r;
	return rc;
}

const struct op_plugin mail_from_is_resolvable_plugin = {
	OUTPOST_PLUGIN_ABI, NAME, resolvable_init, resolvable_shutdown
};
