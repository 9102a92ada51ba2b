/*
 * message: what outpost-sendmail does to the message it reads, with no
 * I/O: the end of the input (a lone "." unless -i), line endings made
 * CRLF, the header section told from the body, recipients taken from
 * To/Cc/Bcc (-t) and Bcc removed, From/Date/Message-ID added when
 * missing, and address lists as sendmail(8) accepts them on its command
 * line and in headers (RFC 5322 address-list, leniently).
 */
#ifndef OUTPOST_SENDMAIL_MESSAGE_H
#define OUTPOST_SENDMAIL_MESSAGE_H

#include <stddef.h>

#include "lib/buf.h"

/* A list of addresses (malloc'd strings). */
struct addrs {
	char	**v;
	size_t	  n;
};

void	 addrs_add(struct addrs *, const char *addr, size_t len);
void	 addrs_free(struct addrs *);

/*
 * Appends the addresses of an RFC 5322 address list (display names,
 * comments, quoted strings, groups, <route:addr>) to out. An address
 * without '@' gets "@" + domain when domain is not NULL. -1 (with what
 * added so far kept) when an address has a control character or '<',
 * '>' left in it, or an angle bracket is not closed: *bad points at it.
 */
int	 addrs_parse(struct addrs *out, const char *list, size_t len,
	    const char *domain, const char **bad);

/* What the message options ask for. */
struct msg_opts {
	int		 ignore_dots;	/* -i, -oi: a lone "." is data */
	int		 extract;	/* -t: recipients from the headers */
	const char	*sender;	/* the envelope sender ("" for <>) */
	const char	*fullname;	/* -F, for an added From: */
	const char	*domain;	/* for unqualified addresses */
	const char	*msgid_host;	/* the right of an added Message-ID */
	long long	 now;		/* time(NULL), for Date and Message-ID */
	long		 pid;		/* for Message-ID */
	unsigned long	 nonce;		/* for Message-ID: random */
};

/*
 * Turns the input (in, len bytes as read) into the message to send, in
 * out: lines ending CRLF (not yet dot-stuffed), a leading mbox "From "
 * line dropped, Bcc fields removed and with -t their addresses (and To's
 * and Cc's) appended to rcpts, From/Date/Message-ID added at the top
 * when absent. -1 when a -t header has an address that cannot be used
 * (*bad: a malloc'd copy of the header's value from that address on).
 * *has_8bit: a byte >= 0x80 was seen.
 */
int	 msg_prepare(const char *in, size_t len, const struct msg_opts *,
	    struct buf *out, struct addrs *rcpts, int *has_8bit, char **bad);

/* Dot-stuffing (RFC 5321 4.5.2) of a CRLF message into out, followed by
 * the ".\r\n" that ends DATA. */
void	 msg_dot_stuff(const char *msg, size_t len, struct buf *out);

#endif
