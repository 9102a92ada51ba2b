/*
 * verdict: an attempt's outcomes take effect — delivered hook, deferred
 * hook (or retries ran out), bounce hook and DSN, the record phase
 * (observers), the entry rewritten or removed — and the attempt's owner
 * hears when the next attempt is due.
 */
#ifndef OUTPOST_VERDICT_H
#define OUTPOST_VERDICT_H

#include <stdint.h>

struct attempt;
struct inject;
struct queue;

/* The verdict took effect: due is when the next attempt may run (ms,
 * sched_now_ms's clock), or -1 when the entry is gone (or set aside). */
typedef void (*verdict_done_fn)(struct attempt *, int64_t due);

/* Every recipient of a has its outcome in a->out: the hooks run, the DSN
 * is queued through inject, the new state is made durable in q, then
 * done runs once (inside this call when nothing had to wait). */
void	 verdict_start(struct attempt *a, struct queue *q,
	    struct inject *inject, verdict_done_fn done);

/* The entry's file is corrupt (a->lost says why; every pending recipient
 * has mta_error_lost's outcome): the bounce observers only (no bounce
 * hook chain, no DSN: the content is gone and the envelope may be
 * damaged), then the file is set aside; done runs with -1. */
void	 verdict_lost(struct attempt *a, struct queue *q,
	    verdict_done_fn done);

#endif
