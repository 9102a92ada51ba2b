/*
 * inject: queues mail generated inside Outpost (plugins' op_send_email,
 * the DSNs) the way reception queues mail: pre_send_trans_email hook,
 * the outbound Received/Message-Id/Date headers, a durable commit.
 */
#ifndef OUTPOST_INJECT_H
#define OUTPOST_INJECT_H

#include <stddef.h>

struct config;
struct event_base;
struct inject;
struct queue;

/* inject_send's answer: OP_OK "Message Queued (<id>)", or OP_DENY /
 * OP_DENYSOFT with the reason. */
typedef void (*inject_done_fn)(void *arg, int code, const char *msg);

/* Creates the injector; op_send_email() queues through the newest one
 * until it is freed. */
struct inject	*inject_new(struct event_base *, struct config *,
		    struct queue *);
/* Jobs in flight point to it: free it when the loop will not run them
 * again (shutdown). NULL is fine. */
void		 inject_free(struct inject *);
/* A reloaded configuration: for the jobs that start from now on. */
void		 inject_configure(struct inject *, struct config *);

/*
 * Seed 003's outbound.send_email: queues a message from `from` ("" for <>) to the recipients `to`.
 * flags: MSG_* of message.h (dot_stuffed, remove_msgid, remove_date).
 * notes: NULL or a NULL-terminated key, value, key, value... list kept
 * with the mail. done may be NULL; it never runs inside this call.
 */
void		 inject_send(struct inject *, const char *from,
		    const char *const *to, size_t nto, const char *contents,
		    size_t len, unsigned flags, const char *const *notes,
		    inject_done_fn done, void *arg);

#endif
