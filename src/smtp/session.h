/*
 * smtp/session: one inbound SMTP connection, as the server sees it —
 * created on an accepted socket, drained or killed, and reporting its
 * end through ctx.ended. The rest of smtp/ runs it (smtp/conn.h).
 */
#ifndef OUTPOST_SMTP_SESSION_H
#define OUTPOST_SMTP_SESSION_H

#include <sys/socket.h>

struct smtp_session;
struct config;
struct anvil;
struct event_base;
struct queue;

struct session_ctx {
	struct event_base	*base;
	struct config		*cfg;	/* the session takes a reference */
	struct queue		*queue;
	struct vmta		*vmta;	/* pools.ini: the session takes a
					 * reference; NULL: none */
	void			(*ended)(void *conn);	/* as it ends */
	void			*conn;	/* the server's record of it */
	const char		*ip;	/* the client's address, as text */
	const char		*client_key;	/* penalty_key() of it */
	struct anvil		*table;	/* the client table: AUTH failures
					 * per client address */
};

/* Starts a session on an accepted socket (owned from now on). NULL when
 * the session could not be created (fd is closed). */
struct smtp_session *smtp_session_new(const struct session_ctx *, int fd,
		    const struct sockaddr *, socklen_t);
/* Finish the current transaction, then say 421 and close. */
void		 smtp_session_drain(struct smtp_session *);
/* Close now (no reply); its pending queue commit still completes. */
void		 smtp_session_kill(struct smtp_session *);

#endif
