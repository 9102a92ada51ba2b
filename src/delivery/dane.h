/*
 * dane: DANE for SMTP (RFC 7672, RFC 6698/7671). dane.c asks a validating
 * resolver (libunbound, its own DNSSEC validation from a configured trust
 * anchor, driven by the event loop) for the domain's MX RRset, the MX
 * host's addresses and its TLSA RRset (_25._tcp.<host>); dane_policy.c
 * turns the answers into a policy for one MX host, sets up and checks
 * OpenSSL's DANE verification on a connection, and counts results per
 * domain (TLS-RPT's result types, RFC 8460).
 */
#ifndef OUTPOST_DANE_H
#define OUTPOST_DANE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct ssl_st SSL;

/* What DANE asks of the connection to one MX host. */
enum dane_level {
	DANE_NONE = 0,		/* DANE does not apply (an insecure MX,
				 * address or TLSA answer, or no TLSA):
				 * deliver as usual */
	DANE_VERIFY,		/* usable TLSA records: STARTTLS required,
				 * the certificate must match one */
	DANE_ENCRYPT,		/* TLSA records, none usable: STARTTLS
				 * required, not authenticated (RFC 7672
				 * 2.2) */
	DANE_FAIL		/* bogus or failed lookups: the host cannot
				 * be used now (RFC 7672 2.1.1, 2.2) */
};

struct dane_tlsa {
	uint8_t		 usage, selector, mtype;
	size_t		 len;
	unsigned char	*data;
};

/* A policy for one MX host; reference-counted, immutable once made. */
struct dane_policy {
	int		 refs;
	enum dane_level	 level;
	char		*domain;	/* the recipient domain (counters) */
	char		*host;		/* the TLSA base domain, the name
					 * checked for DANE-TA(2) */
	struct dane_tlsa *recs;		/* DANE_VERIFY: the usable records */
	size_t		 n;
	char		*key;		/* for the connection pool: the level,
					 * host and records */
	char		*why;		/* DANE_FAIL: why, one line; DANE_NONE: why not */
	const char	*result;	/* DANE_FAIL, DANE_ENCRYPT: an RFC 8460
					 * result type */
};

/* The security of one answer (libunbound's secure/bogus, or a failure). */
enum dane_sec {
	DANE_SEC_INSECURE = 0, DANE_SEC_SECURE, DANE_SEC_BOGUS, DANE_SEC_FAIL
};

/* What the three lookups found, for dane_decide(). */
struct dane_answers {
	enum dane_sec	 mx, addr, tlsa;
	int		 mx_has_host;	/* secure MX: names host (or, with no
					 * MX records, host is the domain) */
	const struct dane_tlsa *recs;	/* the secure TLSA RRset (parsed) */
	size_t		 n;
	const char	*why_bogus;	/* the resolver's reason, or NULL */
};

/* --- dane_policy.c: pure rules, OpenSSL, counters ------------------------ */

/* TLSA RDATA (usage, selector, matching type, data) into out (data
 * copied). 0, or -1 when shorter than 4 bytes. */
int	 dane_tlsa_parse(const unsigned char *rdata, size_t len,
	    struct dane_tlsa *out);
/* RFC 7672 3.1.3: DANE-TA(2) or DANE-EE(3), selector 0/1, matching type
 * 0 (full), 1 (SHA-256, 32 bytes) or 2 (SHA-512, 64 bytes). */
int	 dane_tlsa_usable(const struct dane_tlsa *);
/* The policy for host (an MX of domain) from the answers; refs 1. */
struct dane_policy *dane_decide(const char *domain, const char *host,
		    const struct dane_answers *);
/* A policy of level DANE_FAIL with why (printf), result an RFC 8460 type. */
struct dane_policy *dane_policy_fail(const char *domain, const char *host,
		    const char *result, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
struct dane_policy *dane_policy_ref(struct dane_policy *);
void	 dane_policy_unref(struct dane_policy *);
/* The MX RDATA's exchange equals host (case-insensitively, trailing dot
 * ignored). */
int	 dane_mx_names(const unsigned char *rdata, size_t len,
	    const char *host);

/* On a new SSL before the handshake: DANE_VERIFY enables OpenSSL's DANE
 * with the records and the host as reference identifier, peer
 * verification on; DANE_ENCRYPT turns verification off. NULL or why not
 * (malloc'd). */
char	*dane_ssl_setup(SSL *, const struct dane_policy *);
/* After the handshake (or its failure): NULL when the policy is met
 * (counted as a success, the matching record logged), else why (malloc'd,
 * beginning "DANE: "), counted as a failure. peer names the server. */
char	*dane_ssl_check(SSL *, const struct dane_policy *, const char *peer,
	    const char *uuid);
/* TLS-RPT-style counters: one more result (RFC 8460 result type, or
 * "success") for the policy's domain, logged with the domain's totals. */
void	 dane_count(const char *domain, const char *result, const char *uuid);

/* --- dane.c: the validating resolver ----------------------------------- */

struct dane;
struct dane_query;
typedef void (*dane_done_fn)(void *arg, struct dane_policy *);

/*
 * A libunbound context on base: trust anchors from trust_anchor (a file
 * of DS/DNSKEY records), queries forwarded to resolvers ("ip", "ip@port",
 * "ip:port" or "[v6]:port", comma list) or, when NULL or empty, to
 * servers (net-utils.ini's, NULL-terminated) or, when none,
 * /etc/resolv.conf's. NULL with *err (malloc'd) on failure.
 */
struct dane *dane_new(struct event_base *base, const char *trust_anchor,
		    const char *resolvers, char *const *servers, char **err);
void	 dane_free(struct dane *);

/* Looks up the policy for host, an MX host of domain reached over an
 * address of family (4 or 6): done(arg, policy) runs once, never inside
 * this call, with a policy it owns (refs 1). */
struct dane_query *dane_lookup(struct dane *, const char *domain,
		    const char *host, int family, dane_done_fn done,
		    void *arg);
/* done will not run. */
void	 dane_cancel(struct dane_query *);

#endif
