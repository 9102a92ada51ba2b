/*
 * bounce_webhook: an example external plugin. It observes the bounce hook
 * and POSTs every bounce event, as one JSON object, to an http:// URL with
 * libevent's evhttp client running on Outpost's own event loop.
 *
 * Built against <outpost/plugin.h> and libevent only (see README.md). The
 * plugin (struct webhook) owns the posts still alive; a post owns its
 * connection, body and timer from the hook call until it succeeded or
 * gave up.
 */
#define _GNU_SOURCE		/* asprintf() */

#include <sys/queue.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "outpost/plugin.h"

#define NAME	"bounce_webhook"
#define INI	"bounce_webhook.ini"

/*
 * struct op_outbound grows at its end from one Outpost release to the
 * next: read a field only when the daemon's struct (o->size bytes) holds
 * it, so that this .so also runs on an Outpost older than its header.
 */
#define HAS_FIELD(o, f)	((o)->size >= offsetof(struct op_outbound, f) + \
			    sizeof((o)->f))

struct webhook {
	struct event_base *base;
	char		*url;		/* as configured, for the logs */
	char		*host;		/* to connect to: no [] around IPv6 */
	char		*host_header;	/* host[:port] as in the URL */
	char		*path;		/* path?query */
	int		 port;
	int		 timeout;	/* seconds, per attempt */
	int		 retries;
	int		 wait;		/* answer the hook once the POST ended */
	LIST_HEAD(, post) posts;
};

struct post {
	LIST_ENTRY(post) entry;
	struct webhook	*w;
	struct op_call	*call;		/* wait: answered at the end; or NULL */
	struct evhttp_connection *conn;
	struct event	*timer;		/* the next attempt, or the free */
	struct evbuffer	*body;
	char		*id;
	const char	*error;		/* why the current attempt failed */
	int		 tries;
	int		 done;
};

/* --- the JSON body ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0. The string ends
 * with a NUL, never a continuation byte, so this cannot read past it. */
static size_t
utf8_seq(const unsigned char *p)
{
	/* These bounds of the second byte rule out overlong forms,
	 * surrogates and code points above U+10FFFF. */
	unsigned lo = p[0] == 0xe0 ? 0xa0 : p[0] == 0xf0 ? 0x90 : 0x80;
	unsigned hi = p[0] == 0xed ? 0x9f : p[0] == 0xf4 ? 0x8f : 0xbf;
	size_t n = p[0] < 0x80 ? 1 : p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 :
	    p[0] < 0xf0 ? 3 : p[0] < 0xf5 ? 4 : 0;

	if (n < 2)
		return n;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * key, then s as a JSON string (or null). Remote replies may hold any
 * byte: what is not UTF-8 becomes U+FFFD, so the body is always JSON.
 */
static void
json_str(struct evbuffer *b, const char *key, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	evbuffer_add_printf(b, "%s", key);
	if (s == NULL) {
		evbuffer_add_printf(b, "null");
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (; *p != '\0'; p += n) {
		if ((n = utf8_seq(p)) == 0) {
			evbuffer_add_printf(b, "\\ufffd");
			n = 1;
		} else if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p == '\n' || *p == '\r' || *p == '\t')
			evbuffer_add_printf(b, "\\%c", *p == '\n' ? 'n' :
			    *p == '\r' ? 'r' : 't');
		else if (*p < 0x20)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, n);
	}
	evbuffer_add(b, "\"", 1);
}

/* The event as JSON, built during the hook call: the event's strings are
 * valid only until the plugin answers. */
static struct evbuffer *
make_body(const struct op_outbound *o)
{
	struct evbuffer *b = evbuffer_new();
	time_t secs = (time_t)(o->queue_time / 1000);
	char when[32];
	struct tm tm;

	if (b == NULL)
		return NULL;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
	json_str(b, "{\"type\":\"bounced\",\"job_id\":", o->id);
	json_str(b, ",\"domain\":", o->domain);
	json_str(b, ",\"from\":", o->mail_from);
	evbuffer_add_printf(b, ",\"queue_time\":\"%s.%03dZ\"", when,
	    (int)(o->queue_time % 1000));
	json_str(b, ",\"error\":", o->error);
	evbuffer_add_printf(b, ",\"recipients\":[");
	for (unsigned i = 0; i < o->nrcpts; i++) {
		const struct op_rcpt *r = &o->rcpts[i];

		json_str(b, i ? ",{\"address\":" : "{\"address\":", r->address);
		json_str(b, ",\"status\":", r->status);
		/* 0: no reply code, the failure was Outpost's own. */
		evbuffer_add_printf(b, r->code ? ",\"code\":%d" :
		    ",\"code\":null", r->code);
		json_str(b, ",\"action\":", r->action);
		json_str(b, ",\"response\":", r->response);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "]}");
	return b;
}

/* --- posting ------------------------------------------------------------ */

static void post_send(struct post *);

static void
post_free(struct post *p)
{
	LIST_REMOVE(p, entry);
	/* This also frees a request still on it, without its callback. */
	if (p->conn != NULL)
		evhttp_connection_free(p->conn);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->body != NULL)
		evbuffer_free(p->body);
	free(p->id);
	free(p);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct post *p = arg;

	(void)fd;
	(void)what;
	if (p->done)
		post_free(p);
	else
		post_send(p);
}

/* Succeeded or gave up. libevent still uses the connection after the
 * response callback returns, so it is freed from the loop, not here. */
static void
post_finish(struct post *p)
{
	struct op_call *call = p->call;

	p->done = 1;
	p->call = NULL;
	event_active(p->timer, EV_TIMEOUT, 1);
	if (call != NULL)
		op_next(call, OP_CONT, NULL);	/* last: it may re-enter us */
}

/* Runs just before on_response(NULL) when the exchange broke off. */
static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct post *p = arg;

	p->error = e == EVREQ_HTTP_TIMEOUT ? "timeout" : e == EVREQ_HTTP_EOF ?
	    "connection closed" : "invalid reply";
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct post *p = arg;
	struct webhook *w = p->w;
	/* 0: no reply at all (connection refused, timeout...). */
	int status = req != NULL ? evhttp_request_get_response_code(req) : 0;
	const char *line = req != NULL ?
	    evhttp_request_get_response_code_line(req) : NULL;
	struct timeval tv = { 1L << (p->tries < 6 ? p->tries - 1 : 5), 0 };
	char why[128];

	if (status >= 200 && status <= 299) {
		op_log(OP_LOG_INFO, NAME, p->id, "posted bounce %s to %s: %d",
		    p->id, w->url, status);
		post_finish(p);
		return;
	}
	if (status != 0)
		snprintf(why, sizeof(why), "HTTP %d %s", status, line ? line : "");
	else
		snprintf(why, sizeof(why), "%s", p->error ? p->error :
		    "connection failed");
	if (p->tries > w->retries) {
		op_log(OP_LOG_WARN, NAME, p->id, "bounce %s not posted to %s: "
		    "%s (%d tries)", p->id, w->url, why, p->tries);
		post_finish(p);
		return;
	}
	op_log(OP_LOG_WARN, NAME, p->id, "bounce %s to %s: %s; retrying in "
	    "%ld s", p->id, w->url, why, (long)tv.tv_sec);
	evtimer_add(p->timer, &tv);
}

/* One attempt. on_response() may have run by the time this returns (a
 * connect that fails at once); p survives that, posts being freed only
 * from the loop. */
static void
post_send(struct post *p)
{
	struct evhttp_request *req;
	struct evkeyvalq *hdr;

	p->tries++;
	p->error = NULL;
	if ((req = evhttp_request_new(on_response, p)) == NULL) {
		p->error = "out of memory";
		on_response(NULL, p);
		return;
	}
	evhttp_request_set_error_cb(req, on_error);
	hdr = evhttp_request_get_output_headers(req);
	evhttp_add_header(hdr, "Host", p->w->host_header);
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req),
	    evbuffer_pullup(p->body, -1), evbuffer_get_length(p->body));
	/* libevent adds Content-Length; it fails only when out of memory. */
	if (evhttp_make_request(p->conn, req, EVHTTP_REQ_POST,
	    p->w->path) == -1) {
		p->error = "cannot make the request";
		on_response(NULL, p);
	}
}

/* The observer: called once per bounce event whatever the bounce chain
 * answered; its own answer code is ignored. */
static void
on_bounce(struct op_call *call, void *data)
{
	struct webhook *w = data;
	const struct op_outbound *o = op_call_outbound(call);
	struct post *p;

	/* error is the last field read here; the ones before come with it. */
	if (o == NULL || !HAS_FIELD(o, error) ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		op_next(call, OP_CONT, NULL);
		return;
	}
	LIST_INSERT_HEAD(&w->posts, p, entry);
	p->w = w;
	p->id = strdup(o->id);
	p->body = make_body(o);
	p->timer = evtimer_new(w->base, on_timer, p);
	/* A connection per post: a slow POST never holds up the others. */
	p->conn = evhttp_connection_base_new(w->base, NULL, w->host,
	    (unsigned short)w->port);
	if (!p->id || !p->body || !p->timer || !p->conn) {
		op_log(OP_LOG_ERROR, NAME, o->id, "out of memory: bounce %s "
		    "not posted", o->id);
		post_free(p);
		op_next(call, OP_CONT, NULL);
		return;
	}
	evhttp_connection_set_timeout(p->conn, w->timeout);
	/* libevent's own retries cover only the connect; ours cover every
	 * failure, with one count and one log line per attempt. */
	evhttp_connection_set_retries(p->conn, 0);
	if (w->wait)
		p->call = call;
	else
		op_next(call, OP_CONT, NULL);	/* the body is a copy */
	post_send(p);
}

/* --- configuration ------------------------------------------------------ */

static int
parse_url(struct webhook *w, const char *url)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u ? evhttp_uri_get_host(u) : NULL;
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	const char *query = u ? evhttp_uri_get_query(u) : NULL;
	int ok;

	if (scheme != NULL && strcasecmp(scheme, "https") == 0)
		op_log(OP_LOG_ERROR, NAME, NULL, "%s: url %s: https is not "
		    "supported by this example; use http://", INI, url);
	else if (scheme == NULL || strcasecmp(scheme, "http") != 0 ||
	    host == NULL || *host == '\0' || evhttp_uri_get_port(u) == 0 ||
	    evhttp_uri_get_userinfo(u) != NULL)
		op_log(OP_LOG_ERROR, NAME, NULL, "%s: url '%s' is not "
		    "http://host[:port]/path", INI, url);
	else {
		w->port = evhttp_uri_get_port(u) > 0 ?
		    evhttp_uri_get_port(u) : 80;
		w->host = host[0] == '[' ?
		    strndup(host + 1, strlen(host) - 2) : strdup(host);
		if (asprintf(&w->host_header, w->port == 80 ? "%s" : "%s:%d",
		    host, w->port) == -1)
			w->host_header = NULL;
		if (asprintf(&w->path, "%s%s%s", path && *path ? path : "/",
		    query ? "?" : "", query ? query : "") == -1)
			w->path = NULL;
	}
	ok = w->host != NULL && w->host_header != NULL && w->path != NULL;
	if (u != NULL)
		evhttp_uri_free(u);
	return ok ? 0 : -1;
}

/* [main] key: a whole number from min to max, def when absent, or -1. */
static int
conf_number(struct op_env *env, const char *key, int def, int min, int max)
{
	char *v = op_config_get(env, INI, "main", key), *end;
	long n = def;

	if (v != NULL && ((n = strtol(v, &end, 10)) < min || n > max ||
	    *v == '\0' || *end != '\0')) {
		op_log(OP_LOG_ERROR, NAME, NULL, "%s: %s: expected a whole "
		    "number from %d to %d, got '%s'", INI, key, min, max, v);
		n = -1;
	}
	free(v);
	return (int)n;
}

/* [main] key: 1 or 0, def when absent, or -1. */
static int
conf_bool(struct op_env *env, const char *key, int def)
{
	char *v = op_config_get(env, INI, "main", key);
	int b = def;

	if (v == NULL)
		return def;
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1"))
		b = 1;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
	    !strcmp(v, "0"))
		b = 0;
	else {
		op_log(OP_LOG_ERROR, NAME, NULL, "%s: %s: expected true or "
		    "false, got '%s'", INI, key, v);
		b = -1;
	}
	free(v);
	return b;
}

static void
webhook_free(struct webhook *w)
{
	free(w->url);
	free(w->host);
	free(w->host_header);
	free(w->path);
	free(w);
}

static int
webhook_init(struct op_env *env, void **data)
{
	struct webhook *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	LIST_INIT(&w->posts);
	w->base = op_event_base(env);
	if ((w->url = op_config_get(env, INI, "main", "url")) == NULL) {
		op_log(OP_LOG_ERROR, NAME, NULL, "%s: [main] url is required "
		    "(http://host[:port]/path)", INI);
		goto fail;
	}
	if (parse_url(w, w->url) == -1 ||
	    (w->timeout = conf_number(env, "timeout", 10, 1, 3600)) == -1 ||
	    (w->retries = conf_number(env, "retries", 2, 0, 20)) == -1 ||
	    (w->wait = conf_bool(env, "wait", 0)) == -1)
		goto fail;
	if (op_register_hook(env, OP_HOOK_BOUNCE, on_bounce,
	    OP_HOOK_OBSERVE) == -1) {
		op_log(OP_LOG_ERROR, NAME, NULL, "this Outpost cannot observe "
		    "the bounce hook");
		goto fail;
	}
	op_log(OP_LOG_INFO, NAME, NULL, "posting bounces to %s (timeout=%ds "
	    "retries=%d wait=%s)", w->url, w->timeout, w->retries,
	    w->wait ? "true" : "false");
	*data = w;
	return 0;
 fail:
	webhook_free(w);
	return -1;
}

/*
 * At exit, once the event loop has stopped. Posts in flight are cancelled
 * (no callback runs) and their calls are left unanswered: the daemon is
 * tearing down, and with wait=true it has not updated the queue entry.
 */
static void
webhook_shutdown(void *data)
{
	struct webhook *w = data;
	struct post *p;

	while ((p = LIST_FIRST(&w->posts)) != NULL) {
		if (!p->done)
			op_log(OP_LOG_WARN, NAME, p->id, "shutting down: bounce "
			    "%s not posted to %s", p->id, w->url);
		post_free(p);
	}
	webhook_free(w);
}

const struct op_plugin outpost_plugin = {
	OUTPOST_PLUGIN_ABI, NAME, webhook_init, webhook_shutdown
};
