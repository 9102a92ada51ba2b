/*
 * reply: the SMTP client's reply reader (RFC 5321 §4.2, RFC 3463, RFC
 * 2034). Pure and fuzzed. A reply is one or more lines `ddd-text` ending
 * with `ddd text` (or a bare `ddd`); an enhanced status code (`5.7.26`,
 * optionally preceded by `#`) right after the code is split off the text.
 */
#ifndef OUTPOST_REPLY_H
#define OUTPOST_REPLY_H

#include <stddef.h>

/*
 * The bounds of one reply; past any of them the reply is malformed (the
 * client gives up that server: a temporary failure, never a bounce).
 * RFC 5321 §4.5.3.1.5 allows 512 bytes per reply line: 8 times that, 100
 * lines (EHLO answers have about 20) and 64 KiB in all are generous for a
 * real server and keep what one connection may make us buffer small.
 */
#define REPLY_LINE_MAX	4096	/* bytes of one line, CR LF excluded */
#define REPLY_LINES_MAX	100	/* lines of one reply */
#define REPLY_SIZE_MAX	65536	/* bytes of one reply, CR LF included */

/* Why reply_parse() refused a reply. */
enum reply_fault {
	REPLY_FAULT_NONE = 0,
	REPLY_FAULT_CODE,	/* a line not starting `ddd` (2xx-5xx) then
				 * ' ', '-' or its end: "999", "2x0", "150" */
	REPLY_FAULT_MIXED,	/* a line's code differs from the first's */
	REPLY_FAULT_NUL,	/* a NUL byte in a line */
	REPLY_FAULT_LINE,	/* a line over REPLY_LINE_MAX */
	REPLY_FAULT_LINES,	/* more than REPLY_LINES_MAX lines */
	REPLY_FAULT_SIZE	/* more than REPLY_SIZE_MAX bytes */
};

struct reply {
	int	  code;		/* 200..599: the final line's code */
	char	  extc[16];	/* enhanced status, "" when none: "5.7.26" */
	char	 *text;		/* every line's text (without code, separator
				 * and enhanced status) joined with one space;
				 * "" for a bare "250" */
	char	**lines;	/* each line's text after the code and the
				 * separator (enhanced status kept): what EHLO
				 * keywords are read from */
	size_t	  nlines;
};

/*
 * Reads one reply from the start of p[0..len). Returns 1 with *r filled
 * and *used = the bytes of the whole reply (through its last LF); 0 when
 * p holds no complete reply yet (nothing filled); -1 when the reply is
 * malformed (*fault says how: no 2xx-5xx code, bad separator, a NUL byte,
 * a continuation line whose code differs, or over one of the bounds
 * above, found as soon as the bytes at hand exceed it): *bad gets the
 * malloc'd offending line (printable, CR/LF removed, at most 200 bytes)
 * and *used the bytes through that line when it is complete. Lines end
 * in LF; a CR before it is dropped. bad and fault may be NULL.
 */
int	 reply_parse(const char *p, size_t len, struct reply *r, size_t *used,
	    char **bad, enum reply_fault *fault);
/* What a fault means, for error texts: "no valid reply code" … */
const char *reply_fault_text(enum reply_fault);
/* Frees what r owns and zeroes it. */
void	 reply_clear(struct reply *);

/* "<code> <extc >text" as in Haraka's reasons: "550 5.1.1 No such user";
 * malloc'd. */
char	*reply_reason(const struct reply *);

/* EHLO: true when some line's first word is kw (case-insensitive); *arg
 * (when not NULL) points at the rest of that line, spaces skipped. */
int	 reply_has_keyword(const struct reply *, const char *kw,
	    const char **arg);

#endif
