/*
 * dane_attempt: DANE (RFC 7672) in an attempt's MX walk: the lookup of
 * the policy of the MX host about to be tried, and what its answer does
 * to the walk (contract in attempt_priv.h): no DANE, TLS required (the
 * policy goes with the connection), or the host skipped for now.
 */
#include <stdlib.h>

#include "core/log.h"
#include "delivery/attempt.h"
#include "delivery/attempt_priv.h"
#include "delivery/dane.h"
#include "delivery/mta_error.h"
#include "delivery/mx.h"
#include "lib/xmalloc.h"
#include "queue/entry.h"

#define SRC		"outbound"

static void
done(void *arg, struct dane_policy *p)
{
	struct attempt *a = arg;

	a->dane_q = NULL;
	if (p->level == DANE_NONE) {
		log_debug(SRC, a->e->id, "DANE does not apply to %s: %s",
		    a->host, p->why);
		dane_policy_unref(p);
		a->dane_then(a, 1);
		return;
	}
	if (p->level == DANE_VERIFY || p->level == DANE_ENCRYPT) {
		a->dane = p;
		a->dane_then(a, 1);
		return;
	}
	log_notice(SRC, a->e->id, "%s: %s; trying the next MX", a->host,
	    p->why);
	dane_count(p->domain, p->result, a->e->id);
	free(a->last_error);
	a->last_error = xstrdup(p->why);
	if (a->host_fail == NULL)
		a->host_fail = xcalloc(1, sizeof(*a->host_fail));
	outcome_clear(a->host_fail);
	outcome_local(a->host_fail, FAIL_TEMP, 450, "4.7.5", "%s", p->why);
	a->host_temp = 1;
	a->ip[0] = a->local_ip[0] = '\0';
	a->port = 0;
	dane_policy_unref(p);
	a->dane_then(a, 0);
}

int
dane_attempt(struct attempt *a, void (*then)(struct attempt *, int go))
{
	const struct mx *mx = a->mx;
	const char *ip = mx->exchange;

	if (mx->from_dns == NULL || ip == NULL || mx_ip_family(mx->from_dns))
		return 0;
	a->dane_then = then;
	a->dane_q = dane_lookup(a->env->dane, a->e->domain, mx->from_dns,
	    mx_ip_family(ip), done, a);
	return 1;
}
