/*
 * mta_error: the one place that decides what a delivery failure means
 * (Postfix's smtp_trouble.c). Every failure is classified once by scope
 * (this host: try the next MX; the whole mail; one recipient), class
 * (temporary, permanent) and finality, into per-recipient outcomes that
 * drive retries, bounces, DSN fields, hooks and records. The wording and
 * status codes are Haraka's (reference §1.7–§1.10), with SPEC §5's fixes.
 */
#ifndef OUTPOST_MTA_ERROR_H
#define OUTPOST_MTA_ERROR_H

#include "delivery/dns.h"
#include "delivery/mta_session.h"
#include "proto/reply.h"

enum fail_class {
	FAIL_NONE = 0,		/* delivered */
	FAIL_TEMP,		/* deferred: retried later */
	FAIL_PERM		/* bounced */
};

/* One recipient's outcome of an attempt. */
struct outcome {
	enum fail_class	 class;
	int		 code;		/* 250, 450, 550 */
	char		 status[16];	/* "2.0.0", "4.1.0", "5.1.1" */
	char		*msg;		/* reply text without code and status,
					 * or Outpost's own message */
	int		 remote;	/* msg is a remote reply */
	char		 sent[16];	/* remote: the enhanced status it sent,
					 * "" when none */
	char		*host;		/* the server that answered (MX name,
					 * else its address); NULL */
	char		*ip;
};

void	 outcome_clear(struct outcome *);
void	 outcome_copy(struct outcome *dst, const struct outcome *src);
/* Outpost's own outcome: code, status, message. */
void	 outcome_local(struct outcome *, enum fail_class, int code,
	    const char *status, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/* A remote reply's outcome: class from the code (2 delivered, 4 and 3
 * temporary, 5 permanent), the enhanced status or, when the server sent
 * none, the class's "X.0.0". */
void	 outcome_reply(struct outcome *, const struct reply *,
	    const char *host, const char *ip);
/* "<code> <status> <msg>": the reason in logs, queue and DSN; malloc'd. */
char	*outcome_reason(const struct outcome *);
/* The reason the hooks and records see (malloc'd): a remote reply as the
 * remote worded it, "<code> [<sent status> ]<msg>" (no status it did not
 * send, none made permanent); outcome_reason() for Outpost's own. */
char	*outcome_words(const struct outcome *);
/* Retries ran out: a temporary outcome becomes permanent, 4.x.y → 5.x.y
 * (the code is left alone, as the reply that caused it). */
void	 outcome_make_final(struct outcome *);
/* "delivered", "delayed", "failed". */
const char *outcome_action(const struct outcome *);

/* A DNS answer that ends the attempt (status != DNS_OK, or no address):
 * the outcome every recipient gets. */
void	 mta_error_dns(const struct dns_answer *, const char *domain,
	    struct outcome *);

/* A queue entry found corrupt (at start-up or when read for delivery):
 * its pending recipients are lost, a permanent local failure (554 5.3.0
 * "Queue entry corrupt: <why>"). */
void	 mta_error_lost(const char *why, struct outcome *);

enum verdict {
	V_NEXT_MX,	/* this host failed: try the next address */
	V_RETRY_HOST,	/* a reused connection failed at RSET: same host,
			 * fresh connection */
	V_MAIL,		/* *mail applies to every recipient of the attempt */
	V_RCPTS		/* per recipient: mta_error_rcpt() */
};

/*
 * Classifies a finished transaction. V_MAIL fills *mail. After V_RCPTS,
 * mta_error_rcpt() gives each recipient's outcome. The rules (reference
 * §1.8, §1.9.2): I/O errors and remote closes → next MX; a stage's
 * deadline passed or a malformed or oversized reply → next MX too, with
 * *mail filled (421 4.4.2 / 4.5.0, temporary: what to record once every
 * MX failed) — never a bounce (Haraka bounces a bad reply with 5.5.1);
 * any of these after the final dot reached the server → V_RCPTS with that
 * temporary *mail and no other MX (the message may have been delivered);
 * 3xx/4xx/5xx at the greeting → next MX with *mail filled (the server's
 * reply: once every MX failed, a bounce only when every failure was a
 * permanent reply, else deferred); 3xx/4xx at EHLO, STARTTLS, AUTH, MAIL,
 * DATA or the dot → the whole mail deferred; 5xx there → bounced; forced
 * TLS unavailable or unverified → deferred.
 * A DATA/dot failure applies to the recipients the server had accepted;
 * the ones it refused at RCPT keep their own reply.
 */
enum verdict mta_error_classify(const struct mta_result *, const char *host,
	    struct outcome *mail);
/* Recipient i's outcome after V_RCPTS, or after V_MAIL at DATA/dot
 * (mail then applies to the accepted ones). */
void	 mta_error_rcpt(const struct mta_result *, size_t i,
	    const struct outcome *mail, const char *host, struct outcome *);

#endif
