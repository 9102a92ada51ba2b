/*
 * smtp/server: the listeners of smtp.ini, accept, connection limits (in
 * total and per client address). Sessions (smtp/session.c) are created
 * here and report back through a callback when they end. Only main.c
 * includes this header; the reception policy is smtp/policy.h.
 */
#ifndef OUTPOST_SMTP_SERVER_H
#define OUTPOST_SMTP_SERVER_H

#include <stddef.h>

struct config;
struct event_base;
struct queue;
struct smtp_server;
struct vmta;

typedef void (*smtp_idle_fn)(void *arg);

/* Opens every smtp.ini listener. NULL with *err (malloc'd) on failure.
 * The queue may be NULL until smtp_server_set_queue(), which must come
 * before the loop runs: main binds as root, then drops, then opens it. */
struct smtp_server *smtp_server_start(struct event_base *, struct config *,
		    struct queue *, char **err);
void		 smtp_server_set_queue(struct smtp_server *, struct queue *);
/* pools.ini (a reference is taken) for sessions that start from now on;
 * NULL: none. */
void		 smtp_server_set_vmta(struct smtp_server *, struct vmta *);
/* A new configuration generation for sessions that start from now on. */
void		 smtp_server_config(struct smtp_server *, struct config *);
/* Closes the listeners and asks every session to end after its current
 * transaction; idle() runs once no session is left. */
void		 smtp_server_drain(struct smtp_server *, smtp_idle_fn, void *);
/* Ends every session at once and frees the server. */
void		 smtp_server_free(struct smtp_server *);

#endif
