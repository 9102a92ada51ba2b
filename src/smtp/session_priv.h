/*
 * smtp_session_priv: what smtp_session.c shares with smtp_auth.c — the
 * session struct and the few helpers that send replies and move the state
 * machine. Nothing else includes it.
 */
#ifndef OUTPOST_SMTP_SESSION_PRIV_H
#define OUTPOST_SMTP_SESSION_PRIV_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/config.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "plugins/plugin.h"
#include "smtp/data.h"
#include "smtp/session.h"

struct event;
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

struct smtp_session {
	unsigned		 refs;
	enum state		 state;
	struct session_ctx	 ctx;
	struct bufferevent	*bev;
	char			 uuid[UUID_LEN + 1];
	char			 ip[INET6_ADDRSTRLEN];
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
session_core(const struct smtp_session *s)
{
	return s->ctx.cfg->core;
}

void	 session_enter(struct smtp_session *, enum state);
void	 session_reply(struct smtp_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Ends the session once the pending output is written. */
void	 session_close(struct smtp_session *);
/* Parks the session (no input read) until session_resume(). */
void	 session_wait(struct smtp_session *);
void	 session_resume(struct smtp_session *, enum state);

/* smtp_auth.c */
int	 auth_offered(const struct smtp_session *, unsigned method);
void	 auth_command(struct smtp_session *, struct slice arg);
void	 auth_response(struct smtp_session *, struct slice line);
void	 auth_abort(struct smtp_session *);

#endif
