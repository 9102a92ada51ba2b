/*
 * api_suppress: the suppression list's endpoints (contract in
 * api_suppress.h). Reads answer at once; a write is queued to the list's
 * writer and answered from its done(). A write still queued when the
 * listener closes keeps its job, orphaned: done() frees it unanswered.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/api_json.h"
#include "admin/api_suppress.h"
#include "admin/http.h"
#include "core/log.h"
#include "core/suppress_writer.h"
#include "lib/xmalloc.h"

#define PATH		"/api/suppressions"
#define LIMIT_DEFAULT	100
#define LIMIT_MAX	10000

struct job {
	struct job		*next, *prev;
	struct api_suppress	*as;		/* NULL: orphaned */
	struct admin_req	*r;
	struct suppress_entry	 e;
	int			 del;
};

struct api_suppress {
	struct job	*jobs;
};

static struct suppressor *
list_or_503(struct admin_req *r)
{
	struct suppressor *s = suppress_running();

	if (s == NULL)
		admin_error(r, 503, "the suppression list is off "
		    "(suppression.ini enabled=false)");
	return s;
}

static json_t *
entry_json(const struct suppress_entry *e, int64_t now)
{
	json_t *o = json_object();

	json_object_set_new(o, "address", api_str(e->address));
	json_object_set_new(o, "scope", api_str(e->scope[0] ? e->scope :
	    "global"));
	json_object_set_new(o, "source",
	    api_str(suppress_source_name(e->source)));
	json_object_set_new(o, "reason", api_str(e->reason));
	json_object_set_new(o, "created", api_time(e->created * 1000));
	json_object_set_new(o, "expires", e->expires ?
	    api_time(e->expires * 1000) : json_null());
	json_object_set_new(o, "active", json_boolean(suppress_active(e,
	    now)));
	return o;
}

struct each {
	json_t	*list;
	int64_t	 now;
};

static void
add_entry(void *arg, const struct suppress_entry *e)
{
	struct each *x = arg;

	json_array_append_new(x->list, entry_json(e, x->now));
}

static void
get_list(struct admin_req *r, void *arg)
{
	struct suppressor *s;
	struct suppress_filter f = { NULL, NULL, NULL, -1, 0 };
	char addr[SUPPRESS_ADDR_MAX + 1], dom[SUPPRESS_SCOPE_MAX + 1];
	char scope[SUPPRESS_SCOPE_MAX + 1];
	struct each x = { NULL, (int64_t)time(NULL) };
	const char *v;
	long limit, offset;
	size_t total;

	(void)arg;
	if ((s = list_or_503(r)) == NULL ||
	    api_query_num(r, "limit", LIMIT_DEFAULT, LIMIT_MAX, &limit) != 0 ||
	    api_query_num(r, "offset", 0, 1L << 40, &offset) != 0)
		return;
	if ((v = admin_req_query(r, "address")) != NULL) {
		if (suppress_address(v, addr) != 0) {
			admin_error(r, 400, "address: not an address");
			return;
		}
		f.address = addr;
	}
	if ((v = admin_req_query(r, "domain")) != NULL) {
		if (suppress_scope(v, dom) != 0 || dom[0] == '\0') {
			admin_error(r, 400, "domain: not a domain name");
			return;
		}
		f.domain = dom;
	}
	if ((v = admin_req_query(r, "scope")) != NULL) {
		if (suppress_scope(v, scope) != 0) {
			admin_error(r, 400, "scope: global or a domain name");
			return;
		}
		f.scope = scope;
	}
	if ((v = admin_req_query(r, "source")) != NULL &&
	    (f.source = suppress_source_parse(v)) < 0) {
		admin_error(r, 400, "source: bounce, remote_bounce, complaint "
		    "or admin");
		return;
	}
	if ((v = admin_req_query(r, "expired")) != NULL)
		f.expired = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
	x.list = json_array();
	if (suppress_list(suppressor_store(s), &f, x.now, (size_t)offset,
	    (size_t)limit, add_entry, &x, &total) != 0) {
		json_decref(x.list);
		admin_error(r, 500, "the suppression list cannot be read");
		return;
	}
	api_reply(r, 200, json_pack("{s:I,s:I,s:I,s:o}", "total",
	    (json_int_t)total, "offset", (json_int_t)offset, "limit",
	    (json_int_t)limit, "suppressions", x.list));
}

/* --- writes ------------------------------------------------------------------- */

static struct job *
job_new(struct api_suppress *as, struct admin_req *r)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->as = as;
	j->r = r;
	j->next = as->jobs;
	if (as->jobs != NULL)
		as->jobs->prev = j;
	as->jobs = j;
	return j;
}

static void
job_free(struct job *j)
{
	if (j->as != NULL) {
		if (j->prev != NULL)
			j->prev->next = j->next;
		else
			j->as->jobs = j->next;
		if (j->next != NULL)
			j->next->prev = j->prev;
	}
	free(j);
}

static void
written(void *arg, int ok, long changed, const char *err)
{
	struct job *j = arg;
	const struct suppress_entry *e = &j->e;
	const char *scope = e->scope[0] ? e->scope : "global";

	if (j->as == NULL)		/* the listener is gone */
		;
	else if (!ok)
		admin_error(j->r, 500, "%s", err ? err : "write failed");
	else if (j->del && changed == 0)
		admin_error(j->r, 404, "not on the suppression list: %s",
		    e->address);
	else if (j->del) {
		log_notice("admin", NULL, "suppression of <%s> (%s) removed "
		    "by the administrator (%s)", e->address, e->scope[0] ?
		    scope : "every scope", admin_req_peer(j->r));
		api_reply(j->r, 200, json_pack("{s:s,s:I}", "address",
		    e->address, "removed", (json_int_t)changed));
	} else {
		log_notice("admin", NULL, "<%s> suppressed for %s by the "
		    "administrator (%s): %s", e->address, scope,
		    admin_req_peer(j->r), e->reason);
		api_reply(j->r, 201, entry_json(e, (int64_t)time(NULL)));
	}
	job_free(j);
}

/* "expires": null/absent (the configured expiry), 0 or "never", seconds,
 * or a duration string ("2h", "30d"). 0, or -1 once answered. */
static int
expiry(struct admin_req *r, json_t *v, const struct suppress_config *c,
    struct suppress_entry *e)
{
	int64_t d = -1;

	if (v == NULL || json_is_null(v))
		d = c->expiry[SUP_ADMIN];
	else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 3650LL * 86400)
		d = json_integer_value(v);
	else if (json_is_string(v))
		d = suppress_duration(json_string_value(v));
	if (d < 0) {
		admin_error(r, 400, "expires: seconds, a duration (2h, 30d), 0 "
		    "or \"never\"");
		return -1;
	}
	e->expires = d > 0 ? e->created + d : 0;
	return 0;
}

static void
post_add(struct admin_req *r, void *arg)
{
	struct api_suppress *as = arg;
	struct suppressor *s;
	struct suppress_entry e;
	json_t *body, *v;
	const char *bad = NULL;
	static const char *const keys[] = { "address", "scope", "reason",
	    "expires", NULL };
	const char *k;

	if ((s = list_or_503(r)) == NULL || (body = api_body_object(r)) ==
	    NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.source = SUP_ADMIN;
	e.created = (int64_t)time(NULL);
	json_object_foreach(body, k, v) {
		size_t i = 0;

		while (keys[i] != NULL && strcmp(keys[i], k) != 0)
			i++;
		if (keys[i] == NULL) {
			admin_error(r, 400, "unknown key: %.64s (address, "
			    "scope, reason, expires)", k);
			json_decref(body);
			return;
		}
	}
	v = json_object_get(body, "address");
	if (!json_is_string(v) || suppress_address(json_string_value(v),
	    e.address) != 0)
		bad = "address: an address (local@domain) is required";
	else if ((v = json_object_get(body, "scope")) != NULL &&
	    (!json_is_string(v) || suppress_scope(json_string_value(v),
	    e.scope) != 0))
		bad = "scope: \"global\" or a sender domain";
	else if ((v = json_object_get(body, "reason")) != NULL &&
	    (!json_is_string(v) || !api_text_ok(json_string_value(v))))
		bad = "reason: a text of 1 to 200 characters";
	if (bad != NULL) {
		admin_error(r, 400, "%s", bad);
		json_decref(body);
		return;
	}
	if (expiry(r, json_object_get(body, "expires"),
	    suppressor_config(s), &e) != 0) {
		json_decref(body);
		return;
	}
	snprintf(e.reason, sizeof(e.reason), "%s", v != NULL ?
	    json_string_value(v) : "added by the administrator");
	json_decref(body);
	{
		struct job *j = job_new(as, r);

		j->e = e;
		suppressor_put(s, &e, 1, 1, written, j);
	}
}

static void
delete_one(struct admin_req *r, void *arg)
{
	struct api_suppress *as = arg;
	struct suppressor *s;
	const char *a = admin_req_path(r) + strlen(PATH "/");
	const char *sc = admin_req_query(r, "scope");
	struct job *j;
	struct suppress_entry e;

	if ((s = list_or_503(r)) == NULL)
		return;
	memset(&e, 0, sizeof(e));
	if (suppress_address(a, e.address) != 0) {
		admin_error(r, 400, "not an address: use %s/<address>", PATH);
		return;
	}
	if (sc != NULL && suppress_scope(sc, e.scope) != 0) {
		admin_error(r, 400, "scope: \"global\" or a sender domain");
		return;
	}
	j = job_new(as, r);
	j->e = e;
	j->del = 1;
	/* No scope: every scope; "" stored for the global one. */
	suppressor_del(s, e.address, sc != NULL ? e.scope : NULL, written, j);
}

struct api_suppress *
api_suppress_register(struct admin *a)
{
	struct api_suppress *as = xcalloc(1, sizeof(*as));

	admin_route(a, "GET", PATH, get_list, as);
	admin_route(a, "POST", PATH, post_add, as);
	admin_route(a, "DELETE", PATH "/", delete_one, as);
	return as;
}

void
api_suppress_stop(struct api_suppress *as)
{
	if (as == NULL)
		return;
	for (struct job *j = as->jobs; j != NULL; j = j->next)
		j->as = NULL;
	free(as);
}
