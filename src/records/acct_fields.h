/*
 * acct_fields: accounting_files' lines (seeds 001/004, SPEC §9): the field
 * names, a type's field list, and the values of one line, written so that
 * they never break the line (RFC 4180 CSV with ",", backslash escapes
 * otherwise). Pure: no I/O; accounting_files.c configures and writes.
 */
#ifndef OUTPOST_ACCT_FIELDS_H
#define OUTPOST_ACCT_FIELDS_H

#include <stddef.h>

#include "lib/buf.h"
#include "outpost/plugin.h"

/* The record types, in the order of their [location], [archive_to] and
 * [fields] keys. */
enum acct_kind {
	AK_DELIVERED = 0, AK_DEFERRED, AK_BOUNCE,	/* the seed's three */
	AK_REMOTE_BOUNCE, AK_FEEDBACK,		/* PowerMTA's rb and f */
	AK_COUNT
};

/* The ini key, the file prefix (the type value) and the default fields
 * of a kind. */
const char	*acct_kind_key(enum acct_kind);
const char	*acct_kind_prefix(enum acct_kind);
const char	*acct_kind_fields(enum acct_kind);

enum acct_fid {
	AF_TYPE, AF_TIME_LOGGED, AF_TIME_QUEUED, AF_RCPT, AF_SRC_TYPE,
	AF_SRC_MTA, AF_SRC_IP, AF_DEST_IP, AF_VMTA, AF_JOB_ID, AF_DSN_STATUS,
	AF_DSN_MSG, AF_DELAY, AF_BOUNCE_CAT, AF_DLV_SOURCE_IP,
	AF_ORIG, AF_MSG_ID, AF_DSN_ACTION, AF_DSN_DIAG, AF_DSN_REPORTING_MTA,
	AF_DSN_MTA, AF_FEEDBACK_TYPE, AF_USER_AGENT, AF_EVENT_ID,
	AF_CORRELATION,
	AF_CUSTOM, AF_UNKNOWN
};
/* The names of AF_TYPE .. AF_CORRELATION, in order. */
extern const char *const acct_field_names[AF_CUSTOM];
#define ACCT_CUSTOM	"custom_"

struct acct_field {
	enum acct_fid	 f;
	char		*name;		/* as configured */
	const char	*header;	/* AF_CUSTOM: the header's name */
};

struct acct_fields {
	struct acct_field	*v;
	size_t			 n;
};

/* Appends the fields of a comma list, each name trimmed; an unknown name
 * is warned about (naming key) and written empty. */
void		 acct_fields_parse(struct acct_fields *, const char *list,
		    const char *key);
void		 acct_fields_free(struct acct_fields *);

struct bouncecat;
/* How values are written. */
struct acct_fmt {
	const char		*sep;		/* the separator */
	int			 csv;		/* sep is "," */
	const struct bouncecat	*bc;		/* bounceCat of b lines */
};

/* One value: RFC 4180 quoting for CSV (a NUL byte is dropped);
 * otherwise TAB, CR, LF, backslash and NUL as \t \r \n \\ \0, and a
 * character of the separator after a backslash. */
void		 acct_put_value(const struct acct_fmt *, struct buf *,
		    const char *v, size_t len);
/* The header line (with its LF). */
void		 acct_header(const struct acct_fmt *,
		    const struct acct_fields *, struct buf *);
/* "2026-11-21 09:05:01+0100": local time; "" if it cannot be told. */
void		 acct_local_time(char *out, size_t size, long long ms);

/* The lines of an outbound event (delivered, deferred or bounce kind),
 * one per recipient, written at now_ms. */
void		 acct_outbound_lines(const struct acct_fmt *, enum acct_kind,
		    const struct acct_fields *, const struct op_outbound *,
		    long long now_ms, struct buf *out);
/* The line of a remote bounce or a complaint (AK_REMOTE_BOUNCE,
 * AK_FEEDBACK). */
void		 acct_feedback_line(const struct acct_fmt *, enum acct_kind,
		    const struct acct_fields *, const struct op_feedback *,
		    struct buf *out);

#endif
