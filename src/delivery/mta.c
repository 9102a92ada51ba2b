/*
 * mta: one attempt per due entry (struct attempt), as a chain of steps:
 *
 *   read the message → send_email hook → get_mx hook | DNS MX → addresses
 *   → for each address: a pooled or new mta_session → classify (mta_error)
 *   → outcomes → delivered hook → deferred hook (or too many failures)
 *   → bounce hook + DSN → entry rewritten or removed → scheduler.
 *
 * Every step either finishes synchronously or hands the attempt to one
 * asynchronous operation whose callback continues the chain; an attempt
 * is freed in exactly one place (attempt_end). Idle connections are kept
 * per destination for a few seconds so queued mail for the same MX rides
 * the same connection (RSET between messages).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "delivery/dsn.h"
#include "core/config.h"
#include "delivery/dns.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "proto/message.h"
#include "delivery/mta.h"
#include "delivery/mta_error.h"
#include "delivery/mta_session.h"
#include "delivery/mx.h"
#include "plugins/plugin.h"
#include "queue/queue.h"
#include "delivery/scheduler.h"
#include "proto/smtp_parse.h"
#include "queue/submit.h"
#include "core/tls.h"

#define SRC		"outbound"
#define IDLE_SECONDS	5	/* an idle connection is kept this long */
#define REUSE_MAX	1000	/* messages per connection */
#define NO_TLS_SECONDS	3600	/* after a failed handshake, plaintext */
#define DELAY_DEFAULT	60	/* DELAY/DENYSOFT without a number */

struct idle {
	struct idle		*next, *prev;
	struct mta		*m;
	char			*key;
	struct mta_session	*s;
	struct event		*timer;
};

struct no_tls {
	struct no_tls		*next;
	char			*ip;
	int64_t			 until;
};

struct attempt;

struct mta {
	struct event_base	*base;
	struct config		*cfg;
	struct queue		*q;
	struct scheduler	*sched;
	struct dns		*dns;
	struct tls_outbound	*tls;
	struct attempt		*live;		/* attempts in flight */
	struct idle		*idle;		/* idle connections */
	struct no_tls		*no_tls;
	void			(*drained)(void *);
	void			*drained_arg;
	struct event		*drain_ev;
	int			 draining;
};

struct attempt {
	struct attempt		*next, *prev;
	struct mta		*m;
	struct config		*cfg;
	struct sched_item	*it;
	struct qentry		*e;
	char			*msg;
	size_t			 len;
	/* The recipients still pending at the start: indexes into e->rcpts. */
	size_t			*idx;
	const char		**addrs;
	size_t			 n;
	struct outcome		*out;
	/* Hooks. */
	struct outbound_call	 call;
	struct op_rcpt		*hrcpts;
	char			**reasons;
	/* Route. */
	struct dns_query	*dq;
	struct mx		*mxs;
	size_t			 nmx;
	size_t			 cur;
	int			 retried;
	char			*last_error;
	struct mta_session	*sess;
	char			*sess_key;
	const struct mx		*mx;		/* mxs[cur - 1] */
	/* The delivery, for the delivered hook. */
	char			*host;
	char			 ip[46];
	char			 local_ip[46];
	unsigned		 port;
	char			*response;
	int			 secured, authenticated;
	/* Finishing. */
	unsigned		 attempts;	/* after this attempt */
	double			 delay;		/* s until the retry */
	double			 age;		/* s since queued, when delivered */
	char			*err;		/* the failure text */
	char			*temp_err;	/* the temporary failures' text */
	int			 expired;	/* retries ran out: the
						 * temporary failures bounce */
	unsigned char		*dropped;	/* by the deferred hook */
	unsigned		 recorded;	/* record phase: events done */
	int			 unreadable;	/* the file could not be read:
					 * never rewritten from memory */
	struct queue_job	*job;
	int64_t			 next_attempt;
};

static void try_next(struct attempt *);
static void finish(struct attempt *);
static void after_delivered(struct attempt *);
static void after_deferred(struct attempt *);
static void after_bounce(struct attempt *);
static void persist(struct attempt *);

/* --- small helpers ------------------------------------------------------- */

static int
parse_seconds(const char *msg, long *out)
{
	char *end;
	long v;

	if (msg == NULL)
		return -1;
	errno = 0;
	v = strtol(msg, &end, 10);
	if (end == msg || errno != 0 || v < 0 || v > 365L * 86400)
		return -1;
	while (*end == ' ')
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static char *
entry_path(const struct mta *m, const char *id)
{
	return xasprintf("%s/%s", queue_dir(m->q), id);
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

/* --- the hooks' view -------------------------------------------------------- */

static void
view_reset(struct attempt *a)
{
	mx_list_free(a->call.mxs, a->call.nmx);
	memset(&a->call, 0, sizeof(a->call));
	a->call.pub.size = sizeof(a->call.pub);
	a->call.pub.id = a->e->id;
	a->call.pub.domain = a->e->domain;
	a->call.pub.mail_from = a->e->mail_from;
	a->call.pub.queue_time = a->e->queue_time;
	a->call.pub.attempts = a->e->attempts;
	a->call.pub.helo = a->e->helo;
	a->call.pub.client_ip = a->e->client_ip;
	a->call.pub.message = a->msg;
	a->call.pub.message_len = a->len;
	a->call.pub.notes = (const char *const *)a->e->notes;
}

/* The recipients whose outcome has class `class` (all when class < 0). */
static void
view_rcpts(struct attempt *a, int class)
{
	unsigned k = 0;

	for (size_t i = 0; i < a->n; i++) {
		const struct outcome *o = &a->out[i];

		if (class >= 0 && o->class != (enum fail_class)class)
			continue;
		if (a->dropped[i])	/* by the deferred chain: not retried */
			continue;
		free(a->reasons[k]);
		a->reasons[k] = o->msg != NULL ? outcome_reason(o) : NULL;
		a->hrcpts[k] = (struct op_rcpt){
			.address = a->addrs[i],
			.action = o->msg != NULL ? outcome_action(o) : NULL,
			.status = o->msg != NULL ? o->status : NULL,
			.code = o->code,
			.response = o->msg,
			.reason = a->reasons[k],
			.remote = o->remote,
		};
		k++;
	}
	a->call.pub.rcpts = a->hrcpts;
	a->call.pub.nrcpts = k;
}

static void
view_server(struct attempt *a)
{
	struct op_outbound *p = &a->call.pub;

	if (a->mx == NULL)
		return;
	p->host = a->host;
	p->ip = a->ip[0] ? a->ip : a->mx->path;
	p->port = a->port;
	p->local_ip = a->local_ip[0] ? a->local_ip : NULL;
	p->mode = a->mx->using_lmtp ? "LMTP" : "SMTP";
	p->secured = a->secured;
	p->authenticated = a->authenticated;
	p->route = a->mx->route;
}

/*
 * The view of one event of the attempt, for its hook and its observers:
 * the recipients it concerns, the server, and the event's own fields.
 * `attempts` is left to the caller (the bounce hook sees the entry's).
 */
static enum fail_class
event_class(enum op_hook h)
{
	return h == OP_HOOK_DELIVERED ? FAIL_NONE :
	    h == OP_HOOK_DEFERRED ? FAIL_TEMP : FAIL_PERM;
}

static void
view_event(struct attempt *a, enum op_hook h)
{
	struct op_outbound *p = &a->call.pub;

	view_reset(a);
	view_rcpts(a, event_class(h));
	view_server(a);
	if (h == OP_HOOK_DELIVERED) {
		p->response = a->response;
		p->delay = a->age;
	} else if (h == OP_HOOK_DEFERRED) {
		p->error = a->temp_err;
		p->delay = a->delay;
	} else
		p->error = a->err;
}

/* --- the attempt's life ------------------------------------------------- */

static void
attempt_free(struct attempt *a)
{
	struct mta *m = a->m;

	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		m->live = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	if (a->dq != NULL)
		dns_cancel(a->dq);
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
	free(a->last_error);
	free(a->sess_key);
	free(a->host);
	free(a->response);
	free(a->err);
	free(a->temp_err);
	config_unref(a->cfg);
	free(a);
	if (m->draining && m->live == NULL && m->drained != NULL)
		event_active(m->drain_ev, 0, 0);
}

/* The attempt is over: the item waits again (due >= 0) or is gone. */
static void
attempt_end(struct attempt *a, int64_t due)
{
	struct mta *m = a->m;
	struct sched_item *it = a->it;

	a->it = NULL;
	attempt_free(a);
	if (due < 0)
		scheduler_remove(m->sched, it);
	else
		scheduler_retry(m->sched, it, due);
}

static void send_email_done(void *, int, const char *);

/* The message is at hand: the first hook of the attempt. */
static void
send_email(struct attempt *a)
{
	view_reset(a);
	view_rcpts(a, -1);
	hook_run(OP_HOOK_SEND_EMAIL, &a->call, send_email_done, a);
}

static void
dispatch(void *arg, struct sched_item *it)
{
	struct mta *m = arg;
	struct attempt *a = xcalloc(1, sizeof(*a));
	struct qentry disk;
	const char *why;
	char *path;
	size_t k = 0;

	a->m = m;
	a->cfg = config_ref(m->cfg);
	a->it = it;
	a->e = it->e;
	a->next = m->live;
	if (m->live != NULL)
		m->live->prev = a;
	m->live = a;
	for (size_t i = 0; i < a->e->nrcpts; i++)
		k += a->e->rcpts[i].state == QRCPT_PENDING;
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
	if (a->n == 0) {		/* nothing left: a stale entry */
		queue_remove(m->q, a->e->id, NULL, NULL);
		attempt_end(a, -1);
		return;
	}
	if (it->msg != NULL) {		/* just committed: still in memory */
		a->msg = it->msg;
		a->len = it->len;
		it->msg = NULL;
		send_email(a);
		return;
	}
	path = entry_path(m, a->e->id);
	memset(&disk, 0, sizeof(disk));
	if (qfs_read(path, &disk, &a->msg, &a->len, &why) != 0) {
		int gone = access(path, F_OK) != 0 && errno == ENOENT;

		free(path);
		if (gone) {
			log_error(SRC, a->e->id, "queue entry vanished; "
			    "forgetting it");
			attempt_end(a, -1);
			return;
		}
		log_error(SRC, a->e->id, "cannot read the queue entry: %s",
		    why);
		a->unreadable = 1;
		a->msg = xstrdup("");
		a->len = 0;
		for (size_t i = 0; i < a->n; i++)
			outcome_local(&a->out[i], FAIL_TEMP, 451, "4.3.0",
			    "Error reading the queue entry: %s", why);
		finish(a);
		return;
	}
	free(path);
	qentry_clear(&disk);
	send_email(a);
}

/* --- routing --------------------------------------------------------------- */

static void get_mx_done(void *, int, const char *);
static void dns_mx_done(void *, struct dns_answer *);
static void addresses_done(void *, struct dns_answer *);

static void
send_email_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;
	long secs;

	if (code == OP_DELAY) {
		if (parse_seconds(msg, &secs) != 0) {
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
	hook_run(OP_HOOK_GET_MX, &a->call, get_mx_done, a);
}

/* Every recipient gets the same outcome; the attempt is over. */
static void
fail_all(struct attempt *a, const struct outcome *o)
{
	for (size_t i = 0; i < a->n; i++)
		outcome_copy(&a->out[i], o);
	finish(a);
}

static void
fail_local(struct attempt *a, enum fail_class class, int code,
    const char *status, const char *text)
{
	struct outcome o = { 0 };

	outcome_local(&o, class, code, status, "%s", text);
	fail_all(a, &o);
	outcome_clear(&o);
}

/* A route is known (from a plugin or DNS): null MX, then addresses. */
static void
route(struct attempt *a, struct mx *mxs, size_t n)
{
	if (mx_is_null(mxs, n)) {
		struct dns_answer ans = { .status = DNS_NULL_MX };
		struct outcome o = { 0 };

		mx_list_free(mxs, n);
		mta_error_dns(&ans, a->e->domain, &o);
		fail_all(a, &o);
		outcome_clear(&o);
		return;
	}
	a->dq = dns_addresses(a->m->dns, mxs, n, a->cfg->outbound->inet_prefer,
	    addresses_done, a);
	mx_list_free(mxs, n);
}

/* get_mx's OK with a string: MX forms separated by commas or spaces. */
static size_t
parse_mx_strings(struct attempt *a, const char *msg, struct mx **out)
{
	char *copy = xstrdup(msg), *tok, *save = NULL;
	size_t n = 0;

	*out = NULL;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		struct mx mx;
		const char *why;

		memset(&mx, 0, sizeof(mx));
		if (mx_parse(tok, &mx, &why) != 0) {
			log_error(SRC, a->e->id, "get_mx: ignoring '%s': %s",
			    tok, why);
			continue;
		}
		*out = xreallocarray(*out, n + 1, sizeof(**out));
		(*out)[n++] = mx;
	}
	free(copy);
	return n;
}

static void
get_mx_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;
	const char *d = a->e->domain;
	char text[600];
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
			n = msg != NULL ? parse_mx_strings(a, msg, &mxs) : 0;
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
		fail_local(a, FAIL_PERM, 550, "5.1.2", text);
		return;
	case OP_DENYSOFT:
		snprintf(text, sizeof(text), "Temporary MX lookup error for %s",
		    d);
		fail_local(a, FAIL_TEMP, 450, "4.1.2", text);
		return;
	default:
		break;
	}
	a->dq = dns_mx(a->m->dns, d, dns_mx_done, a);
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
		route(a, mxs, n);
		return;
	}
	if (ans->status == DNS_TEMP)
		log_notice(SRC, a->e->id, "MX Lookup for %s failed: %s",
		    a->e->domain, ans->error ? ans->error : "unknown error");
	mta_error_dns(ans, a->e->domain, &o);
	fail_all(a, &o);
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
	try_next(a);
}

/* --- connections ----------------------------------------------------------- */

static void
idle_unlink(struct idle *i)
{
	if (i->prev != NULL)
		i->prev->next = i->next;
	else
		i->m->idle = i->next;
	if (i->next != NULL)
		i->next->prev = i->prev;
	event_free(i->timer);
	free(i->key);
	free(i);
}

static void
on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct idle *i = arg;

	(void)fd;
	(void)what;
	mta_session_close(i->s);
	idle_unlink(i);
}

static struct mta_session *
pool_take(struct mta *m, const char *key)
{
	struct idle *i, *next;

	for (i = m->idle; i != NULL; i = next) {
		struct mta_session *s = i->s;

		next = i->next;
		if (strcmp(i->key, key) != 0)
			continue;
		idle_unlink(i);
		if (mta_session_idle(s))
			return s;
		mta_session_close(s);
	}
	return NULL;
}

static void
pool_put(struct mta *m, const char *key, struct mta_session *s)
{
	struct idle *i;
	struct timeval tv = { IDLE_SECONDS, 0 };

	if (m->draining || !mta_session_idle(s) ||
	    mta_session_count(s) >= REUSE_MAX) {
		mta_session_close(s);
		return;
	}
	i = xcalloc(1, sizeof(*i));
	i->m = m;
	i->key = xstrdup(key);
	i->s = s;
	i->timer = evtimer_new(m->base, on_idle_timeout, i);
	evtimer_add(i->timer, &tv);
	i->next = m->idle;
	if (m->idle != NULL)
		m->idle->prev = i;
	m->idle = i;
}

static int
no_tls_marked(struct mta *m, const char *ip)
{
	int64_t now = sched_now_ms();

	for (struct no_tls **pp = &m->no_tls, *t; (t = *pp) != NULL;) {
		if (t->until <= now) {
			*pp = t->next;
			free(t->ip);
			free(t);
			continue;
		}
		if (strcmp(t->ip, ip) == 0)
			return 1;
		pp = &t->next;
	}
	return 0;
}

static void
no_tls_mark(struct mta *m, const char *ip, const char *uuid)
{
	struct no_tls *t;

	if (no_tls_marked(m, ip))
		return;
	log_notice(SRC, uuid, "TLS connection failed. Marking %s as non-TLS "
	    "for %d seconds", ip, NO_TLS_SECONDS);
	t = xcalloc(1, sizeof(*t));
	t->ip = xstrdup(ip);
	t->until = sched_now_ms() + NO_TLS_SECONDS * 1000LL;
	t->next = m->no_tls;
	m->no_tls = t;
}

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

static void
tried_all(struct attempt *a)
{
	char text[600];

	log_notice(SRC, a->e->id, "Tried all MXs %s%s%s", a->e->domain,
	    a->last_error ? ": " : "", a->last_error ? a->last_error : "");
	snprintf(text, sizeof(text), "Tried all MXs %s", a->e->domain);
	fail_local(a, FAIL_TEMP, 421, "4.4.1", text);
}

static void
try_next(struct attempt *a)
{
	const struct config_outbound *ob = a->cfg->outbound;
	struct mta *m = a->m;
	struct mta_conf c;
	const struct mx *mx;
	const char *host, *ip;
	int forced;
	struct mta_msg msg;

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
	host = mx_host(mx);
	free(a->host);
	a->host = xstrdup(host);
	memset(&c, 0, sizeof(c));
	c.ip = mx->path != NULL ? NULL : ip;
	c.path = mx->path;
	c.port = mx->port ? mx->port : mx->using_lmtp ? 24 : 25;
	c.bind = mx->bind;
	c.helo = mx->bind_helo ? mx->bind_helo : a->cfg->core->me;
	c.lmtp = mx->using_lmtp;
	c.tls_ctx = tls_outbound_ctx(m->tls);
	c.tls_name = mx_ip_family(host) ? NULL : host;
	c.auth_user = mx->auth_user;
	c.auth_pass = mx->auth_pass;
	c.auth_type = mx->auth_type;
	c.timeout = ob->connect_timeout;
	c.log_uuid = a->e->id;
	forced = ip != NULL && tls_force_tls_host(m->tls, ip,
	    mx->from_dns ? mx->from_dns : mx->exchange, a->e->domain);
	if (forced && !ob->enable_tls) {
		fail_local(a, FAIL_TEMP, 450, "4.7.10",
		    "No TLS available but required by configuration.");
		return;
	}
	if (forced)
		c.tls = MTA_TLS_MUST;
	else if (!ob->enable_tls || ip == NULL ||
	    tls_no_tls_host(m->tls, ip, mx->from_dns, a->e->domain) ||
	    no_tls_marked(m, ip))
		c.tls = MTA_TLS_NONE;
	else
		c.tls = MTA_TLS_TRY;
	free(a->sess_key);
	a->sess_key = xasprintf("%s|%s|%u|%s|%s|%d|%d|%s|%s",
	    c.ip ? c.ip : "", c.path ? c.path : "", c.port,
	    c.bind ? c.bind : "", c.helo, c.lmtp, (int)c.tls,
	    c.auth_user ? c.auth_user : "", c.auth_pass ? c.auth_pass : "");
	a->sess = a->retried ? NULL : pool_take(m, a->sess_key);
	if (a->sess == NULL)
		a->sess = mta_session_new(m->base, &c);
	memset(&msg, 0, sizeof(msg));
	msg.mail_from = a->e->mail_from;
	msg.rcpts = a->addrs;
	msg.nrcpts = a->n;
	msg.data = a->msg;
	msg.len = a->len;
	msg.smtputf8 = (a->e->flags & QE_SMTPUTF8) != 0;
	msg.eightbit = (a->e->flags & QE_8BITMIME) != 0;
	mta_session_send(a->sess, &msg, txn_done, a);
}

static void
txn_done(void *arg, const struct mta_result *r)
{
	struct attempt *a = arg;
	struct mta *m = a->m;
	struct mta_session *s = a->sess;
	struct outcome mail = { 0 };
	enum verdict v;

	a->sess = NULL;
	v = mta_error_classify(r, a->host, &mail);
	switch (v) {
	case V_NEXT_MX:
	case V_RETRY_HOST:
		mta_session_close(s);
		if (r->step == MTA_TLS_HANDSHAKE && a->mx->exchange != NULL)
			no_tls_mark(m, a->mx->exchange, a->e->id);
		if (v == V_RETRY_HOST && !a->retried) {
			a->retried = 1;
			a->cur--;	/* the same host, a fresh connection */
		} else
			log_notice(SRC, a->e->id, "%s: %s; trying the next MX",
			    a->host, r->error ? r->error : "connection failed");
		free(a->last_error);
		a->last_error = xstrdup(r->error ? r->error :
		    "connection failed");
		try_next(a);
		return;
	case V_MAIL:
		for (size_t i = 0; i < a->n; i++)
			outcome_copy(&a->out[i], &mail);
		break;
	case V_RCPTS:
		for (size_t i = 0; i < a->n && i < r->nrcpts; i++)
			mta_error_rcpt(r, i, mail.msg != NULL ? &mail : NULL,
			    a->host, &a->out[i]);
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
	if (r->outcome == MTA_OK)
		pool_put(m, a->sess_key, s);
	else
		mta_session_close(s);
	finish(a);
}

/* --- outcomes: hooks, DSN, the new state -------------------------------- */

static size_t
count_class(const struct attempt *a, enum fail_class class)
{
	size_t k = 0;

	for (size_t i = 0; i < a->n; i++)
		k += a->out[i].class == class && !a->dropped[i];
	return k;
}

/* The failure text of the recipients of a class (Haraka's wording). */
static char *
class_error(struct attempt *a, enum fail_class class, const char *some)
{
	char *list, *r;

	if (count_class(a, class) == a->n) {
		const struct outcome *o = &a->out[0];

		return o->remote ? xasprintf("Upstream error: %d %s %s",
		    o->code, o->status, o->msg ? o->msg : "") :
		    xstrdup(o->msg ? o->msg : "");
	}
	list = addr_list(a, class);
	r = xasprintf("%s: %s", some, list);
	free(list);
	return r;
}

static void
delivered_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;

	if (code != OP_CONT && code != OP_OK)
		log_warn(SRC, a->e->id, "delivered plugin responded with: "
		    "%s%s%s", code_name(code), msg ? " " : "", msg ? msg : "");
	after_delivered(a);
}

static void
finish(struct attempt *a)
{
	size_t ok = count_class(a, FAIL_NONE);
	double delay;
	char rcpts[64];

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

static void
deferred_done(void *arg, int code, const char *msg)
{
	struct attempt *a = arg;
	long secs;

	if (code == OP_DENYSOFT) {
		if (parse_seconds(msg, &secs) == 0)
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

static char *
read_template(const struct attempt *a, const char *name)
{
	char *path = xasprintf("%s/%s", a->cfg->config_dir, name);
	struct buf b = BUF_INIT;
	char chunk[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	free(path);
	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_release(&b);
}

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

static void
send_dsn(struct attempt *a)
{
	struct dsn_rcpt *dr = xcalloc(a->n, sizeof(*dr));
	char **reasons = xcalloc(a->n, sizeof(*reasons));
	struct dsn_params p;
	struct buf out = BUF_INIT;
	const char *to[1] = { a->e->mail_from };
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
		dr[k].remote_mta = o->host;
		dr[k].reason = reasons[k] = outcome_reason(o);
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
	p.arrival_ms = a->e->queue_time;
	p.now = (int64_t)time(NULL);
	p.pid = (long)getpid();
	p.tmpl = read_template(a, "outbound.bounce_message");
	p.tmpl_html = read_template(a, "outbound.bounce_message_html");
	p.tmpl_image = read_template(a, "outbound.bounce_message_image");
	dsn_build(&p, &out);
	free((char *)p.tmpl);
	free((char *)p.tmpl_html);
	free((char *)p.tmpl_image);
	for (size_t i = 0; i < k; i++)
		free(reasons[i]);
	free(reasons);
	free(dr);
	mta_send_email(a->m, "", to, 1, out.p, out.len, 0, NULL, dsn_queued, a);
	buf_free(&out);
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

static void
persisted(void *arg, int err)
{
	struct attempt *a = arg;

	a->job = NULL;
	if (err != 0)
		log_error(SRC, a->e->id, "cannot update the queue entry: %s; "
		    "its file keeps the previous state", strerror(err));
	attempt_end(a, a->next_attempt);
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
	while (a->recorded < sizeof(order) / sizeof(order[0])) {
		enum op_hook h = order[a->recorded++];

		if (h == OP_HOOK_BOUNCE)	/* dropped: final, never retried */
			for (size_t i = 0; i < a->n; i++)
				if (a->dropped[i]) {
					outcome_make_final(&a->out[i]);
					a->dropped[i] = 0;
				}
		if (count_class(a, event_class(h)) == 0 ||
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

/* The outcomes become the entry's state, durably. */
static void
persist(struct attempt *a)
{
	struct qentry *e = a->e;
	size_t pending = 0;
	char *temp_reason = NULL;

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
			log_error(SRC, e->id, "its file could not be read; "
			    "left in the queue directory for inspection");
			attempt_end(a, -1);
			return;
		}
		a->job = queue_remove(a->m->q, e->id, persisted, a);
		return;
	}
	e->attempts = a->attempts;
	free(e->last_error);
	e->last_error = xstrdup_null(temp_reason);
	a->next_attempt = sched_now_ms() + (int64_t)(a->delay * 1000);
	e->next_attempt = a->next_attempt;
	if (a->unreadable) {	/* keep the file as it is; retry later */
		attempt_end(a, a->next_attempt);
		return;
	}
	a->job = queue_rewrite(a->m->q, e, a->msg, a->len, persisted, a);
}

/* --- mail generated inside Outpost ------------------------------------- */

struct send_job {
	struct mta		*m;
	struct config		*cfg;
	struct smtp_tx		*tx;
	struct op_txn		 view;
	send_email_done_fn	 done;
	void			*arg;
	int			 code;
	char			*msg;
	struct event		*ev;
	char			**notes;
};

static void
send_job_end(evutil_socket_t fd, short what, void *arg)
{
	struct send_job *j = arg;

	(void)fd;
	(void)what;
	if (j->done != NULL)
		j->done(j->arg, j->code, j->msg);
	event_free(j->ev);
	tx_free(j->tx);
	config_unref(j->cfg);
	if (j->notes != NULL)
		for (char **p = j->notes; *p != NULL; p++)
			free(*p);
	free(j->notes);
	free(j->msg);
	free(j);
}

/* Answers from the loop, never inside the caller's call. */
static void
send_job_answer(struct send_job *j, int code, char *msg)
{
	j->code = code;
	j->msg = msg;
	j->ev = event_new(j->m->base, -1, 0, send_job_end, j);
	event_active(j->ev, 0, 0);
}

static void
send_job_committed(void *arg, int err)
{
	struct send_job *j = arg;

	tx_set_job(j->tx, NULL);
	if (err != 0)
		send_job_answer(j, OP_DENYSOFT, xasprintf("Queueing failed: %s",
		    strerror(err)));
	else
		send_job_answer(j, OP_OK, xasprintf("Message Queued (%s)",
		    tx_uuid(j->tx)));
}

static void
send_job_pre_send(void *arg, int code, const char *msg)
{
	struct send_job *j = arg;
	struct qentry *entries;
	size_t n, len;
	char *body;

	(void)code;	/* ignored, as in Haraka */
	(void)msg;
	n = tx_entries(j->tx, j->cfg->outbound->always_split,
	    j->cfg->core->me, "", &entries);
	for (size_t i = 0; i < n; i++)
		qentry_set_notes(&entries[i], (const char *const *)j->notes);
	body = tx_take_message(j->tx, &len);
	tx_set_job(j->tx, queue_commit(j->m->q, entries, n, body, len,
	    send_job_committed, j));
	free(entries);
}

static int
parse_addr(const char *kw, const char *s, struct smtp_addr *a)
{
	char *line = xasprintf("%s:<%s>", kw, s);
	struct slice params;
	const char *why;
	int rc;

	rc = smtp_parse_mail_rcpt(slice_of(line, strlen(line)), kw, 1, a,
	    &params, &why) == SMTP_P_OK && params.len == 0 ? 0 : -1;
	free(line);
	return rc;
}

void
mta_send_email(struct mta *m, const char *from, const char *const *to,
    size_t nto, const char *contents, size_t len, unsigned flags,
    const char *const *notes, send_email_done_fn done, void *arg)
{
	struct send_job *j = xcalloc(1, sizeof(*j));
	struct smtp_addr fa, *tas;
	struct buf body = BUF_INIT;
	char uuid[UUID_LEN + 1];
	unsigned qflags = 0;
	size_t nn = 0;

	j->m = m;
	j->cfg = config_ref(m->cfg);
	j->done = done;
	j->arg = arg;
	if (notes != NULL) {
		while (notes[nn] != NULL && notes[nn + 1] != NULL)
			nn += 2;
		j->notes = xcalloc(nn + 1, sizeof(*j->notes));
		for (size_t i = 0; i < nn; i++)
			j->notes[i] = xstrdup(notes[i]);
	}
	memset(&fa, 0, sizeof(fa));
	if (from[0] == '\0')
		fa.null = 1;
	else if (parse_addr("FROM", from, &fa) != 0) {
		send_job_answer(j, OP_DENY, xasprintf("Malformed from: %s",
		    from));
		return;
	}
	if (nto == 0) {
		send_job_answer(j, OP_DENY, xstrdup("No recipients for email"));
		return;
	}
	tas = xcalloc(nto, sizeof(*tas));
	for (size_t i = 0; i < nto; i++) {
		if (parse_addr("TO", to[i], &tas[i]) != 0) {
			send_job_answer(j, OP_DENY, xasprintf("Malformed to "
			    "address (%s)", to[i]));
			free(tas);
			return;
		}
		if (tas[i].utf8)
			qflags |= QE_SMTPUTF8;
	}
	if (fa.utf8)
		qflags |= QE_SMTPUTF8;
	msg_prepare(contents, len, flags, &body);
	for (size_t i = 0; i < body.len; i++)
		if ((unsigned char)body.p[i] >= 0x80) {
			qflags |= QE_8BITMIME;
			break;
		}
	uuid_v4(uuid);
	j->tx = tx_new(uuid, 1, &fa, qflags);
	for (size_t i = 0; i < nto; i++)
		tx_add_rcpt(j->tx, &tas[i]);
	free(tas);
	tx_set_message(j->tx, body.p != NULL ? body.p : "", body.len);
	buf_free(&body);
	tx_add_queue_headers(j->tx, j->cfg->outbound->received_header,
	    j->cfg->core->me);
	tx_view(j->tx, &j->view, "", j->cfg->core->me);
	hook_run(OP_HOOK_PRE_SEND_TRANS_EMAIL, &j->view, send_job_pre_send, j);
}

/* The public entry (outpost/plugin.h): plugins queue mail through the
 * running delivery side. The OP_SEND_* flags are message.h's MSG_*. */
static struct mta *running;

_Static_assert(OP_SEND_DOT_STUFFED == MSG_DOT_STUFFED &&
    OP_SEND_REMOVE_MSGID == MSG_REMOVE_MSGID &&
    OP_SEND_REMOVE_DATE == MSG_REMOVE_DATE, "send_email flags");

struct late_answer {
	op_send_done_fn	 done;
	void		*arg;
	struct event	*ev;
};

static void
answer_not_running(evutil_socket_t fd, short what, void *arg)
{
	struct late_answer *l = arg;

	(void)fd;
	(void)what;
	l->done(l->arg, OP_DENYSOFT, "outbound delivery is not running");
	event_free(l->ev);
	free(l);
}

void
op_send_email(const char *from, const char *const *to, unsigned n,
    const char *contents, unsigned long len, unsigned flags,
    const char *const *notes, op_send_done_fn done, void *arg)
{
	struct late_answer *l;

	if (running != NULL) {
		mta_send_email(running, from ? from : "", to, n, contents,
		    len, flags & (MSG_DOT_STUFFED | MSG_REMOVE_MSGID |
		    MSG_REMOVE_DATE), notes, done, arg);
		return;
	}
	log_error(SRC, NULL, "op_send_email called while delivery is not "
	    "running");
	if (done == NULL || plugins_event_base() == NULL)
		return;
	l = xcalloc(1, sizeof(*l));
	l->done = done;
	l->arg = arg;
	l->ev = event_new(plugins_event_base(), -1, 0, answer_not_running, l);
	event_active(l->ev, 0, 0);
}

/* --- the delivery side ------------------------------------------------------ */

static void
sink(void *arg, struct qentry *e, char *msg, size_t len)
{
	struct mta *m = arg;

	scheduler_add(m->sched, e, msg, len);
}

static void
on_drained(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;
	void (*done)(void *) = m->drained;

	(void)fd;
	(void)what;
	m->drained = NULL;
	if (done != NULL)
		done(m->drained_arg);
}

struct mta *
mta_new(struct event_base *base, struct config *cfg, struct queue *q,
    char **err)
{
	struct mta *m = xcalloc(1, sizeof(*m));
	struct dns_config dc;

	m->base = base;
	m->cfg = config_ref(cfg);
	m->q = q;
	memset(&dc, 0, sizeof(dc));
	if (dns_config_load(cfg->config_dir, &dc, err) != 0)
		goto fail;
	m->dns = dns_new(base, &dc, err);
	dns_config_clear(&dc);
	if (m->dns == NULL)
		goto fail;
	if ((m->tls = tls_outbound_load(cfg->config_dir, err)) == NULL)
		goto fail;
	m->drain_ev = event_new(base, -1, 0, on_drained, m);
	m->sched = scheduler_new(base, dispatch, m);
	scheduler_configure(m->sched, cfg->outbound->concurrency_max,
	    cfg->outbound->disabled);
	queue_set_sink(q, sink, m);
	running = m;
	return m;
fail:
	mta_free(m);
	return NULL;
}

void
mta_free(struct mta *m)
{
	if (m == NULL)
		return;
	if (running == m)
		running = NULL;
	if (m->sched != NULL) {
		scheduler_stop(m->sched);
		queue_set_sink(m->q, NULL, NULL);
	}
	while (m->live != NULL) {
		struct attempt *a = m->live;
		struct sched_item *it = a->it;

		a->it = NULL;
		attempt_free(a);
		if (it != NULL)
			scheduler_remove(m->sched, it);
	}
	while (m->idle != NULL) {
		mta_session_close(m->idle->s);
		idle_unlink(m->idle);
	}
	while (m->no_tls != NULL) {
		struct no_tls *t = m->no_tls;

		m->no_tls = t->next;
		free(t->ip);
		free(t);
	}
	scheduler_free(m->sched);
	dns_free(m->dns);
	tls_outbound_free(m->tls);
	if (m->drain_ev != NULL)
		event_free(m->drain_ev);
	config_unref(m->cfg);
	free(m);
}

void
mta_configure(struct mta *m, struct config *cfg)
{
	const struct config_outbound *old = m->cfg->outbound, *ob = cfg->outbound;

	if (old->disabled != ob->disabled)
		log_notice(SRC, NULL, "outbound delivery %s",
		    ob->disabled ? "disabled" : "enabled");
	config_unref(m->cfg);
	m->cfg = config_ref(cfg);
	scheduler_configure(m->sched, ob->concurrency_max, ob->disabled);
}

void
mta_flush(struct mta *m)
{
	scheduler_flush(m->sched);
}

void
mta_drain(struct mta *m, void (*done)(void *), void *arg)
{
	m->draining = 1;
	m->drained = done;
	m->drained_arg = arg;
	scheduler_stop(m->sched);
	while (m->idle != NULL) {
		mta_session_close(m->idle->s);
		idle_unlink(m->idle);
	}
	if (m->live == NULL)
		event_active(m->drain_ev, 0, 0);
}
