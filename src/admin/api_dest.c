/*
 * api_dest: the destination and reload endpoints (contract in api_dest.h)
 * over mta_admin's shaper calls and main.c's reload callback: list,
 * suspend, resume, and limits (shaping.ini's keys changed on the live
 * shaper until the next reload).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_dest.h"
#include "admin/api_json.h"
#include "admin/http.h"
#include "core/log.h"
#include "core/shaping.h"
#include "delivery/mta_admin.h"
#include "delivery/shaper.h"
#include "lib/xmalloc.h"

#define PREFIX		"/api/destinations/"
#define SUSPEND_MAX	(30u * 86400)	/* s */

struct api_dest {
	struct mta	*m;
	api_reload_fn	 reload;
	void		*arg;
};

static json_t *limits_json(const struct shaping_limits *);

static void
add_dest(void *arg, const struct shaper_stat *st, uint64_t now)
{
	json_t *list = arg, *ovr;
	json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i}",
	    "destination", st->key, "mode", shaper_mode_name(st->mode),
	    "queued", (int)st->queued, "inflight", (int)st->inflight,
	    "limit", (int)st->limit, "step", (int)st->step,
	    "waiting", (int)st->waiting);

	if (o == NULL)
		return;
	json_object_set_new(o, "suspended_s", st->mode == SHAPER_SUSPENDED &&
	    st->until > now ? json_integer((json_int_t)((st->until - now +
	    999) / 1000)) : json_null());
	json_object_set_new(o, "last", api_str(st->last));
	/* The limits in force, and which of them the administrator set
	 * (POST KEY/limits) over shaping.ini's until the next reload. */
	ovr = json_array();
	for (unsigned i = 0; shaping_limit_name(i) != NULL; i++)
		if (st->overridden & (1u << i))
			json_array_append_new(ovr,
			    api_str(shaping_limit_name(i)));
	json_object_set_new(o, "limits", limits_json(st->lim));
	json_object_set_new(o, "overridden", ovr);
	json_array_append_new(list, o);
}

static void
get_dests(struct admin_req *r, void *arg)
{
	struct api_dest *ad = arg;
	json_t *list = json_array();

	mta_admin_destinations(ad->m, add_dest, list);
	api_reply(r, 200, json_pack("{s:o}", "destinations", list));
}

/* "90", "90s", "15m", "2h", "1d": seconds, or 0. */
static unsigned
duration(json_t *v)
{
	struct mta_filter f;
	const char *why;
	char num[32];
	const char *s = num;

	if (json_is_integer(v))
		snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
	else if (json_is_string(v))
		s = json_string_value(v);
	else
		return 0;
	mta_filter_init(&f);		/* the filters' age syntax */
	if (mta_filter_set(&f, "min_age", s, &why) != 0 || f.min_age <= 0 ||
	    f.min_age > SUSPEND_MAX)
		return 0;
	return (unsigned)f.min_age;
}

static json_t *
limits_json(const struct shaping_limits *l)
{
	char mr[RATE_TEXT_MAX], cr[RATE_TEXT_MAX];

	return json_pack("{s:i,s:i,s:i,s:s,s:s,s:i,s:i,s:i,s:i,s:i}",
	    "max_connections", (int)l->max_connections,
	    "max_messages_per_connection", (int)l->max_messages_per_connection,
	    "max_recipients_per_message", (int)l->max_recipients_per_message,
	    "max_message_rate", rate_format(&l->max_message_rate, mr),
	    "max_connection_rate", rate_format(&l->max_connection_rate, cr),
	    "connect_timeout", (int)l->connect_timeout,
	    "idle_timeout", (int)l->idle_timeout,
	    "backoff_connections", (int)l->backoff_connections,
	    "backoff_interval", (int)l->backoff_interval,
	    "backoff_recover", (int)l->backoff_recover);
}

/* POST KEY/limits {"max_connections": 2, "max_message_rate": "10/m"}:
 * shaping.ini's keys and values, on the live shaper until a reload. */
static void
post_limits(struct admin_req *r, struct api_dest *ad, const char *key)
{
	json_t *body = api_body_object(r), *v, *set;
	struct shaping_limits lim, now;
	const char *name;
	unsigned mask = 0;
	char num[32], *why = NULL;

	if (body == NULL)
		return;
	memset(&lim, 0, sizeof(lim));
	json_object_foreach(body, name, v) {
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
		else if (!json_is_string(v)) {
			why = xasprintf("%s: a whole number or a text", name);
			break;
		}
		if (shaping_limit_set(&lim, &mask, name, json_is_string(v) ?
		    json_string_value(v) : num, &why) != 0)
			break;
	}
	if (why == NULL && mask == 0)
		why = xstrdup("no limit given: max_connections, "
		    "max_messages_per_connection, max_recipients_per_message, "
		    "max_message_rate, max_connection_rate, connect_timeout, "
		    "idle_timeout, backoff_connections, backoff_interval, "
		    "backoff_recover");
	if (why != NULL) {
		admin_error(r, 400, "%s", why);
		free(why);
		json_decref(body);
		return;
	}
	mta_admin_limits(ad->m, key, &lim, mask, admin_req_peer(r), &now);
	set = json_array();
	for (unsigned i = 0; shaping_limit_name(i) != NULL; i++)
		if (mask & (1u << i))
			json_array_append_new(set,
			    api_str(shaping_limit_name(i)));
	api_reply(r, 200, json_pack("{s:s,s:o,s:o,s:s}", "destination", key,
	    "set", set, "limits", limits_json(&now), "until",
	    "the next reload (shaping.ini's limits then apply again)"));
	json_decref(body);
}

static void
post_dest(struct admin_req *r, void *arg)
{
	struct api_dest *ad = arg;
	const char *path = admin_req_path(r) + strlen(PREFIX);
	const char *slash = strrchr(path, '/');
	json_t *body = NULL, *reason = NULL;
	char *key;
	unsigned secs = 0;

	if (slash == NULL || slash == path || (strcmp(slash, "/suspend") != 0 &&
	    strcmp(slash, "/resume") != 0 && strcmp(slash, "/limits") != 0)) {
		admin_error(r, 404, "use %sKEY/suspend, %sKEY/resume or "
		    "%sKEY/limits", PREFIX, PREFIX, PREFIX);
		return;
	}
	key = xstrndup(path, (size_t)(slash - path));
	if (strcmp(slash, "/limits") == 0) {
		if (!api_text_ok(key) || strlen(key) >= SHAPING_KEY_MAX)
			admin_error(r, 400, "a destination key of 1 to %d "
			    "characters", SHAPING_KEY_MAX - 1);
		else
			post_limits(r, ad, key);
		free(key);
		return;
	}
	if (strcmp(slash, "/resume") == 0) {
		if (mta_admin_resume(ad->m, key, admin_req_peer(r)) != 0)
			admin_error(r, 404, "no such destination: %s", key);
		else
			api_reply(r, 200, json_pack("{s:s,s:s}",
			    "destination", key, "mode", "normal"));
		free(key);
		return;
	}
	if ((body = api_body_object(r)) == NULL) {
		free(key);
		return;
	}
	reason = json_object_get(body, "reason");
	if ((secs = duration(json_object_get(body, "duration"))) == 0)
		admin_error(r, 400, "duration: seconds (or 15m, 2h, 1d), at "
		    "most 30 days, is required");
	else if (reason != NULL && (!json_is_string(reason) ||
	    !api_text_ok(json_string_value(reason))))
		admin_error(r, 400, "reason: a text of 1 to 200 characters");
	else {
		mta_admin_suspend(ad->m, key, secs, reason != NULL ?
		    json_string_value(reason) : NULL, admin_req_peer(r));
		api_reply(r, 200, json_pack("{s:s,s:s,s:i}", "destination",
		    key, "mode", "suspended", "suspended_s", (int)secs));
	}
	json_decref(body);
	free(key);
}

static void
post_reload(struct admin_req *r, void *arg)
{
	struct api_dest *ad = arg;
	char *err;

	log_notice("admin", NULL, "reload asked by the administrator (%s)",
	    admin_req_peer(r));
	if ((err = ad->reload(ad->arg)) != NULL) {
		admin_error(r, 422, "%s", err);
		free(err);
		return;
	}
	api_reply(r, 200, json_pack("{s:b}", "reloaded", 1));
}

void *
api_dest_register(struct admin *a, struct mta *m, api_reload_fn reload,
    void *arg)
{
	struct api_dest *ad = xcalloc(1, sizeof(*ad));

	ad->m = m;
	ad->reload = reload;
	ad->arg = arg;
	admin_route(a, "GET", "/api/destinations", get_dests, ad);
	admin_route(a, "POST", PREFIX, post_dest, ad);
	if (reload != NULL)
		admin_route(a, "POST", "/api/reload", post_reload, ad);
	return ad;
}
