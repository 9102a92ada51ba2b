/*
 * fanout_merge: the workers' JSON answers made into the daemon's
 * (contract in fanout_merge.h). Counts are summed, ages take the
 * oldest, lists are merged by their key in the order one worker uses
 * (destinations and entries sorted by byte value, as api_queue.c sorts).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/api_json.h"
#include "admin/fanout_merge.h"
#include "admin/http.h"
#include "lib/xmalloc.h"

/* --- helpers ---------------------------------------------------------------- */

static void
pass(struct admin_req *r, const struct fan_reply *rep)
{
	admin_reply(r, rep->code, rep->type != NULL ? rep->type :
	    "application/json", rep->body, rep->len);
}

/* Each answer as a JSON object, when every one has the key `need` (the
 * route's own answer, whatever its code: a queue action's 404 too);
 * else NULL once the first other answer was passed on. */
static json_t **
parse_all(struct admin_req *r, const struct fan_reply *rep, unsigned n,
    const char *need)
{
	json_t **o = xcalloc(n, sizeof(*o));

	for (unsigned i = 0; i < n; i++) {
		o[i] = json_loadb(rep[i].body, rep[i].len, 0, NULL);
		if (o[i] != NULL && json_is_object(o[i]) &&
		    json_object_get(o[i], need) != NULL)
			continue;
		if (rep[i].code == 200 && o[i] == NULL)
			admin_error(r, 502, "worker %u: not a JSON answer", i);
		else
			pass(r, &rep[i]);
		for (unsigned k = 0; k <= i; k++)
			json_decref(o[k]);
		free(o);
		return NULL;
	}
	return o;
}

static void
free_all(json_t **o, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		json_decref(o[i]);
	free(o);
}

static int
listed(const char *key, const char *const *keys)
{
	for (; keys != NULL && *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return 1;
	return 0;
}

/* src's integers added to dst's (those of maxk: the larger one kept);
 * a key dst lacks is copied. */
static void
sum_into(json_t *dst, json_t *src, const char *const *maxk)
{
	const char *k;
	json_t *v, *d;

	json_object_foreach(src, k, v) {
		d = json_object_get(dst, k);
		if (d == NULL || json_is_null(d))
			json_object_set_new(dst, k, json_deep_copy(v));
		else if (json_is_integer(d) && json_is_integer(v)) {
			json_int_t a = json_integer_value(d),
			    b = json_integer_value(v);

			json_integer_set(d, listed(k, maxk) ? (a > b ? a : b) :
			    a + b);
		}
	}
}

/* The objects of every answer's list `name`, merged by their string
 * `key` (merge(dst, src) for a key seen again), sorted by key. */
typedef void (*merge_fn)(json_t *dst, json_t *src);

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *
merge_list(json_t **o, unsigned n, const char *name, const char *key,
    merge_fn merge)
{
	json_t *by = json_object(), *out = json_array(), *v, *d;
	const char **keys;
	size_t i, nk = 0;
	const char *k;

	for (unsigned w = 0; w < n; w++)
		json_array_foreach(json_object_get(o[w], name), i, v) {
			const char *s = json_string_value(json_object_get(v,
			    key));

			if (s == NULL)
				continue;
			if ((d = json_object_get(by, s)) != NULL)
				merge(d, v);
			else
				json_object_set_new(by, s, json_deep_copy(v));
		}
	keys = xcalloc(json_object_size(by) + 1, sizeof(*keys));
	json_object_foreach(by, k, v)
		keys[nk++] = k;
	qsort(keys, nk, sizeof(*keys), cmp_key);
	for (i = 0; i < nk; i++)
		json_array_append(out, json_object_get(by, keys[i]));
	free(keys);
	json_decref(by);
	return out;
}

/* --- the queue ------------------------------------------------------------------ */

static void
merge_qdest(json_t *dst, json_t *src)
{
	static const char *const maxk[] = { "oldest_s", NULL };

	sum_into(dst, src, maxk);
}

static void
merge_queue(struct admin_req *r, json_t **o, unsigned n)
{
	json_t *out = json_deep_copy(o[0]);

	for (unsigned i = 1; i < n; i++)
		sum_into(out, o[i], NULL);
	json_object_set_new(out, "destinations", merge_list(o, n,
	    "destinations", "destination", merge_qdest));
	api_reply(r, 200, out);
}

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
	    "id")), json_string_value(json_object_get(*(json_t *const *)b,
	    "id")));
}

/* Each worker gave its first offset + limit entries by id: the page is
 * that stretch of them all by id. */
static void
merge_entries(struct admin_req *r, json_t **o, unsigned n, long offset,
    long limit)
{
	json_t **all = NULL, *list = json_array(), *v;
	json_int_t total = 0;
	size_t na = 0, i;

	for (unsigned w = 0; w < n; w++) {
		json_t *e = json_object_get(o[w], "entries");

		total += json_integer_value(json_object_get(o[w], "total"));
		all = xreallocarray(all, na + json_array_size(e) + 1,
		    sizeof(*all));
		json_array_foreach(e, i, v)
			if (json_is_string(json_object_get(v, "id")))
				all[na++] = v;
	}
	if (na > 0)
		qsort(all, na, sizeof(*all), cmp_entry);
	for (i = (size_t)offset; i < na && i < (size_t)(offset + limit); i++)
		json_array_append(list, all[i]);
	free(all);
	api_reply(r, 200, json_pack("{s:I,s:I,s:I,s:o}", "total", total,
	    "offset", (json_int_t)offset, "limit", (json_int_t)limit,
	    "entries", list));
}

/* POST /api/queue/<action>: each worker did what it owns; an id is
 * unknown only when no worker knows it. The code as api_queue.c sets
 * it, from the sums. */
static void
merge_action(struct admin_req *r, json_t **o, unsigned n)
{
	json_t *skipped = json_array(), *unknown = json_object(), *v, *c;
	json_int_t matched = 0, done = 0, failed = 0;
	size_t i, nunknown = 0, nskip;
	const char *id;
	int code = 200;

	for (unsigned w = 0; w < n; w++) {
		matched += json_integer_value(json_object_get(o[w], "matched"));
		done += json_integer_value(json_object_get(o[w], "done"));
		failed += json_integer_value(json_object_get(o[w], "failed"));
		json_array_foreach(json_object_get(o[w], "skipped"), i, v) {
			const char *why = json_string_value(json_object_get(v,
			    "reason"));

			if ((id = json_string_value(json_object_get(v,
			    "id"))) == NULL || why == NULL ||
			    strcmp(why, "unknown id") != 0) {
				json_array_append(skipped, v);
				continue;
			}
			c = json_object_get(unknown, id);
			json_object_set_new(unknown, id, json_integer(c != NULL ?
			    json_integer_value(c) + 1 : 1));
		}
	}
	json_object_foreach(unknown, id, c)
		if (json_integer_value(c) == (json_int_t)n) {
			json_array_append_new(skipped, json_pack("{s:s,s:s}",
			    "id", id, "reason", "unknown id"));
			nunknown++;
		}
	json_decref(unknown);
	nskip = json_array_size(skipped);
	if (done + failed == 0 && nskip > 0)
		code = nunknown == nskip ? 404 : 409;
	else if (done + failed > 0 && failed == done + failed)
		code = 500;
	v = json_pack("{s:O,s:I,s:I,s:I,s:o}", "action",
	    json_object_get(o[0], "action"), "matched", matched, "done", done,
	    "failed", failed, "skipped", skipped);
	if (code != 200)
		json_object_set_new(v, "error", api_str(code == 404 ?
		    "no such entry" : code == 409 ? "nothing could be done "
		    "(see skipped)" : "the queue could not be written"));
	api_reply(r, code, v);
}

/* --- destinations ------------------------------------------------------------------ */

/* Every worker's shaper shows a destination's whole limits (its gate,
 * lib/gate.h, takes them across the workers): the counts, and the
 * connection limit in force (each worker holds its part), are summed. */
static void
merge_dest(json_t *dst, json_t *src)
{
	static const char *const maxk[] = { "step", "suspended_s", NULL };
	json_t *ovr = json_object_get(dst, "overridden"), *v;
	const char *mode = json_string_value(json_object_get(dst, "mode"));
	size_t i, k;

	if (mode != NULL && strcmp(mode, "normal") == 0 &&
	    json_is_string(json_object_get(src, "mode")))
		json_object_set(dst, "mode", json_object_get(src, "mode"));
	sum_into(dst, src, maxk);
	json_array_foreach(json_object_get(src, "overridden"), i, v) {
		for (k = 0; k < json_array_size(ovr); k++)
			if (json_equal(json_array_get(ovr, k), v))
				break;
		if (ovr != NULL && k == json_array_size(ovr))
			json_array_append(ovr, v);
	}
}

static void
merge_dests(struct admin_req *r, json_t **o, unsigned n)
{
	json_t *list = merge_list(o, n, "destinations", "destination",
	    merge_dest);

	api_reply(r, 200, json_pack("{s:o}", "destinations", list));
}

/* --- status ------------------------------------------------------------------------ */

/* The daemon's pid is the supervisor's (the pid file's); started and
 * uptime_s its oldest worker's; each worker's own under "workers". */
static void
merge_status(struct admin_req *r, json_t **o, unsigned n)
{
	json_t *out = json_deep_copy(o[0]), *workers = json_array();

	for (unsigned i = 0; i < n; i++) {
		json_t *w = json_pack("{s:i,s:O,s:O,s:O}", "worker", (int)i,
		    "pid", json_object_get(o[i], "pid"), "started",
		    json_object_get(o[i], "started"), "uptime_s",
		    json_object_get(o[i], "uptime_s"));
		const char *s = json_string_value(json_object_get(o[i],
		    "started"));
		const char *t = json_string_value(json_object_get(out,
		    "started"));

		if (w != NULL)
			json_array_append_new(workers, w);
		if (s != NULL && t != NULL && strcmp(s, t) < 0) {
			json_object_set(out, "started", json_object_get(o[i],
			    "started"));
			json_object_set(out, "uptime_s", json_object_get(o[i],
			    "uptime_s"));
		}
	}
	json_object_set_new(out, "pid", json_integer((json_int_t)getppid()));
	json_object_set_new(out, "workers", workers);
	api_reply(r, 200, out);
}

/* POST /api/destinations/KEY/... and /api/reload, done by each worker:
 * a destination's settings answer with the first worker that knew it
 * (each holds the whole limits); a reload with the first failure. */
static void
dest_set(struct admin_req *r, enum fan_kind kind, const struct fan_reply *rep,
    unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if ((kind == FAN_DEST_SET) == (rep[i].code == 200))
			break;
	pass(r, &rep[i < n ? i : 0]);
}

/* --- the status page ------------------------------------------------------------ */

static void
merge_odest(json_t *dst, json_t *src)
{
	const char *mode = json_string_value(json_object_get(dst, "mode"));

	if (mode != NULL && strcmp(mode, "normal") == 0 &&
	    json_is_string(json_object_get(src, "mode")))
		json_object_set(dst, "mode", json_object_get(src, "mode"));
	sum_into(dst, src, NULL);
}

static int
cmp_recent(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a,
	    "time"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b,
	    "time"));

	return x < y ? 1 : x > y ? -1 : 0;
}

/* GET /api/overview: the status as /api/status's, the queue and the
 * destinations summed, each per-minute series summed minute by minute
 * (aligned on the current minute), the latest failures of all, newest
 * first (OVERVIEW_RECENT, as each worker keeps). */
#define OVERVIEW_RECENT	50

static void
merge_overview(struct admin_req *r, json_t **o, unsigned n)
{
	static const char *const maxk[] = { "oldest_s", "uptime_s", NULL };
	json_t *out = json_deep_copy(o[0]), *ser = json_object_get(out,
	    "series"), *v, *list = json_array(), **all = NULL;
	size_t na = 0, i;
	const char *k;

	for (unsigned w = 1; w < n; w++) {
		sum_into(json_object_get(out, "status"),
		    json_object_get(o[w], "status"), maxk);
		sum_into(json_object_get(out, "queue"),
		    json_object_get(o[w], "queue"), maxk);
		json_object_foreach(json_object_get(o[w], "series"), k, v) {
			json_t *d = json_object_get(ser, k);
			size_t dn = json_array_size(d), sn = json_array_size(v);

			for (i = 1; json_is_array(d) && i <= dn && i <= sn; i++)
				json_integer_set(json_array_get(d, dn - i),
				    json_integer_value(json_array_get(d,
				    dn - i)) + json_integer_value(
				    json_array_get(v, sn - i)));
		}
	}
	json_object_set_new(json_object_get(out, "status"), "pid",
	    json_integer((json_int_t)getppid()));
	json_object_set_new(out, "destinations", merge_list(o, n,
	    "destinations", "key", merge_odest));
	for (unsigned w = 0; w < n; w++) {
		json_t *rec = json_object_get(o[w], "recent");

		all = xreallocarray(all, na + json_array_size(rec) + 1,
		    sizeof(*all));
		json_array_foreach(rec, i, v)
			all[na++] = v;
	}
	if (na > 0)
		qsort(all, na, sizeof(*all), cmp_recent);
	for (i = 0; i < na && i < OVERVIEW_RECENT; i++)
		json_array_append(list, all[i]);
	free(all);
	json_object_set_new(out, "recent", list);
	api_reply(r, 200, out);
}

/* --- every kind ---------------------------------------------------------------------- */

void
fanout_merge(struct admin_req *r, enum fan_kind kind,
    const struct fan_reply *rep, unsigned n, long offset, long limit)
{
	static const char *const need[] = {
		[FAN_QUEUE] = "destinations", [FAN_ENTRIES] = "entries",
		[FAN_ACTION] = "action", [FAN_DESTS] = "destinations",
		[FAN_STATUS] = "pid", [FAN_OVERVIEW] = "series",
	};
	json_t **o;

	if (kind == FAN_DEST_SET || kind == FAN_RELOAD) {
		dest_set(r, kind, rep, n);
		return;
	}
	if ((o = parse_all(r, rep, n, need[kind])) == NULL)
		return;
	switch (kind) {
	case FAN_QUEUE:
		merge_queue(r, o, n);
		break;
	case FAN_ENTRIES:
		merge_entries(r, o, n, offset, limit);
		break;
	case FAN_ACTION:
		merge_action(r, o, n);
		break;
	case FAN_DESTS:
		merge_dests(r, o, n);
		break;
	case FAN_OVERVIEW:
		merge_overview(r, o, n);
		break;
	default:
		merge_status(r, o, n);
		break;
	}
	free_all(o, n);
}
