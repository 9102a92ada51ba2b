/*
 * dkim_canon: DKIM canonicalisation (RFC 6376 §3.4), pure: header fields
 * (simple, relaxed), the body as a stream (simple, relaxed: pieces of any
 * size give the same output as the whole), the header section split into
 * fields, and the From header's domain. No I/O, no allocation but the
 * caller's buffers.
 */
#ifndef OUTPOST_DKIM_CANON_H
#define OUTPOST_DKIM_CANON_H

#include <stddef.h>

#include "lib/buf.h"

enum dkim_canon { DKIM_SIMPLE = 0, DKIM_RELAXED = 1 };

/* "simple" or "relaxed": 0 and *out set, else -1. */
int		 dkim_canon_parse(const char *, enum dkim_canon *out);
const char	*dkim_canon_name(enum dkim_canon);

/* One header field as it stands in the message (name, colon, value,
 * folded lines and the final CRLF, or none) canonicalised and appended to
 * out: simple keeps it as is; relaxed lower-cases the name, unfolds, turns
 * each run of blanks into one SP, drops blanks at the end of the value
 * and around the colon, and ends it with CRLF. */
void		 dkim_canon_header(enum dkim_canon, const char *field,
		    size_t len, struct buf *out);

/* The body canonicaliser: feed the body in pieces, then finish; the
 * canonical bytes go to emit in runs. */
typedef void (*dkim_emit_fn)(void *arg, const char *p, size_t n);
struct dkim_body {
	enum dkim_canon	 canon;
	dkim_emit_fn	 emit;
	void		*arg;
	size_t		 crlfs;		/* line ends held back */
	int		 wsp;		/* relaxed: blanks held back */
	int		 cr;		/* the last byte was a CR */
	int		 content;	/* a byte other than a line end went out */
	size_t		 n;		/* bytes in out */
	char		 out[4096];
};
void		 dkim_body_init(struct dkim_body *, enum dkim_canon,
		    dkim_emit_fn, void *arg);
void		 dkim_body_feed(struct dkim_body *, const char *, size_t);
void		 dkim_body_finish(struct dkim_body *);

/* The header section (before the empty line) split into fields: each
 * field starts at a line that does not begin with a blank and runs
 * through its continuation lines and its CRLF. Up to max fields go to
 * out; the count of fields is returned (more than max: only the first
 * max were stored). A line without a colon is a field too (its name is
 * the whole line). */
struct dkim_field {
	const char	*p;		/* the field */
	size_t		 len;		/* with its CRLF */
	size_t		 namelen;	/* the name, blanks before the colon
					 * excluded */
};
size_t		 dkim_fields(const char *msg, size_t hlen,
		    struct dkim_field *out, size_t max);

/* The domain of the From header's address (the first mailbox: the one in
 * angle brackets when there are brackets, else the first addr-spec),
 * lower-cased into out (size > 0). 1 when found, 0 when not. */
int		 dkim_from_domain(const char *value, size_t len, char *out,
		    size_t size);

#endif
