/*
 * smtp_server: the listeners of smtp.ini, accept, connection limits (in
 * total and per client address), and the reception policy the built-in
 * plugins install (relay ACL, AUTH back-end, STARTTLS context). Sessions
 * (smtp_session.c) are created here and report back when they end.
 */
#ifndef OUTPOST_SMTP_SERVER_H
#define OUTPOST_SMTP_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

struct config;
struct event_base;
struct queue;
struct smtp_server;
typedef struct ssl_ctx_st SSL_CTX;

/* --- reception policy, set by built-in plugins during init ------------- */

#define AUTH_PLAIN	0x01
#define AUTH_LOGIN	0x02
#define AUTH_CRAM_MD5	0x04

struct auth_backend {
	unsigned	 methods;		/* AUTH_* */
	/* 1 when user/pass are valid, else 0. */
	int		(*check_plain)(void *, const char *user,
			    const char *pass);
	/* CRAM-MD5: 1 when hex_digest is HMAC-MD5(password, challenge). */
	int		(*check_cram)(void *, const char *user,
			    const char *challenge, const char *hex_digest);
	void		*data;
};

/* Answers whether a client address may relay (the relay plugin). */
typedef int (*relay_fn)(const struct sockaddr *, void *data);

/* Whether an AUTH method may be offered: configured, and PLAIN or LOGIN
 * (clear-text passwords) only under TLS or to a loopback client. */
int	 auth_method_allowed(unsigned methods, unsigned method, int tls,
	    int loopback);

void	 reception_set_relay(relay_fn, void *data);
void	 reception_set_auth(const struct auth_backend *);	/* NULL: none */
void	 reception_set_tls(SSL_CTX *);		/* referenced; NULL: none */

/* --- server -------------------------------------------------------------- */

typedef void (*smtp_idle_fn)(void *arg);

/* Opens every smtp.ini listener. NULL with *err (malloc'd) on failure. */
struct smtp_server *smtp_server_start(struct event_base *, struct config *,
		    struct queue *, char **err);
/* A new configuration generation for sessions that start from now on. */
void		 smtp_server_config(struct smtp_server *, struct config *);
/* Closes the listeners and asks every session to end after its current
 * transaction; idle() runs once no session is left. */
void		 smtp_server_drain(struct smtp_server *, smtp_idle_fn, void *);
/* Ends every session at once and frees the server. */
void		 smtp_server_free(struct smtp_server *);

#endif
