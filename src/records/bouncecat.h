/*
 * bouncecat: the bounce category of a failed recipient (accounting_files'
 * bounceCat), one of PowerMTA's 17 categories, from the reply code, the
 * enhanced status (RFC 3463) and the reply text.
 *
 * Rules are tried in order and the first that matches wins: the rules of
 * the optional file config/bounce_categories first (so they add to and
 * override the built-in ones), then the built-in rules (provider phrases
 * from the text first, then the status, then the code), then "other".
 *
 * A rule is one line: a category and one or more matchers, all of which
 * must match.
 *     <category> [status <x.y.z or prefix>] [code <nnn>] [/<ERE>/]
 *   status 5.7.1 matches exactly 5.7.1; status 5.1 matches 5.1.x;
 *   status *.2.2 matches 4.2.2 and 5.2.2;
 *   /regex/ is a POSIX extended regex, case-insensitive, searched in the
 *   reply text (a '/' inside is written '\/').
 * '#' starts a comment line; blank lines are ignored.
 */
#ifndef OUTPOST_BOUNCECAT_H
#define OUTPOST_BOUNCECAT_H

enum bounce_cat {
	BC_BAD_MAILBOX = 0,
	BC_INACTIVE_MAILBOX,
	BC_QUOTA_ISSUES,
	BC_BAD_DOMAIN,
	BC_NO_ANSWER_FROM_HOST,
	BC_ROUTING_ERRORS,
	BC_POLICY_RELATED,
	BC_SPAM_RELATED,
	BC_CONTENT_RELATED,
	BC_VIRUS_RELATED,
	BC_PROTOCOL_ERRORS,
	BC_RELAYING_ISSUES,
	BC_INVALID_SENDER,
	BC_BAD_CONNECTION,
	BC_BAD_CONFIGURATION,
	BC_MESSAGE_EXPIRED,
	BC_OTHER,
	BC_COUNT
};

/* "bad-mailbox", ... "other"; "other" for a value out of range. */
const char	*bouncecat_name(enum bounce_cat);
/* The category named name; -1 when there is none. */
int		 bouncecat_parse(const char *name);

struct bouncecat;

/* The built-in rules only. */
struct bouncecat *bouncecat_new(void);
/*
 * Adds the rules of a rules file (format above) before the built-in ones
 * and after those added earlier. A line that is not a valid rule is
 * skipped and reported through warn ("<path>:<line>: <problem>"; warn
 * may be NULL). Not to be called while another thread classifies.
 * Returns the number of rules added; 0 when the file does not exist; -1
 * (errno set) when it exists but cannot be read.
 */
int		 bouncecat_load(struct bouncecat *, const char *path,
		    void (*warn)(void *arg, const char *msg), void *arg);
/* Same, from text in memory (tests); name is used in warnings. */
int		 bouncecat_load_text(struct bouncecat *, const char *name,
		    const char *text, void (*warn)(void *arg, const char *msg),
		    void *arg);
void		 bouncecat_free(struct bouncecat *);

/*
 * The category of one failure. code: the reply code (550), 0 when none;
 * status: the enhanced status ("5.1.1"), NULL or "" when none; text: the
 * reply text without code and status, or Outpost's own message (NULL
 * allowed). Pure; never fails (a malformed status is no status, a NULL
 * bouncecat gives "other"); threads may share one bouncecat.
 */
enum bounce_cat	 bouncecat_classify(const struct bouncecat *, int code,
		    const char *status, const char *text);

#endif
