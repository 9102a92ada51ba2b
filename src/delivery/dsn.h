/*
 * dsn: the delivery status notification (RFC 3464, RFC 6522) sent to
 * the sender of mail that failed: multipart/report with the text of
 * outbound.bounce_message (+ an HTML alternative from _html, + _image),
 * message/delivery-status, and the original message as message/rfc822
 * (RFC 6533's message/global-delivery-status and message/global for
 * internationalized mail).
 * Pure: the caller queues the result (envelope <> → the sender).
 */
#ifndef OUTPOST_BOUNCE_H
#define OUTPOST_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* One recipient of the report. */
struct dsn_rcpt {
	const char	*addr;		/* bare address */
	const char	*action;	/* "failed", "delayed", "delivered" */
	const char	*status;	/* "5.1.1" */
	int		 code;		/* reply code, or Outpost's own (550) */
	const char	*msg;		/* reply text without code and status,
					 * or Outpost's own message */
	int		 remote;	/* msg is a remote reply */
	const char	*remote_mta;	/* host name (or IP) that answered; NULL */
	const char	*reason;	/* "<code> [<status> ]<text>" or NULL */
	const char	*sent;		/* remote: the enhanced status it sent
					 * ("" none: Diagnostic-Code has only
					 * its code and text); NULL: status */
};

struct dsn_params {
	const char		*me;		/* Reporting-MTA, {me} */
	const char		*mail_from;	/* the original sender (bare) */
	const char		*reason;	/* {reason}: why the mail failed */
	const struct dsn_rcpt	*rcpts;
	size_t			 n;
	const char		*msg;		/* the original message */
	size_t			 msglen;
	int			 headers_only;	/* msg is only its header
						 * section: returned as
						 * text/rfc822-headers */
	int64_t			 arrival_ms;	/* when it was queued */
	/* It was queued with SMTPUTF8: with a UTF-8 address or header,
	 * RFC 6533's global types are used. */
	int			 smtputf8;
	int64_t			 now;		/* seconds; for {date} */
	long			 pid;
	/* Template file contents (NUL-terminated), NULL when absent: the
	 * text template then is the one outpost -i writes
	 * (config/outbound.bounce_message, embedded in default_files[]);
	 * HTML only when
	 * the _html file has more than one line; the image only with HTML. */
	const char		*tmpl;
	const char		*tmpl_html;
	const char		*tmpl_image;
};

/* Appends the whole DSN (headers and body, CRLF line ends, not
 * dot-stuffed) to out. */
void	 dsn_build(const struct dsn_params *, struct buf *out);

#endif
