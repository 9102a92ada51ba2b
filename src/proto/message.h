/*
 * message: pure helpers over a stored message (headers, empty line, body;
 * CRLF line ends; not dot-stuffed): header lookup with unfolding, RFC 2047
 * decoding for display, and the normalisation applied to mail generated
 * inside Outpost (seed 003's send_email options).
 */
#ifndef OUTPOST_MESSAGE_H
#define OUTPOST_MESSAGE_H

#include <stddef.h>

#include "lib/buf.h"

/* Length of the header block, through the empty line that ends it (or
 * len when there is none). */
size_t	 msg_headers_len(const char *msg, size_t len);

/* The first header named name (case-insensitive): its value unfolded
 * (each CRLF of a fold removed, the whitespace after it kept) and trimmed,
 * appended to out. 1 when found, else 0 (out unchanged). */
int	 msg_header(const char *msg, size_t len, const char *name,
	    struct buf *out);

/* Removes the first header named name (with its continuation lines) from
 * the header block, moving the rest of msg down; its value (as
 * msg_header) is appended to out unless NULL. The bytes removed (the
 * message is that much shorter), 0 when there is no such header. */
size_t	 msg_header_remove(char *msg, size_t len, const char *name,
	    struct buf *out);

/* RFC 2047 encoded-words (B and Q, any charset; UTF-8 and ISO-8859-1 are
 * converted to UTF-8, others are kept as their raw bytes) decoded; the
 * whitespace between adjacent encoded-words dropped. Appends to out. */
void	 msg_decode_2047(const char *s, size_t len, struct buf *out);

#define MSG_DOT_STUFFED		0x01	/* input lines are dot-stuffed */
#define MSG_REMOVE_MSGID	0x02	/* drop Message-Id headers */
#define MSG_REMOVE_DATE		0x04	/* drop Date headers */

/*
 * send_email's content rules: every line ending (LF, CRLF, or none on a
 * last line, which is kept, unlike Haraka) becomes CRLF; with
 * MSG_DOT_STUFFED one leading dot is removed from lines starting with
 * "..", so the stored form is unstuffed; MSG_REMOVE_* drop those headers
 * (with their folded continuation lines). Appends to out.
 */
void	 msg_prepare(const char *in, size_t len, unsigned flags,
	    struct buf *out);

#endif
