/*
 * shaping_rules: config/shaping_rules, what a destination's reply makes
 * the shaper do. One rule per line, first match wins:
 *
 *     <action> <matcher> [<matcher> ...]
 *
 *   actions:   backoff             the destination enters backoff
 *              suspend <duration>  no connection nor message to it for
 *                                  that long (30s, 10m, 1h, 1d; 1 s to 7 d)
 *              bounce              the recipients of that reply bounce
 *              none                nothing (stops the search: an exception
 *                                  before a broader rule)
 *   matchers, all of which must match (at least one):
 *              code 421            the reply code; 'x' is any digit: 4xx
 *              status 4.7.1        the enhanced status; '*' is any number,
 *                                  a missing detail any: 4.7 = 4.7.*,
 *                                  *.7.1 = 4.7.1 or 5.7.1
 *              greeting            the reply was the server's greeting
 *              /regex/             a POSIX extended regular expression,
 *                                  case-insensitive, found anywhere in the
 *                                  reply text (without code and status);
 *                                  a '/' inside is written '\/'
 * '#' starts a comment line; blank lines are ignored. Rules are tried
 * for failures only: a reply code of 400 or more, or 0 (Outpost's own
 * failure, e.g. a lost connection: the text is Outpost's message).
 * A bad line is an error naming the file and line.
 */
#ifndef OUTPOST_SHAPING_RULES_H
#define OUTPOST_SHAPING_RULES_H

#include <stddef.h>

#define SHAPING_SUSPEND_MAX	(7u * 86400)	/* seconds */

enum shaping_action {
	SHAPING_NONE = 0,
	SHAPING_BACKOFF,
	SHAPING_SUSPEND,
	SHAPING_BOUNCE
};

/* What a reply matched. */
struct shaping_hit {
	enum shaping_action	 action;
	unsigned		 seconds;	/* suspend: its duration */
	const char		*rule;		/* "config/shaping_rules:3",
						 * "built-in rule 2"; NULL when
						 * no rule matched */
};

struct shaping_rules;

/* The rules of text (a whole file); name prefixes error messages
 * ("config/shaping_rules"). NULL with *err (malloc'd) "<name>:<line>:
 * <problem>" for the first bad line. */
struct shaping_rules	*shaping_rules_parse(const char *name,
			    const char *text, char **err);
/* The built-in rules: those used when config/shaping_rules is absent. */
struct shaping_rules	*shaping_rules_builtin(void);
/* Their text, one rule per line (what the default file holds). */
const char *const	*shaping_rules_builtin_lines(size_t *n);
void			 shaping_rules_free(struct shaping_rules *);
size_t			 shaping_rules_count(const struct shaping_rules *);

/* The first rule a failure matches. code: the reply code, 0 for none;
 * status: "4.7.0", NULL or "" for none; text: may be NULL. */
struct shaping_hit	 shaping_rules_match(const struct shaping_rules *,
			    int code, const char *status, const char *text,
			    int at_greeting);

/* "90", "90s", "10m", "1h", "2d" in seconds, from 0 to max; -1 when it
 * is not a duration or is over max. */
long			 shaping_duration(const char *s, unsigned max);

#endif
