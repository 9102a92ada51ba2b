/*
 * attempt: one attempt per due entry — the message (in memory, or its body
 * file opened and its view read) → send_email hook → get_mx | DNS →
 * addresses → MX walk (pooled or new mta_session, the body streamed) →
 * classify → verdict.c; each step continues in one callback, freed only in
 * attempt_end. Touches the queue only to read a body or drop a stale
 * entry; uses mta.c's attempt_env.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tls.h"
#include "delivery/attempt.h"
#include "delivery/attempt_priv.h"
#include "delivery/dane.h"
#include "delivery/dns.h"
#include "delivery/mta_error.h"
#include "delivery/mta_session.h"
#include "delivery/mx.h"
#include "delivery/pool.h"
#include "delivery/route.h"
#include "delivery/scheduler.h"
#include "delivery/verdict.h"
#include "delivery/view.h"
#include "lib/buf.h"
#include "lib/idn.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "queue/body.h"
#include "queue/queue.h"

#define SRC		"outbound"
#define DELAY_DEFAULT	60	/* DELAY/DENYSOFT without a number */

static void connect_mx(struct attempt *);
static void dane_then(struct attempt *, int);
static void finish(struct attempt *);

static char *
entry_path(const struct attempt_env *env, const char *id)
{
	return xasprintf("%s/%s", queue_dir(env->q), id);
}

/* --- the attempt's life ------------------------------------------------- */

static void
attempt_free(struct attempt *a)
{
	struct attempt_env *env = a->env;

	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		env->live = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	if (a->dq != NULL)
		dns_cancel(a->dq);
	dane_cancel(a->dane_q);
	dane_policy_unref(a->dane);
	if (a->sess != NULL)
		mta_session_close(a->sess);
	if (a->job != NULL)
		queue_job_cancel(a->job);
	for (size_t i = 0; i < a->n; i++) {
		outcome_clear(&a->out[i]);
		free(a->reasons[i]);
	}
	mx_list_free(a->call.mxs, a->call.nmx);
	mx_list_free(a->mxs, a->nmx);
	free(a->out);
	free(a->reasons);
	free(a->dropped);
	free(a->hrcpts);
	free(a->idx);
	free(a->addrs);
	free(a->msg);
	qmsg_unref(a->m);
	qbody_close(a->body);
	free(a->body_why);
	free(a->last_error);
	if (a->host_fail != NULL)
		outcome_clear(a->host_fail);
	free(a->host_fail);
	free(a->sess_key);
	free(a->host);
	free(a->response);
	free(a->err);
	free(a->temp_err);
	free(a->lost);
	if (a->own_e != NULL) {
		qentry_clear(a->own_e);
		free(a->own_e);
	}
	shape_free(a);
	sts_free(a);
	config_unref(a->cfg);
	free(a);
	if (env->live == NULL && env->emptied != NULL)
		env->emptied(env->emptied_arg);
}

/* The attempt is over: the item waits again (due >= 0) or is gone. */
static void
attempt_end(struct attempt *a, int64_t due)
{
	struct attempt_env *env = a->env;
	struct sched_item *it = a->it;

	a->it = NULL;
	if (it != NULL)
		shape_track(a->dest, it, due >= 0);
	if (it != NULL && it->admin != SCHED_ADMIN_NONE) {
		if (it->admin_done != NULL)
			it->admin_done(it->admin_arg, due < 0 ? 0 : EAGAIN);
		it->admin = SCHED_ADMIN_NONE;
		it->admin_done = NULL;
	}
	attempt_free(a);
	if (it == NULL)			/* attempt_lost's: no item */
		return;
	if (due < 0)
		scheduler_remove(env->sched, it);
	else
		scheduler_retry(env->sched, it, due);
}

void
attempt_cancel_all(struct attempt_env *env)
{
	while (env->live != NULL) {
		struct attempt *a = env->live;
		struct sched_item *it = a->it;

		a->it = NULL;
		attempt_free(a);
		if (it != NULL) {
			shape_track(NULL, it, 0);
			scheduler_remove(env->sched, it);
		}
	}
}

/* The outcomes are known: the verdict step answers with the due time. */
static void
finish(struct attempt *a)
{
	metric_observe(m_attempt_seconds, NULL, metrics_now() - a->started);
	verdict_start(a, a->env->q, a->env->inject, attempt_end);
}

static void send_email_done(void *, int, const char *);

/* The message is at hand: the first hook of the attempt — or, for an
 * administrator's bounce, a permanent failure of every pending recipient
 * through the verdict (bounce hook, DSN, records, as any bounce). */
static void
send_email(struct attempt *a)
{
	if (a->it != NULL && a->it->admin == SCHED_ADMIN_BOUNCE) {
		char *text = xasprintf("bounced by the administrator: %s",
		    a->it->admin_reason ? a->it->admin_reason : "");

		attempt_fail_local(a, FAIL_PERM, 550, "5.0.0", text);
		free(text);
		return;
	}
	if (suppress_attempt(a, finish))	/* attempt_suppress.c */
		return;
	view_reset(a);
	view_rcpts(a, -1);
	hook_run(OP_HOOK_SEND_EMAIL, &a->call, send_email_done, a);
}

/* A new attempt on e (owned by it, or by the attempt when it is NULL),
 * in flight, for e's pending recipients. */
static struct attempt *
attempt_new(struct attempt_env *env, struct sched_item *it,
    struct qentry *e)
{
	struct attempt *a = xcalloc(1, sizeof(*a));
	size_t k;

	a->env = env;
	a->started = metrics_now();
	a->cfg = config_ref(env->cfg);
	a->it = it;
	a->e = e;
	a->own_e = it == NULL ? e : NULL;
	a->next = env->live;
	if (env->live != NULL)
		env->live->prev = a;
	env->live = a;
	k = qentry_pending(a->e);
	a->idx = xcalloc(k + 1, sizeof(*a->idx));
	a->addrs = xcalloc(k + 1, sizeof(*a->addrs));
	a->out = xcalloc(k + 1, sizeof(*a->out));
	a->hrcpts = xcalloc(k + 1, sizeof(*a->hrcpts));
	a->reasons = xcalloc(k + 1, sizeof(*a->reasons));
	a->dropped = xcalloc(k + 1, 1);
	for (size_t i = 0; i < a->e->nrcpts; i++)
		if (a->e->rcpts[i].state == QRCPT_PENDING) {
			a->idx[a->n] = i;
			a->addrs[a->n++] = a->e->rcpts[i].addr;
		}
	view_reset(a);
	return a;
}

/* The entry's file is corrupt: its pending recipients are lost. They are
 * recorded (bounce observers), then the file is set aside (verdict.c).
 * The message is gone: the hooks see an empty one. */
static void
lose(struct attempt *a, const char *why)
{
	struct buf list = BUF_INIT;

	a->lost = xstrdup(why);
	free(a->msg);
	a->msg = xstrdup("");
	a->len = 0;
	for (size_t i = 0; i < a->n; i++) {
		mta_error_lost(why, &a->out[i]);
		buf_printf(&list, "%s<%s>", i > 0 ? ", " : "", a->addrs[i]);
	}
	log_error(SRC, a->e->id, "queue entry corrupt: %s; %zu recipient%s "
	    "lost%s: %s", why, a->n, a->n == 1 ? "" : "s",
	    hook_observers(OP_HOOK_BOUNCE) > 0 ? ", recorded as bounced" : "",
	    buf_cstr(&list));
	buf_free(&list);
	verdict_lost(a, a->env->q, attempt_end);
}

void
attempt_lost(struct attempt_env *env, struct qentry *e, const char *why)
{
	struct attempt *a = attempt_new(env, NULL, e);

	if (a->n == 0) {	/* qfs_salvage promises one: defensive */
		attempt_free(a);
		return;
	}
	lose(a, why);
}

/* The view of a message in memory: all of it, or its header section. */
static void
view_of_memory(struct attempt *a)
{
	size_t n = a->m->len;

	a->view_whole = n <= SCHED_VIEW_MAX;
	if (!a->view_whole)
		n = qbody_header_section(a->m->data, SCHED_VIEW_MAX);
	a->msg = xmalloc(n + 1);
	memcpy(a->msg, a->m->data, n);
	a->msg[n] = '\0';
	a->len = n;
}

/* The message's body file is damaged: lost, as a corrupt entry. */
static void
lose_body(struct attempt *a, const char *why)
{
	char *text = xasprintf("message file: %s", why);

	lose(a, text);
	free(text);
}

/* The message cannot be read (an I/O error, not damage): every pending
 * recipient fails temporarily; the entry stays as it is. */
static void
unreadable(struct attempt *a, const char *why)
{
	log_error(SRC, a->e->id, "cannot read the queued message: %s", why);
	a->unreadable = 1;
	free(a->msg);
	a->msg = xstrdup("");
	a->len = 0;
	for (size_t i = 0; i < a->n; i++)
		outcome_local(&a->out[i], FAIL_TEMP, 451, "4.3.0",
		    "Error reading the queued message: %s", why);
	finish(a);
}

/* The entry's file is gone (removed by hand while the entry waited). The
 * state in memory is what delivery works from; the file is not read again,
 * but its removal is how an operator cancels a mail. */
static int
vanished(const struct attempt *a)
{
	char *path = entry_path(a->env, a->e->id);
	struct stat st;
	int gone = lstat(path, &st) == -1 && errno == ENOENT;

	free(path);
	return gone;
}

/* Opens the entry's body and reads its view: 0, or -1 when the attempt
 * went another way (forgotten, lost, unreadable). */
static int
open_body(struct attempt *a)
{
	struct attempt_env *env = a->env;
	const char *why;
	int err;

	if (qbody_open(queue_dir(env->q), a->e->body, a->e->msg_len,
	    &a->body, &why, &err) == 0) {
		if (qbody_view(a->body, SCHED_VIEW_MAX, &a->msg, &a->len,
		    &a->view_whole) == 0)
			return 0;
		why = qbody_error(a->body, &err);
	}
	if (err == ENOENT) {
		lose(a, "message file missing");
		return -1;
	}
	if (err == 0)			/* read, and refused: corrupt */
		lose_body(a, why);
	else
		unreadable(a, why);
	return -1;
}

void
attempt_dispatch(void *arg, struct sched_item *it)
{
	struct attempt_env *env = arg;
	struct attempt *a = attempt_new(env, it, it->e);

	shape_dispatch(a);
	if (a->n == 0) {		/* nothing left: a stale entry */
		queue_remove(env->q, a->e, NULL, NULL);
		attempt_end(a, -1);
		return;
	}
	if (it->admin == SCHED_ADMIN_DELETE) {	/* mta_admin.c's */
		queue_remove(env->q, a->e, it->admin_done, it->admin_arg);
		it->admin_done = NULL;
		attempt_end(a, -1);
		return;
	}
	if (vanished(a)) {		/* the operator took it out */
		log_error(SRC, a->e->id, "queue entry vanished; forgetting it");
		queue_remove(env->q, a->e, NULL, NULL);	/* and its body */
		attempt_end(a, -1);
		return;
	}
	if (it->msg != NULL) {		/* just committed: still in memory */
		a->m = it->msg;
		it->msg = NULL;
		view_of_memory(a);
		send_email(a);
		return;
	}
	if (open_body(a) == 0)
		send_email(a);
}

/* --- routing --------------------------------------------------------------- */


static void
send_email_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;
	long secs;

	if (code == OP_DELAY) {
		if (view_seconds(msg, &secs) != 0) {
			log_warn(SRC, a->e->id, "send_email answered DELAY "
			    "without a number of seconds (%s); using %d",
			    msg ? msg : "no message", DELAY_DEFAULT);
			secs = DELAY_DEFAULT;
		}
		log_info(SRC, a->e->id, "delivery delayed by a plugin for "
		    "%ld seconds", secs);
		attempt_end(a, sched_now_ms() + secs * 1000);
		return;
	}
	view_reset(a);
	view_rcpts(a, -1);
	hook_run(OP_HOOK_GET_MX, &a->call, attempt_get_mx_done, a);
}

/* Every recipient gets the same outcome; the attempt is over. */
void
attempt_fail_all(struct attempt *a, const struct outcome *o)
{
	for (size_t i = 0; i < a->n; i++)
		outcome_copy(&a->out[i], o);
	finish(a);
}

void
attempt_fail_local(struct attempt *a, enum fail_class class, int code,
    const char *status, const char *text)
{
	struct outcome o = { 0 };

	outcome_local(&o, class, code, status, "%s", text);
	attempt_fail_all(a, &o);
	outcome_clear(&o);
}

/* --- the MX walk ----------------------------------------------------------- */

static void txn_done(void *, const struct mta_result *);

/* The name a server is known by: the MX host name when the exchange is
 * an address that came from one, else the exchange. */
static const char *
mx_host(const struct mx *mx)
{
	if (mx->exchange != NULL && mx_ip_family(mx->exchange) &&
	    mx->from_dns != NULL && !mx_ip_family(mx->from_dns))
		return mx->from_dns;
	return mx->exchange != NULL ? mx->exchange : mx->path;
}

/* Every MX failed. When each failure was a permanent reply (a 5xx
 * greeting), the mail bounces with the last one. Else it waits: with the
 * last temporary failure that has a reason (a 4xx greeting, a deadline,
 * a bad reply), or Haraka's "Tried all MXs". */
static void
tried_all(struct attempt *a)
{
	char text[600];

	log_notice(SRC, a->e->id, "Tried all MXs %s%s%s", a->e->domain,
	    a->last_error ? ": " : "", a->last_error ? a->last_error : "");
	if (a->host_fail != NULL &&
	    (a->host_fail->class != FAIL_PERM || !a->host_temp)) {
		if (a->host_fail->remote) {	/* the server that replied */
			free(a->host);
			a->host = xstrdup_null(a->host_fail->host);
		}
		attempt_fail_all(a, a->host_fail);
		return;
	}
	a->ip[0] = a->local_ip[0] = '\0';	/* no server to name */
	a->port = 0;
	snprintf(text, sizeof(text), "Tried all MXs %s", a->e->domain);
	attempt_fail_local(a, FAIL_TEMP, 421, "4.4.1", text);
}

void
attempt_try_next(struct attempt *a)
{
	const struct config_outbound *ob = a->cfg->outbound;
	struct attempt_env *env = a->env;
	const struct mx *mx;
	const char *ip;

	for (;;) {
		if (a->cur >= a->nmx) {
			tried_all(a);
			return;
		}
		mx = &a->mxs[a->cur++];
		ip = mx->exchange;
		if (!ob->local_mx_ok && mx->from_dns != NULL && ip != NULL &&
		    mx_ip_is_local(ip)) {
			log_info(SRC, a->e->id, "MX %s is local, skipping since "
			    "local_mx_ok=false", ip);
			free(a->last_error);
			a->last_error = xasprintf("MX %s is local", ip);
			continue;
		}
		if (ip != NULL && !mx_ip_family(ip)) {
			/* dns_addresses resolves every name: defensive. */
			free(a->last_error);
			a->last_error = xasprintf("%s has no address", ip);
			continue;
		}
		break;
	}
	a->mx = mx;
	free(a->host);
	a->host = xstrdup(mx_host(mx));
	dane_policy_unref(a->dane);
	a->dane = NULL;
	if (env->dane == NULL || !dane_attempt(a, dane_then))
		connect_mx(a);
}

/* After the MX host's DANE lookup (dane_attempt.c). */
static void
dane_then(struct attempt *a, int go)
{
	if (go)
		connect_mx(a);
	else
		attempt_try_next(a);
}

/* Connects to a->mx (or takes a pooled connection) and sends. */
static void
connect_mx(struct attempt *a)
{
	const struct config_outbound *ob = a->cfg->outbound;
	struct attempt_env *env = a->env;
	const struct mx *mx = a->mx;
	const char *host = a->host, *ip = mx->exchange;
	struct mta_conf c;
	int forced, tls = mx_tls_choice(mx->tls, ob->enable_tls);
	int64_t due;

	memset(&c, 0, sizeof(c));
	c.ip = mx->path != NULL ? NULL : ip;
	c.path = mx->path;
	c.port = mx->port ? mx->port : mx->using_lmtp ? 24 : 25;
	source_conf(a, mx, &c);
	c.lmtp = mx->using_lmtp;
	c.tls_ctx = tls_outbound_ctx(env->tls);
	c.tls_name = mx_ip_family(host) ? NULL : host;
	c.auth_user = mx->auth_user;
	c.auth_pass = mx->auth_pass;
	c.auth_type = mx->auth_type;
	c.timeouts = ob->timeouts;
	c.log_uuid = a->e->id;
	c.verify = mx_tls_choice(mx->tls_verify,
	    tls_reject_unauthorized(env->tls));
	forced = ip != NULL && tls_force_tls_host(env->tls, ip,
	    mx->from_dns ? mx->from_dns : mx->exchange, a->e->domain);
	if (forced && !tls) {
		attempt_fail_local(a, FAIL_TEMP, 450, "4.7.10",
		    "No TLS available but required by configuration.");
		return;
	}
	if (a->dane != NULL && !tls) {
		attempt_fail_local(a, FAIL_TEMP, 450, "4.7.10",
		    "No TLS available but required by DANE.");
		return;
	}
	if (a->dane != NULL) {		/* DANE wins over no-TLS lists */
		c.tls = MTA_TLS_MUST;
		c.dane = a->dane;
	} else if (forced)
		c.tls = MTA_TLS_MUST;
	else if (!tls || ip == NULL ||
	    tls_no_tls_host(env->tls, ip, mx->from_dns, a->e->domain) ||
	    pool_no_tls_marked(env->pool, ip))
		c.tls = MTA_TLS_NONE;
	else
		c.tls = MTA_TLS_TRY;
	sts_conf(a, &c);
	free(a->sess_key);
	a->sess_key = pool_key(&c);
	a->shape_end = attempt_end;	/* the cluster's answer: on_turn */
	a->shape_txn = txn_done;
	if ((due = shape_connect(a, &c)) != 0) {
		if (due != SHAPE_PENDING)
			attempt_end(a, due);	/* shaping: not an attempt */
		return;
	}
	shape_batch(a, 0);
	attempt_send_txn(a, txn_done);
}

static void
txn_done(void *arg, const struct mta_result *r)
{
	struct attempt *a = arg;
	struct attempt_env *env = a->env;
	struct mta_session *s = a->sess;
	struct outcome mail = { 0 };
	enum verdict v;

	a->sess = NULL;
	if (r->body_failed) {		/* abandoned before the final dot */
		mta_session_close(s);
		if (a->body_why == NULL)	/* it changed size */
			a->body_why = xstrdup("the message file changed while "
			    "it was read");
		if (a->body_err == 0)
			lose_body(a, a->body_why);
		else
			unreadable(a, a->body_why);
		return;
	}
	if (shape_result(a, r) == SHAPING_BOUNCE) {
		mta_session_close(s);
		shape_bounce(a, r);
		finish(a);
		return;
	}
	if (sts_result(a, r)) {
		mta_session_close(s);
		attempt_try_next(a);
		return;
	}
	v = mta_error_classify(r, a->host, &mail);
	if (a->boff > 0 && (v == V_NEXT_MX || v == V_RETRY_HOST)) {
		/* Earlier transactions went through: the rest wait. */
		mta_session_close(s);
		attempt_rest_failed(a, a->boff, mail.msg != NULL &&
		    mail.class != FAIL_PERM ? &mail : NULL, r->error != NULL ?
		    r->error : "the connection ended");
		outcome_clear(&mail);
		finish(a);
		return;
	}
	switch (v) {
	case V_NEXT_MX:
	case V_RETRY_HOST:
		mta_session_close(s);
		if (r->step == MTA_TLS_HANDSHAKE && a->mx->exchange != NULL)
			pool_no_tls_mark(env->pool, a->mx->exchange, a->e->id);
		attempt_host_failed(a, r, v == V_RETRY_HOST, &mail);
		outcome_clear(&mail);
		attempt_try_next(a);
		return;
	case V_MAIL:
		for (size_t i = a->boff; i < a->n; i++)
			outcome_copy(&a->out[i], &mail);
		break;
	case V_RCPTS:
		if (r->dot_sent && r->outcome != MTA_OK &&
		    r->outcome != MTA_REPLY)
			log_warn(SRC, a->e->id, "%s: %s; deferring, not trying "
			    "another MX", a->host, mail.msg ? mail.msg :
			    "no reply to the final dot");
		for (size_t i = 0; i < a->bcnt && i < r->nrcpts; i++)
			mta_error_rcpt(r, i, mail.msg != NULL ? &mail : NULL,
			    a->host, &a->out[a->boff + i]);
		if (a->boff + a->bcnt < a->n && r->outcome != MTA_OK)
			attempt_rest_failed(a, a->boff + a->bcnt, NULL,
			    "the transaction before failed");
		break;
	}
	outcome_clear(&mail);
	snprintf(a->ip, sizeof(a->ip), "%s", r->remote_ip);
	snprintf(a->local_ip, sizeof(a->local_ip), "%s", r->local_ip);
	a->port = r->port;
	a->secured = r->secured;
	a->authenticated = r->authenticated;
	free(a->response);
	a->response = xstrdup(r->reply.text != NULL ? r->reply.text : "");
	for (size_t i = 0; i < a->n; i++)
		if (a->out[i].class == FAIL_NONE && a->out[i].msg != NULL &&
		    a->mx->using_lmtp) {
			free(a->response);
			a->response = xstrdup(a->out[i].msg);
		}
	if (r->outcome == MTA_OK && v == V_RCPTS &&
	    a->boff + a->bcnt < a->n) {
		shape_batch(a, a->boff + a->bcnt);
		a->sess = s;
		attempt_send_txn(a, txn_done);
		return;
	}
	if (r->outcome == MTA_OK)
		shape_pool_put(a, s);
	else
		mta_session_close(s);
	finish(a);
}
