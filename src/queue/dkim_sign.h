/*
 * dkim_sign: the DKIM-Signature fields of one message (RFC 6376;
 * Ed25519-SHA256 as RFC 8463), computed with OpenSSL 3 from a loaded
 * struct dkim_config: which keys sign (the From domain's, aligned, or
 * its parent's; else the envelope sender's; else [sign] domain; plus
 * [sign] additional_domains; or the domain and selector a plugin chose),
 * the body hash per canonicalisation, the header list with oversigning.
 * Synchronous and thread-safe (the configuration is only read): the
 * signing thread (queue/dkim_worker) calls it.
 */
#ifndef OUTPOST_DKIM_SIGN_H
#define OUTPOST_DKIM_SIGN_H

#include <stddef.h>
#include <time.h>

#include "core/dkim_keys.h"
#include "lib/buf.h"

struct dkim_request {
	const char	*msg;		/* headers, empty line, body; CRLF */
	size_t		 len;
	const char	*mail_from;	/* envelope sender, "" for <> */
	const char	*domain;	/* a plugin's choice (note dkim_domain),
					 * or NULL */
	const char	*selector;	/* with it (note dkim_selector), or NULL */
	time_t		 now;		/* t= */
};

/*
 * Appends one DKIM-Signature field (CRLF-terminated) per signing key to
 * out and "d=<domain> s=<selector> a=<alg>" for each to info (for the
 * log, ", " between). Returns how many, 0 when no key applies, -1 with
 * *err (malloc'd) when OpenSSL fails (out unchanged).
 */
int	 dkim_sign(const struct dkim_config *, const struct dkim_request *,
	    struct buf *out, struct buf *info, char **err);

#endif
