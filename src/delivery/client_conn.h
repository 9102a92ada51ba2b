/*
 * client_conn: the connection under a client session — the socket and its
 * bufferevent stack, the commands of one write, the timeouts, the message
 * body's drain, reading replies, and the close (with QUIT, lingering).
 * It knows no SMTP state: the session's callbacks are given to it.
 */
#ifndef OUTPOST_CLIENT_CONN_H
#define OUTPOST_CLIENT_CONN_H

#include <stddef.h>
#include <sys/time.h>

#include <event2/bufferevent.h>

#include "lib/buf.h"

struct evbuffer;
struct evbuffer_cb_entry;
struct reply;

struct client_conn {
	struct event_base	*base;
	struct bufferevent	*bev;		/* top of the stack (TLS
						 * filter); NULL once closed */
	const char		*peer;		/* borrowed from the session: */
	const char		*uuid;		/* for error texts and logs */
	struct timeval		 timeout;
	bufferevent_data_cb	 readcb;	/* the session's callbacks, */
	bufferevent_event_cb	 eventcb;	/* installed on each bev */
	void			*cbarg;
	struct buf		 out;		/* the commands of one write */
	char			 local_ip[46], remote_ip[46];
	int			 body_queued;	/* the body is in the output */
	size_t			 pending;	/* output left at the last
						 * timeout */
	struct evbuffer		*drain_buf;	/* the socket's output,
						 * watched */
	struct evbuffer_cb_entry *drain_cb;
};

void	 client_conn_init(struct client_conn *, struct event_base *,
	    const char *peer, const char *uuid, const struct timeval *timeout,
	    bufferevent_data_cb, bufferevent_event_cb, void *cbarg);
/* Frees the bufferevent (no QUIT) and the output buffer. */
void	 client_conn_clear(struct client_conn *);

/* Starts a non-blocking connect to path (a Unix socket) or ip:port, from
 * bind when given; NULL, or the error (malloc'd). */
char	*client_conn_connect(struct client_conn *, const char *ip,
	    const char *path, unsigned port, const char *bind);
/* The connect completed: addresses noted, logged, reading enabled. */
void	 client_conn_connected(struct client_conn *);

/* Queues a command line; `shown` replaces it in the log (secrets). */
void	 client_conn_cmd(struct client_conn *, const char *shown,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The queued commands leave in one write. */
void	 client_conn_flush(struct client_conn *);
/* The body, dot-stuffed, and the final dot, by reference: data must stay
 * until the transaction ends. Its drain re-arms the timeouts. */
void	 client_conn_send_body(struct client_conn *, const char *data,
	    size_t len);
/* The body is queued and not all handed to the socket yet. */
int	 client_conn_body_unsent(const struct client_conn *);
void	 client_conn_unwatch(struct client_conn *);

void	 client_conn_timeouts(struct client_conn *, int on);
/* After a timeout: 1 when the output has shrunk since the last one (the
 * message is still leaving), the timeouts re-armed; 0 when it is real. */
int	 client_conn_progress(struct client_conn *, short what);
/* Between transactions: no timeouts, but an EOF or error is noticed. */
void	 client_conn_idle(struct client_conn *);

/* The next reply in the input: 1 (r filled, its lines logged and taken
 * from the input), 0 (not complete yet), -1 (malformed or too long: *bad,
 * logged, is the caller's to free). */
int	 client_conn_reply(struct client_conn *, struct reply *r, char **bad);

/* Closes the connection: with QUIT, handed to a linger, when quit is set
 * and the output holds no reference to the caller's message; at once
 * otherwise. bev is NULL afterwards. */
void	 client_conn_close(struct client_conn *, int quit);

#endif
