/*
 * verp: traceable return paths. At delivery the envelope sender becomes
 * <prefix>+<token>@<bounce domain>; the token names the queue entry (job
 * id) and, when the transaction has one recipient, that recipient, and is
 * authenticated by a truncated HMAC-SHA256 so that a bounce cannot be
 * forged onto someone else's mail. The token survives case folding (some
 * MTAs lower-case the address they bounce to):
 *     <mac>-<id>[-<rcpt>]
 *   mac   the first 8 bytes of HMAC-SHA256(secret, "verp1" NUL id NUL
 *         [rcpt]), base32 (RFC 4648, lower case, unpadded): 13 chars;
 *   id    "u" + base32 of the 16 bytes of Outpost's UUID, then the
 *         ".<txn>.<n>" suffix as is; any other id: "x" + hex of its bytes;
 *   rcpt  the recipient: [a-z0-9_-] and single dots as they are, '@' as
 *         '=', every other byte (upper case letters included) %xx.
 * verp_encode()/verp_decode() are pure; the process-wide setting
 * (verp_set(), set once at start-up, read by delivery) picks which mail
 * gets a VERP return path.
 */
#ifndef OUTPOST_VERP_H
#define OUTPOST_VERP_H

#include <stddef.h>

#define VERP_KEY_MAX	64

/* The result of reading a local part. */
enum verp_result {
	VERP_NONE = 0,		/* not <prefix>+...: no token at all */
	VERP_OK,		/* a token, authentic */
	VERP_BAD		/* <prefix>+... but malformed or forged */
};

/* "<prefix>+<token>@<domain>", malloc'd; rcpt NULL for a job-id-only
 * token. */
char		*verp_encode(const char *prefix, const char *domain,
		    const unsigned char *key, size_t keylen, const char *id,
		    const char *rcpt);
/* Reads the local part of an address (case-insensitive). VERP_OK sets
 * *id and *rcpt (NULL when the token names no recipient), malloc'd. */
enum verp_result verp_decode(const char *prefix, const unsigned char *key,
		    size_t keylen, const char *local_part, char **id,
		    char **rcpt);

/* Which mail gets a VERP return path. */
struct verp_conf {
	char		*prefix;
	char		*domain;	/* the bounce domain */
	unsigned char	 key[VERP_KEY_MAX];
	size_t		 keylen;
	int		 all;		/* every sender but <> */
	char		**sender_domains;	/* else those (lower case) */
	size_t		 nsender_domains;
};

/* Installs c (taken; NULL: no VERP). Not while delivery runs. */
void		 verp_set(struct verp_conf *c);
const struct verp_conf *verp_get(void);
void		 verp_conf_free(struct verp_conf *);
/* The return path for one transaction of the entry id from mail_from to
 * rcpt (NULL: several recipients), malloc'd; NULL when that mail keeps
 * its sender: no VERP configured, the null sender <> (Outpost's own
 * DSNs) or a sender domain that is not listed. */
char		*verp_return_path(const char *mail_from, const char *id,
		    const char *rcpt);

#endif
