/*
 * smtp_tx: one mail transaction (MAIL .. the end of DATA): the envelope,
 * the DATA reader (dot-unstuffing, the end only at <CRLF>.<CRLF>, bare CR
 * and LF detected, size and line limits), the headers added at reception,
 * and the split into queue entries. No I/O.
 */
#ifndef OUTPOST_SMTP_TX_H
#define OUTPOST_SMTP_TX_H

#include <stddef.h>

#include "queue/entry.h"
#include "proto/smtp_parse.h"

struct smtp_tx;
struct queue_job;
struct op_txn;

enum tx_data_result {
	TX_DATA_OK = 0,
	TX_DATA_BARE,		/* a bare CR or LF */
	TX_DATA_LONG_LINE,	/* a line over the limit */
	TX_DATA_TOO_BIG		/* over the size limit */
};

/* What the trace Received: header says. */
struct trace_info {
	const char	*helo;
	const char	*ip;
	int		 v6;
	const char	*me;
	const char	*protocol;	/* RFC 3848 / 6531 "with" keyword */
	const char	*tls;		/* "using TLSv1.3 with cipher ...", or NULL */
};

struct smtp_tx	*tx_new(const char *conn_uuid, unsigned n,
		    const struct smtp_addr *from, unsigned flags);
/* Frees tx; a pending commit's callback is cancelled. */
void		 tx_free(struct smtp_tx *);

const char	*tx_uuid(const struct smtp_tx *);	/* <conn>.<n> */
const char	*tx_mail_from(const struct smtp_tx *);	/* "" for <> */
unsigned	 tx_flags(const struct smtp_tx *);	/* QE_* */
size_t		 tx_rcpt_count(const struct smtp_tx *);
void		 tx_add_rcpt(struct smtp_tx *, const struct smtp_addr *);
void		 tx_set_job(struct smtp_tx *, struct queue_job *);

/* DATA: limits (0 = none), then bytes as they come. tx_data_feed returns
 * how many bytes it consumed; *done is set once the end-of-data line was
 * consumed (bytes after it are left to the caller). */
void		 tx_data_begin(struct smtp_tx *, size_t max_bytes,
		    unsigned max_line);
size_t		 tx_data_feed(struct smtp_tx *, const char *, size_t,
		    int *done);
enum tx_data_result tx_data_result(const struct smtp_tx *);

/* Sets the message directly (mail generated inside Outpost): CRLF line
 * ends, not dot-stuffed; copied. */
void		 tx_set_message(struct smtp_tx *, const char *, size_t);
/* Prepends the RFC 5321 trace header. */
void		 tx_add_trace(struct smtp_tx *, const struct trace_info *);
/* Prepends `Received: (<received_header>); <date>` (unless NULL) and
 * adds Message-Id <uuid@me> and Date when the message has none. */
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

#endif
