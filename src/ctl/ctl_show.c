/*
 * ctl_show: outpostctl's tables — the API's answers laid out in columns
 * for a person (--json prints them as they are).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static const char *
str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "-";
}

static long long
num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* 90 -> "1m30s", 7200 -> "2h0m". */
static const char *
age(long long s, char *out, size_t size)
{
	if (s < 60)
		snprintf(out, size, "%llds", s);
	else if (s < 3600)
		snprintf(out, size, "%lldm%llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, size, "%lldh%lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, size, "%lldd%lldh", s / 86400, s % 86400 / 3600);
	return out;
}

void
ctl_show_status(json_t *o)
{
	char a[32];

	printf("%s %s, pid %lld, started %s, up %s\n", str(o, "name"),
	    str(o, "version"), num(o, "pid"), str(o, "started"),
	    age(num(o, "uptime_s"), a, sizeof(a)));
}

void
ctl_show_queue(json_t *o)
{
	json_t *d;
	size_t i;
	char a[32];

	printf("%-40s %7s %7s %6s %8s %6s %7s %8s\n", "DESTINATION", "ENTRIES",
	    "RCPTS", "HELD", "DEFERRED", "DUE", "RUNNING", "OLDEST");
	json_array_foreach(json_object_get(o, "destinations"), i, d)
		printf("%-40s %7lld %7lld %6lld %8lld %6lld %7lld %8s\n",
		    str(d, "destination"), num(d, "entries"),
		    num(d, "recipients"), num(d, "held"), num(d, "deferred"),
		    num(d, "due"), num(d, "running"),
		    age(num(d, "oldest_s"), a, sizeof(a)));
	printf("%-40s %7lld %7lld %6lld %8lld %6lld %7lld\n", "TOTAL",
	    num(o, "entries"), num(o, "recipients"), num(o, "held"),
	    num(o, "deferred"), num(o, "due"), num(o, "running"));
}

void
ctl_show_entries(json_t *o)
{
	json_t *e, *r;
	size_t i, k;
	char a[32];

	printf("%-44s %-8s %-24s %-28s %5s %8s %s\n", "ID", "STATE", "DOMAIN",
	    "FROM", "TRIES", "AGE", "RECIPIENTS");
	json_array_foreach(json_object_get(o, "entries"), i, e) {
		const char *from = str(e, "sender");

		printf("%-44s %-8s %-24s %-28s %5lld %8s ", str(e, "id"),
		    str(e, "state"), str(e, "domain"), *from ? from : "<>",
		    num(e, "attempts"), age(num(e, "age_s"), a, sizeof(a)));
		json_array_foreach(json_object_get(e, "recipients"), k, r)
			printf("%s%s%s%s%s", k ? "," : "", str(r, "address"),
			    strcmp(str(r, "state"), "pending") ? "(" : "",
			    strcmp(str(r, "state"), "pending") ?
			    str(r, "state") : "",
			    strcmp(str(r, "state"), "pending") ? ")" : "");
		printf("\n");
	}
	printf("-- %lld of %lld entries (offset %lld)\n",
	    (long long)json_array_size(json_object_get(o, "entries")),
	    num(o, "total"), num(o, "offset"));
}

void
ctl_show_action(json_t *o)
{
	json_t *s;
	size_t i;

	printf("%s: %lld matched, %lld done, %lld failed, %zu skipped\n",
	    str(o, "action"), num(o, "matched"), num(o, "done"),
	    num(o, "failed"), json_array_size(json_object_get(o, "skipped")));
	json_array_foreach(json_object_get(o, "skipped"), i, s)
		printf("  skipped %s: %s\n", str(s, "id"), str(s, "reason"));
}

/* "  limits: max_connections=2* ...": the limits in force, '*' on those
 * the administrator set (until the next reload). */
static void
show_limits(json_t *d)
{
	json_t *lim = json_object_get(d, "limits"), *v, *n;
	json_t *ovr = json_object_get(d, "overridden");
	const char *k;
	size_t i;
	int set, any = 0;

	if (!json_is_object(lim))
		return;
	printf("  limits:");
	json_object_foreach(lim, k, v) {
		set = 0;
		json_array_foreach(ovr, i, n)
			set |= json_is_string(n) &&
			    strcmp(json_string_value(n), k) == 0;
		any |= set;
		if (json_is_integer(v))
			printf(" %s=%lld%s", k, (long long)json_integer_value(v),
			    set ? "*" : "");
		else
			printf(" %s=%s%s", k, json_is_string(v) ?
			    json_string_value(v) : "-", set ? "*" : "");
	}
	printf("%s\n", any ? "  (* set by the administrator until the next "
	    "reload)" : "");
}

void
ctl_show_destinations(json_t *o)
{
	json_t *d, *sus;
	size_t i;
	char a[32];

	printf("%-40s %-9s %6s %8s %5s %9s %s\n", "DESTINATION", "MODE",
	    "QUEUED", "INFLIGHT", "LIMIT", "SUSPENDED", "LAST");
	json_array_foreach(json_object_get(o, "destinations"), i, d) {
		sus = json_object_get(d, "suspended_s");
		printf("%-40s %-9s %6lld %8lld %5lld %9s %s\n",
		    str(d, "destination"), str(d, "mode"), num(d, "queued"),
		    num(d, "inflight"), num(d, "limit"),
		    json_is_integer(sus) ? age(json_integer_value(sus), a,
		    sizeof(a)) : "-", str(d, "last"));
		show_limits(d);
	}
}

/* Any other answer: key: value lines. */
void
ctl_show_object(json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		char *t = json_is_string(v) ? NULL :
		    json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		printf("%s: %s\n", k, t ? t : json_string_value(v));
		free(t);
	}
}

void
ctl_show_limits(json_t *o)
{
	const char *k;
	json_t *v, *set = json_object_get(o, "set");
	size_t i;

	printf("destination %s: ", json_string_value(json_object_get(o,
	    "destination")));
	json_array_foreach(set, i, v)
		printf("%s%s", i > 0 ? ", " : "", json_string_value(v));
	printf(" set until %s\n", json_string_value(json_object_get(o,
	    "until")));
	json_object_foreach(json_object_get(o, "limits"), k, v) {
		if (json_is_string(v))
			printf("  %-30s %s\n", k, *json_string_value(v) ?
			    json_string_value(v) : "(none)");
		else
			printf("  %-30s %lld\n", k,
			    (long long)json_integer_value(v));
	}
}
