/*
 * smtp/data: the DATA reader — dot-unstuffing, the end only at
 * <CRLF>.<CRLF>, bare CR and LF detected, the size limit, long lines
 * folded (CRLF SPACE inserted, as Haraka and Sendmail do) — and the
 * trace header added at reception. The reader keeps the message in its
 * own buffer until the session hands it to the transaction. No I/O.
 */
#ifndef OUTPOST_SMTP_DATA_H
#define OUTPOST_SMTP_DATA_H

#include <stddef.h>

#include "lib/buf.h"

enum data_result {
	DATA_OK = 0,
	DATA_BARE,		/* a bare CR or LF */
	DATA_TOO_BIG		/* over the size limit */
};

enum data_state { D_TEXT, D_DOT, D_DOTCR };

struct data_reader {
	struct buf	 msg;		/* the message as read */
	size_t		 trace_len;	/* the trace header at its start */
	size_t		 max_bytes;
	unsigned	 max_line;	/* bytes with CRLF, as sent; 0: none */
	enum data_state	 dstate;
	int		 bol;		/* at the start of a line */
	int		 cr;		/* the last byte was a CR */
	size_t		 linelen;	/* bytes of the line so far, as sent */
	int		 bare, toobig;
	int		 folded;	/* a line was folded (Haraka's
					 * data_line_length_exceeded) */
};

/* What the trace Received: header says. */
struct trace_info {
	const char	*helo;
	const char	*ip;
	int		 v6;
	const char	*me;
	const char	*protocol;	/* RFC 3848 / 6531 "with" keyword */
	const char	*tls;		/* "using TLSv1.3 with cipher ...", or NULL */
	const char	*id;		/* the transaction's id */
	const char	*rcpt;		/* the one recipient, or NULL */
};

/* Starts a message: limits (0 = none; max_line counts a line's bytes with
 * its CRLF, as sent; below 4 it folds nothing); the last message is dropped. */
void		 data_begin(struct data_reader *, size_t max_bytes,
		    unsigned max_line);
/* Bytes as they come; returns how many it consumed. *done is set once
 * the end-of-data line was consumed (bytes after it are left to the
 * caller). */
size_t		 data_feed(struct data_reader *, const char *, size_t,
		    int *done);
enum data_result data_result(const struct data_reader *);
/* Prepends the RFC 5321 trace header (its length in trace_len). */
void		 data_add_trace(struct data_reader *,
		    const struct trace_info *);
/* Frees the message. */
void		 data_clear(struct data_reader *);

#endif
