/*
 * api_queue: the queue endpoints (contract in api_queue.h): listings
 * built from the scheduler's entries (mta_admin_foreach), actions handed
 * to mta_admin_act and answered when their batch settles.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/api_json.h"
#include "admin/api_queue.h"
#include "admin/http.h"
#include "delivery/mta_admin.h"
#include "lib/xmalloc.h"
#include "queue/entry.h"

#define LIMIT_DEFAULT	100
#define LIMIT_MAX	10000
#define IDS_MAX		100000

struct api_queue {
	struct mta	*m;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- GET /api/queue ------------------------------------------------------------ */

struct row {
	const char *key;	/* valid until the reply: nothing else runs */
	int64_t	 queued;
	size_t	 rcpts;
	unsigned st;
};

struct rows {
	struct row	*v;
	size_t		 n, cap;
};

static void
add_row(void *arg, const struct qentry *e, unsigned st, const char *dest,
    int64_t due)
{
	struct rows *rs = arg;

	(void)due;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 256;
		rs->v = xreallocarray(rs->v, rs->cap, sizeof(*rs->v));
	}
	rs->v[rs->n++] = (struct row){ dest != NULL ? dest : e->domain,
	    e->queue_time, qentry_pending(e), st };
}

static int
cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->key,
	    ((const struct row *)b)->key);
}

/* The counts of one group (or of all), by state. */
struct group {
	json_int_t	 entries, rcpts, held, deferred, due, running, oldest;
};

static void
count_row(struct group *g, const struct row *w, json_int_t age)
{
	g->entries++;
	g->rcpts += (json_int_t)w->rcpts;
	g->held += w->st == MTA_ST_HELD;
	g->deferred += w->st == MTA_ST_DEFERRED;
	g->due += w->st == MTA_ST_DUE;
	g->running += w->st == MTA_ST_RUNNING;
	if (age > g->oldest)
		g->oldest = age;
}

static json_t *
group_json(const char *key, const struct group *g)
{
	json_t *t = key != NULL ? json_stringn(key, strlen(key)) : NULL;

	if (key == NULL)
		return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "entries",
		    g->entries, "recipients", g->rcpts, "held", g->held,
		    "deferred", g->deferred, "due", g->due, "running",
		    g->running);
	if (t == NULL)		/* not UTF-8 */
		key = "?";
	json_decref(t);
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "destination",
	    key, "entries", g->entries, "recipients", g->rcpts, "held",
	    g->held, "deferred", g->deferred, "due", g->due, "running",
	    g->running, "oldest_s", g->oldest);
}

static void
get_queue(struct admin_req *r, void *arg)
{
	struct api_queue *aq = arg;
	struct rows rs = { NULL, 0, 0 };
	struct group all = { 0 }, g = { 0 };
	json_t *dests = json_array(), *o;
	int64_t now = now_ms();

	mta_admin_foreach(aq->m, NULL, add_row, &rs);
	if (rs.n > 0)
		qsort(rs.v, rs.n, sizeof(*rs.v), cmp_row);
	for (size_t i = 0; i < rs.n; i++) {
		struct row *w = &rs.v[i];
		json_int_t age = (json_int_t)((now - w->queued) / 1000);

		count_row(&all, w, age);
		count_row(&g, w, age);
		if (i + 1 == rs.n || strcmp(rs.v[i + 1].key, w->key) != 0) {
			json_array_append_new(dests, group_json(w->key, &g));
			memset(&g, 0, sizeof(g));
		}
	}
	free(rs.v);
	o = group_json(NULL, &all);
	json_object_set_new(o, "destinations", dests);
	api_reply(r, 200, o);
}

/* --- GET /api/queue/entries ------------------------------------------------------ */

struct item {
	const char		*id;
	const struct qentry	*e;
	unsigned		 st;
	const char		*dest;
	int64_t			 due;
};

struct items {
	struct item	*v;
	size_t		 n, cap;
	int64_t		 now;
};

static json_t *
entry_json(const struct qentry *e, unsigned st, const char *dest,
    int64_t due, int64_t now)
{
	json_t *rc = json_array();
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:i,s:o}",
	    "id", e->id, "domain", e->domain, "sender", e->mail_from,
	    "state", mta_state_name(st), "queued", api_time(e->queue_time),
	    "age_s", (json_int_t)((now - e->queue_time) / 1000),
	    "attempts", (int)e->attempts, "recipients", rc);

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "destination", dest != NULL ?
	    api_str(dest) : json_null());
	json_object_set_new(o, "next_attempt", st == MTA_ST_HELD ?
	    json_null() : api_time(due > 0 ? due : now));
	json_object_set_new(o, "size", json_integer((json_int_t)e->msg_len));
	json_object_set_new(o, "last_error", e->last_error != NULL ?
	    api_str(e->last_error) : json_null());
	for (size_t i = 0; i < e->nrcpts; i++) {
		json_t *x = json_pack("{s:s,s:s}", "address", e->rcpts[i].addr,
		    "state", qrcpt_state_name(e->rcpts[i].state));

		if (x == NULL)
			continue;
		if (e->rcpts[i].reason != NULL)
			json_object_set_new(x, "reason",
			    api_str(e->rcpts[i].reason));
		json_array_append_new(rc, x);
	}
	return o;
}

/* Collected for every match: only the page's get their JSON (a listing
 * of a big queue costs a sort of pointers, not a JSON object an entry).
 * The entries stay valid until the reply: the request runs on the loop,
 * and nothing else does meanwhile. */
static void
add_item(void *arg, const struct qentry *e, unsigned st, const char *dest,
    int64_t due)
{
	struct items *its = arg;

	if (its->n == its->cap) {
		its->cap = its->cap ? 2 * its->cap : 256;
		its->v = xreallocarray(its->v, its->cap, sizeof(*its->v));
	}
	its->v[its->n++] = (struct item){ e->id, e, st, dest, due };
}

static int
cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->id,
	    ((const struct item *)b)->id);
}

static void
get_entries(struct admin_req *r, void *arg)
{
	struct api_queue *aq = arg;
	struct mta_filter f;
	struct items its = { NULL, 0, 0, now_ms() };
	long limit, offset;
	json_t *list, *o;

	/* From worker 0 (admin/fanout.c): its page is the first
	 * offset + limit entries of each worker. */
	if (api_filter_query(r, &f) != 0 ||
	    api_query_num(r, "limit", LIMIT_DEFAULT, admin_req_inner(r) ?
	    (1L << 40) + LIMIT_MAX : LIMIT_MAX, &limit) != 0 ||
	    api_query_num(r, "offset", 0, 1L << 40, &offset) != 0)
		return;
	mta_admin_foreach(aq->m, &f, add_item, &its);
	if (its.n > 0)
		qsort(its.v, its.n, sizeof(*its.v), cmp_item);
	list = json_array();
	for (size_t i = (size_t)offset; i < its.n &&
	    i < (size_t)offset + (size_t)limit; i++) {
		struct item *w = &its.v[i];

		/* NULL: not UTF-8 (jansson refuses it); left out. */
		if ((o = entry_json(w->e, w->st, w->dest, w->due,
		    its.now)) != NULL)
			json_array_append_new(list, o);
	}
	free(its.v);
	o = json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)its.n,
	    "offset", (json_int_t)offset, "limit", (json_int_t)limit,
	    "entries", list);
	api_reply(r, 200, o);
}

/* --- POST /api/queue/<action> ------------------------------------------------------ */

struct job {
	struct mta_batch	 b;		/* first: the callbacks' */
	struct admin_req	*r;
	enum mta_action		 what;
	json_t			*skipped;
	size_t			 unknown;
};

static void
job_skip(struct mta_batch *b, const char *id, const char *why)
{
	struct job *j = (struct job *)b;

	j->unknown += strcmp(why, "unknown id") == 0;
	json_array_append_new(j->skipped, json_pack("{s:s,s:s}", "id", id,
	    "reason", why));
}

static void
job_settled(struct mta_batch *b)
{
	struct job *j = (struct job *)b;
	size_t nskip = json_array_size(j->skipped);
	int code = 200;
	json_t *o;

	/* Nothing done: every id unknown (404), or each in a state that
	 * does not allow the action (409). */
	if (b->started == 0 && nskip > 0)
		code = j->unknown == nskip ? 404 : 409;
	else if (b->started > 0 && b->failed == b->started)
		code = 500;
	o = json_pack("{s:s,s:I,s:I,s:I,s:o}", "action",
	    mta_action_name(j->what), "matched", (json_int_t)b->matched,
	    "done", (json_int_t)(b->finished - b->failed), "failed",
	    (json_int_t)b->failed, "skipped", j->skipped);
	if (code != 200)
		json_object_set_new(o, "error", api_str(code == 404 ?
		    "no such entry" : code == 409 ? "nothing could be done "
		    "(see skipped)" : "the queue could not be written"));
	api_reply(j->r, code, o);
	free(j);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
post_action(struct admin_req *r, void *arg)
{
	static const char *const names[] = {
		"hold", "release", "retry", "delete", "bounce"
	};
	struct api_queue *aq = arg;
	const char *name = admin_req_path(r) + strlen("/api/queue/");
	json_t *body, *ids, *filter, *reason;
	const char **idv = NULL, *why = NULL;
	struct mta_filter f;
	struct job *j;
	size_t nids = 0, k;
	unsigned w;

	for (w = 0; w < 5 && strcmp(name, names[w]) != 0; w++)
		;
	if (w == 5) {
		admin_error(r, 404, "no such action: %s (hold, release, retry, "
		    "delete, bounce)", name);
		return;
	}
	if ((body = api_body_object(r)) == NULL)
		return;
	ids = json_object_get(body, "ids");
	filter = json_object_get(body, "filter");
	reason = json_object_get(body, "reason");
	if ((ids == NULL) == (filter == NULL))
		why = "give either \"ids\" (a list) or \"filter\" (an object)";
	else if (ids != NULL && (!json_is_array(ids) ||
	    json_array_size(ids) == 0 || json_array_size(ids) > IDS_MAX))
		why = "ids: a list of 1 to 100000 entry ids is required";
	else if (w == MTA_BOUNCE && (!json_is_string(reason) ||
	    !api_text_ok(json_string_value(reason))))
		why = "reason: a text of 1 to 200 characters, no control "
		    "characters, is required to bounce";
	else if (w != MTA_BOUNCE && reason != NULL)
		why = "reason: only for bounce";
	if (why != NULL) {
		admin_error(r, 400, "%s", why);
		json_decref(body);
		return;
	}
	if (filter != NULL && api_filter_json(r, filter, &f, 1) != 0) {
		json_decref(body);
		return;
	}
	if (ids != NULL) {
		idv = xcalloc(json_array_size(ids), sizeof(*idv));
		for (k = 0; k < json_array_size(ids); k++) {
			json_t *v = json_array_get(ids, k);

			if (!json_is_string(v)) {
				admin_error(r, 400, "ids: strings are "
				    "required");
				free(idv);
				json_decref(body);
				return;
			}
			idv[nids++] = json_string_value(v);
		}
		qsort(idv, nids, sizeof(*idv), cmp_str);
		for (k = 1, nids = nids ? 1 : 0; k < json_array_size(ids); k++)
			if (strcmp(idv[k], idv[nids - 1]) != 0)
				idv[nids++] = idv[k];
	}
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->what = (enum mta_action)w;
	j->skipped = json_array();
	j->b.skip = job_skip;
	j->b.settled = job_settled;
	if (mta_admin_act(aq->m, idv, nids, filter != NULL ? &f : NULL,
	    j->what, reason != NULL ? json_string_value(reason) : NULL,
	    admin_req_peer(r), &j->b) != 0) {
		json_decref(j->skipped);
		free(j);
		admin_error(r, 503, "delivery is shutting down");
	}
	free(idv);
	json_decref(body);	/* the strings were copied where kept */
}

void *
api_queue_register(struct admin *a, struct mta *m)
{
	struct api_queue *aq = xcalloc(1, sizeof(*aq));

	aq->m = m;
	admin_route(a, "GET", "/api/queue", get_queue, aq);
	admin_route(a, "GET", "/api/queue/entries", get_entries, aq);
	admin_route(a, "POST", "/api/queue/", post_action, aq);
	return aq;
}
