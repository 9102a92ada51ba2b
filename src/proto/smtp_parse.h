/*
 * smtp_parse: pure parsers for what an SMTP client sends — command lines,
 * reverse/forward paths (RFC 5321 4.1.2, RFC 6531 UTF-8), and ESMTP
 * parameters. No allocation, no I/O; fuzzed (tests/fuzz/fuzz_smtp_parse.c).
 */
#ifndef OUTPOST_SMTP_PARSE_H
#define OUTPOST_SMTP_PARSE_H

#include <stddef.h>

#include "lib/buf.h"

/* RFC 5321 4.5.3.1 limits. */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256
#define SMTP_PARAMS_MAX		16

enum smtp_verb {
	SMTP_UNKNOWN = 0, SMTP_HELO, SMTP_EHLO, SMTP_MAIL, SMTP_RCPT,
	SMTP_DATA, SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_HELP,
	SMTP_STARTTLS, SMTP_AUTH, SMTP_EXPN, SMTP_BDAT, SMTP_LHLO
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	struct slice	 name;		/* the verb as sent */
	struct slice	 arg;		/* after the verb and its blank */
};

/* An address. The local part is kept as sent (quotes included); the
 * domain is lower-cased (address literals as sent). */
struct smtp_addr {
	int	 null;			/* <> */
	int	 utf8;			/* has non-ASCII characters */
	char	 local[SMTP_LOCAL_MAX + 1];
	char	 domain[SMTP_DOMAIN_MAX + 1];
};

struct smtp_param {
	struct slice	 key;
	struct slice	 value;		/* .p NULL when there is no '=' */
};

enum smtp_perr {
	SMTP_P_OK = 0,
	SMTP_P_SYNTAX,		/* 501 5.5.2 / 5.1.7 / 5.1.3 */
	SMTP_P_TOO_LONG,	/* 501 5.1.1 (RFC 5321 limits) */
	SMTP_P_UTF8,		/* non-ASCII without SMTPUTF8: 553 5.6.7 */
	SMTP_P_TOO_MANY		/* more parameters than SMTP_PARAMS_MAX */
};

/* Splits a command line (without CRLF) into verb and argument. */
void		 smtp_parse_command(struct slice line, struct smtp_cmd *);

/*
 * Parses "FROM:<path> params" (MAIL) or "TO:<path> params" (RCPT): kw is
 * "FROM" or "TO" (case-insensitive; a blank after the colon is tolerated).
 * RCPT accepts <postmaster> without a domain. On success *params is the
 * rest after the path's blank. *why gets a short reason on error.
 */
enum smtp_perr	 smtp_parse_mail_rcpt(struct slice arg, const char *kw,
		    int allow_utf8, struct smtp_addr *, struct slice *params,
		    const char **why);

/* "KEY[=VALUE] ..." (RFC 5321 esmtp-param). */
enum smtp_perr	 smtp_parse_params(struct slice s, int allow_utf8,
		    struct smtp_param *out, size_t *n, const char **why);

/* 1 if s is a valid domain name (LDH labels, or UTF-8 labels when
 * allow_utf8) or an address literal. */
int		 smtp_valid_domain(struct slice s, int allow_utf8);

/* Writes "local@domain" (or "" for the null path) into b. */
void		 smtp_addr_format(const struct smtp_addr *, struct buf *b);

#endif
