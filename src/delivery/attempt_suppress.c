/*
 * attempt_suppress: the suppression list in the attempt. Before the first
 * hook, the pending recipients are looked up (core/suppress.h, a read on
 * the loop: microseconds, never blocked by the list's writer). When some
 * are suppressed, this attempt is theirs alone: they fail for good with
 * 550 5.7.1 "Recipient suppressed: ..." (bounce category policy-related),
 * through the verdict as any bounce (bounce hook, DSN, records), without
 * a route or a connection; the entry's other recipients stay pending and
 * are due at once, in an attempt of their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/suppress_writer.h"
#include "delivery/attempt_priv.h"
#include "delivery/mta_error.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"

#define SRC		"outbound"

int
suppress_attempt(struct attempt *a, void (*finish)(struct attempt *))
{
	struct suppressor *s = suppress_running();
	char sd[SUPPRESS_SCOPE_MAX + 1], addr[SUPPRESS_ADDR_MAX + 1];
	struct suppress_entry *hit;
	int64_t now = (int64_t)time(NULL);
	size_t k = 0;

	if (s == NULL || a->n == 0)
		return 0;
	hit = xcalloc(a->n, sizeof(*hit));
	suppress_sender_domain(a->e->mail_from, sd);
	for (size_t i = 0; i < a->n; i++) {
		int r;

		if (suppress_address(a->addrs[i], addr) != 0)
			continue;
		r = suppress_lookup(suppressor_store(s), addr, sd, now,
		    &hit[k]);
		if (r < 0)
			log_warn(SRC, a->e->id, "suppression list unreadable; "
			    "<%s> attempted", a->addrs[i]);
		if (r <= 0)
			continue;
		/* The suppressed ones first, in their order. */
		a->idx[k] = a->idx[i];
		a->addrs[k] = a->addrs[i];
		k++;
	}
	for (size_t i = 0; i < k; i++) {
		const struct suppress_entry *e = &hit[i];
		char since[32];
		time_t t = (time_t)e->created;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		outcome_local(&a->out[i], FAIL_PERM, 550, "5.7.1",
		    "Recipient suppressed: %s (%s, since %s)", e->reason[0] ?
		    e->reason : "no reason given",
		    suppress_source_name(e->source), since);
		log_info(SRC, a->e->id, "<%s> suppressed for %s (%s since %s): "
		    "not attempted", a->addrs[i], e->scope[0] ? e->scope :
		    "every sender", suppress_source_name(e->source), since);
	}
	free(hit);
	if (k == 0)
		return 0;
	a->n = k;
	finish(a);
	return 1;
}
