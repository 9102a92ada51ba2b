/*
 * https: HTTPS GETs with libcurl's multi interface on the event loop
 * (a struct event per socket curl names, one timer). The host's addresses
 * are the caller's (the delivery resolver's): libcurl never resolves a
 * name. HTTPS only, no redirects, no proxy (whatever the environment
 * says), a size cap, connect and total deadlines, the certificate
 * verified against the system store plus a configured CA bundle.
 */
#ifndef OUTPOST_HTTPS_H
#define OUTPOST_HTTPS_H

#include <stddef.h>

struct event_base;
struct https;
struct https_get;

struct https_result {
	int		 ok;		/* a response came: status, body */
	long		 status;	/* HTTP status */
	const char	*body;		/* NUL-terminated, len bytes */
	size_t		 len;
	const char	*error;		/* !ok: why, one line */
	int		 unverified;	/* !ok: the certificate failed */
};

/* ca: a PEM bundle added to the system store, NULL: none. */
struct https	*https_new(struct event_base *, const char *ca);
/* Stops every GET (their callbacks do not run). NULL is fine. */
void		 https_free(struct https *);

typedef void (*https_fn)(void *arg, const struct https_result *);
/*
 * GET https://host/path (port 443) from one of addrs (IP literals; at
 * least one), a body of at most max bytes. fn runs once, never inside
 * this call; r is valid during the call only.
 */
struct https_get *https_start(struct https *, const char *host,
		    const char *path, const char *const *addrs, size_t naddrs,
		    size_t max, https_fn fn, void *arg);
/* The callback will not run. */
void		 https_cancel(struct https_get *);

#endif
