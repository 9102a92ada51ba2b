/*
 * client_session: the life of a struct mta_session — creation, references,
 * a transaction's envelope and per-recipient results, its end (done, then
 * idle or closed), and close. Touches the connection through client_conn.h.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "lib/xmalloc.h"
#include "core/log.h"
#include "delivery/client_session.h"
#include "delivery/dane.h"

#define SRC		"outbound"

/* Per state: what a timeout waits on (short, and for texts), the step
 * reported, and the deadline that applies (an offset into struct
 * smtp_timeouts; NONE: no deadline). */
#define T(f)	offsetof(struct smtp_timeouts, f)
#define NONE	((size_t)-1)
static const struct {
	const char	*name;
	const char	*waiting;
	enum mta_step	 step;
	size_t		 deadline;
} states[] = {
	[ST_NEW] =	{ "nothing", "nothing", MTA_CONNECT, NONE },
	[ST_CONNECT] =	{ "connect", "the connection", MTA_CONNECT,
			  T(connect) },
	[ST_GREETING] =	{ "greeting", "the greeting", MTA_GREETING,
			  T(greeting) },
	[ST_EHLO] =	{ "ehlo", "the reply to EHLO", MTA_EHLO, T(ehlo) },
	[ST_HELO] =	{ "helo", "the reply to HELO", MTA_HELO, T(ehlo) },
	[ST_STARTTLS] =	{ "starttls", "the reply to STARTTLS", MTA_STARTTLS,
			  T(starttls) },
	[ST_HANDSHAKE] = { "tls handshake", "the TLS handshake",
			  MTA_TLS_HANDSHAKE, T(starttls) },
	[ST_AUTH] =	{ "auth", "the reply to AUTH", MTA_AUTH, T(auth) },
	[ST_RSET] =	{ "rset", "the reply to RSET", MTA_RSET, T(rset) },
	[ST_MAIL] =	{ "mail", "the reply to MAIL FROM", MTA_MAIL,
			  T(mail) },
	[ST_RCPT] =	{ "rcpt", "the reply to RCPT TO", MTA_RCPT, T(rcpt) },
	[ST_DATA] =	{ "data", "the reply to DATA", MTA_DATA, T(data) },
	[ST_DOT] =	{ "dot", "the reply to the final dot", MTA_DOT,
			  T(dot) },
	[ST_DOT_IGNORED] = { "dot", "the reply to the final dot", MTA_DOT,
			  T(dot) },
	[ST_IDLE] =	{ "nothing", "nothing", MTA_DONE, NONE },
	[ST_DEAD] =	{ "nothing", "nothing", MTA_DONE, NONE },
};

/* RFC 5321 §4.5.3.2 where it has them, Postfix's for RSET, and the
 * linger on QUIT Outpost always had. */
static const struct smtp_timeouts timeouts_default = {
	.connect = 30, .greeting = 300, .ehlo = 300, .starttls = 300,
	.auth = 300, .rset = 20, .mail = 300, .rcpt = 300, .data = 120,
	.data_block = 180, .dot = 600, .quit = 5
};

const char *
client_session_state_name(const struct mta_session *s)
{
	return s->state == ST_EHLO && s->lmtp ? "lhlo" : states[s->state].name;
}

enum mta_step
client_session_step(const struct mta_session *s)
{
	return states[s->state].step;
}

const char *
client_session_waiting(const struct mta_session *s)
{
	if (s->state == ST_EHLO && s->lmtp)
		return "the reply to LHLO";
	if (s->state == ST_DOT && client_conn_body_unsent(&s->conn))
		return "the server to take the message";
	return states[s->state].waiting;
}

void
client_session_arm(struct mta_session *s)
{
	size_t off = states[s->state].deadline;

	if (s->state == ST_DOT && s->conn.body_queued)
		return;		/* client_conn feeds the blocks */
	client_conn_deadline(&s->conn, off == NONE ? 0 :
	    *(const double *)(const void *)((const char *)&s->t + off));
}

/* A message in memory is a source like any other: one send path. */
static ssize_t
mem_read(void *arg, char *buf, size_t n)
{
	struct client_mem *m = arg;

	if (n > m->len - m->off)
		n = m->len - m->off;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static void
tx_clear(struct mta_session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	if (s->ascii_rcpts != NULL)
		for (size_t i = 0; i < s->nrcpts; i++)
			free(s->ascii_rcpts[i]);
	free(s->ascii_rcpts);
	s->ascii_rcpts = NULL;
	free(s->ascii_from);
	s->ascii_from = NULL;
	s->nrcpts = 0;
	memset(&s->body, 0, sizeof(s->body));
	memset(&s->mem, 0, sizeof(s->mem));
	s->conn.body_queued = 0;
}

static void
result_clear(struct mta_result *r)
{
	reply_clear(&r->reply);
	free(r->error);
	for (size_t i = 0; i < r->nrcpts; i++) {
		reply_clear(&r->rcpts[i].reply);
		reply_clear(&r->rcpts[i].lmtp);
	}
	free(r->rcpts);
	memset(r, 0, sizeof(*r));
}

/*
 * The caller holds one reference until mta_session_close(); every callback
 * holds one while it runs, so done() may close the session. Configuration
 * strings and the envelope are copied; the message (in memory, or its
 * source's arg) is borrowed until done runs.
 */
void
client_session_unref(struct mta_session *s)
{
	if (--s->refs > 0)
		return;
	client_conn_clear(&s->conn);
	event_free(s->defer);
	tx_clear(s);
	result_clear(&s->res);
	free(s->d_error);
	if (s->tls_ctx != NULL)
		SSL_CTX_free(s->tls_ctx);
	dane_policy_unref(s->dane);
	free(s->ip);
	free(s->path);
	free(s->bind);
	free(s->helo);
	free(s->tls_name);
	free(s->auth_user);
	free(s->auth_pass);
	free(s->auth_type);
	free(s->uuid);
	free(s->peer);
	free(s);
}

void
client_session_drop(struct mta_session *s, int quit)
{
	s->state = ST_DEAD;
	client_conn_close(&s->conn, quit);
}

void
client_session_finish(struct mta_session *s, enum mta_outcome outcome,
    enum mta_step step, struct reply *r, char *error, int quit)
{
	struct mta_result res = s->res;
	mta_done_fn done = s->done;
	void *arg = s->arg;
	const char *at = client_session_state_name(s);
	/* Part of the message not handed over, or abandoned: the server is
	 * still reading it, so the connection cannot carry another. */
	int unsent = client_conn_body_unsent(&s->conn);

	if (outcome != MTA_OK) {
		res.waiting = client_session_waiting(s);
		res.dot_sent = s->state == ST_DOT && s->conn.bev != NULL &&
		    client_conn_dot_sent(&s->conn);
	}
	res.body_failed = s->conn.body_failed;
	memset(&s->res, 0, sizeof(s->res));
	s->done = NULL;
	client_conn_unwatch(&s->conn);
	res.outcome = outcome;
	res.step = step;
	res.error = error;
	if (r != NULL) {
		res.reply = *r;
		memset(r, 0, sizeof(*r));
	}
	res.secured = s->secured;
	res.authenticated = s->authenticated;
	memcpy(res.local_ip, s->conn.local_ip, sizeof(res.local_ip));
	memcpy(res.remote_ip, s->conn.remote_ip, sizeof(res.remote_ip));
	res.port = s->port;
	if (outcome == MTA_OK && s->conn.bev != NULL && s->state != ST_DEAD &&
	    !unsent) {
		s->state = ST_IDLE;
		client_conn_idle(&s->conn);
	} else
		client_session_drop(s, quit);
	tx_clear(s);
	if (outcome != MTA_OK)
		log_debug(SRC, s->uuid, "%s: transaction failed at %s: %s",
		    s->peer, at, error ? error : "reply");
	if (done != NULL) {
		s->refs++;
		done(arg, &res);
		client_session_unref(s);	/* s may be gone from here */
	}
	result_clear(&res);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct mta_session *s = arg;
	char *error = s->d_error;

	(void)fd;
	(void)what;
	s->d_error = NULL;
	s->refs++;
	client_session_finish(s, s->d_outcome, s->d_step, NULL, error, 0);
	client_session_unref(s);
}

void
client_session_defer_fail(struct mta_session *s, enum mta_outcome outcome,
    enum mta_step step, char *error)
{
	s->d_outcome = outcome;
	s->d_step = step;
	free(s->d_error);
	s->d_error = error;
	event_active(s->defer, EV_TIMEOUT, 1);
}

void
client_session_rcpt_reply(struct mta_session *s, struct reply *r)
{
	size_t i = s->rcpt_i++;

	if (r->code / 100 == 2)
		s->nok++;
	s->res.rcpts[i].reply = *r;
	memset(r, 0, sizeof(*r));
}

/* The next recipient the LMTP server answers for (one whose RCPT was
 * accepted), from i; nrcpts when none is left. */
static size_t
next_lmtp(const struct mta_session *s, size_t i)
{
	while (i < s->res.nrcpts && s->res.rcpts[i].reply.code / 100 != 2)
		i++;
	return i;
}

int
client_session_lmtp_reply(struct mta_session *s, struct reply *r)
{
	size_t i = next_lmtp(s, s->lmtp_i);

	if (i < s->res.nrcpts) {
		s->res.rcpts[i].lmtp = *r;
		memset(r, 0, sizeof(*r));
		s->lmtp_i = i + 1;
	}
	return next_lmtp(s, s->lmtp_i) >= s->res.nrcpts;
}

/* --- the API's lifetime half (mta_session.h) ------------------------------ */

struct mta_session *
client_session_new(struct event_base *base, const struct mta_conf *conf,
    bufferevent_data_cb readcb, bufferevent_event_cb eventcb)
{
	struct mta_session *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	s->base = base;
	s->ip = xstrdup_null(conf->ip);
	s->path = xstrdup_null(conf->path);
	s->bind = conf->bind != NULL && *conf->bind ? xstrdup(conf->bind) :
	    NULL;
	s->helo = xstrdup(conf->helo != NULL ? conf->helo : "localhost");
	s->tls_name = conf->tls_name != NULL && *conf->tls_name ?
	    xstrdup(conf->tls_name) : NULL;
	if (conf->auth_user != NULL && conf->auth_pass != NULL) {
		s->auth_user = xstrdup(conf->auth_user);
		s->auth_pass = xstrdup(conf->auth_pass);
	}
	s->auth_type = conf->auth_type != NULL && *conf->auth_type ?
	    xstrdup(conf->auth_type) : NULL;
	s->uuid = xstrdup_null(conf->log_uuid);
	s->port = conf->port;
	s->lmtp = conf->lmtp;
	s->tls = conf->tls;
	s->verify = conf->verify || conf->tls == MTA_TLS_MUST;
	if ((s->tls_ctx = conf->tls_ctx) != NULL)
		SSL_CTX_up_ref(s->tls_ctx);
	s->dane = dane_policy_ref(conf->dane);
#define PICK(f)	s->t.f = conf->timeouts.f > 0 ? conf->timeouts.f : \
	    timeouts_default.f
	PICK(connect);
	PICK(greeting);
	PICK(ehlo);
	PICK(starttls);
	PICK(auth);
	PICK(rset);
	PICK(mail);
	PICK(rcpt);
	PICK(data);
	PICK(data_block);
	PICK(dot);
	PICK(quit);
#undef PICK
	if (s->path != NULL)
		s->peer = xstrdup(s->path);
	else if (s->ip != NULL && strchr(s->ip, ':') != NULL)
		s->peer = xasprintf("[%s]:%u", s->ip, s->port);
	else
		s->peer = xasprintf("%s:%u", s->ip ? s->ip : "?", s->port);
	client_conn_init(&s->conn, base, s->peer, s->uuid, s->t.quit, readcb,
	    eventcb, s);
	s->defer = evtimer_new(base, on_defer, s);
	s->state = ST_NEW;
	return s;
}

void
client_session_begin(struct mta_session *s, const struct mta_msg *msg,
    mta_done_fn done, void *arg)
{
	if (s->done != NULL || s->closed) {
		log_crit(SRC, s->uuid, "mta_session_send: %s", s->closed ?
		    "session closed" : "a transaction is running");
		abort();
	}
	s->done = done;
	s->arg = arg;
	s->mail_from = xstrdup(msg->mail_from != NULL ? msg->mail_from : "");
	s->nrcpts = msg->nrcpts;
	s->rcpts = xcalloc(msg->nrcpts ? msg->nrcpts : 1, sizeof(*s->rcpts));
	for (size_t i = 0; i < msg->nrcpts; i++)
		s->rcpts[i] = xstrdup(msg->rcpts[i]);
	if (msg->body != NULL)
		s->body = *msg->body;
	else {
		s->mem.p = msg->data != NULL ? msg->data : "";
		s->mem.len = msg->data != NULL ? msg->len : 0;
		s->mem.off = 0;
		s->body.len = s->mem.len;
		s->body.read = mem_read;
		s->body.arg = &s->mem;
	}
	s->smtputf8 = msg->smtputf8;
	if (msg->smtputf8 && msg->ascii_from != NULL &&
	    msg->ascii_rcpts != NULL) {
		s->ascii_from = xstrdup(msg->ascii_from);
		s->ascii_rcpts = xcalloc(msg->nrcpts ? msg->nrcpts : 1,
		    sizeof(*s->ascii_rcpts));
		for (size_t i = 0; i < msg->nrcpts; i++)
			s->ascii_rcpts[i] = xstrdup(msg->ascii_rcpts[i]);
	}
	s->eightbit = msg->eightbit;
	s->res.rcpts = xcalloc(msg->nrcpts ? msg->nrcpts : 1,
	    sizeof(*s->res.rcpts));
	s->res.nrcpts = msg->nrcpts;
}

int
client_session_downgrade(struct mta_session *s)
{
	char *t, **tv;

	if (s->ascii_from == NULL || s->ascii_rcpts == NULL)
		return -1;
	t = s->mail_from;
	s->mail_from = s->ascii_from;
	s->ascii_from = t;
	tv = s->rcpts;
	s->rcpts = s->ascii_rcpts;
	s->ascii_rcpts = tv;
	s->smtputf8 = 0;
	return 0;
}

int
mta_session_idle(const struct mta_session *s)
{
	return s->state == ST_IDLE && s->conn.bev != NULL && !s->closed;
}

unsigned
mta_session_count(const struct mta_session *s)
{
	return s->count;
}

void
mta_session_on_close(struct mta_session *s, void (*fn)(void *), void *arg)
{
	s->on_close = fn;
	s->on_close_arg = arg;
}

void
mta_session_close(struct mta_session *s)
{
	void (*fn)(void *) = s->on_close;

	if (s->closed)
		return;
	s->closed = 1;
	s->on_close = NULL;
	if (fn != NULL)
		fn(s->on_close_arg);
	if (s->done != NULL) {
		/* Misuse (see the header): the transaction is abandoned. */
		s->done = NULL;
		event_del(s->defer);
		client_session_drop(s, 0);
	} else
		client_session_drop(s, s->state == ST_IDLE);
	client_session_unref(s);
}
