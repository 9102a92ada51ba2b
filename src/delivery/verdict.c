/*
 * verdict: outcomes → delivered hook → deferred hook (or too many failures)
 * → bounce hook + DSN → record phase → entry rewritten or removed → done(a,
 * due). Writes the attempt's finishing fields and the entry's recipients.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "delivery/attempt_priv.h"
#include "delivery/dsn_send.h"
#include "delivery/mta_error.h"
#include "delivery/mx.h"
#include "delivery/scheduler.h"
#include "delivery/verdict.h"
#include "delivery/view.h"
#include "lib/buf.h"
#include "lib/failpoint.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "queue/queue.h"

#define SRC		"outbound"

static void after_delivered(struct attempt *);
static void after_deferred(struct attempt *);
static void after_bounce(struct attempt *);
static void persist(struct attempt *);

static size_t
count_class(const struct attempt *a, enum fail_class class)
{
	size_t k = 0;

	for (size_t i = 0; i < a->n; i++)
		k += a->out[i].class == class && !a->dropped[i];
	return k;
}

/* The address list as "<a>, <b>". */
static char *
addr_list(struct attempt *a, enum fail_class class)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < a->n; i++)
		if (a->out[i].class == class)
			buf_printf(&b, "%s<%s>", b.len ? ", " : "", a->addrs[i]);
	return buf_release(&b);
}

/* The failure text of the recipients of a class (Haraka's wording). */
static char *
class_error(struct attempt *a, enum fail_class class, const char *some)
{
	char *list, *r;

	if (count_class(a, class) == a->n) {
		const struct outcome *o = &a->out[0];
		char *words;

		if (!o->remote)
			return xstrdup(o->msg ? o->msg : "");
		words = outcome_words(o);	/* no status it did not send */
		r = xasprintf("Upstream error: %s", words);
		free(words);
		return r;
	}
	list = addr_list(a, class);
	r = xasprintf("%s: %s", some, list);
	free(list);
	return r;
}

/* --- delivered ------------------------------------------------------------- */

static void
delivered_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;

	if (code != OP_CONT && code != OP_OK)
		log_warn(SRC, a->e->id, "delivered plugin responded with: "
		    "%s%s%s", code_name(code), msg ? " " : "", msg ? msg : "");
	after_delivered(a);
}

void
verdict_start(struct attempt *a, struct queue *q, struct inject *inject,
    verdict_done_fn done)
{
	size_t ok;
	double delay;
	char rcpts[64];

	a->q = q;
	a->inject = inject;
	a->done = done;
	ok = count_class(a, FAIL_NONE);
	if (ok == 0) {
		after_delivered(a);
		return;
	}
	delay = (double)(sched_now_ms() - a->e->queue_time) / 1000.0;
	snprintf(rcpts, sizeof(rcpts), "%zu/%zu/%zu", ok,
	    count_class(a, FAIL_TEMP), count_class(a, FAIL_PERM));
	log_emit(LOG_NOTICE, SRC, a->e->id, (struct log_field[]){
	    LF_STR("file", a->e->id), LF_STR("domain", a->e->domain),
	    LF_STR("host", a->host), LF_STR("ip", a->ip[0] ? a->ip :
	    a->mx != NULL && a->mx->path ? a->mx->path : ""),
	    LF_INT("port", a->port),
	    LF_STR("mode", a->mx != NULL && a->mx->using_lmtp ? "LMTP" : "SMTP"),
	    LF_STR("tls", a->secured ? "Y" : "N"),
	    LF_STR("auth", a->authenticated ? "Y" : "N"),
	    LF_STR("response", a->response ? a->response : ""),
	    LF_DBL("delay", delay), LF_INT("fails", a->e->attempts),
	    LF_STR("rcpts", rcpts) }, 12, "delivered");
	a->age = delay;
	view_event(a, OP_HOOK_DELIVERED);
	hook_run(OP_HOOK_DELIVERED, &a->call, delivered_done, a);
}

/* --- deferred -------------------------------------------------------------- */

static void
deferred_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;
	long secs;

	if (code == OP_DENYSOFT) {
		if (view_seconds(msg, &secs) == 0)
			a->delay = (double)secs;
		else
			log_warn(SRC, a->e->id, "deferred answered DENYSOFT "
			    "without a number of seconds (%s); keeping %.0f",
			    msg ? msg : "no message", a->delay);
	} else if (code != OP_CONT) {
		log_info(SRC, a->e->id, "plugin responded with: %s. Not "
		    "deferring. Deleting mail.", code_name(code));
		for (size_t i = 0; i < a->n; i++)
			if (a->out[i].class == FAIL_TEMP)
				a->dropped[i] = 1;
	}
	if (count_class(a, FAIL_TEMP) > 0)
		log_info(SRC, a->e->id, "Temp failing %s for %.0f seconds: %s",
		    a->e->id, a->delay, a->err);
	after_deferred(a);
}

static void
after_delivered(struct attempt *a)
{
	const struct config_outbound *ob = a->cfg->outbound;
	char *err;

	a->attempts = a->e->attempts;
	if (count_class(a, FAIL_TEMP) == 0) {
		after_deferred(a);
		return;
	}
	a->attempts = a->e->attempts + 1;
	err = class_error(a, FAIL_TEMP, "Some recipients temp failed");
	if (a->attempts > ob->nintervals) {
		/* Retries ran out: the temporary failures bounce. */
		for (size_t i = 0; i < a->n; i++)
			outcome_make_final(&a->out[i]);
		a->expired = 1;
		free(a->err);
		a->err = xasprintf("Too many failures (%s)", err);
		free(err);
		after_deferred(a);
		return;
	}
	free(a->err);
	a->err = err;
	free(a->temp_err);
	a->temp_err = xstrdup(err);
	a->delay = ob->intervals[a->attempts - 1];
	view_event(a, OP_HOOK_DEFERRED);
	a->call.pub.attempts = a->attempts;
	hook_run(OP_HOOK_DEFERRED, &a->call, deferred_done, a);
}

/* --- bounce ---------------------------------------------------------------- */

static void
dsn_queued(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;

	if (code != OP_OK)
		log_error(SRC, a->e->id, "Unable to queue the bounce message: "
		    "%s", msg ? msg : code_name(code));
	else
		log_info(SRC, a->e->id, "bounce queued: %s", msg ? msg : "");
	after_bounce(a);
}

/* The DSN for the recipients that failed for good (not those the
 * deferred chain dropped). */
static void
send_dsn(struct attempt *a)
{
	struct dsn_rcpt *dr = xcalloc(a->n, sizeof(*dr));
	char **reasons = xcalloc(a->n, sizeof(*reasons));
	struct dsn_params p;
	size_t k = 0;

	for (size_t i = 0; i < a->n; i++) {
		const struct outcome *o = &a->out[i];

		if (o->class != FAIL_PERM || a->dropped[i])
			continue;
		dr[k].addr = a->addrs[i];
		dr[k].action = "failed";
		dr[k].status = o->status;
		dr[k].code = o->code;
		dr[k].msg = o->msg;
		dr[k].remote = o->remote;
		dr[k].sent = o->remote ? o->sent : NULL;
		dr[k].remote_mta = o->host;
		dr[k].reason = reasons[k] = outcome_words(o);
		k++;
	}
	memset(&p, 0, sizeof(p));
	p.me = a->cfg->core->me;
	p.mail_from = a->e->mail_from;
	p.reason = a->err;
	p.rcpts = dr;
	p.n = k;
	p.msg = a->msg;
	p.msglen = a->len;
	p.headers_only = !a->view_whole;
	p.arrival_ms = a->e->queue_time;
	p.smtputf8 = (a->e->flags & QE_SMTPUTF8) != 0;
	dsn_send(a->inject, a->cfg->config_dir, &p, dsn_queued, a);
	for (size_t i = 0; i < k; i++)
		free(reasons[i]);
	free(reasons);
	free(dr);
}

static void
bounce_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;

	(void)msg;
	if (code != OP_CONT) {
		log_info(SRC, a->e->id, "Plugin responded with: %s. Not "
		    "sending bounce.", code_name(code));
		after_bounce(a);
		return;
	}
	if (a->e->mail_from[0] == '\0') {
		log_notice(SRC, a->e->id, "Double bounce: Mail was already a "
		    "bounce");
		after_bounce(a);
		return;
	}
	send_dsn(a);
}

static void
after_deferred(struct attempt *a)
{
	if (count_class(a, FAIL_PERM) == 0) {
		after_bounce(a);
		return;
	}
	if (!a->expired) {	/* else a->err says "Too many failures" */
		free(a->err);
		a->err = class_error(a, FAIL_PERM, "Some recipients failed");
	}
	log_info(SRC, a->e->id, "bouncing mail: %s", a->err);
	view_event(a, OP_HOOK_BOUNCE);
	hook_run(OP_HOOK_BOUNCE, &a->call, bounce_done, a);
}

/* --- records and the new state --------------------------------------------- */

static void
persisted(void *arg, int err)
{
	struct attempt *a = arg;

	a->job = NULL;
	if (err != 0)
		log_error(SRC, a->e->id, "cannot update the queue entry: %s; "
		    "its file keeps the previous state", strerror(err));
	a->done(a, a->next_attempt);
}

/*
 * The record phase: the observers (recording plugins) see what happened,
 * after every verdict took effect — delivered, then deferred (with the
 * final delay), then bounced (with what the deferred chain dropped and
 * what ran out of retries) — and the entry changes only once they all
 * answered, so a sync record is on disk before its entry is removed.
 * Each step runs as the previous one's observers are done.
 */
static void
record_step(void *arg, int code, const char *msg)
{
	static const enum op_hook order[] = { OP_HOOK_DELIVERED,
	    OP_HOOK_DEFERRED, OP_HOOK_BOUNCE };
	struct attempt *a = arg;

	(void)code;
	(void)msg;
	if (a->recorded == 0 && count_class(a, FAIL_NONE) > 0)
		FAILPOINT("delivery-before-record");
	while (a->recorded < sizeof(order) / sizeof(order[0])) {
		enum op_hook h = order[a->recorded++];

		if (h == OP_HOOK_BOUNCE)	/* dropped: final, never retried */
			for (size_t i = 0; i < a->n; i++)
				if (a->dropped[i]) {
					outcome_make_final(&a->out[i]);
					a->dropped[i] = 0;
				}
		if (count_class(a, view_event_class(h)) == 0 ||
		    hook_observers(h) == 0)
			continue;
		view_event(a, h);
		if (h != OP_HOOK_DELIVERED)
			a->call.pub.attempts = a->attempts;
		hook_observe(h, &a->call, record_step, a);
		return;
	}
	persist(a);
}

static void
after_bounce(struct attempt *a)
{
	record_step(a, OP_CONT, NULL);
}

void
verdict_lost(struct attempt *a, struct queue *q, verdict_done_fn done)
{
	a->q = q;
	a->done = done;
	a->attempts = a->e->attempts;
	free(a->err);
	a->err = xasprintf("Queue entry corrupt: %s", a->lost);
	a->recorded = 2;	/* no delivered, no deferred event */
	record_step(a, OP_CONT, NULL);
}

static void
set_aside_done(void *arg, int err)
{
	struct attempt *a = arg;

	(void)err;		/* logged by the queue */
	a->job = NULL;
	a->done(a, -1);
}

/* The outcomes become the entry's state, durably. */
static void
persist(struct attempt *a)
{
	struct qentry *e = a->e;
	size_t pending = 0;
	char *temp_reason = NULL;

	FAILPOINT("record-before-dequeue");
	if (a->lost != NULL) {	/* recorded: now out of the queue */
		a->next_attempt = -1;
		a->job = queue_set_aside(a->q, e, a->lost, set_aside_done,
		    a);
		return;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct qrcpt *r = &e->rcpts[a->idx[i]];
		const struct outcome *o = &a->out[i];

		free(r->reason);
		r->reason = o->msg != NULL ? outcome_reason(o) : NULL;
		if (o->class == FAIL_NONE)
			r->state = QRCPT_DELIVERED;
		else if (o->class == FAIL_PERM || a->dropped[i])
			r->state = QRCPT_BOUNCED;
		else {
			r->state = QRCPT_PENDING;
			if (temp_reason == NULL)
				temp_reason = r->reason;
		}
	}
	for (size_t i = 0; i < e->nrcpts; i++)
		pending += e->rcpts[i].state == QRCPT_PENDING;
	if (pending == 0) {
		a->next_attempt = -1;
		if (a->unreadable) {
			log_error(SRC, e->id, "its message could not be read; "
			    "entry and body left in the queue directory for "
			    "inspection");
			a->done(a, -1);
			return;
		}
		a->job = queue_remove(a->q, e, persisted, a);
		return;
	}
	e->attempts = a->attempts;
	free(e->last_error);
	e->last_error = xstrdup_null(temp_reason);
	a->next_attempt = sched_now_ms() + (int64_t)(a->delay * 1000);
	e->next_attempt = a->next_attempt;
	a->job = queue_rewrite(a->q, e, persisted, a);
}
