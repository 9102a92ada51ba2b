/*
 * http: the admin HTTP listener (config/http.ini, Haraka's file name) on
 * libevent's evhttp. Listeners are loopback TCP addresses, where every
 * request needs the bearer token of token_file, and Unix sockets, guarded
 * by their file permissions. Modules register routes; a handler answers
 * now or later (the request stays valid until it is answered), always
 * through admin_reply*.
 *
 * http.ini [main]:
 *   listen       comma list: 127.0.0.1:8025, [::1]:8025, /run/outpost.sock
 *                (empty or absent: no listener, the default)
 *   token_file   the token, one line (relative to config/); required with
 *                a TCP listener
 *   socket_mode  octal permissions of the Unix sockets (default 0660)
 *   body_max     bytes of a request body (default 25 MB)
 *
 * With smtp.ini nodes > 1 every worker reads http.ini: worker 0 binds its
 * listeners, and each worker i (0 too) binds ROOT/run/admin.w<i>.sock
 * (0600, no token), where worker 0 asks the others (admin/fanout.c).
 * Without a listener in http.ini no worker binds anything.
 */
#ifndef OUTPOST_ADMIN_HTTP_H
#define OUTPOST_ADMIN_HTTP_H

#include <stddef.h>
#include <sys/types.h>

struct buf;
struct event_base;
struct evhttp_request;

struct admin;
struct admin_req;

typedef void (*admin_fn)(struct admin_req *, void *arg);
/* Called for a request of a listener (not of a worker's socket) once its
 * route is found: 0 when it took the request (it answers it), -1 to let
 * the route answer. */
typedef int (*admin_fanout_fn)(struct admin_req *, void *arg);

/*
 * Reads config_dir/http.ini and binds its listeners (before the privilege
 * drop: Unix sockets are given to uid/gid, -1 for none). NULL with *err
 * NULL when http.ini sets no listener; NULL with a malloc'd *err ("http.ini:
 * listen: ...") on a bad value (exit 78) — *bind_failed tells a listener
 * that could not be bound (exit 1) from a bad value.
 */
struct admin	*admin_new(struct event_base *, const char *config_dir,
		    uid_t uid, gid_t gid, char **err, int *bind_failed);
/* Closes the listeners (requests not yet answered are dropped) and
 * removes the Unix sockets it made. */
void		 admin_free(struct admin *);

/* A route: method ("GET", "POST", ...) and path; a path ending in '/'
 * matches every path below it. The first match wins. */
void		 admin_route(struct admin *, const char *method,
		    const char *path, admin_fn, void *arg);

/* Worker 0 of several: every request of a listener goes to fn first. */
void		 admin_fanout(struct admin *, admin_fanout_fn, void *arg);
/* Worker i's socket (malloc'd): ROOT/run/admin.w<i>.sock, ROOT being
 * config_dir's parent. */
char		*admin_worker_sock(const char *config_dir, unsigned worker);

/* --- a request ----------------------------------------------------------- */
const char	*admin_req_method(const struct admin_req *);
/* The decoded path, without the query. */
const char	*admin_req_path(const struct admin_req *);
/* A query parameter (decoded), or NULL. */
const char	*admin_req_query(const struct admin_req *, const char *key);
/* The body (NUL-terminated copy; len may be NULL). */
const char	*admin_req_body(struct admin_req *, size_t *len);
/* How the client came: "unix", or the TCP peer's address. */
const char	*admin_req_peer(const struct admin_req *);
struct evhttp_request *admin_req_evhttp(struct admin_req *);
/* 1 when it came by a worker's socket (from worker 0). */
int		 admin_req_inner(const struct admin_req *);
/* The request's URI as sent (path and query, still encoded). */
const char	*admin_req_uri(const struct admin_req *);
/* A request header, or NULL. */
const char	*admin_req_header(const struct admin_req *, const char *name);
/* Frees a request never to be answered (its listener is gone). */
void		 admin_req_drop(struct admin_req *);

/* Answers and frees the request: the body as is, with its content type. */
void		 admin_reply(struct admin_req *, int code, const char *type,
		    const void *body, size_t len);
void		 admin_reply_json(struct admin_req *, int code,
		    const struct buf *json);
/* {"error":"..."} with code (4xx, 5xx). */
void		 admin_error(struct admin_req *, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

#endif
