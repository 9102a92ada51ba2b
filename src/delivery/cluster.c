/*
 * cluster: cluster-wide shaping on Redis (delivery/cluster.h). Owns the
 * hiredis connection (asynchronous, on the event loop through hiredis's
 * libevent adapter), its state (connecting, up, unreachable: the
 * fallback), the reconnection backoff, the reply deadlines, the Lua
 * scripts, the per-destination records (global limits, the fallback
 * shares' rates), the gate requests and the connection leases.
 */
#include "delivery/cluster.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <hiredis/adapters/libevent.h>
#pragma GCC diagnostic pop
#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "delivery/cluster_conf.h"
#include "delivery/cluster_lua.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define SRC		"cluster"
#define BUCKETS		1024
#define BACKOFF_MIN_MS	250
#define DEST_IDLE_MS	600000		/* an unused destination record goes */

/* One destination: its global limits (from the last route) and, for the
 * fallback, this node's share of its rates. */
struct cdest {
	struct cdest		*chain;
	struct shaping_limits	 lim;
	struct rate		 msg, conn;	/* the shares, with state */
	unsigned		 refs;		/* requests */
	uint64_t		 used;
	char			*k_lease, *k_conn, *k_msg;
	char			 name[];
};

enum cmd_kind { C_SETUP, C_ADMIT, C_OTHER };

/* A command sent, until its reply (or NULL, when the connection goes). */
struct rcmd {
	struct rcmd		*next, *prev;	/* sent, oldest first */
	struct cluster		*cl;
	enum cmd_kind		 kind;
	uint64_t		 deadline;
	int			 last_setup;
	struct cluster_req	*req;		/* C_ADMIT; NULL: cancelled */
	int			 queued;
};

struct cluster_req {
	struct cluster		*cl;
	struct cdest		*d;
	struct cluster_lease	*lease;
	cluster_fn		 fn;
	void			*arg;
	struct event		*timer;
	struct rcmd		*cmd;		/* in flight */
	uint64_t		 started;
	int			 granted;	/* go when the timer fires */
};

enum lease_state { L_PENDING, L_HELD, L_LOCAL };

struct cluster_lease {
	struct cluster_lease	*next, *prev;
	struct cluster		*cl;
	enum lease_state	 state;
	char			*key;
	char			 member[];
};

struct cluster {
	struct event_base	*base;
	struct cluster_conf	 conf;
	char			*node;
	char			*where;		/* for logs */
	redisAsyncContext	*ac;		/* NULL: down */
	int			 up;		/* scripts loaded on ac */
	int			 fallback;	/* unreachable, logged */
	int			 freeing;
	unsigned		 backoff;
	struct event		*retry_ev, *deadline_ev, *renew_ev;
	struct rcmd		*qhead, *qtail;
	struct cluster_lease	*leases;
	uint64_t		 seq;
	char			 sha_admit[41], sha_renew[41];
	struct cdest		*buckets[BUCKETS];
	uint64_t		 seed;
};

static void	 connect_redis(struct cluster *);
static void	 step(struct cluster_req *);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
tv_ms(struct timeval *tv, uint64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
sha1_hex(const char *text, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)text, strlen(text), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int
cluster_fallback(const struct cluster *cl)
{
	return cl->fallback;
}

/* --- destinations ------------------------------------------------------------ */

static struct cdest **
dest_slot(struct cluster *cl, const char *name)
{
	uint64_t h = 14695981039346656037ULL ^ cl->seed;
	struct cdest **pp;

	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		h ^= *c;
		h *= 1099511628211ULL;
	}
	pp = &cl->buckets[(h ^ (h >> 32)) % BUCKETS];
	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->chain;
	return pp;
}

static void
dest_free(struct cdest *d)
{
	free(d->k_lease);
	free(d->k_conn);
	free(d->k_msg);
	free(d);
}

/* The records unused for DEST_IDLE_MS go. */
static void
dest_sweep(struct cluster *cl, uint64_t now)
{
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct cdest **pp = &cl->buckets[i]; *pp != NULL;) {
			struct cdest *d = *pp;

			if (d->refs == 0 && now - d->used > DEST_IDLE_MS) {
				*pp = d->chain;
				dest_free(d);
			} else
				pp = &d->chain;
		}
}

void
cluster_route(struct cluster *cl, const char *dest,
    const struct shaping_limits *lim, struct shaping_limits *out)
{
	struct cdest **pp = dest_slot(cl, dest), *d = *pp;
	struct rate msg, conn;

	if (d == NULL) {
		size_t len = strlen(dest);

		d = *pp = xcalloc(1, sizeof(*d) + len + 1);
		memcpy(d->name, dest, len + 1);
		d->k_lease = cluster_key(cl->conf.prefix, dest, "lease");
		d->k_conn = cluster_key(cl->conf.prefix, dest, "conn");
		d->k_msg = cluster_key(cl->conf.prefix, dest, "msg");
	}
	d->lim = *lim;
	d->used = now_ms();
	cluster_rate_share(&lim->max_message_rate, cl->conf.nodes, &msg);
	cluster_rate_share(&lim->max_connection_rate, cl->conf.nodes, &conn);
	rate_update(&d->msg, &msg);
	rate_update(&d->conn, &conn);
	*out = *lim;
	rate_init(&out->max_message_rate, 0, 1, 1);
	rate_init(&out->max_connection_rate, 0, 1, 1);
	if (cl->fallback)
		out->max_connections = cluster_share(lim->max_connections,
		    cl->conf.nodes);
}

/* --- the connection ---------------------------------------------------------- */

static void
arm_deadline(struct cluster *cl)
{
	struct timeval tv;
	uint64_t now = now_ms();

	if (cl->qhead == NULL) {
		event_del(cl->deadline_ev);
		return;
	}
	tv_ms(&tv, cl->qhead->deadline > now ? cl->qhead->deadline - now : 0);
	event_add(cl->deadline_ev, &tv);
}

static void
unqueue(struct rcmd *c)
{
	struct cluster *cl = c->cl;

	if (!c->queued)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cl->qhead = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		cl->qtail = c->prev;
	c->next = c->prev = NULL;
	c->queued = 0;
	if (!cl->freeing)
		arm_deadline(cl);
}

static void
schedule_reconnect(struct cluster *cl)
{
	struct timeval tv;

	if (cl->freeing || evtimer_pending(cl->retry_ev, NULL))
		return;
	tv_ms(&tv, cl->backoff);
	evtimer_add(cl->retry_ev, &tv);
	cl->backoff = cl->backoff * 2 > cl->conf.reconnect_max_ms ?
	    cl->conf.reconnect_max_ms : cl->backoff * 2;
}

/* Redis cannot be used: the shares apply (logged once), the connection
 * (if any) is dropped — its commands' callbacks get no reply — and a
 * reconnection is planned. */
static void
go_down(struct cluster *cl, const char *why)
{
	redisAsyncContext *ac = cl->ac;

	if (cl->freeing)
		return;
	if (!cl->fallback) {
		cl->fallback = 1;
		log_warn(SRC, NULL, "Redis %s unreachable (%s): each node keeps "
		    "its share of the shaping limits (1/%u) until it is back",
		    cl->where, why, cl->conf.nodes);
	}
	cl->ac = NULL;
	cl->up = 0;
	if (ac != NULL)
		redisAsyncFree(ac);
	schedule_reconnect(cl);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *cl = arg;
	char why[64];

	(void)fd;
	(void)what;
	if (cl->qhead == NULL || cl->qhead->deadline > now_ms()) {
		arm_deadline(cl);
		return;
	}
	snprintf(why, sizeof(why), "no reply within %ums",
	    cl->qhead->kind == C_SETUP ? cl->conf.connect_timeout_ms :
	    cl->conf.timeout_ms);
	go_down(cl, why);
}

static void on_reply(redisAsyncContext *, void *, void *);

/* Sends argv on the connection: NULL when there is none (or it failed). */
static struct rcmd *
send_cmd(struct cluster *cl, enum cmd_kind kind, int argc, const char **argv)
{
	struct rcmd *c;
	size_t lens[16];

	if (cl->ac == NULL)
		return NULL;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	c = xcalloc(1, sizeof(*c));
	c->cl = cl;
	c->kind = kind;
	c->deadline = now_ms() + (kind == C_SETUP ?
	    cl->conf.connect_timeout_ms : cl->conf.timeout_ms);
	if (redisAsyncCommandArgv(cl->ac, on_reply, c, argc, argv, lens) !=
	    REDIS_OK) {
		free(c);
		go_down(cl, cl->ac != NULL && cl->ac->errstr[0] ?
		    cl->ac->errstr : "cannot send");
		return NULL;
	}
	c->queued = 1;
	c->prev = cl->qtail;
	if (cl->qtail != NULL)
		cl->qtail->next = c;
	else
		cl->qhead = c;
	cl->qtail = c;
	if (cl->qhead == c)
		arm_deadline(cl);
	return c;
}

static void admit_reply(struct cluster_req *, const redisReply *);

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rcmd *c = priv;
	struct cluster *cl = c->cl;
	const redisReply *r = reply;

	(void)ac;
	unqueue(c);
	if (cl->freeing) {
		free(c);
		return;
	}
	if (c->kind == C_ADMIT) {
		struct cluster_req *req = c->req;

		if (req != NULL) {
			req->cmd = NULL;
			admit_reply(req, r);	/* may go down */
		}
	} else if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		if (r != NULL)
			go_down(cl, r->str);
	} else if (c->kind == C_SETUP && c->last_setup && ac == cl->ac) {
		cl->up = 1;
		cl->backoff = BACKOFF_MIN_MS;
		if (cl->fallback) {
			cl->fallback = 0;
			log_info(SRC, NULL, "Redis %s is back: the shaping "
			    "limits are shared again", cl->where);
		}
	}
	free(c);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct cluster *cl = ac->data;

	if (status == REDIS_OK || cl->freeing || ac != cl->ac)
		return;
	cl->ac = NULL;		/* hiredis frees it */
	go_down(cl, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cluster *cl = ac->data;

	(void)status;
	if (cl->freeing || ac != cl->ac)
		return;
	cl->ac = NULL;		/* hiredis frees it */
	go_down(cl, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Connects, then AUTH, SELECT and the scripts (in that order, before
 * anything sent later); up at the last one's reply. */
static void
connect_redis(struct cluster *cl)
{
	redisAsyncContext *ac;
	char db[16];
	struct rcmd *c = NULL;

	ac = cl->conf.socket != NULL ? redisAsyncConnectUnix(cl->conf.socket) :
	    redisAsyncConnect(cl->conf.host, (int)cl->conf.port);
	if (ac == NULL) {
		go_down(cl, "out of memory");
		return;
	}
	if (ac->err) {
		char why[128];

		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		go_down(cl, why);
		return;
	}
	ac->data = cl;
	redisLibeventAttach(ac, cl->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	cl->ac = ac;
	cl->up = 0;
	if (cl->conf.password != NULL)
		c = send_cmd(cl, C_SETUP, 2,
		    (const char *[]){ "AUTH", cl->conf.password });
	if (cl->conf.db != 0) {
		snprintf(db, sizeof(db), "%u", cl->conf.db);
		c = send_cmd(cl, C_SETUP, 2, (const char *[]){ "SELECT", db });
	}
	if (cl->ac != NULL)
		send_cmd(cl, C_SETUP, 3,
		    (const char *[]){ "SCRIPT", "LOAD", cluster_admit_lua });
	if (cl->ac != NULL)
		c = send_cmd(cl, C_SETUP, 3,
		    (const char *[]){ "SCRIPT", "LOAD", cluster_renew_lua });
	if (c != NULL && cl->ac != NULL)
		c->last_setup = 1;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_redis(arg);
}

/* Redis may be asked: connected or connecting, and not known to be
 * unreachable (then only once it answered again). */
static int
usable(const struct cluster *cl)
{
	return cl->ac != NULL && (cl->up || !cl->fallback);
}

/* --- leases ------------------------------------------------------------------ */

struct cluster_lease *
cluster_lease_new(struct cluster *cl, const char *dest)
{
	char node[300];
	struct cluster_lease *l;
	int n = snprintf(node, sizeof(node), "%s:%llu", cl->node,
	    (unsigned long long)++cl->seq);

	l = xcalloc(1, sizeof(*l) + (size_t)n + 1);
	memcpy(l->member, node, (size_t)n + 1);
	l->cl = cl;
	l->key = cluster_key(cl->conf.prefix, dest, "lease");
	l->next = cl->leases;
	if (cl->leases != NULL)
		cl->leases->prev = l;
	cl->leases = l;
	return l;
}

void
cluster_lease_end(struct cluster_lease *l)
{
	struct cluster *cl;

	if (l == NULL)
		return;
	cl = l->cl;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		cl->leases = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	if (l->state != L_PENDING && usable(cl))
		send_cmd(cl, C_OTHER, 3,
		    (const char *[]){ "ZREM", l->key, l->member });
	free(l->key);
	free(l);
}

/* Every third of lease_ttl: the live leases renewed (added, for those of
 * the fallback), and the idle destination records dropped. */
static void
on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *cl = arg;
	char ttl[16];

	(void)fd;
	(void)what;
	dest_sweep(cl, now_ms());
	if (!cl->up)
		return;
	snprintf(ttl, sizeof(ttl), "%u", cl->conf.lease_ttl_ms);
	for (struct cluster_lease *l = cl->leases; l != NULL && cl->ac != NULL;
	    l = l->next) {
		if (l->state == L_PENDING)
			continue;
		send_cmd(cl, C_OTHER, 6, (const char *[]){ "EVALSHA",
		    cl->sha_renew, "1", l->key, ttl, l->member });
		l->state = L_HELD;
	}
}

/* --- the gate ---------------------------------------------------------------- */

static void
req_free(struct cluster_req *req)
{
	if (req->cmd != NULL)
		req->cmd->req = NULL;
	event_free(req->timer);
	req->d->refs--;
	free(req);
}

static void
req_done(struct cluster_req *req, uint64_t wait)
{
	cluster_fn fn = req->fn;
	void *arg = req->arg;

	req_free(req);
	fn(arg, wait);
}

static void
req_later(struct cluster_req *req, uint64_t ms, int granted)
{
	struct timeval tv;

	req->granted = granted;
	tv_ms(&tv, ms);
	evtimer_add(req->timer, &tv);
}

static void
on_req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_req *req = arg;

	(void)fd;
	(void)what;
	if (req->granted)
		req_done(req, 0);
	else
		step(req);
}

/* Redis unreachable: this node's share of the rates, here; its share
 * of the connections is its own shaper's limit (cluster_route). */
static void
fallback_step(struct cluster_req *req)
{
	struct cdest *d = req->d;
	uint64_t now = now_ms(), wm = 0, wc = 0;

	if (req->lease != NULL)
		wc = rate_wait(&d->conn, now);
	wm = rate_wait(&d->msg, now);
	if (wc != 0 || wm != 0) {
		req_later(req, wc > wm ? wc : wm, 0);
		return;
	}
	if (req->lease != NULL) {
		rate_take(&d->conn, now);
		if (d->lim.max_connections > 0)
			req->lease->state = L_LOCAL;
	}
	rate_take(&d->msg, now);
	req_later(req, 0, 1);
}

static void
step(struct cluster_req *req)
{
	struct cluster *cl = req->cl;
	struct cdest *d = req->d;
	const struct shaping_limits *lim = &d->lim;
	int conn = req->lease != NULL;
	char a[9][24];
	uint64_t now = now_ms();

	if (cl->conf.max_wait_ms > 0 && now - req->started >
	    cl->conf.max_wait_ms) {
		req_done(req, CLUSTER_FULL_POLL_MS);
		return;
	}
	d->used = now;
	if (!usable(cl)) {
		fallback_step(req);
		return;
	}
	snprintf(a[0], sizeof(a[0]), "%u", conn ? lim->max_connections : 0);
	snprintf(a[1], sizeof(a[1]), "%u", cl->conf.lease_ttl_ms);
	snprintf(a[2], sizeof(a[2]), "%llu", conn ? (unsigned long long)
	    cluster_rate_interval_us(&lim->max_connection_rate) : 0ULL);
	snprintf(a[3], sizeof(a[3]), "%u", lim->max_connection_rate.burst);
	snprintf(a[4], sizeof(a[4]), "%llu", (unsigned long long)
	    cluster_rate_interval_us(&lim->max_message_rate));
	snprintf(a[5], sizeof(a[5]), "%u", lim->max_message_rate.burst);
	snprintf(a[6], sizeof(a[6]), "%u", CLUSTER_AHEAD_US);
	snprintf(a[7], sizeof(a[7]), "%u", CLUSTER_FULL_POLL_MS);
	req->cmd = send_cmd(cl, C_ADMIT, 15, (const char *[]){ "EVALSHA",
	    cl->sha_admit, "3", d->k_lease, d->k_conn, d->k_msg, a[0],
	    conn ? req->lease->member : "-", a[1], a[2], a[3], a[4], a[5],
	    a[6], a[7] });
	if (req->cmd == NULL) {		/* down now */
		fallback_step(req);
		return;
	}
	req->cmd->req = req;
}

static void
admit_reply(struct cluster_req *req, const redisReply *r)
{
	long long code, ms;

	if (r == NULL) {		/* the connection went */
		req_later(req, 0, 0);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		req_later(req, 0, 0);
		go_down(req->cl, r->type == REDIS_REPLY_ERROR ? r->str :
		    "unexpected reply to the admission script");
		return;
	}
	code = r->element[0]->integer;
	ms = r->element[1]->integer;
	if (ms < 0)
		ms = 0;
	if (code == 0 && req->lease != NULL && req->d->lim.max_connections > 0)
		req->lease->state = L_HELD;
	req_later(req, (uint64_t)ms, code == 0);
}

struct cluster_req *
cluster_admit(struct cluster *cl, const char *dest,
    struct cluster_lease *lease, cluster_fn fn, void *arg)
{
	struct cdest *d = *dest_slot(cl, dest);
	struct cluster_req *req;

	if (d == NULL)
		return NULL;		/* never routed: not gated */
	if (lease != NULL ? d->lim.max_connections == 0 &&
	    rate_unlimited(&d->lim.max_connection_rate) &&
	    rate_unlimited(&d->lim.max_message_rate) :
	    rate_unlimited(&d->lim.max_message_rate))
		return NULL;
	req = xcalloc(1, sizeof(*req));
	req->cl = cl;
	req->d = d;
	d->refs++;
	req->lease = lease;
	req->fn = fn;
	req->arg = arg;
	req->started = now_ms();
	req->timer = evtimer_new(cl->base, on_req_timer, req);
	step(req);
	return req;
}

void
cluster_cancel(struct cluster_req *req)
{
	if (req != NULL)
		req_free(req);
}

/* --- life -------------------------------------------------------------------- */

struct cluster *
cluster_new(struct event_base *base, const char *config_dir, char **err)
{
	struct cluster *cl;
	struct timeval tv;
	char host[256];

	cl = xcalloc(1, sizeof(*cl));
	if (cluster_conf_load(config_dir, &cl->conf, err) == -1 ||
	    !cl->conf.enabled) {
		cluster_conf_clear(&cl->conf);
		free(cl);
		return NULL;
	}
	cl->base = base;
	if (cl->conf.node != NULL)
		cl->node = xstrdup(cl->conf.node);
	else {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "outpost");
		host[sizeof(host) - 1] = '\0';
		cl->node = xasprintf("%s.%ld", host, (long)getpid());
	}
	cl->where = cl->conf.socket != NULL ? xstrdup(cl->conf.socket) :
	    strchr(cl->conf.host, ':') != NULL ? xasprintf("[%s]:%u",
	    cl->conf.host, cl->conf.port) : xasprintf("%s:%u", cl->conf.host,
	    cl->conf.port);
	cl->seed = util_random();
	cl->backoff = BACKOFF_MIN_MS;
	sha1_hex(cluster_admit_lua, cl->sha_admit);
	sha1_hex(cluster_renew_lua, cl->sha_renew);
	cl->retry_ev = evtimer_new(base, on_retry, cl);
	cl->deadline_ev = evtimer_new(base, on_deadline, cl);
	cl->renew_ev = event_new(base, -1, EV_PERSIST, on_renew, cl);
	tv_ms(&tv, cl->conf.lease_ttl_ms / 3);
	event_add(cl->renew_ev, &tv);
	log_info(SRC, NULL, "shaping limits shared through Redis %s as node "
	    "%s (prefix %s; %u node(s))", cl->where, cl->node,
	    cl->conf.prefix, cl->conf.nodes);
	connect_redis(cl);
	return cl;
}

void
cluster_free(struct cluster *cl)
{
	if (cl == NULL)
		return;
	while (cl->leases != NULL)
		cluster_lease_end(cl->leases);
	cl->freeing = 1;
	if (cl->ac != NULL) {
		redisAsyncContext *ac = cl->ac;

		cl->ac = NULL;
		redisAsyncFree(ac);
	}
	while (cl->qhead != NULL)	/* callbacks still to come (none) */
		unqueue(cl->qhead);
	event_free(cl->retry_ev);
	event_free(cl->deadline_ev);
	event_free(cl->renew_ev);
	for (size_t i = 0; i < BUCKETS; i++)
		while (cl->buckets[i] != NULL) {
			struct cdest *d = cl->buckets[i];

			cl->buckets[i] = d->chain;
			dest_free(d);
		}
	cluster_conf_clear(&cl->conf);
	free(cl->node);
	free(cl->where);
	free(cl);
}
