/*
 * fbreport_text: the text side of the feedback report parser (fbreport.c):
 * header blocks ("Name: value" lines, folded, blocks between empty lines),
 * addresses, SMTP reply and enhanced status codes, and the reading of
 * plain-text bounces. Works on {pointer, length} text that may hold NULs;
 * every pass is linear in its input.
 */
#ifndef OUTPOST_FBREPORT_TEXT_H
#define OUTPOST_FBREPORT_TEXT_H

#include <stddef.h>

#define FBT_NAME_MAX	64

/* The next field of a header block at *pp: its name (NUL-terminated, at
 * most FBT_NAME_MAX - 1 bytes) and its unfolded, trimmed value (malloc'd).
 * Returns 1 for a field, 0 for an empty line (the end of a block; consumed),
 * -1 at the end of the text. Lines that are not fields are skipped. */
int	 fbt_next_field(const char **pp, const char *end, char *name,
	    char **value);

/* A value without its "type;" prefix ("dns; mx.example.net"), trimmed;
 * malloc'd, NULL when empty. */
char	*fbt_untyped(const char *);
/* The bare address in an address value ("rfc822; <a@b>", "Name <a@b>"):
 * malloc'd, NULL when none. */
char	*fbt_addr(const char *);
/* A Message-ID without <>: malloc'd, NULL when empty. */
char	*fbt_msgid(const char *);

/* The SMTP reply code in s (0 when none) and the enhanced status code in
 * status ("" when none; at least 16 bytes). */
int	 fbt_codes(const char *s, size_t n, char *status);

/* A failed recipient read from a bounce's text; strings malloc'd. */
struct fbt_rcpt {
	char	*addr;
	char	*action;	/* "failed", or "delayed" for a 4xx code */
	char	*status;	/* NULL when the text gives none */
	int	 code;		/* 0 when none */
	char	*diagnostic;	/* the text under the address, or the
				 * bounce's first line with a code */
};

/* Whether a report (its From, Subject, both may be NULL, and its text)
 * looks like a bounce. */
int	 fbt_is_bounce(const char *from, const char *subject,
	    const char *text, size_t n);
/* Reads up to max failed recipients from a bounce's text into *out
 * (malloc'd array, the caller frees); returns how many. Addresses in
 * mine[0..nmine) (the report's and the original's senders; NULLs
 * allowed) and mailer-daemon/postmaster are not recipients. When the
 * text names none, the addresses of failed (the X-Failed-Recipients
 * header, or NULL) are taken, with the text's first code. */
size_t	 fbt_plain(const char *const *mine, size_t nmine, const char *failed,
	    const char *text, size_t n, struct fbt_rcpt **out, size_t max);
/* Where the quoted original message's headers start in a bounce's text:
 * the offset of its first header line, or n when there is none. */
size_t	 fbt_original(const char *text, size_t n);

#endif
