/*
 * cluster_gate: the destinations' records (their global limits), the
 * connection leases, and the gate: a request asks Redis's admission
 * script (or, while Redis is unreachable or when there is none, takes
 * this node's share in the table its workers share, lib/gate.h) until it
 * is this process's turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/cluster.h"
#include "delivery/cluster_lua.h"
#include "delivery/cluster_priv.h"
#include "delivery/shaper.h"
#include "lib/xmalloc.h"
#include "lib/util.h"
#include "core/worker.h"

#define DEST_IDLE_MS	600000		/* an unused destination record goes */

static void	 step(struct cluster_req *);

/* --- destinations ------------------------------------------------------------ */

static struct cdest **
dest_slot(struct cluster *cl, const char *name)
{
	uint64_t h = fnv1a(FNV_BASIS ^ cl->seed, name);
	struct cdest **pp;

	pp = &cl->buckets[(h ^ (h >> 32)) % CLUSTER_BUCKETS];
	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->chain;
	return pp;
}

void
cluster_dest_free(struct cdest *d)
{
	free(d->k_lease);
	free(d->k_conn);
	free(d->k_msg);
	free(d);
}

/* The records unused for DEST_IDLE_MS go. */
void
cluster_dest_sweep(struct cluster *cl, uint64_t now)
{
	for (size_t i = 0; i < CLUSTER_BUCKETS; i++)
		for (struct cdest **pp = &cl->buckets[i]; *pp != NULL;) {
			struct cdest *d = *pp;

			if (d->refs == 0 && now - d->used > DEST_IDLE_MS) {
				*pp = d->chain;
				cluster_dest_free(d);
			} else
				pp = &d->chain;
		}
}

void
cluster_route(struct cluster *cl, const char *dest)
{
	struct cdest **pp = dest_slot(cl, dest), *d = *pp;

	if (d == NULL) {
		size_t len = strlen(dest);

		d = *pp = xcalloc(1, sizeof(*d) + len + 1);
		memcpy(d->name, dest, len + 1);
		d->k_lease = cluster_key(cl->conf.prefix, dest, "lease");
		d->k_conn = cluster_key(cl->conf.prefix, dest, "conn");
		d->k_msg = cluster_key(cl->conf.prefix, dest, "msg");
	}
	d->used = util_now_ms();
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
	if (l->state != L_PENDING && cluster_usable(cl))
		cluster_send(cl, C_OTHER, 3,
		    (const char *[]){ "ZREM", l->key, l->member });
	gate_release(cl->gate, cl->col, l->gslot);
	free(l->key);
	free(l);
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
	cluster_tv(&tv, ms);
	evtimer_add(req->timer, &tv);
}

static void
on_req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_req *req = arg;

	(void)fd;
	(void)what;
	if (req->granted > 0)
		req_done(req, 0);
	else if (req->granted < 0)
		req_done(req, CLUSTER_FULL_POLL_MS);
	else
		step(req);
}

/* Redis unreachable, or none (the workers of one node): this node's
 * share of every limit, taken in the gate its workers share, which also
 * counts the connections Redis granted (so a fallback starts from them). */
static void
gate_step(struct cluster_req *req)
{
	struct cluster *cl = req->cl;
	struct cdest *d = req->d;
	struct gate_ask ask = { .conn = req->lease != NULL };
	unsigned slot;
	uint64_t wait;

	ask.max_conn = cluster_share(d->lim.max_connections, cl->conf.nodes);
	if (cluster_parts(cl) > 1 && ask.max_conn > 0)	/* the shapers' */
		ask.part = shaper_part(ask.max_conn, cluster_parts(cl));
	cluster_rate_share(&d->lim.max_connection_rate, cl->conf.nodes,
	    &ask.conn_rate);
	cluster_rate_share(&d->lim.max_message_rate, cl->conf.nodes,
	    &ask.msg_rate);
	wait = gate_admit(cl->gate, cl->col, d->name, &ask, util_now_ms(),
	    &slot);
	if (wait == GATE_NO_LOAN) {	/* borrowed, and wanted back now: the
					 * turn is given up, from the loop
					 * (never from cluster_admit) */
		req_later(req, 0, -1);
		return;
	}
	if (wait != 0) {
		req_later(req, wait == GATE_FULL ? CLUSTER_FULL_POLL_MS : wait,
		    0);
		return;
	}
	if (req->lease != NULL) {
		req->lease->gslot = slot;
		if (d->lim.max_connections > 0)
			req->lease->state = L_LOCAL;
	}
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
	uint64_t now = util_now_ms();

	if (cl->conf.max_wait_ms > 0 && now - req->started >
	    cl->conf.max_wait_ms) {
		req_done(req, CLUSTER_FULL_POLL_MS);
		return;
	}
	d->used = now;
	if (!cluster_usable(cl)) {
		gate_step(req);
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
	req->cmd = cluster_send(cl, C_ADMIT, 15, (const char *[]){ "EVALSHA",
	    cl->sha_admit, "3", d->k_lease, d->k_conn, d->k_msg, a[0],
	    conn ? req->lease->member : "-", a[1], a[2], a[3], a[4], a[5],
	    a[6], a[7] });
	if (req->cmd == NULL) {		/* down now */
		gate_step(req);
		return;
	}
	req->cmd->req = req;
}

void
cluster_admit_reply(struct cluster_req *req, const redisReply *r)
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
		cluster_go_down(req->cl, r->type == REDIS_REPLY_ERROR ? r->str :
		    "unexpected reply to the admission script");
		return;
	}
	code = r->element[0]->integer;
	ms = r->element[1]->integer;
	if (ms < 0)
		ms = 0;
	if (code == 0 && req->lease != NULL && req->d->lim.max_connections > 0) {
		struct gate_ask count = { .conn = 1 };	/* no limit */

		req->lease->state = L_HELD;
		if (req->lease->gslot == 0)
			(void)gate_admit(req->cl->gate, req->cl->col,
			    req->d->name, &count, util_now_ms(),
			    &req->lease->gslot);
	}
	req_later(req, (uint64_t)ms, code == 0);
}

struct cluster_req *
cluster_admit(struct cluster *cl, const char *dest,
    const struct shaping_limits *lim, struct cluster_lease *lease,
    cluster_fn fn, void *arg)
{
	struct cdest *d = *dest_slot(cl, dest);
	struct cluster_req *req;

	if (d == NULL)
		return NULL;		/* never routed: not gated */
	d->lim = *lim;
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
	req->started = util_now_ms();
	req->timer = evtimer_new(cl->base, on_req_timer, req);
	step(req);
	return req;
}

int
cluster_keep_idle(struct cluster *cl, const char *dest,
    unsigned max_connections)
{
	return cl->local && gate_keep_idle(cl->gate, cl->col, dest,
	    max_connections, util_now_ms());
}

int
cluster_may_lend(struct cluster *cl, const char *dest,
    unsigned max_connections)
{
	return cl != NULL && cluster_parts(cl) > 1 && gate_may_lend(cl->gate,
	    cl->col, dest, max_connections, util_now_ms());
}

unsigned
cluster_parts(const struct cluster *cl)
{
	return cl->local ? nodes_count() : 1;
}

void
cluster_cancel(struct cluster_req *req)
{
	if (req != NULL)
		req_free(req);
}

