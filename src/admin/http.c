/*
 * http: the admin listener (contract in http.h): http.ini, the TCP and
 * Unix listeners on evhttp, the bearer token, the route table and the
 * replies. One evhttp per kind of listener, so a request knows whether it
 * must show the token.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/crypto.h>

#include "admin/http.h"
#include "core/log.h"
#include "core/worker.h"
#include "lib/buf.h"
#include "lib/ini.h"
#include "lib/json.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define SRC		"admin"
#define BODY_MAX	(25u << 20)
#define HEADERS_MAX	(16u << 10)
#define TIMEOUT_S	60
#define TOKEN_MIN	16
#define COOKIE		"outpost_token="

struct route {
	char		*method;
	char		*path;
	int		 prefix;
	admin_fn	 fn;
	void		*arg;
};

struct front {
	struct admin	*a;
	struct evhttp	*http;
	int		 local;		/* no token asked */
};

struct admin {
	struct event_base	*base;
	struct front		 tcp, local;
	struct front		 inner;		/* a worker's own socket */
	admin_fanout_fn		 fan;		/* worker 0 of several */
	void			*fan_arg;
	char			*token;
	char		       **socks;		/* Unix socket paths made */
	size_t			 nsocks;
	struct route		*routes;
	size_t			 nroutes;
};

struct admin_req {
	struct admin		*a;
	struct evhttp_request	*req;
	int			 inner;		/* came by a worker's socket */
	char			*path;
	struct evkeyvalq	 query;
	char			*body;
	char			 peer[64];
};

/* --- configuration --------------------------------------------------------- */

static char *
read_token(const char *config_dir, const char *v, char **err)
{
	char *path = v[0] == '/' ? xstrdup(v) :
	    xasprintf("%s/%s", config_dir, v);
	char line[512] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		*err = xasprintf("http.ini: token_file: %s: %s", path,
		    strerror(errno));
		free(path);
		return NULL;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n < TOKEN_MIN || strpbrk(line, " \t") != NULL) {
		*err = xasprintf("http.ini: token_file: %s: the first line "
		    "must be a token of at least %d characters, no blanks",
		    path, TOKEN_MIN);
		free(path);
		return NULL;
	}
	free(path);
	return xstrdup(line);
}

static int
loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr.s_addr) >> 24) == 127;
	return sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
}

static struct evhttp *
front_http(struct admin *a, struct front *f, int local);

static int
bind_unix(struct admin *a, struct front *f, const char *path, unsigned mode,
    uid_t uid, gid_t gid, char **err)
{
	struct sockaddr_un sun;
	struct evconnlistener *l;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		*err = xasprintf("http.ini: listen: %s: path too long", path);
		return -1;
	}
	/* A socket left by an earlier run; never any other kind of file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, mode) == -1 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(path, uid, gid) == -1) ||
	    evutil_make_socket_nonblocking(fd) == -1) {
		*err = xasprintf("http.ini: listen: %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	a->socks = xreallocarray(a->socks, a->nsocks + 1, sizeof(*a->socks));
	a->socks[a->nsocks++] = xstrdup(path);
	if ((l = evconnlistener_new(a->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, fd)) == NULL) {
		close(fd);
		*err = xasprintf("http.ini: listen: %s: cannot listen", path);
		return -1;
	}
	if (evhttp_bind_listener(front_http(a, f, 1), l) == NULL) {
		evconnlistener_free(l);
		*err = xasprintf("http.ini: listen: %s: cannot listen", path);
		return -1;
	}
	return 0;
}

/* One listen item. -1: a bad value (*bad set), or it could not be bound. */
static int
bind_one(struct admin *a, const char *item, unsigned mode, uid_t uid,
    gid_t gid, char **err, int *bad)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	ev_uint16_t port;

	if (item[0] == '/')
		return bind_unix(a, &a->local, item, mode, uid, gid, err);
	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(item, (struct sockaddr *)&ss,
	    &len) != 0 || (port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port)) == 0) {
		*bad = 1;
		*err = xasprintf("http.ini: listen: '%s' is not ADDRESS:PORT "
		    "nor /path", item);
		return -1;
	}
	if (!loopback((struct sockaddr *)&ss)) {
		*bad = 1;
		*err = xasprintf("http.ini: listen: %s is not a loopback "
		    "address (127.0.0.0/8, ::1): put a proxy in front for "
		    "other networks", item);
		return -1;
	}
	if (a->token == NULL) {
		*bad = 1;
		*err = xasprintf("http.ini: listen: %s: a TCP listener needs "
		    "token_file", item);
		return -1;
	}
	evutil_inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
	    (void *)&((struct sockaddr_in *)&ss)->sin_addr :
	    (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, host,
	    sizeof(host));
	if (evhttp_bind_socket_with_handle(front_http(a, &a->tcp, 0), host,
	    port) == NULL) {
		*err = xasprintf("http.ini: listen: cannot bind %s: %s", item,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* --- requests ---------------------------------------------------------------- */

static const char *
method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:	return "GET";
	case EVHTTP_REQ_HEAD:	return "HEAD";
	case EVHTTP_REQ_POST:	return "POST";
	case EVHTTP_REQ_PUT:	return "PUT";
	case EVHTTP_REQ_DELETE:	return "DELETE";
	default:		return "OTHER";
	}
}

/* The token from "Authorization: Bearer T", the outpost_token cookie, or
 * for the status page (GET /) a token query parameter, which it turns
 * into the cookie. */
static int
authorized(const struct admin *a, struct evhttp_request *req,
    const struct admin_req *r)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *v = evhttp_find_header(h, "Authorization"), *c;
	size_t tlen = strlen(a->token), n;

	if (v != NULL && strncasecmp(v, "Bearer ", 7) == 0) {
		v += 7;
		n = strlen(v);
	} else if ((c = evhttp_find_header(h, "Cookie")) != NULL &&
	    (v = strstr(c, COOKIE)) != NULL &&
	    (v == c || v[-1] == ' ' || v[-1] == ';')) {
		v += sizeof(COOKIE) - 1;
		n = strcspn(v, "; ");
	} else if (strcmp(r->path, "/") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_GET &&
	    (v = evhttp_find_header(&r->query, "token")) != NULL)
		n = strlen(v);
	else
		return 0;
	return n == tlen && CRYPTO_memcmp(v, a->token, tlen) == 0;
}

static const struct route *
find_route(const struct admin *a, const char *method, const char *path,
    int *other_method)
{
	*other_method = 0;
	for (size_t i = 0; i < a->nroutes; i++) {
		const struct route *r = &a->routes[i];
		int hit = r->prefix ? strncmp(path, r->path,
		    strlen(r->path)) == 0 : strcmp(path, r->path) == 0;

		if (!hit)
			continue;
		if (strcmp(r->method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		    strcmp(r->method, "GET") == 0))
			return r;
		*other_method = 1;
	}
	return NULL;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct front *f = arg;
	struct admin *a = f->a;
	struct admin_req *r = xcalloc(1, sizeof(*r));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *method = method_name(evhttp_request_get_command(req));
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	const char *p = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const struct route *rt;
	char *addr = NULL;
	ev_uint16_t port = 0;
	int other;

	r->a = a;
	r->req = req;
	r->inner = f == &a->inner;
	TAILQ_INIT(&r->query);
	if (f->local)
		snprintf(r->peer, sizeof(r->peer), "unix");
	else {
		evhttp_connection_get_peer(evhttp_request_get_connection(req),
		    &addr, &port);
		snprintf(r->peer, sizeof(r->peer), "%s", addr ? addr : "?");
	}
	r->path = evhttp_uridecode(p != NULL && *p != '\0' ? p : "/", 0,
	    NULL);
	if (r->path == NULL || (q != NULL &&
	    evhttp_parse_query_str(q, &r->query) != 0)) {
		admin_error(r, 400, "bad request URI");
		return;
	}
	if (!f->local && !authorized(a, req, r)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"outpost\"");
		log_notice(SRC, NULL, "%s %s from %s: 401 (no valid token)",
		    method, r->path, r->peer);
		admin_error(r, 401, "a valid bearer token is required");
		return;
	}
	if ((rt = find_route(a, method, r->path, &other)) == NULL) {
		if (other)
			admin_error(r, 405, "method %s not allowed on %s",
			    method, r->path);
		else
			admin_error(r, 404, "no such resource: %s", r->path);
		return;
	}
	/* Worker 0 of several asks every worker (itself included, by its
	 * socket) what the route answers for the whole daemon. */
	if (a->fan != NULL && !r->inner && a->fan(r, a->fan_arg) == 0)
		return;
	rt->fn(r, rt->arg);
}

static struct evhttp *
front_http(struct admin *a, struct front *f, int local)
{
	if (f->http != NULL)
		return f->http;
	if ((f->http = evhttp_new(a->base)) == NULL) {
		log_crit(SRC, NULL, "cannot create an HTTP server");
		abort();
	}
	f->a = a;
	f->local = local;
	evhttp_set_max_body_size(f->http, BODY_MAX);
	evhttp_set_max_headers_size(f->http, HEADERS_MAX);
	evhttp_set_timeout(f->http, TIMEOUT_S);
	evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(f->http, on_request, f);
	return f->http;
}

/* --- the listener ------------------------------------------------------------ */

static int
load(struct admin *a, const struct ini *ini, const char *config_dir,
    uid_t uid, gid_t gid, char **err, int *bad)
{
	const char *listen = ini_get(ini, "main", "listen");
	const char *v;
	unsigned long mode = 0660, body = BODY_MAX;
	char *list, *save = NULL, *end;

	if ((v = ini_get(ini, "main", "token_file")) != NULL && *v != '\0' &&
	    (a->token = read_token(config_dir, v, err)) == NULL) {
		*bad = 1;
		return -1;
	}
	if ((v = ini_get(ini, "main", "socket_mode")) != NULL && *v != '\0') {
		errno = 0;
		mode = strtoul(v, &end, 8);
		if (errno != 0 || *end != '\0' || mode > 0777) {
			*bad = 1;
			*err = xasprintf("http.ini: socket_mode: '%s' is not "
			    "octal permissions", v);
			return -1;
		}
	}
	if ((v = ini_get(ini, "main", "body_max")) != NULL && *v != '\0') {
		errno = 0;
		body = strtoul(v, &end, 10);
		if (errno != 0 || *end != '\0' || body < 1024) {
			*bad = 1;
			*err = xasprintf("http.ini: body_max: '%s' is not a "
			    "number of bytes (at least 1024)", v);
			return -1;
		}
	}
	list = xstrdup(listen);
	for (char *it = strtok_r(list, ",", &save); it != NULL;
	    it = strtok_r(NULL, ",", &save)) {
		size_t n;

		it += strspn(it, " \t");
		n = strlen(it);
		while (n > 0 && (it[n - 1] == ' ' || it[n - 1] == '\t'))
			it[--n] = '\0';
		if (*it == '\0' || nodes_worker() > 0)	/* worker 0's */
			continue;
		if (bind_one(a, it, (unsigned)mode, uid, gid, err, bad) != 0) {
			free(list);
			return -1;
		}
		log_notice(SRC, NULL, "admin HTTP listening on %s%s", it,
		    it[0] == '/' ? "" : " (bearer token required)");
	}
	free(list);
	if (a->tcp.http != NULL)
		evhttp_set_max_body_size(a->tcp.http, body);
	if (a->local.http != NULL)
		evhttp_set_max_body_size(a->local.http, body);
	return 0;
}

char *
admin_worker_sock(const char *config_dir, unsigned worker)
{
	const char *slash = strrchr(config_dir, '/');
	int n = slash != NULL ? (int)(slash - config_dir) : 1;

	return xasprintf("%.*s/run/admin.w%u.sock", n, slash != NULL ?
	    config_dir : ".", worker);
}

/* This worker's socket, ROOT/run/admin.w<i>.sock (0600, no token). */
static int
bind_inner(struct admin *a, const char *config_dir, uid_t uid, gid_t gid,
    char **err)
{
	char *path = admin_worker_sock(config_dir, (unsigned)nodes_worker());
	char *dir = xstrdup(path);
	int rc;

	*strrchr(dir, '/') = '\0';
	if (mkdir(dir, 0755) == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(dir, uid, gid) == -1)
		log_warn(SRC, NULL, "cannot give %s to the daemon's user: %s",
		    dir, strerror(errno));
	free(dir);
	rc = bind_unix(a, &a->inner, path, 0600, uid, gid, err);
	if (rc == 0)
		log_info(SRC, NULL, "worker %d's admin socket: %s",
		    nodes_worker(), path);
	free(path);
	return rc;
}

struct admin *
admin_new(struct event_base *base, const char *config_dir, uid_t uid,
    gid_t gid, char **err, int *bind_failed)
{
	char *path = xasprintf("%s/http.ini", config_dir);
	struct ini *ini;
	struct admin *a;
	const char *listen;
	int exists = 0, bad = 0;

	*err = NULL;
	*bind_failed = 0;
	ini = ini_load(path, "http.ini", &exists, ini_warn_first, err);
	if (ini == NULL) {
		*err = xasprintf("http.ini: %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	free(path);
	if (*err != NULL) {
		ini_free(ini);
		return NULL;
	}
	listen = ini_get(ini, "main", "listen");
	if (listen == NULL || listen[strspn(listen, " \t,")] == '\0') {
		ini_free(ini);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->base = base;
	if (load(a, ini, config_dir, uid, gid, err, &bad) != 0 ||
	    (nodes_count() > 1 && bind_inner(a, config_dir, uid, gid,
	    err) != 0)) {
		*bind_failed = !bad;
		ini_free(ini);
		admin_free(a);
		return NULL;
	}
	ini_free(ini);
	return a;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->tcp.http != NULL)
		evhttp_free(a->tcp.http);
	if (a->local.http != NULL)
		evhttp_free(a->local.http);
	if (a->inner.http != NULL)
		evhttp_free(a->inner.http);
	for (size_t i = 0; i < a->nsocks; i++) {
		unlink(a->socks[i]);
		free(a->socks[i]);
	}
	free(a->socks);
	for (size_t i = 0; i < a->nroutes; i++) {
		free(a->routes[i].method);
		free(a->routes[i].path);
	}
	free(a->routes);
	if (a->token != NULL)
		OPENSSL_cleanse(a->token, strlen(a->token));
	free(a->token);
	free(a);
}

void
admin_route(struct admin *a, const char *method, const char *path,
    admin_fn fn, void *arg)
{
	size_t len = strlen(path);
	struct route *r;

	a->routes = xreallocarray(a->routes, a->nroutes + 1,
	    sizeof(*a->routes));
	r = &a->routes[a->nroutes++];
	r->method = xstrdup(method);
	r->path = xstrdup(path);
	r->prefix = len > 1 && path[len - 1] == '/';
	r->fn = fn;
	r->arg = arg;
}

/* --- the request's accessors and replies ------------------------------------- */

const char *
admin_req_method(const struct admin_req *r)
{
	return method_name(evhttp_request_get_command(r->req));
}

const char *
admin_req_path(const struct admin_req *r)
{
	return r->path;
}

const char *
admin_req_query(const struct admin_req *r, const char *key)
{
	return evhttp_find_header(&r->query, key);
}

const char *
admin_req_body(struct admin_req *r, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = evbuffer_get_length(in);

	if (r->body == NULL) {
		r->body = xmalloc(n + 1);
		evbuffer_copyout(in, r->body, n);
		r->body[n] = '\0';
	}
	if (len != NULL)
		*len = n;
	return r->body;
}

const char *
admin_req_peer(const struct admin_req *r)
{
	return r->peer;
}

struct evhttp_request *
admin_req_evhttp(struct admin_req *r)
{
	return r->req;
}

int
admin_req_inner(const struct admin_req *r)
{
	return r->inner;
}

const char *
admin_req_uri(const struct admin_req *r)
{
	return evhttp_request_get_uri(r->req);
}

const char *
admin_req_header(const struct admin_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    name);
}

void
admin_fanout(struct admin *a, admin_fanout_fn fn, void *arg)
{
	a->fan = fn;
	a->fan_arg = arg;
}

static void
req_free(struct admin_req *r)
{
	evhttp_clear_headers(&r->query);
	free(r->path);
	free(r->body);
	free(r);
}

void
admin_req_drop(struct admin_req *r)
{
	req_free(r);
}

void
admin_reply(struct admin_req *r, int code, const char *type,
    const void *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (out != NULL && len > 0)
		evbuffer_add(out, body, len);
	evhttp_send_reply(r->req, code, NULL, out);
	if (out != NULL)
		evbuffer_free(out);
	req_free(r);
}

void
admin_reply_json(struct admin_req *r, int code, const struct buf *json)
{
	admin_reply(r, code, "application/json", json->p, json->len);
}

void
admin_error(struct admin_req *r, int code, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	buf_adds(&b, "{\"error\":");
	json_string(&b, msg != NULL ? msg : "error");
	buf_adds(&b, "}\n");
	admin_reply_json(r, code, &b);
	buf_free(&b);
	free(msg);
}
