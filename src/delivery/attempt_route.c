/*
 * attempt_route: where an attempt's mail goes. get_mx's answer (a
 * plugin's MX list, DENY, DENYSOFT) or the DNS MX lookup of the domain
 * (its A-labels for an IDN), the null MX, MTA-STS's say on the hosts, then
 * their addresses; the MX walk (attempt.c) starts from there.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"
#include "delivery/attempt.h"
#include "delivery/attempt_priv.h"
#include "delivery/dns.h"
#include "delivery/mta_error.h"
#include "delivery/mx.h"
#include "delivery/route.h"
#include "lib/idn.h"
#include "plugins/plugin.h"
#include "queue/queue.h"

#define SRC		"outbound"

static void	dns_mx_done(void *, struct dns_answer *);
static void	addresses_done(void *, struct dns_answer *);

/* The MX hosts to try (MTA-STS had its say): their addresses. */
static void
route_addresses(struct attempt *a, struct mx *mxs, size_t n,
    const char *defer)
{
	if (defer != NULL) {
		attempt_fail_local(a, FAIL_TEMP, 451, "4.7.5", defer);
		return;
	}
	a->dq = dns_addresses(a->env->dns, mxs, n,
	    a->cfg->outbound->inet_prefer, addresses_done, a);
	mx_list_free(mxs, n);
}

/* A route is known (from a plugin or DNS): null MX, MTA-STS, addresses. */
static void
route(struct attempt *a, struct mx *mxs, size_t n)
{
	if (mx_is_null(mxs, n)) {
		struct dns_answer ans = { .status = DNS_NULL_MX };
		struct outcome o = { 0 };

		mx_list_free(mxs, n);
		mta_error_dns(&ans, a->e->domain, &o);
		attempt_fail_all(a, &o);
		outcome_clear(&o);
		return;
	}
	if (!sts_route(a, mxs, n, route_addresses))
		route_addresses(a, mxs, n, NULL);
}

void
attempt_get_mx_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;
	const char *d = a->e->domain, *why = NULL;
	char text[600], *ace;
	struct mx *mxs = NULL;
	size_t n;

	switch (code) {
	case OP_OK:
		if (a->call.nmx > 0) {
			mxs = a->call.mxs;
			n = a->call.nmx;
			a->call.mxs = NULL;
			a->call.nmx = 0;
		} else
			n = msg != NULL ? route_from_strings(msg, a->e->id, &mxs) : 0;
		if (n > 0) {
			route(a, mxs, n);
			return;
		}
		free(mxs);
		log_warn(SRC, a->e->id, "get_mx answered OK without a usable "
		    "MX; looking up %s in the DNS", d);
		break;
	case OP_DENY:
		snprintf(text, sizeof(text), "No MX for %s", d);
		attempt_fail_local(a, FAIL_PERM, 550, "5.1.2", text);
		return;
	case OP_DENYSOFT:
		snprintf(text, sizeof(text), "Temporary MX lookup error for %s",
		    d);
		attempt_fail_local(a, FAIL_TEMP, 450, "4.1.2", text);
		return;
	default:
		break;
	}
	/* IDN: looked up by its A-labels (lib/idn.h); ASCII as it is. */
	if (idn_domain_ascii(d, &ace, &why) != 0) {
		snprintf(text, sizeof(text), "Bad destination domain %s: not "
		    "a valid internationalized domain name (%s)", d, why);
		attempt_fail_local(a, FAIL_PERM, 550, "5.1.2", text);
		return;
	}
	a->dq = dns_mx(a->env->dns, ace != NULL ? ace : d, dns_mx_done, a);
	free(ace);
}

static void
dns_mx_done(void *arg, struct dns_answer *ans)
{
	struct attempt *a = arg;
	struct outcome o = { 0 };
	struct mx *mxs;
	size_t n;

	a->dq = NULL;
	if (ans->status == DNS_OK && ans->n > 0) {
		mxs = ans->mxs;
		n = ans->n;
		ans->mxs = NULL;
		ans->n = 0;
		a->route_dns = 1;
		route(a, mxs, n);
		return;
	}
	if (ans->status == DNS_TEMP)
		log_notice(SRC, a->e->id, "MX Lookup for %s failed: %s",
		    a->e->domain, ans->error ? ans->error : "unknown error");
	mta_error_dns(ans, a->e->domain, &o);
	attempt_fail_all(a, &o);
	outcome_clear(&o);
}

static void
addresses_done(void *arg, struct dns_answer *ans)
{
	struct attempt *a = arg;

	a->dq = NULL;
	a->mxs = ans->mxs;
	a->nmx = ans->n;
	ans->mxs = NULL;
	ans->n = 0;
	a->cur = 0;
	source_route(a);
	shape_route(a);
	attempt_try_next(a);
}
