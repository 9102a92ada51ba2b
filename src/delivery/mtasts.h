/*
 * mtasts: MTA-STS policies of recipient domains (RFC 8461) — the
 * `_mta-sts.<domain>` TXT record looked up with the delivery resolver
 * (dns.c), the policy fetched from https://mta-sts.<domain>/.well-known/
 * mta-sts.txt with libcurl's multi interface on the event loop (the host
 * resolved by dns.c, never by libcurl; no redirects, no proxy, 64 KiB at
 * most, the certificate verified against the system store plus tls.ini's
 * `ca`), and a cache per domain honouring max_age and the record's id,
 * kept in a file across restarts (RFC 8461 5.1). Fetch failures are
 * counted in tlsrpt.
 */
#ifndef OUTPOST_MTASTS_H
#define OUTPOST_MTASTS_H

struct dns;
struct event_base;
struct mtasts;
struct mtasts_policy;
struct mtasts_wait;

/* ca: a PEM bundle added to the system store (NULL: none); state: the
 * cache file (NULL: memory only), read now. */
struct mtasts	*mtasts_new(struct event_base *, struct dns *, const char *ca,
		    const char *state);
/* Stops every fetch; no wait may be pending. NULL is fine. */
void		 mtasts_free(struct mtasts *);

/*
 * The policy of domain, answered later (never inside this call): p is
 * the cached or freshly fetched unexpired policy, valid during the call
 * only, or NULL when the domain has none (or none could be had: then
 * mail goes as without MTA-STS). uuid names the log lines.
 */
typedef void (*mtasts_fn)(void *arg, const struct mtasts_policy *p);
struct mtasts_wait *mtasts_get(struct mtasts *, const char *domain,
		    const char *uuid, mtasts_fn, void *arg);
/* The callback will not run. */
void		 mtasts_cancel(struct mtasts_wait *);

#endif
