/*
 * mx: delivery destinations (Haraka's MX objects) and the pure rules that
 * order them: the string forms plugins return, priority sort with random
 * order among equals, null MX, inet_prefer, and local-address detection
 * for local_mx_ok.
 */
#ifndef OUTPOST_MX_H
#define OUTPOST_MX_H

#include <stddef.h>

#include "core/config.h"

struct mx {
	char		*exchange;	/* host name or IP literal (no brackets);
					 * NULL with path */
	char		*path;		/* Unix socket path, else NULL */
	char		*from_dns;	/* the name this came from: the MX host
					 * name (or the domain, implicit MX);
					 * NULL when a plugin supplied it */
	int		 priority;
	unsigned	 port;		/* 0: the default (25, LMTP 24) */
	char		*bind;		/* local address to connect from */
	char		*bind_helo;	/* EHLO name; NULL: config `me` */
	int		 using_lmtp;
	char		*auth_user;
	char		*auth_pass;
	char		*auth_type;	/* NULL: the best offered */
	char		*route;		/* route/binding name (vmta), NULL */
	/* A route's own settings (smtp_forward.ini); 0 for any other MX. */
	int		 tls;		/* MX_TLS_*: STARTTLS, or outbound.ini's */
	int		 tls_verify;	/* MX_TLS_*: verify, or tls.ini's */
	unsigned	 connect_timeout;	/* s; 0: shaping/outbound's */
	unsigned	 max_connections;	/* 0: shaping.ini's */
	int		 one_per_rcpt;	/* one recipient per transaction */
};

#define MX_TLS_DEFAULT	0	/* as configured for every MX */
#define MX_TLS_ON	1
#define MX_TLS_OFF	2

/* STARTTLS (tls) or verification (tls_verify) of mx: its own choice,
 * else dflt (outbound.ini enable_tls, tls.ini rejectUnauthorized). */
int	 mx_tls_choice(int choice, int dflt);

void	 mx_clear(struct mx *);
void	 mx_copy(struct mx *dst, const struct mx *src);
void	 mx_list_free(struct mx *, size_t n);

/*
 * Haraka's string forms: `smtp://[user:pass@]host[:port]` (`lmtp://`:
 * using_lmtp), `[host]`, `[host]:port`, a bare IPv6 literal, `host:port`
 * (port 1-65535), `host`. Host names are lower-cased. 0, or -1 with a
 * static reason in *why (out then owns nothing).
 */
int	 mx_parse(const char *s, struct mx *out, const char **why);

/* Stable sort by priority, then a random order inside each run of equal
 * priority (a uniform shuffle of the run). */
void	 mx_sort(struct mx *, size_t n);

/* True for exactly one entry with priority 0 and an empty exchange (RFC
 * 7505 `0 .`). */
int	 mx_is_null(const struct mx *, size_t n);

/* inet_prefer: v4 → a stable partition [IPv4 or not an IP] + [IPv6];
 * v6 the mirror; default unchanged. */
void	 mx_inet_prefer(struct mx *, size_t n, enum inet_prefer);

/* 4 or 6 when s is an IPv4/IPv6 literal, else 0. */
int	 mx_ip_family(const char *s);

/*
 * Local addresses (local_mx_ok=false skips these): 0.0.0.0, 127/8,
 * 169.254/16, ::, ::1, fe80::/10, fc00::/7, the IPv4-mapped forms of the
 * IPv4 ones, and every address of a local interface (getifaddrs, read once
 * and cached; mx_local_reset() forgets the cache).
 */
int	 mx_ip_is_local(const char *ip);
void	 mx_local_reset(void);

#endif
