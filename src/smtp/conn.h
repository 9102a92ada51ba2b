/*
 * smtp/conn: the inbound session's own state, shared by the files of
 * smtp/ that run it (session, commands, accept, auth) — the struct, the
 * states, and the helpers that send replies and move the state machine.
 * Nothing outside smtp/ includes it; it includes nothing above data.h.
 */
#ifndef OUTPOST_SMTP_CONN_H
#define OUTPOST_SMTP_CONN_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/config.h"
#include "lib/penalty.h"
#include "lib/util.h"
#include "plugins/plugin.h"
#include "smtp/data.h"

struct event;
struct event_base;
struct queue;
struct vmta;
struct smtp_tx;

enum state {
	S_HELO,		/* before EHLO/HELO */
	S_IDLE,		/* no transaction */
	S_MAIL,		/* after MAIL */
	S_RCPT,		/* after a RCPT */
	S_DATA,		/* reading the message */
	S_AUTH,		/* reading a SASL response */
	S_TLS,		/* TLS handshake */
	S_WAIT,		/* a hook, the queue, or a delay */
	S_CLOSING	/* flushing the last reply */
};

enum sasl { SASL_NONE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS,
	SASL_CRAM };

struct smtp_session;

/* Reads what input there is (the read loop, smtp/session.c). */
typedef void (*conn_input_fn)(struct smtp_session *);

struct smtp_session {
	unsigned		 refs;
	enum state		 state;
	struct event_base	*base;
	struct config		*cfg;		/* a reference */
	struct queue		*queue;
	struct vmta		*vmta;		/* pools.ini: a reference, or
						 * NULL */
	conn_input_fn		 input;
	void			(*ended_cb)(void *);	/* tells the server */
	void			*ended_arg;
	struct bufferevent	*bev;
	char			 uuid[UUID_LEN + 1];
	char			 ip[INET6_ADDRSTRLEN];
	char			 client_key[PENALTY_KEY_LEN];	/* its address or /64 */
	struct sockaddr_storage	 sa;
	int			 loopback;
	int			 acl_relay;	/* the relay plugin's answer */
	int			 relaying;
	int			 hook_pending;	/* a hook holds view and tx */
	struct op_txn		 view;
	int			 esmtp;
	int			 tls;
	int			 draining;
	int			 ended;
	int			 discarding;	/* the rest of a too-long line */
	char			*helo;
	char			*auth_user;
	unsigned		 unknown;	/* unrecognised commands */
	unsigned		 auth_failures;
	struct anvil		*table;		/* the server's client table */
	unsigned		 close_checks;
	unsigned		 txns;
	enum sasl		 sasl;
	char			*sasl_user;
	char			*challenge;
	struct event		*delay;
	struct event		*flush;		/* writes replies (plain sockets) */
	struct data_reader	 data;
	struct smtp_tx		*tx;
};

static inline const struct config_core *
conn_core(const struct smtp_session *s)
{
	return s->cfg->core;
}

/* Sets up the connection's I/O on fd (s->base set); -1 when it cannot. */
int	 conn_open(struct smtp_session *, int fd);
/* Installs the loop callbacks on s->bev (again after STARTTLS). */
void	 conn_set_io(struct smtp_session *);
void	 conn_enter(struct smtp_session *, enum state);
void	 conn_reply(struct smtp_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Ends the session once the pending output is written. */
void	 conn_close(struct smtp_session *);
/* Parks the session (no input read) until conn_resume(). */
void	 conn_wait(struct smtp_session *);
void	 conn_resume(struct smtp_session *, enum state);
/* Frees the transaction, if any. */
void	 conn_tx_reset(struct smtp_session *);
/* Ends the session now: frees its I/O, tells the server, drops the
 * loop's reference. */
void	 conn_end(struct smtp_session *);
void	 conn_unref(struct smtp_session *);

#endif
