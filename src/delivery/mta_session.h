/*
 * mta_session: one outbound SMTP or LMTP connection (the client side).
 * It connects (from a bound address, within connect_timeout), reads the
 * greeting, sends EHLO (HELO when EHLO is refused; LHLO for LMTP), does
 * STARTTLS when asked and offered, AUTH when credentials are given, and
 * then runs transactions: MAIL (SIZE, BODY=8BITMIME, SMTPUTF8 when
 * offered and asked for; not offered: the ASCII envelope, or
 * MTA_NO_SMTPUTF8), RCPT per recipient, DATA, the dot-stuffed message
 * and the final dot — pipelined when the server offers PIPELINING. The
 * message is pulled from its source a block at a time as the socket takes
 * it, so a connection holds about two blocks whatever the message's size.
 * A connection may carry several transactions (RSET between them).
 * Every reply awaited has a deadline for the whole reply (RFC 5321
 * §4.5.3.2), from the command's send, that bytes trickling in do not
 * extend; the message is written in blocks, each with its own deadline.
 * It reports facts (which step, which reply, which I/O error); deciding
 * what they mean is mta_error.c's job. Implemented by delivery/client*.c
 * (state machine, session, connection, TLS, SASL).
 */
#ifndef OUTPOST_MTA_SESSION_H
#define OUTPOST_MTA_SESSION_H

#include <stddef.h>
#include <sys/types.h>

#include "core/config.h"	/* struct smtp_timeouts */
#include "proto/reply.h"

struct dane_policy;
struct event_base;
struct mta_session;
typedef struct ssl_ctx_st SSL_CTX;

enum mta_tls {
	MTA_TLS_NONE = 0,	/* never STARTTLS (enable_tls off, no_tls_hosts) */
	MTA_TLS_TRY,		/* STARTTLS when offered, no verification */
	MTA_TLS_MUST		/* force_tls_hosts: STARTTLS required and the
				 * certificate verified against tls_name */
};

struct mta_conf {
	const char	*ip;		/* address to connect to (IP literal) */
	const char	*path;		/* or a Unix socket path (ip NULL) */
	unsigned	 port;
	const char	*bind;		/* local address, NULL = any */
	const char	*helo;		/* EHLO/HELO/LHLO name */
	int		 lmtp;
	enum mta_tls	 tls;
	SSL_CTX		*tls_ctx;	/* client context (tls.c) */
	const char	*tls_name;	/* SNI and verification name, NULL */
	struct dane_policy *dane;	/* DANE_VERIFY or DANE_ENCRYPT with
					 * MTA_TLS_MUST (dane.h; the session
					 * takes a reference), else NULL */
	const char	*auth_user;	/* AUTH when both are set */
	const char	*auth_pass;
	const char	*auth_type;	/* NULL: CRAM-MD5, PLAIN, LOGIN in order */
	struct smtp_timeouts timeouts;
	const char	*log_uuid;	/* for log lines */
	int		 verify;	/* tls.ini rejectUnauthorized: a
					 * STARTTLS verifies the certificate
					 * (as with MTA_TLS_MUST) */
};

/* Where a session stopped. */
enum mta_step {
	MTA_CONNECT = 0, MTA_GREETING, MTA_EHLO, MTA_HELO, MTA_STARTTLS,
	MTA_TLS_HANDSHAKE, MTA_AUTH, MTA_RSET, MTA_MAIL, MTA_RCPT, MTA_DATA,
	MTA_DOT, MTA_DONE
};

enum mta_outcome {
	MTA_OK = 0,		/* the transaction ran to its end: see dot and
				 * rcpts (some or all recipients may have
				 * failed; all refused → no DATA) */
	MTA_REPLY,		/* a 3xx/4xx/5xx reply at `step` ended the
				 * transaction (greeting, EHLO+HELO, STARTTLS,
				 * AUTH, MAIL, DATA, dot): see reply */
	MTA_IO,			/* connect failure, timeout, remote close,
				 * socket or TLS error at `step`: see error */
	MTA_BAD_REPLY,		/* a malformed or oversized reply: see error
				 * ("<what is wrong>: <the line>") */
	MTA_TLS_UNAVAILABLE,	/* MTA_TLS_MUST but STARTTLS not offered */
	MTA_TLS_UNVERIFIED,	/* MTA_TLS_MUST and the certificate failed */
	MTA_NO_SMTPUTF8		/* the message needs SMTPUTF8 (no ascii_*
				 * envelope) and the server does not offer
				 * it: nothing sent past EHLO; see error */
};

struct mta_rcpt {
	struct reply	 reply;		/* the RCPT reply; code 0 when not sent */
	struct reply	 lmtp;		/* LMTP: its end-of-data reply */
};

/*
 * A transaction's message (headers, empty line, body; CRLF; not
 * dot-stuffed), read in order from its start. read() puts up to n bytes
 * of the next part into buf and returns the count (> 0), 0 after exactly
 * len bytes, or -1 when it cannot be read: the transaction is then
 * abandoned before the final dot (the connection is closed, so the server
 * discards the partial message) and ends MTA_IO with body_failed set and
 * the error "cannot read the queued message". A source that ends before
 * len bytes or goes past them is treated the same way.
 */
struct mta_body {
	size_t		 len;		/* its size (SIZE=, the log) */
	ssize_t		(*read)(void *arg, char *buf, size_t n);
	void		*arg;
};

struct mta_msg {
	const char	*mail_from;	/* bare, "" for <> */
	const char	**rcpts;	/* bare addresses */
	size_t		 nrcpts;
	const char	*data;		/* the message in memory, CRLF, not */
	size_t		 len;		/* dot-stuffed (when body is NULL) */
	const struct mta_body *body;	/* or its source: the struct is
					 * copied, arg is borrowed until done
					 * runs; each transaction reads a
					 * source from its start */
	int		 smtputf8;	/* SMTPUTF8 on MAIL FROM if offered */
	/* With smtputf8: the envelope in ASCII (A-label domains) for a
	 * server that does not offer SMTPUTF8, when that loses nothing;
	 * NULL when it would: such a server gets MTA_NO_SMTPUTF8. */
	const char	*ascii_from;
	const char	**ascii_rcpts;
	int		 eightbit;	/* BODY=8BITMIME */
};

struct mta_result {
	enum mta_outcome outcome;
	enum mta_step	 step;
	struct reply	 reply;		/* MTA_REPLY: the reply; MTA_OK: the
					 * end-of-data reply (SMTP) */
	char		*error;		/* MTA_IO, MTA_BAD_REPLY, MTA_TLS_*:
					 * what happened, one line */
	const char	*waiting;	/* what the failure interrupted: "the
					 * greeting", "the reply to MAIL FROM"
					 * … (static; NULL on MTA_OK) */
	int		 timed_out;	/* MTA_IO: the deadline passed */
	double		 deadline;	/* and it was this many seconds */
	int		 dot_sent;	/* the whole message and its final dot
					 * reached the server (all bytes
					 * acknowledged): after a failure it
					 * may have been delivered */
	int		 body_failed;	/* MTA_IO: the message could not be
					 * read (mta_body); the server got
					 * part of it, never the final dot */
	struct mta_rcpt	*rcpts;		/* one per recipient of the msg */
	size_t		 nrcpts;
	int		 secured;	/* TLS was in use */
	int		 authenticated;
	char		 local_ip[46];	/* our address on the connection */
	char		 remote_ip[46];
	unsigned	 port;
};

/* A transaction finished: r is valid during the call only. */
typedef void (*mta_done_fn)(void *arg, const struct mta_result *r);

/* Creates a session (nothing is sent yet). Strings in conf are copied. */
struct mta_session *mta_session_new(struct event_base *,
		    const struct mta_conf *);

/*
 * Runs one transaction: on a new session it first connects and runs the
 * greeting, EHLO, STARTTLS and AUTH; on a reused one it sends RSET first.
 * done runs once, never inside this call. The session is reusable
 * afterwards only when mta_session_idle() says so. The envelope is copied;
 * the message (data, or body's arg) is borrowed until done runs.
 */
void	 mta_session_send(struct mta_session *, const struct mta_msg *,
	    mta_done_fn, void *arg);

/* True when the connection is open and ready for another transaction
 * (the last one ran to MTA_OK and the server has not closed since). */
int	 mta_session_idle(const struct mta_session *);

/* Transactions this connection has carried. */
unsigned mta_session_count(const struct mta_session *);

/* fn(arg) runs once when the session is closed (mta_session_close), for
 * whoever counts its connection (traffic shaping); one per session. */
void	 mta_session_on_close(struct mta_session *, void (*fn)(void *),
	    void *arg);

/* Ends the session: QUIT when idle (no wait for the reply), then frees.
 * Not during a transaction (done would not run). */
void	 mta_session_close(struct mta_session *);

#endif
