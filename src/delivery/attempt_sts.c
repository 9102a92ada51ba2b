/*
 * attempt_sts: MTA-STS in the attempt (RFC 8461 4, 5) — once DNS gave the
 * MX list, the recipient domain's policy (mtasts.c); in enforce mode only
 * MX hosts matching it are tried, with STARTTLS required and the
 * certificate verified against the MX host name, and a TLS failure turns
 * into a deferral naming the policy (the next matching MX is tried
 * first); testing mode logs what enforce would refuse and delivers as
 * usual. Results are counted in tlsrpt. Works on attempt_priv.h's record.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "delivery/attempt.h"
#include "delivery/attempt_priv.h"
#include "delivery/mta_error.h"
#include "delivery/mtasts.h"
#include "delivery/mx.h"
#include "delivery/tlsrpt.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "proto/mtasts_policy.h"
#include "queue/entry.h"

#define SRC		"outbound"

/* The name the policy's patterns are matched against: the MX host, or
 * the domain itself for an implicit MX. */
static const char *
mx_name(const struct mx *m)
{
	if (m->exchange != NULL && mx_ip_family(m->exchange))
		return m->from_dns;
	return m->exchange;
}

static void
on_policy(void *arg, const struct mtasts_policy *p)
{
	struct attempt *a = arg;
	const char *d = a->e->domain;
	struct mx *mxs = a->sts_mxs, *keep;
	size_t n = a->sts_nmx, k = 0, miss = 0;
	struct buf names = BUF_INIT;
	char *why;

	a->sts_wait = NULL;
	a->sts_mxs = NULL;
	a->sts_nmx = 0;
	a->sts_mode = p != NULL ? p->mode : MTASTS_MODE_NONE;
	if (a->sts_mode == MTASTS_MODE_NONE) {
		a->sts_next(a, mxs, n, NULL);
		return;
	}
	keep = xcalloc(n ? n : 1, sizeof(*keep));
	for (size_t i = 0; i < n; i++) {
		const char *name = mx_name(&mxs[i]);

		if (name != NULL && mtasts_policy_match(p, name)) {
			mx_copy(&keep[k++], &mxs[i]);
			continue;
		}
		miss++;
		buf_printf(&names, "%s%s", names.len ? ", " : "",
		    name != NULL ? name : "(no name)");
	}
	if (miss > 0) {
		log_notice(SRC, a->e->id, "MTA-STS policy of %s (%s): MX %s "
		    "not in the policy%s", d, mtasts_mode_name(p->mode),
		    buf_cstr(&names), p->mode == MTASTS_MODE_ENFORCE ?
		    (k > 0 ? "; skipped" : "") : "; delivering anyway");
		/* A failure when no listed host is left (or would be). */
		if (k == 0 || p->mode != MTASTS_MODE_ENFORCE)
			tlsrpt_count(d, TLSRPT_POLICY_STS,
			    TLSRPT_VALIDATION_FAILURE);
	}
	buf_free(&names);
	if (p->mode != MTASTS_MODE_ENFORCE) {
		mx_list_free(keep, k);
		a->sts_next(a, mxs, n, NULL);
		return;
	}
	mx_list_free(mxs, n);
	if (k == 0) {
		free(keep);
		why = xasprintf("MTA-STS policy of %s: no MX host matches", d);
		a->sts_next(a, NULL, 0, why);
		free(why);
		return;
	}
	a->sts_next(a, keep, k, NULL);
}

/* A domain a policy host can be named after: LDH labels, two at least
 * (no address literal). */
static int
policy_domain(const char *d)
{
	if (strchr(d, '.') == NULL || d[0] == '.' || strlen(d) > 240)
		return 0;
	for (; *d != '\0'; d++)
		if (!((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') ||
		    (*d >= '0' && *d <= '9') || *d == '-' || *d == '.' ||
		    *d == '_'))
			return 0;
	return 1;
}

int
sts_route(struct attempt *a, struct mx *mxs, size_t n, sts_next_fn next)
{
	if (a->env->sts == NULL || !a->route_dns ||
	    !policy_domain(a->e->domain))
		return 0;
	a->sts_mxs = mxs;
	a->sts_nmx = n;
	a->sts_next = next;
	a->sts_wait = mtasts_get(a->env->sts, a->e->domain, a->e->id,
	    on_policy, a);
	return 1;
}

void
sts_conf(const struct attempt *a, struct mta_conf *c)
{
	/* STARTTLS required, verified against the MX name (tls_name). */
	if (a->sts_mode == MTASTS_MODE_ENFORCE && c->ip != NULL)
		c->tls = MTA_TLS_MUST;
}

/* The RFC 8460 result type of a failed verification. */
static const char *
cert_result(const char *error)
{
	if (error == NULL)
		return TLSRPT_VALIDATION_FAILURE;
	if (strstr(error, "hostname mismatch") != NULL)
		return TLSRPT_CERT_HOST_MISMATCH;
	if (strstr(error, "expired") != NULL)
		return TLSRPT_CERT_EXPIRED;
	if (strstr(error, "issuer") != NULL || strstr(error, "self") != NULL ||
	    strstr(error, "unable to verify") != NULL)
		return TLSRPT_CERT_NOT_TRUSTED;
	return TLSRPT_VALIDATION_FAILURE;
}

int
sts_result(struct attempt *a, const struct mta_result *r)
{
	const char *d = a->e->domain, *result;
	char *text;

	if (a->sts_mode != MTASTS_MODE_ENFORCE)
		return 0;
	switch (r->outcome) {
	case MTA_OK:
		tlsrpt_count(d, TLSRPT_POLICY_STS, TLSRPT_SUCCESS);
		return 0;
	case MTA_TLS_UNVERIFIED:
		result = cert_result(r->error);
		text = xasprintf("MTA-STS: certificate verification failed: %s",
		    r->error != NULL ? r->error : a->host);
		break;
	case MTA_TLS_UNAVAILABLE:
		result = TLSRPT_STARTTLS_NOT_SUPPORTED;
		text = xasprintf("MTA-STS: %s does not offer STARTTLS",
		    a->host);
		break;
	case MTA_IO:
		if (r->step != MTA_TLS_HANDSHAKE)
			return 0;
		result = TLSRPT_VALIDATION_FAILURE;
		text = xasprintf("MTA-STS: TLS with %s failed: %s", a->host,
		    r->error != NULL ? r->error : "handshake failed");
		break;
	default:
		return 0;
	}
	tlsrpt_count(d, TLSRPT_POLICY_STS, result);
	log_notice(SRC, a->e->id, "%s; trying the next MX", text);
	/* Kept as the reason tried_all defers with. */
	if (a->host_fail == NULL)
		a->host_fail = xcalloc(1, sizeof(*a->host_fail));
	outcome_clear(a->host_fail);
	outcome_local(a->host_fail, FAIL_TEMP, 451, "4.7.5", "%s", text);
	a->host_temp = 1;
	free(a->last_error);
	a->last_error = text;
	return 1;
}

void
sts_free(struct attempt *a)
{
	mtasts_cancel(a->sts_wait);
	a->sts_wait = NULL;
	mx_list_free(a->sts_mxs, a->sts_nmx);
	a->sts_mxs = NULL;
	a->sts_nmx = 0;
}
