/*
 * reply: the SMTP client's reply reader (RFC 5321 §4.2, RFC 3463, RFC
 * 2034). Pure and fuzzed. A reply is one or more lines `ddd-text` ending
 * with `ddd text` (or a bare `ddd`); an enhanced status code (`5.7.26`,
 * optionally preceded by `#`) right after the code is split off the text.
 */
#ifndef OUTPOST_REPLY_H
#define OUTPOST_REPLY_H

#include <stddef.h>

#define REPLY_LINE_MAX	4096	/* longer lines are malformed (RFC: 512) */
#define REPLY_LINES_MAX	256	/* more lines in one reply are malformed */

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
 * p holds no complete reply yet (nothing filled); -1 when a line is
 * malformed (no 2xx-5xx code, bad separator, too long, too many lines, a
 * NUL byte, or a continuation line whose code differs): *bad gets the
 * malloc'd offending line (printable, CR/LF removed, at most 200 bytes)
 * and *used the bytes through that line when it is complete. Lines end
 * in LF; a CR before it is dropped.
 */
int	 reply_parse(const char *p, size_t len, struct reply *r, size_t *used,
	    char **bad);
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
