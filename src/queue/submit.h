/*
 * queue/submit: one message on its way into the queue — the envelope,
 * the message, the headers added at queueing, the hooks' view and the
 * split into queue entries. Used by reception (smtp/) and by mail made
 * inside Outpost (DSNs, plugins' send_email). No I/O.
 */
#ifndef OUTPOST_QUEUE_SUBMIT_H
#define OUTPOST_QUEUE_SUBMIT_H

#include <stddef.h>

#include "lib/buf.h"
#include "proto/smtp_parse.h"
#include "queue/entry.h"
#include "queue/queue.h"

struct smtp_tx;
struct queue_job;
struct op_txn;

struct smtp_tx	*tx_new(const char *conn_uuid, unsigned n,
		    const struct smtp_addr *from, unsigned flags);
/* Frees tx; a pending commit's callback is cancelled. */
void		 tx_free(struct smtp_tx *);

const char	*tx_uuid(const struct smtp_tx *);	/* <conn>.<n> */
const char	*tx_mail_from(const struct smtp_tx *);	/* "" for <> */
unsigned	 tx_flags(const struct smtp_tx *);	/* QE_* */
size_t		 tx_rcpt_count(const struct smtp_tx *);
const char	*tx_rcpt(const struct smtp_tx *, size_t i); /* local@domain */
void		 tx_add_rcpt(struct smtp_tx *, const struct smtp_addr *);
void		 tx_set_job(struct smtp_tx *, struct queue_job *);

/* Sets the message directly (mail generated inside Outpost): CRLF line
 * ends, not dot-stuffed; copied. */
void		 tx_set_message(struct smtp_tx *, const char *, size_t);
/* Takes a received message (msg is left empty) whose first trace_len
 * bytes are its trace header. */
void		 tx_put_message(struct smtp_tx *, struct buf *msg,
		    size_t trace_len);
/* Removes the first header called name (with its folded lines) from the
 * message, its value appended to value (unless NULL): 1, or 0 when there
 * is none. */
int		 tx_take_header(struct smtp_tx *, const char *name,
		    struct buf *value);
/* A note (key=value) every queue entry of the message carries; copied. */
void		 tx_add_note(struct smtp_tx *, const char *key,
		    const char *value);
/* Prepends `Received: (<received_header>); <date>` (unless NULL) before
 * the trace header, and adds Message-Id <uuid@me> and Date after it when
 * the message has none. */
void		 tx_add_queue_headers(struct smtp_tx *,
		    const char *received_header, const char *me);
/* The hooks' view; valid until tx changes. */
void		 tx_view(struct smtp_tx *, struct op_txn *, const char *ip,
		    const char *helo);
/* Queue entries: one per recipient domain (first-seen order), or one per
 * recipient with always_split; *out is malloc'd, count returned. */
size_t		 tx_entries(struct smtp_tx *, int always_split,
		    const char *helo, const char *ip, struct qentry **out);
/* Hands the message (malloc'd) to the caller. */
char		*tx_take_message(struct smtp_tx *, size_t *len);
/*
 * The last step of every way into the queue, after pre_send_trans_email:
 * tx_entries() (each entry with the notes, NULL for none: a
 * NULL-terminated key, value… list, then those of tx_add_note()) and the
 * message handed to queue_commit(). done(arg, err) runs from the loop once
 * the entries are on disk (0) or not (errno); tx_free() before that
 * cancels it.
 */
void		 tx_commit(struct smtp_tx *, struct queue *, int always_split,
		    const char *helo, const char *ip, const char *const *notes,
		    queue_done_fn done, void *arg);

#endif
