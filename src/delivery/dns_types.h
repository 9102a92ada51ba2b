/*
 * dns_types: what a lookup answers (delivery/dns.h's callers and its
 * private parts share them).
 */
#ifndef OUTPOST_DNS_TYPES_H
#define OUTPOST_DNS_TYPES_H

#include <stddef.h>

#include "delivery/mx.h"

enum dns_status {
	DNS_OK = 0,	/* mxs/n hold the answer */
	DNS_NULL_MX,	/* the domain publishes `MX 0 .` (RFC 7505) */
	DNS_NOWHERE,	/* no MX and no A/AAAA (NODATA) */
	DNS_NXDOMAIN,	/* the domain does not exist */
	DNS_TEMP	/* SERVFAIL, timeout, refused...: error says which */
};

struct dns_answer {
	enum dns_status	 status;
	const char	*error;		/* DNS_TEMP: c-ares' text ("DNS server
					 * returned general failure", "Timeout
					 * while contacting DNS servers") */
	struct mx	*mxs;		/* DNS_OK; the callee may take them
					 * (set mxs to NULL and n to 0) */
	size_t		 n;
	char		**txt;		/* dns_txt, DNS_OK: each record's
					 * strings joined (borrowed) */
	size_t		 ntxt;
};

typedef void (*dns_answer_fn)(void *arg, struct dns_answer *);

#endif
