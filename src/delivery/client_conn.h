/*
 * client_conn: the connection under a client session — the socket and its
 * bufferevent stack, the commands of one write, the deadline of the reply
 * awaited, the message body fed in blocks, reading replies, and the close
 * (with QUIT, lingering). It knows no SMTP state: the session's callbacks
 * are given to it, and the deadline's expiry reaches the session as a
 * BEV_EVENT_TIMEOUT event.
 */
#ifndef OUTPOST_CLIENT_CONN_H
#define OUTPOST_CLIENT_CONN_H

#include <stddef.h>

#include <event2/bufferevent.h>

#include "lib/buf.h"
#include "delivery/mta_session.h"

struct evbuffer;
struct evbuffer_cb_entry;
struct reply;

struct client_conn {
	struct event_base	*base;
	struct bufferevent	*bev;		/* top of the stack (TLS
						 * filter); NULL once closed */
	const char		*peer;		/* borrowed from the session: */
	const char		*uuid;		/* for error texts and logs */
	bufferevent_data_cb	 readcb;	/* the session's callbacks, */
	bufferevent_event_cb	 eventcb;	/* installed on each bev */
	void			*cbarg;
	struct buf		 out;		/* the commands of one write */
	char			 local_ip[46], remote_ip[46];
	struct event		*deadline;	/* the reply awaited, or the
						 * block being written */
	double			 deadline_s;	/* its length, for texts */
	double			 quit_s;	/* QUIT's deadline */
	/* The message: pulled from its source a block at a time, each
	 * block dot-stuffed into the output once the last has been handed
	 * to the kernel. */
	int			 body_queued;	/* a body was given */
	int			 feeding;	/* blocks or the final dot still
						 * to hand over */
	int			 dot_written;	/* the final dot is written */
	int			 body_failed;	/* the source failed */
	struct mta_body		 src;
	size_t			 src_read;	/* bytes taken from it */
	int			 at_bol;	/* next byte starts a line */
	unsigned		 tail;		/* its last two bytes */
	double			 block_s, dot_s;
	struct evbuffer		*drain_buf;	/* the socket's output,
						 * watched */
	struct evbuffer_cb_entry *drain_cb;
};

/* quit: seconds a closing connection waits for the answer to QUIT. */
void	 client_conn_init(struct client_conn *, struct event_base *,
	    const char *peer, const char *uuid, double quit,
	    bufferevent_data_cb, bufferevent_event_cb, void *cbarg);
/* Frees the bufferevent (no QUIT), the deadline and the buffers. */
void	 client_conn_clear(struct client_conn *);

/* Starts a non-blocking connect to path (a Unix socket) or ip:port, from
 * bind when given, with `timeout` seconds to complete; NULL, or the error
 * (malloc'd). */
char	*client_conn_connect(struct client_conn *, const char *ip,
	    const char *path, unsigned port, const char *bind,
	    double timeout);
/* The connect completed: addresses noted, logged, reading enabled. */
void	 client_conn_connected(struct client_conn *);

/* Queues a command line; `shown` replaces it in the log (secrets). */
void	 client_conn_cmd(struct client_conn *, const char *shown,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The queued commands leave in one write. */
void	 client_conn_flush(struct client_conn *);
/*
 * The deadline of what is awaited now: `secs` from now (not extended by
 * what arrives meanwhile), replacing any other; 0 disarms it. Its expiry
 * calls the event callback with BEV_EVENT_TIMEOUT.
 */
void	 client_conn_deadline(struct client_conn *, double secs);

/* Raw bytes pulled from a body source per block (dot-stuffed, at most
 * twice as many leave). */
#define CLIENT_CONN_BLOCK	65536

/*
 * The body, dot-stuffed, and the final dot: src (copied; its arg must
 * stay until the transaction ends) is read CLIENT_CONN_BLOCK bytes at a
 * time, each block written once the previous one has left our buffers,
 * with a deadline of `block` seconds to leave them too (the receiver must
 * keep reading); once the final dot has left them, the deadline is `dot`
 * seconds for the reply. When the source fails (see struct mta_body) the
 * final dot is never written: body_failed is set and the event callback
 * is called from the loop with BEV_EVENT_ERROR | BEV_EVENT_WRITING.
 */
void	 client_conn_send_body(struct client_conn *, const struct mta_body *,
	    double block, double dot);
/* Some of the body is still in our hands (not given to the kernel), or
 * it was abandoned: QUIT would land inside the message. */
int	 client_conn_body_unsent(const struct client_conn *);
/* The whole body and its final dot reached the server: handed over, and
 * the kernel's send queue empty (every byte acknowledged). After this,
 * the server may have taken the message even if no reply comes. */
int	 client_conn_dot_sent(const struct client_conn *);
/* The transaction is over: the body's source forgotten, its drain
 * unwatched, the deadline disarmed. */
void	 client_conn_unwatch(struct client_conn *);

/* Between transactions: no deadline, but an EOF or error is noticed. */
void	 client_conn_idle(struct client_conn *);

/* The next reply in the input: 1 (r filled, its lines logged and taken
 * from the input), 0 (not complete yet), -1 (malformed or too long: *bad,
 * logged, is the caller's to free). */
int	 client_conn_reply(struct client_conn *, struct reply *r, char **bad);

/* Closes the connection: with QUIT, handed to a linger, when quit is set
 * and no part of the message is unsent; at once otherwise. bev is NULL
 * afterwards. */
void	 client_conn_close(struct client_conn *, int quit);

#endif
