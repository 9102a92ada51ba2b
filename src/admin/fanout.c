/*
 * fanout: worker 0 asking every worker (contract in fanout.h). A small
 * HTTP/1.0 client on bufferevents (libevent 2.1's evhttp client cannot
 * reach a Unix socket): one connection a worker, the request written as
 * it came (method, URI, Content-Type, body), the answer read to the end
 * of the stream (the server closes after an HTTP/1.0 answer) and parsed.
 * Nothing blocks: the connects are non-blocking, a timer bounds the wait.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "admin/fanout.h"
#include "admin/fanout_merge.h"
#include "admin/http.h"
#include "core/log.h"
#include "core/worker.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#define SRC		"admin"
#define LIMIT_DEFAULT	100	/* api_queue.c's */
#define LIMIT_MAX	10000

struct fan;

/* One worker's part of a request. */
struct leg {
	struct fan		*f;
	unsigned		 no;
	struct bufferevent	*bev;
	int			 done;
	char			*err;		/* why it failed */
	struct fan_reply	 rep;
};

/* A request of the listener, sent to every worker. */
struct fan {
	LIST_ENTRY(fan)		 link;
	struct fanout		*fo;
	struct admin_req	*r;
	enum fan_kind		 kind;
	long			 offset, limit;
	struct leg		*legs;
	unsigned		 n, pending;
	struct event		*timer;
};

struct fanout {
	struct event_base	*base;
	struct sockaddr_un	*socks;		/* worker i's */
	unsigned		 n;
	LIST_HEAD(, fan)	 fans;
};

static const struct {
	const char	*method;
	const char	*path;
	int		 prefix;
	enum fan_kind	 kind;
} routes[] = {
	{ "GET", "/api/queue", 0, FAN_QUEUE },
	{ "GET", "/api/queue/entries", 0, FAN_ENTRIES },
	{ "POST", "/api/queue/", 1, FAN_ACTION },
	{ "GET", "/api/destinations", 0, FAN_DESTS },
	{ "POST", "/api/destinations/", 1, FAN_DEST_SET },
	{ "GET", "/api/status", 0, FAN_STATUS },
	{ "GET", "/metrics", 0, FAN_METRICS },
	{ "POST", "/api/reload", 0, FAN_RELOAD },
	{ "GET", "/api/overview", 0, FAN_OVERVIEW },
};

/* --- ending ---------------------------------------------------------------- */

static void
leg_close(struct leg *l)
{
	if (l->bev != NULL)
		bufferevent_free(l->bev);
	l->bev = NULL;
}

static void
fan_free(struct fan *f)
{
	LIST_REMOVE(f, link);
	for (unsigned i = 0; i < f->n; i++) {
		leg_close(&f->legs[i]);
		free(f->legs[i].err);
		free(f->legs[i].rep.type);
		free(f->legs[i].rep.body);
	}
	free(f->legs);
	if (f->timer != NULL)
		event_free(f->timer);
	free(f);
}

/* Every worker answered, or the time is up. */
static void
fan_finish(struct fan *f)
{
	struct buf b = BUF_INIT;
	struct fan_reply *rep;

	for (unsigned i = 0; i < f->n; i++) {
		struct leg *l = &f->legs[i];

		if (l->done && l->err == NULL)
			continue;
		buf_printf(&b, "%sworker %u: ", b.len ? "; " : "", l->no);
		if (l->done)
			buf_adds(&b, l->err);
		else
			buf_printf(&b, "no answer within %d s",
			    FANOUT_TIMEOUT_S);
	}
	if (b.len > 0) {
		char *msg = buf_release(&b);

		log_warn(SRC, NULL, "%s %s: %s", admin_req_method(f->r),
		    admin_req_path(f->r), msg);
		admin_error(f->r, 503, "not every worker answered (%s)", msg);
		free(msg);
		fan_free(f);
		return;
	}
	rep = xcalloc(f->n, sizeof(*rep));
	for (unsigned i = 0; i < f->n; i++)
		rep[i] = f->legs[i].rep;
	if (f->kind == FAN_METRICS)
		fanout_merge_metrics(f->r, rep, f->n);
	else
		fanout_merge(f->r, f->kind, rep, f->n, f->offset, f->limit);
	free(rep);
	fan_free(f);
}

static void
leg_done(struct leg *l, char *err)
{
	struct fan *f = l->f;

	leg_close(l);
	l->done = 1;
	l->err = err;
	if (--f->pending == 0)
		fan_finish(f);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fan_finish(arg);
}

/* --- a worker's answer ------------------------------------------------------ */

/* "HTTP/1.x NNN ...", headers, an empty line, the body. NULL, or why
 * not. */
static char *
parse(struct leg *l, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);
	char *all = xmalloc(n + 1), *sep, *line, *eol, *end;
	long clen = -1;

	evbuffer_remove(in, all, n);
	all[n] = '\0';
	if ((sep = strstr(all, "\r\n\r\n")) == NULL ||
	    sscanf(all, "HTTP/1.%*1[01] %3d", &l->rep.code) != 1 ||
	    l->rep.code < 100 || l->rep.code > 599) {
		free(all);
		return xstrdup("not an HTTP answer");
	}
	*sep = '\0';
	for (line = strstr(all, "\r\n"); line != NULL && line < sep;
	    line = eol) {
		line += 2;
		eol = strstr(line, "\r\n");
		if (eol != NULL)
			*eol = '\0';
		if (strncasecmp(line, "Content-Type:", 13) == 0)
			l->rep.type = xstrdup(line + 13 + strspn(line + 13,
			    " \t"));
		else if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, &end, 10);
		if (eol == NULL)
			break;
	}
	l->rep.len = n - (size_t)(sep + 4 - all);
	if (clen >= 0 && (size_t)clen != l->rep.len) {
		free(all);
		return xstrdup("the answer was cut short");
	}
	l->rep.body = xmalloc(l->rep.len + 1);
	memcpy(l->rep.body, sep + 4, l->rep.len);
	l->rep.body[l->rep.len] = '\0';
	free(all);
	return NULL;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct leg *l = arg;

	if (evbuffer_get_length(bufferevent_get_input(bev)) > FANOUT_BODY_MAX)
		leg_done(l, xstrdup("answer too large"));
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct leg *l = arg;
	int e = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_EOF)
		leg_done(l, parse(l, bufferevent_get_input(bev)));
	else if (what & BEV_EVENT_ERROR)
		leg_done(l, xasprintf("%s: %s", l->f->fo->socks[l->no].sun_path,
		    e != 0 ? evutil_socket_error_to_string(e) :
		    "connection failed"));
}

/* --- asking ------------------------------------------------------------------ */

/* The page of GET /api/queue/entries: -1 when offset or limit is bad (the
 * route answers the 400 itself). */
static int
page(struct admin_req *r, const char *key, long dflt, long max, long *out)
{
	const char *v = admin_req_query(r, key);
	char *end;

	*out = dflt;
	if (v == NULL)
		return 0;
	*out = strtol(v, &end, 10);
	return *v == '\0' || *end != '\0' || *out < 0 || *out > max ? -1 : 0;
}

/* The URI for the workers: GET /api/queue/entries asks each for its
 * first offset + limit entries. */
static char *
worker_uri(const struct fan *f)
{
	const char *uri = admin_req_uri(f->r), *q = strchr(uri, '?');
	struct buf b = BUF_INIT;
	char *query, *save = NULL;

	if (f->kind != FAN_ENTRIES)
		return xstrdup(uri);
	buf_add(&b, uri, q != NULL ? (size_t)(q - uri) : strlen(uri));
	buf_adds(&b, "?");
	query = xstrdup(q != NULL ? q + 1 : "");
	for (char *it = strtok_r(query, "&", &save); it != NULL;
	    it = strtok_r(NULL, "&", &save))
		if (strncmp(it, "offset=", 7) != 0 && strcmp(it, "offset") &&
		    strncmp(it, "limit=", 6) != 0 && strcmp(it, "limit"))
			buf_printf(&b, "%s&", it);
	free(query);
	buf_printf(&b, "offset=0&limit=%ld", f->offset + f->limit);
	return buf_release(&b);
}

static void
leg_start(struct leg *l, const char *req, size_t len)
{
	struct fanout *fo = l->f->fo;

	l->bev = bufferevent_socket_new(fo->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (l->bev == NULL) {
		leg_done(l, xstrdup("cannot create a connection"));
		return;
	}
	bufferevent_setcb(l->bev, on_read, NULL, on_event, l);
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	bufferevent_write(l->bev, req, len);
	if (bufferevent_socket_connect(l->bev,
	    (struct sockaddr *)&fo->socks[l->no], sizeof(fo->socks[l->no]))
	    != 0)
		leg_done(l, xasprintf("%s: %s", fo->socks[l->no].sun_path,
		    strerror(errno)));
}

static int
on_request(struct admin_req *r, void *arg)
{
	struct fanout *fo = arg;
	const char *method = admin_req_method(r), *path = admin_req_path(r);
	const char *type = admin_req_header(r, "Content-Type");
	const struct timeval tv = { FANOUT_TIMEOUT_S, 0 };
	struct buf req = BUF_INIT;
	struct fan *f;
	const char *body;
	char *uri;
	size_t i, blen;

	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].method, method) == 0 &&
		    (routes[i].prefix ? strncmp(path, routes[i].path,
		    strlen(routes[i].path)) == 0 : strcmp(path,
		    routes[i].path) == 0))
			break;
	if (i == sizeof(routes) / sizeof(routes[0]))
		return -1;
	f = xcalloc(1, sizeof(*f));
	f->fo = fo;
	f->r = r;
	f->kind = routes[i].kind;
	if (f->kind == FAN_ENTRIES && (page(r, "offset", 0, 1L << 40,
	    &f->offset) != 0 || page(r, "limit", LIMIT_DEFAULT, LIMIT_MAX,
	    &f->limit) != 0)) {
		free(f);
		return -1;
	}
	LIST_INSERT_HEAD(&fo->fans, f, link);
	body = admin_req_body(r, &blen);
	uri = worker_uri(f);
	buf_printf(&req, "%s %s HTTP/1.0\r\nHost: outpost\r\n"
	    "Content-Length: %zu\r\n", method, uri, blen);
	if (type != NULL)
		buf_printf(&req, "Content-Type: %s\r\n", type);
	buf_adds(&req, "\r\n");
	buf_add(&req, body, blen);
	free(uri);
	f->n = f->pending = fo->n;
	f->legs = xcalloc(f->n, sizeof(*f->legs));
	f->timer = evtimer_new(fo->base, on_timeout, f);
	evtimer_add(f->timer, &tv);
	for (i = 0; i < f->n; i++) {
		f->legs[i].f = f;
		f->legs[i].no = (unsigned)i;
	}
	/* A leg may fail at once, and the last one finishes f: count
	 * down on a copy of the legs' number. */
	f->pending++;
	for (i = 0; i < fo->n; i++)
		leg_start(&f->legs[i], req.p, req.len);
	buf_free(&req);
	if (--f->pending == 0)
		fan_finish(f);
	return 0;
}

/* --- the module ------------------------------------------------------------ */

struct fanout *
fanout_new(struct admin *a, struct event_base *base, const char *config_dir)
{
	struct fanout *fo;

	if (nodes_count() <= 1 || nodes_worker() != 0)
		return NULL;
	fo = xcalloc(1, sizeof(*fo));
	fo->base = base;
	fo->n = nodes_count();
	fo->socks = xcalloc(fo->n, sizeof(*fo->socks));
	LIST_INIT(&fo->fans);
	for (unsigned i = 0; i < fo->n; i++) {
		char *p = admin_worker_sock(config_dir, i);

		fo->socks[i].sun_family = AF_UNIX;
		snprintf(fo->socks[i].sun_path, sizeof(fo->socks[i].sun_path),
		    "%s", p);	/* its length was checked by the bind */
		free(p);
	}
	admin_fanout(a, on_request, fo);
	return fo;
}

void
fanout_free(struct fanout *fo)
{
	struct fan *f;

	if (fo == NULL)
		return;
	while ((f = LIST_FIRST(&fo->fans)) != NULL) {
		admin_req_drop(f->r);
		fan_free(f);
	}
	free(fo->socks);
	free(fo);
}
