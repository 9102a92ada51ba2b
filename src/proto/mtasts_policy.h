/*
 * mtasts_policy: the texts of MTA-STS (RFC 8461) — the `_mta-sts` TXT
 * record (3.1), the policy file (3.2) and the match of an MX host name
 * against the policy's `mx` patterns (4.1). Pure and fuzzed; no I/O.
 */
#ifndef OUTPOST_MTASTS_POLICY_H
#define OUTPOST_MTASTS_POLICY_H

#include <stddef.h>

#define MTASTS_ID_MAX		32		/* 1*32(ALPHA / DIGIT) */
#define MTASTS_MAX_AGE_MAX	31557600UL	/* one year, RFC 8461 3.2 */
#define MTASTS_MX_MAX		64		/* patterns kept; more: invalid */
#define MTASTS_POLICY_MAX	65536		/* bytes of a policy file */

enum mtasts_mode {
	MTASTS_MODE_NONE = 0,
	MTASTS_MODE_TESTING,
	MTASTS_MODE_ENFORCE
};

struct mtasts_policy {
	enum mtasts_mode mode;
	unsigned long	 max_age;	/* seconds, <= MTASTS_MAX_AGE_MAX */
	char		**mx;		/* lower-case patterns, no final dot */
	size_t		 nmx;
};

/*
 * A TXT record's text (its strings joined): 1 when it is a valid STSv1
 * record (id copied, NUL-terminated), 0 when it does not start with
 * "v=STSv1" (not an STS record: discarded), -1 when it does but is
 * malformed (no valid id). Fields: `v=STSv1; id=...;` with optional
 * spaces around ';'; other fields are ignored.
 */
int	 mtasts_txt_parse(const char *txt, char id[MTASTS_ID_MAX + 1]);

/*
 * The policy file text[0..len): 0 with *p filled (mtasts_policy_clear()
 * frees it), or -1 with *why a static reason. Lines end in LF (CR
 * before it dropped); `key: value`, spaces around the value trimmed;
 * version must be STSv1, mode enforce|testing|none, max_age 1-10 digits
 * (capped at MTASTS_MAX_AGE_MAX), at least one mx unless mode is none;
 * unknown keys are ignored, a repeated key (but mx) keeps its first value.
 */
int	 mtasts_policy_parse(const char *text, size_t len,
	    struct mtasts_policy *p, const char **why);
void	 mtasts_policy_clear(struct mtasts_policy *);

/* 1 when host (a DNS name, case-insensitive, a final dot ignored)
 * matches pattern: equal, or pattern `*.rest` and host one label more
 * than rest ending in it. */
int	 mtasts_mx_match(const char *pattern, const char *host);
/* 1 when host matches one of p's patterns. */
int	 mtasts_policy_match(const struct mtasts_policy *p, const char *host);

const char *mtasts_mode_name(enum mtasts_mode);

#endif
