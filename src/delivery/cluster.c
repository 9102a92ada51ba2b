/*
 * cluster: cluster-wide shaping on Redis (delivery/cluster.h). Owns the
 * hiredis connection (asynchronous, on the event loop through hiredis's
 * libevent adapter), its state (connecting, up, unreachable: the
 * fallback), the reconnection backoff, the reply deadlines, the scripts'
 * loading, the leases' renewal, and the cluster's life. The gate is
 * cluster_gate.c's.
 */
#include "delivery/cluster.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <hiredis/adapters/libevent.h>
#pragma GCC diagnostic pop
#include <openssl/sha.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"
#include "delivery/cluster_conf.h"
#include "delivery/cluster_lua.h"
#include "delivery/cluster_priv.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define SRC		"cluster"
#define BACKOFF_MIN_MS	250

static void	 connect_redis(struct cluster *);

void
cluster_tv(struct timeval *tv, uint64_t ms)
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

/* --- the connection ---------------------------------------------------------- */

static void
arm_deadline(struct cluster *cl)
{
	struct timeval tv;
	uint64_t now = util_now_ms();

	if (cl->qhead == NULL) {
		event_del(cl->deadline_ev);
		return;
	}
	cluster_tv(&tv, cl->qhead->deadline > now ? cl->qhead->deadline - now : 0);
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
	cluster_tv(&tv, cl->backoff);
	evtimer_add(cl->retry_ev, &tv);
	cl->backoff = cl->backoff * 2 > cl->conf.reconnect_max_ms ?
	    cl->conf.reconnect_max_ms : cl->backoff * 2;
}

/* Redis cannot be used: the shares apply (logged once), the connection
 * (if any) is dropped — its commands' callbacks get no reply — and a
 * reconnection is planned. */
void
cluster_go_down(struct cluster *cl, const char *why)
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
	if (cl->qhead == NULL || cl->qhead->deadline > util_now_ms()) {
		arm_deadline(cl);
		return;
	}
	snprintf(why, sizeof(why), "no reply within %ums",
	    cl->qhead->kind == C_SETUP ? cl->conf.connect_timeout_ms :
	    cl->conf.timeout_ms);
	cluster_go_down(cl, why);
}

static void on_reply(redisAsyncContext *, void *, void *);

/* Sends argv on the connection: NULL when there is none (or it failed). */
struct rcmd *
cluster_send(struct cluster *cl, enum cmd_kind kind, int argc, const char **argv)
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
	c->deadline = util_now_ms() + (kind == C_SETUP ?
	    cl->conf.connect_timeout_ms : cl->conf.timeout_ms);
	if (redisAsyncCommandArgv(cl->ac, on_reply, c, argc, argv, lens) !=
	    REDIS_OK) {
		free(c);
		cluster_go_down(cl, cl->ac != NULL && cl->ac->errstr[0] ?
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
			cluster_admit_reply(req, r);	/* may go down */
		}
	} else if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		if (r != NULL)
			cluster_go_down(cl, r->str);
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
	cluster_go_down(cl, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct cluster *cl = ac->data;

	(void)status;
	if (ac != cl->ac)
		return;
	cl->ac = NULL;		/* hiredis frees it */
	if (!cl->freeing)
		cluster_go_down(cl, ac->errstr[0] ? ac->errstr :
		    "connection closed");
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
		cluster_go_down(cl, "out of memory");
		return;
	}
	if (ac->err) {
		char why[128];

		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		cluster_go_down(cl, why);
		return;
	}
	ac->data = cl;
	redisLibeventAttach(ac, cl->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	cl->ac = ac;
	cl->up = 0;
	if (cl->conf.password != NULL)
		c = cluster_send(cl, C_SETUP, 2,
		    (const char *[]){ "AUTH", cl->conf.password });
	if (cl->conf.db != 0) {
		snprintf(db, sizeof(db), "%u", cl->conf.db);
		c = cluster_send(cl, C_SETUP, 2, (const char *[]){ "SELECT", db });
	}
	if (cl->ac != NULL)
		cluster_send(cl, C_SETUP, 3,
		    (const char *[]){ "SCRIPT", "LOAD", cluster_admit_lua });
	if (cl->ac != NULL)
		c = cluster_send(cl, C_SETUP, 3,
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
int
cluster_usable(const struct cluster *cl)
{
	return cl->ac != NULL && (cl->up || !cl->fallback);
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
	cluster_dest_sweep(cl, util_now_ms());
	if (!cl->up)
		return;
	snprintf(ttl, sizeof(ttl), "%u", cl->conf.lease_ttl_ms);
	for (struct cluster_lease *l = cl->leases; l != NULL && cl->ac != NULL;
	    l = l->next) {
		if (l->state == L_PENDING)
			continue;
		cluster_send(cl, C_OTHER, 6, (const char *[]){ "EVALSHA",
		    cl->sha_renew, "1", l->key, ttl, l->member });
		l->state = L_HELD;
	}
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
	    (!cl->conf.enabled && nodes_count() <= 1))
		goto fail;
	cl->base = base;
	cl->local = !cl->conf.enabled;
	if (cl->local)		/* this node's workers, and no other node */
		cl->conf.nodes = 1;
	cl->col = nodes_worker() < 0 ? 0 : (unsigned)nodes_worker();
	if ((cl->gate = nodes_gate()) == NULL &&
	    (cl->gate = cl->own_gate = gate_new(1, GATE_KEYS)) == NULL) {
		*err = xasprintf("cannot map the shaping table: %s",
		    strerror(errno));
		goto fail;
	}
	if (cl->conf.node != NULL)	/* a worker's leases: its own name */
		cl->node = nodes_worker() < 0 ? xstrdup(cl->conf.node) :
		    xasprintf("%s.w%d", cl->conf.node, nodes_worker());
	else {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "outpost");
		host[sizeof(host) - 1] = '\0';
		cl->node = xasprintf("%s.%ld", host, (long)getpid());
	}
	cl->where = cl->local ? xstrdup("memory") :
	    cl->conf.socket != NULL ? xstrdup(cl->conf.socket) :
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
	cluster_tv(&tv, cl->conf.lease_ttl_ms / 3);
	event_add(cl->renew_ev, &tv);
	if (cl->local) {
		if (nodes_worker() == 0)
			log_info(SRC, NULL, "shaping limits shared by the %u "
			    "workers in memory (no cluster.ini Redis)",
			    nodes_count());
		return cl;
	}
	log_info(SRC, NULL, "shaping limits shared through Redis %s as node "
	    "%s (prefix %s; %u node(s))", cl->where, cl->node,
	    cl->conf.prefix, cl->conf.nodes);
	connect_redis(cl);
	return cl;
fail:
	cluster_conf_clear(&cl->conf);
	free(cl);
	return NULL;
}

void
cluster_free(struct cluster *cl)
{
	if (cl == NULL)
		return;
	while (cl->leases != NULL)
		cluster_lease_end(cl->leases);
	cl->freeing = 1;
	/* The leases' last ZREMs (stopping gracefully frees this node's
	 * connections at once): one write, without waiting. */
	if (cl->ac != NULL && cl->up)
		redisAsyncHandleWrite(cl->ac);
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
	for (size_t i = 0; i < CLUSTER_BUCKETS; i++)
		while (cl->buckets[i] != NULL) {
			struct cdest *d = cl->buckets[i];

			cl->buckets[i] = d->chain;
			cluster_dest_free(d);
		}
	cluster_conf_clear(&cl->conf);
	gate_free(cl->own_gate);
	free(cl->node);
	free(cl->where);
	free(cl);
}

