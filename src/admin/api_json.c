/*
 * api_json: request bodies parsed with jansson (an object, or a 400 with
 * the parser's line and column), queue filters from JSON or the query,
 * and small writers (contract in api_json.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/api_json.h"
#include "admin/http.h"
#include "delivery/mta_admin.h"
#include "lib/xmalloc.h"

#define TEXT_MAX	200

static const char *const filter_keys[] = {
	"domain", "sender", "recipient", "state", "min_age", "max_age",
	"destination"
};
#define NKEYS	(sizeof(filter_keys) / sizeof(filter_keys[0]))

json_t *
api_body_object(struct admin_req *r)
{
	size_t len;
	const char *body = admin_req_body(r, &len);
	json_error_t e;
	json_t *j;

	if (len == 0) {
		admin_error(r, 400, "a JSON object is required as the body");
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL) {
		admin_error(r, 400, "bad JSON at line %d, column %d: %s",
		    e.line, e.column, e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		admin_error(r, 400, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

int
api_filter_json(struct admin_req *r, json_t *obj, struct mta_filter *f,
    int need_one)
{
	const char *key, *why;
	json_t *v;
	int n = 0;

	mta_filter_init(f);
	if (!json_is_object(obj)) {
		admin_error(r, 400, "filter: a JSON object is required");
		return -1;
	}
	json_object_foreach(obj, key, v) {
		char num[32];
		const char *s;
		int rc;

		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
			s = num;
		} else if (json_is_string(v))
			s = json_string_value(v);
		else {
			admin_error(r, 400, "filter: %s: a string is required",
			    key);
			return -1;
		}
		/* num is on the stack: only the ages read numbers. */
		if (s == num && strcmp(key, "min_age") != 0 &&
		    strcmp(key, "max_age") != 0) {
			admin_error(r, 400, "filter: %s: a string is required",
			    key);
			return -1;
		}
		if ((rc = mta_filter_set(f, key, s, &why)) == 1) {
			admin_error(r, 400, "filter: unknown criterion '%s'",
			    key);
			return -1;
		}
		if (rc != 0) {
			admin_error(r, 400, "filter: %s: %s", key, why);
			return -1;
		}
		n++;
	}
	if (need_one && n == 0) {
		admin_error(r, 400, "filter: at least one criterion is "
		    "required");
		return -1;
	}
	return 0;
}

int
api_filter_query(struct admin_req *r, struct mta_filter *f)
{
	const char *why;

	mta_filter_init(f);
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = admin_req_query(r, filter_keys[i]);

		if (v != NULL && mta_filter_set(f, filter_keys[i], v,
		    &why) != 0) {
			admin_error(r, 400, "%s: %s", filter_keys[i], why);
			return -1;
		}
	}
	return 0;
}

void
api_reply(struct admin_req *r, int code, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	char *line;
	size_t n;

	json_decref(obj);
	if (text == NULL) {
		admin_error(r, 500, "out of memory");
		return;
	}
	n = strlen(text);
	line = xmalloc(n + 2);
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(text);
	admin_reply(r, code, "application/json", line, n + 1);
	free(line);
}

int
api_text_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

json_t *
api_time(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "@%lld", (long long)t);
	return api_str(when);
}

int
api_query_num(struct admin_req *r, const char *key, long dflt, long max,
    long *out)
{
	const char *v = admin_req_query(r, key);
	char *end;

	*out = dflt;
	if (v == NULL)
		return 0;
	*out = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || *out < 0 || *out > max) {
		admin_error(r, 400, "%s: a number from 0 to %ld is required",
		    key, max);
		return -1;
	}
	return 0;
}
