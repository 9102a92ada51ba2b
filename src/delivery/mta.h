/*
 * mta: the delivery side, as main.c sees it. It takes the queue's entries
 * (through the scheduler); each due entry becomes an attempt (attempt.c:
 * send_email hook, route, MX walk over pooled connections, outcomes),
 * whose verdict (verdict.c: delivered / deferred / bounce hooks, DSN,
 * records) is made durable before the next attempt. mta_send_email()
 * queues mail generated inside Outpost (inject.c does the work).
 */
#ifndef OUTPOST_MTA_H
#define OUTPOST_MTA_H

#include <stddef.h>

struct config;
struct event_base;
struct queue;
struct mta;

/* Creates the delivery side and takes the queue's entries. NULL with
 * *err (malloc'd) when net-utils.ini or tls.ini [outbound] is bad. */
struct mta	*mta_new(struct event_base *, struct config *, struct queue *,
		    char **err);
/* Cancels attempts in flight (their entries stay queued as they are on
 * disk) and frees everything. */
void		 mta_free(struct mta *);
/* A reloaded configuration (outbound.ini: disabled, concurrency_max,
 * intervals...). */
void		 mta_configure(struct mta *, struct config *);
/* SIGHUP: every deferred mail is tried now. */
void		 mta_flush(struct mta *);
/* Shutdown: start nothing new; done runs once no attempt is in flight. */
void		 mta_drain(struct mta *, void (*done)(void *), void *arg);

/* mta_send_email's answer: OP_OK "Message Queued (<id>)", or OP_DENY /
 * OP_DENYSOFT with the reason. */
typedef void (*send_email_done_fn)(void *arg, int code, const char *msg);

/*
 * Seed 003's outbound.send_email: queues a message from `from` ("" for
 * <>) to the recipients `to`, through pre_send_trans_email, the outbound
 * Received/Message-Id/Date headers and a durable commit. flags: MSG_*
 * of message.h (dot_stuffed, remove_msgid, remove_date). notes: NULL or
 * a NULL-terminated key, value, key, value... list kept with the mail.
 * done may be NULL; it never runs inside this call.
 */
void		 mta_send_email(struct mta *, const char *from,
		    const char *const *to, size_t nto, const char *contents,
		    size_t len, unsigned flags, const char *const *notes,
		    send_email_done_fn done, void *arg);

#endif
