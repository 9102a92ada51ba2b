/*
 * smtp/server: listeners (large backlog), the connection limits of
 * connection.ini (421 and close before any session exists; in total and
 * per client address as lib/penalty.h keys it, counted in the client
 * table every worker shares, lib/anvil.h, which holds the AUTH failures
 * per client address too), and the live sessions, for draining.
 * Sessions tell their end through ctx.ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "core/config.h"
#include "lib/anvil.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "core/nodes.h"
#include "core/worker.h"
#include "core/vmta.h"
#include "lib/penalty.h"
#include "core/metrics.h"
#include "smtp/server.h"
#include "smtp/session.h"

#define BACKLOG		4096

struct conn {
	struct conn		*prev, *next;
	struct smtp_server	*srv;
	struct smtp_session	*session;
	unsigned		 slot;		/* in the client table */
};

struct smtp_server {
	struct event_base	*base;
	struct config		*cfg;
	struct queue		*queue;
	struct vmta		*vmta;		/* a reference, or NULL */
	struct evconnlistener	**ls;
	size_t			 nls;
	struct event		*retry;		/* re-enables after EMFILE */
	struct conn		*conns;
	size_t			 nconns;	/* this process's */
	struct anvil		*table;		/* the workers' or own */
	struct anvil		*own;		/* a single process's */
	unsigned		 col;		/* this process's column */
	int			 draining;
	smtp_idle_fn		 idle;
	void			*idle_arg;
};

/* --- accept -------------------------------------------------------------------- */

static void	 session_ended(void *);

/* Refuses a connection with one line (the socket is new: the write fits). */
static void
refuse(int fd, const char *text)
{
	ssize_t n = write(fd, text, strlen(text));

	(void)n;
	close(fd);
}

static void
refuse_busy(int fd, const struct config_core *c)
{
	char line[256];

	snprintf(line, sizeof(line), "421 4.7.0 %s Too many connections, try "
	    "again later\r\n", c->me);
	refuse(fd, line);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct smtp_server *srv = arg;
	const struct config_core *c = srv->cfg->core;
	struct session_ctx ctx;
	struct conn *conn;
	char ip[INET6_ADDRSTRLEN] = "?", key[PENALTY_KEY_LEN], line[256];
	unsigned n, slot;

	(void)l;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip,
		    sizeof(ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip,
		    sizeof(ip));
	if (srv->draining) {
		snprintf(line, sizeof(line), "421 4.3.2 %s Service shutting "
		    "down\r\n", c->me);
		refuse(fd, line);
		return;
	}
	penalty_key(sa, key);
	switch (anvil_connect(srv->table, srv->col, key, c->max_connections,
	    c->max_connections_per_ip, &n, &slot)) {
	case ANVIL_OK:
		break;
	case ANVIL_PER_KEY:
		log_warn("core", NULL, "refused ip=%s: %u connections from %s "
		    "(connection.ini [max] connections_per_ip)", ip, n, key);
		snprintf(line, sizeof(line), "421 4.7.0 %s Too many "
		    "connections from your address, try again later\r\n",
		    c->me);
		refuse(fd, line);
		return;
	case ANVIL_FULL:
		log_warn("core", NULL, "refused ip=%s: the client table is full "
		    "(%u connections; it holds as many client addresses as "
		    "connection.ini [max] connections at start)", ip, n);
		refuse_busy(fd, c);
		return;
	default:
		log_warn("core", NULL, "refused ip=%s: %u connections "
		    "(connection.ini [max] connections)", ip, n);
		refuse_busy(fd, c);
		return;
	}
	conn = xcalloc(1, sizeof(*conn));
	conn->srv = srv;
	conn->slot = slot;
	conn->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = conn;
	srv->conns = conn;
	srv->nconns++;
	metric_add(m_inbound_total, NULL, 1);
	metric_set(m_inbound_open, NULL, (double)srv->nconns);
	ctx.base = srv->base;
	ctx.cfg = srv->cfg;
	ctx.queue = srv->queue;
	ctx.vmta = srv->vmta;
	ctx.ended = session_ended;
	ctx.conn = conn;
	ctx.ip = ip;
	ctx.client_key = key;
	ctx.table = srv->table;
	conn->session = smtp_session_new(&ctx, fd, sa, (socklen_t)salen);
	if (conn->session == NULL)
		session_ended(conn);
}

/* A session has ended (its ctx.ended), or could not start. */
static void
session_ended(void *arg)
{
	struct conn *conn = arg;
	struct smtp_server *srv = conn->srv;

	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		srv->conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	anvil_disconnect(srv->table, srv->col, conn->slot);
	free(conn);
	srv->nconns--;
	metric_set(m_inbound_open, NULL, (double)srv->nconns);
	if (srv->draining && srv->nconns == 0 && srv->idle != NULL)
		srv->idle(srv->idle_arg);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *srv = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < srv->nls; i++)
		evconnlistener_enable(srv->ls[i]);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS): pause listening briefly
 * instead of spinning on a ready socket. */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct smtp_server *srv = arg;
	struct timeval tv = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	log_error("core", NULL, "accept: %s; pausing the listeners for 1s",
	    evutil_socket_error_to_string(err));
	for (size_t i = 0; i < srv->nls; i++)
		evconnlistener_disable(srv->ls[i]);
	evtimer_add(srv->retry, &tv);
}

static int
listen_on(struct smtp_server *srv, const struct listen_addr *la, char **err)
{
	struct addrinfo hints, *ai = NULL;
	struct evconnlistener *l;
	int rc, v6, saved;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(la->host, la->port, &hints, &ai)) != 0) {
		*err = xasprintf("config/smtp.ini: listen: %s:%s: %s",
		    la->host, la->port, gai_strerror(rc));
		return -1;
	}
	l = evconnlistener_new_bind(srv->base, on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	    (nodes_count() > 1 ? LEV_OPT_REUSEABLE_PORT : 0), BACKLOG,
	    ai->ai_addr, (int)ai->ai_addrlen);
	saved = errno;
	freeaddrinfo(ai);
	v6 = strchr(la->host, ':') != NULL;
	if (l == NULL) {
		*err = xasprintf("config/smtp.ini: listen: cannot listen on "
		    "%s%s%s:%s: %s", v6 ? "[" : "", la->host, v6 ? "]" : "",
		    la->port, strerror(saved));
		return -1;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	srv->ls = xreallocarray(srv->ls, srv->nls + 1, sizeof(*srv->ls));
	srv->ls[srv->nls++] = l;
	log_notice("core", NULL, "listening on %s%s%s:%s", v6 ? "[" : "",
	    la->host, v6 ? "]" : "", la->port);
	return 0;
}

struct smtp_server *
smtp_server_start(struct event_base *base, struct config *cfg,
    struct queue *q, char **err)
{
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->cfg = config_ref(cfg);
	srv->queue = q;
	srv->retry = evtimer_new(base, on_retry, srv);
	/* A worker counts in its column of the supervisor's table; a single
	 * process in its own. */
	srv->col = nodes_worker() >= 0 ? (unsigned)nodes_worker() : 0;
	if ((srv->table = nodes_anvil()) == NULL &&
	    (srv->table = srv->own = nodes_anvil_new(cfg->core, 1)) == NULL) {
		*err = xasprintf("the client table: %s", strerror(errno));
		smtp_server_free(srv);
		return NULL;
	}
	for (size_t i = 0; i < cfg->core->nlisten; i++)
		if (listen_on(srv, &cfg->core->listen[i], err) != 0) {
			smtp_server_free(srv);
			return NULL;
		}
	return srv;
}

void
smtp_server_set_queue(struct smtp_server *srv, struct queue *q)
{
	srv->queue = q;
}

void
smtp_server_set_vmta(struct smtp_server *srv, struct vmta *v)
{
	if (v != NULL)
		vmta_ref(v);
	vmta_unref(srv->vmta);
	srv->vmta = v;
}

void
smtp_server_config(struct smtp_server *srv, struct config *cfg)
{
	config_ref(cfg);
	config_unref(srv->cfg);
	srv->cfg = cfg;
}

static void
close_listeners(struct smtp_server *srv)
{
	for (size_t i = 0; i < srv->nls; i++)
		evconnlistener_free(srv->ls[i]);
	free(srv->ls);
	srv->ls = NULL;
	srv->nls = 0;
}

void
smtp_server_drain(struct smtp_server *srv, smtp_idle_fn idle, void *arg)
{
	srv->draining = 1;
	srv->idle = idle;
	srv->idle_arg = arg;
	close_listeners(srv);
	for (struct conn *c = srv->conns; c != NULL; c = c->next)
		smtp_session_drain(c->session);
	if (srv->nconns == 0)
		idle(arg);
}

void
smtp_server_free(struct smtp_server *srv)
{
	if (srv == NULL)
		return;
	srv->idle = NULL;
	while (srv->conns != NULL)
		smtp_session_kill(srv->conns->session);
	close_listeners(srv);
	event_free(srv->retry);
	anvil_free(srv->own);
	config_unref(srv->cfg);
	vmta_unref(srv->vmta);
	free(srv);
}
