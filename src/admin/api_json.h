/*
 * api_json: what the admin API's modules share: request bodies parsed as
 * JSON and answers written with jansson (request bodies are untrusted: a
 * well-kept parser), queue filters from a JSON object or the query
 * string. A file that includes this does not include lib/json.h (both
 * name a json_string()).
 */
#ifndef OUTPOST_ADMIN_API_JSON_H
#define OUTPOST_ADMIN_API_JSON_H

#include <stdint.h>
#include <string.h>

#include <jansson.h>

struct admin_req;
struct mta_filter;

/* A JSON string. Never jansson's json_string() here: the daemon's own
 * lib/json.c defines a json_string() too, and a call in the executable
 * binds to that one. */
static inline json_t *
api_str(const char *s)
{
	return json_stringn(s, strlen(s));
}

/* Answers with obj (the reference is taken), compact, one line. */
void		 api_reply(struct admin_req *, int code, json_t *obj);

/* The body as a JSON object (json_decref it), or NULL once the request
 * was answered 400 (no body, bad JSON, not an object). */
json_t		*api_body_object(struct admin_req *);
/* A filter from the object {"domain": ..., "state": ...} (strings are
 * borrowed from it): 0, or -1 once answered 400 (an unknown key, a bad
 * value, or no criterion at all when need_one). */
int		 api_filter_json(struct admin_req *, json_t *obj,
		    struct mta_filter *, int need_one);
/* The same from the query string (domain=&state=...). */
int		 api_filter_query(struct admin_req *, struct mta_filter *);
/* The query's number key in [0, max] (dflt when absent) into *out: 0,
 * or -1 once answered 400. */
int		 api_query_num(struct admin_req *, const char *key, long dflt,
		    long max, long *out);
/* A text an administrator gives (a reason, from jansson: valid UTF-8
 * without NUL): 1-200 bytes, no control characters. */
int		 api_text_ok(const char *);
/* "2026-01-01T00:00:00Z" of ms since the epoch (a new JSON string). */
json_t		*api_time(int64_t ms);

#endif
