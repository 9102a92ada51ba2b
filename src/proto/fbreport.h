/*
 * fbreport: reads one piece of feedback mail — an RFC 3464 delivery status
 * notification, an RFC 5965 ARF complaint, or a non-standard (plain text)
 * bounce as large providers send them — into what it reports, per
 * recipient. MIME is parsed by GMime 3; the report is nested, encoded and
 * often slightly broken in the wild, and the parser never fails on bad
 * input: it reports FB_UNKNOWN when it cannot tell what the mail is.
 * Pure: no I/O, no global state but GMime's one-time initialisation.
 */
#ifndef OUTPOST_FBREPORT_H
#define OUTPOST_FBREPORT_H

#include <stddef.h>

enum fb_kind {
	FB_UNKNOWN = 0,		/* not a report we can read */
	FB_DSN,			/* multipart/report; report-type=delivery-status */
	FB_ARF,			/* multipart/report; report-type=feedback-report */
	FB_PLAIN		/* a non-standard bounce, read from its text */
};

/* One recipient a report speaks of. Strings are malloc'd, NUL-terminated,
 * NULL when absent; addresses are bare (no "rfc822;", no <>). */
struct fb_rcpt {
	char	*final_recipient;
	char	*original_recipient;
	char	*action;		/* "failed", "delayed", "delivered", ... */
	char	*status;		/* "5.1.1" */
	int	 code;			/* the SMTP reply code in the
					 * diagnostic (550), 0 when none */
	char	*diagnostic;		/* Diagnostic-Code text after its type
					 * ("smtp;"), unfolded */
	char	*remote_mta;		/* Remote-MTA without its type */
};

struct fb_report {
	enum fb_kind	 kind;
	char		*reporting_mta;	/* Reporting-MTA without its type */
	char		*arrival_date;	/* Arrival-Date / ARF Arrival-Date */
	struct fb_rcpt	*rcpts;
	size_t		 nrcpts;
	/* ARF (RFC 5965 §3.1) */
	char		*feedback_type;	/* "abuse" */
	char		*user_agent;
	char		*source_ip;
	char		*original_mail_from;	/* bare */
	char		*original_rcpt_to;	/* bare; also in rcpts[0] */
	char		*reported_domain;
	/* The original message, from the report's message/rfc822 or
	 * text/rfc822-headers part (or the quoted text of a plain bounce). */
	char		*orig_message_id;	/* without <> */
	char		*orig_from;		/* header From, bare address */
	char		*orig_to;		/* header To, first bare address */
	char		*orig_subject;
	char		*orig_return_path;	/* bare */
	char		*orig_queue_id;	/* the id in Outpost's own Received
					 * header ("by ... (Outpost) with ESMTP
					 * id <id>"), the closest to the top */
	/* The report's own headers. */
	char		*from;			/* bare */
	char		*subject;
	char		*message_id;		/* without <> */
};

/* Parses msg (len bytes: headers, empty line, body; CRLF or LF). Always
 * fills r (free it with fb_report_free()); returns r->kind. */
enum fb_kind	 fb_report_parse(const char *msg, size_t len,
		    struct fb_report *r);
void		 fb_report_free(struct fb_report *);
/* "dsn", "arf", "plain", "unknown". */
const char	*fb_kind_name(enum fb_kind);

#endif
