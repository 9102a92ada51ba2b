/*
 * client_session: the object behind mta_session.h — struct mta_session, its
 * states, its lifetime (references) and how a transaction ends. Shared by
 * the client's files only (client.c drives it); nothing else includes it.
 */
#ifndef OUTPOST_CLIENT_SESSION_H
#define OUTPOST_CLIENT_SESSION_H

#include <stddef.h>

#include "delivery/client_conn.h"
#include "delivery/mta_session.h"

struct event;

enum client_state {
	ST_NEW,			/* not connected yet */
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,		/* or LHLO */
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_AUTH,
	ST_RSET,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_DOT,			/* body and "." sent, end-of-data reply(s) */
	ST_DOT_IGNORED,		/* every RCPT failed but DATA got 354 */
	ST_IDLE,		/* between transactions */
	ST_DEAD			/* the connection is gone */
};

struct mta_session {
	int		 refs;
	struct event_base *base;

	/* configuration, copied */
	char		*ip, *path, *bind, *helo, *tls_name;
	char		*auth_user, *auth_pass, *auth_type, *uuid;
	char		*peer;		/* "ip:port", "[v6]:port" or the path */
	unsigned	 port;
	int		 lmtp;
	enum mta_tls	 tls;
	int		 verify;	/* verify the certificate */
	SSL_CTX		*tls_ctx;
	struct dane_policy *dane;	/* a reference, or NULL */
	struct smtp_timeouts t;		/* every one set */

	/* the connection */
	struct client_conn conn;
	struct event	*defer;		/* finish() outside mta_session_send */
	enum client_state state;
	unsigned	 caps, mechs;	/* EHLO's; mechs: CLIENT_AUTH_* bits */
	size_t		 size_max;
	int		 secured, authenticated, closed;
	unsigned	 count;
	void		(*on_close)(void *);	/* mta_session_on_close */
	void		*on_close_arg;

	/* the transaction */
	mta_done_fn	 done;
	void		*arg;
	char		*mail_from;
	char		**rcpts;
	size_t		 nrcpts;
	char		*ascii_from;	/* mta_msg's; NULL when none */
	char		**ascii_rcpts;
	struct mta_body	 body;		/* the message's source; its arg is
					 * borrowed until done */
	struct client_mem {		/* the source of a message in memory */
		const char	*p;
		size_t		 len, off;
	}		 mem;
	int		 smtputf8, eightbit;
	struct mta_result res;
	size_t		 rcpt_i, nok, lmtp_i;
	unsigned	 mech;
	int		 auth_round;

	/* a failure found inside mta_session_send, reported by on_defer */
	enum mta_outcome d_outcome;
	enum mta_step	 d_step;
	char		*d_error;
};

/* Configuration copied; the connection will call readcb/eventcb. */
struct mta_session *client_session_new(struct event_base *,
		    const struct mta_conf *, bufferevent_data_cb readcb,
		    bufferevent_event_cb eventcb);
/* The envelope of a new transaction copied in (aborts when one runs). */
void	 client_session_begin(struct mta_session *, const struct mta_msg *,
	    mta_done_fn, void *arg);
void	 client_session_unref(struct mta_session *);
/* The server does not offer SMTPUTF8: the envelope becomes its ASCII
 * form. -1 when there is none (the message needs SMTPUTF8). */
int	 client_session_downgrade(struct mta_session *);

/* What the current state waits on ("lhlo" for LMTP), and its step. */
const char *client_session_state_name(const struct mta_session *);
enum mta_step client_session_step(const struct mta_session *);
/* The same for texts: "the greeting", "the reply to MAIL FROM" … */
const char *client_session_waiting(const struct mta_session *);
/* Arms the deadline of the current state (RFC 5321 §4.5.3.2), from now;
 * while the message is being written its blocks have their own. */
void	 client_session_arm(struct mta_session *);

/* The transaction is over: report it (done may close the session); the
 * reply and the error are taken. An MTA_OK leaves the connection idle when
 * it can; else it is closed, with QUIT when quit is set. */
void	 client_session_finish(struct mta_session *, enum mta_outcome,
	    enum mta_step, struct reply *, char *error, int quit);
/* A failure inside mta_session_send: finished from the loop. */
void	 client_session_defer_fail(struct mta_session *, enum mta_outcome,
	    enum mta_step, char *error);
/* The connection is gone (ST_DEAD), closed with QUIT when quit is set. */
void	 client_session_drop(struct mta_session *, int quit);

/* The recipients' replies: a RCPT reply (taken) for the next recipient;
 * an LMTP end-of-data reply (taken) for the next accepted one, 1 when
 * every accepted recipient has its answer. */
void	 client_session_rcpt_reply(struct mta_session *, struct reply *);
int	 client_session_lmtp_reply(struct mta_session *, struct reply *);

#endif
