/*
 * report/parse: one record line of either format the recording plugins
 * write, into a struct rp_record — outbound_logger's JSON lines and
 * accounting_files' TSV/CSV lines (after their file's header line) — and
 * the times and reply texts in them. Pure, fuzzed (tests/fuzz/fuzz_report).
 */
#ifndef OUTPOST_REPORT_PARSE_H
#define OUTPOST_REPORT_PARSE_H

#include <stddef.h>

#include "lib/buf.h"

enum rp_type { RP_DELIVERED = 0, RP_DEFERRED, RP_BOUNCED, RP_NTYPES };
/* Feedback that came after the delivery: a remote bounce (rb) or a
 * complaint (f). Not a delivery outcome: counted apart. */
enum rp_fb { RP_FB_NONE = 0, RP_FB_BOUNCE, RP_FB_COMPLAINT, RP_NFB };
/* rp_acct_line's deflt for files of rb and f lines without a type column */
#define RP_KIND_RB	(RP_NTYPES + RP_FB_BOUNCE)
#define RP_KIND_F	(RP_NTYPES + RP_FB_COMPLAINT)

/* One event of one recipient. The strings point into the parser's store
 * (valid until its next line); NULL when the line has no such field. */
struct rp_record {
	enum rp_type	 type;
	long long	 time_ms;	/* when logged; -1 unknown */
	const char	*rcpt;
	const char	*job;
	const char	*status;	/* enhanced status: "4.7.1" */
	const char	*reason;	/* reply text (deferred, bounced) */
	const char	*bcat;		/* accounting's bounceCat */
	double		 delay;		/* delivered: s since queued; -1 */
	enum rp_fb	 fb;		/* feedback: what; else RP_FB_NONE */
	const char	*fbkind;	/* remote bounce: its category;
					 * complaint: its feedback type */
};

/* A JSON line of outbound_logger. 0, or -1 when it is not one (not a
 * JSON object, or no type of delivered, deferred, bounced); 1 for its
 * remote_bounce and complaint records (r->fb, rcpt, job, time, fbkind
 * set), counted apart from the delivery outcomes. */
int	rp_json_line(const char *line, size_t len, struct rp_record *,
	    struct buf *store);

/* The columns of an accounting file, from its header line. */
enum rp_col {
	RC_TYPE, RC_LOGGED, RC_QUEUED, RC_RCPT, RC_JOB, RC_STATUS, RC_MSG,
	RC_BCAT, RC_FTYPE, RC_NCOLS
};
struct rp_cols {
	int	 at[RC_NCOLS];	/* column of each; -1 when absent */
	size_t	 ncols;		/* columns in the header */
	char	 sep[16];	/* the separator ("," is CSV) */
	int	 csv;
};

/*
 * The header line: sep is the configured separator, or NULL to tell it
 * from the line (what follows the first field name). 0, or -1 when the
 * line is not a header (no known field name in it).
 */
int	rp_acct_header(const char *line, size_t len, const char *sep,
	    struct rp_cols *);
/* Whether a line starts like a header line: with the name of a field
 * accounting_files knows (type, rcpt, custom_X ...), which no record's
 * first value is. */
int	rp_acct_is_header(const char *line, size_t len);
/* A line after it; deflt is the type when the line has no type column
 * (from the file's name; -1 unknown). 0, or -1 when malformed (another
 * number of fields, an unknown type, bad quoting); 1 for an rb or f line
 * (r->fb set, as rp_json_line). */
int	rp_acct_line(const struct rp_cols *, const char *line, size_t len,
	    int deflt, struct rp_record *, struct buf *store);
/* CSV: whether line ends inside a quoted value (the record goes on). */
int	rp_csv_open(const char *line, size_t len);

/*
 * A time: ISO 8601 "2026-12-04T10:00:00.123Z", accounting's
 * "2026-12-04 10:00:00+0100", or a --since/--until argument: the date,
 * then optionally " " or "T" and HH:MM[:SS[.fff]], then optionally "Z",
 * +hh:mm or +hhmm; with no zone it is local time. ms since the epoch, or
 * -1 when s is not one.
 */
long long rp_time(const char *s);

/*
 * A reply text as a key to count by, as pflogsumm does: a leading reply
 * code ("550 " or "550 - ") and enhanced status dropped, <...> and
 * addresses masked as <addr>, numbers as #, spaces collapsed, at most
 * 100 characters.
 */
void	rp_normalise(const char *text, struct buf *out);

#endif
