/*
 * netmatch: a list of address and name entries, and whether an address or
 * a name is on it. Shared by the relay ACL, the TLS host lists, and later
 * shaping and source-IP pools. Pure: no I/O, no logging, immutable once
 * built.
 */
#ifndef OUTPOST_NETMATCH_H
#define OUTPOST_NETMATCH_H

#include <stddef.h>

struct sockaddr;

/*
 * Entries, one per netmatch_add():
 *   192.0.2.1  2001:db8::1            a single address (/32, /128)
 *   192.0.2.0/24  2001:db8::/32       a CIDR network: a prefix length of
 *                                     0-32 or 0-128, a decimal as strtoul
 *                                     reads it (blanks and a sign before
 *                                     the digits pass, as they always did
 *                                     in relay_acl_allow and tls.ini);
 *                                     bits past it are ignored (10.1.2.3/8
 *                                     is 10.0.0.0/8); /0 is accepted, the
 *                                     caller decides (netmatch_prefix)
 * and with one of the name flags:
 *   mx.example.com                    that host name: case-insensitive, one
 *                                     trailing dot ignored on either side
 *   *.example.com                     (NETMATCH_DOMAINS) any name below
 *                                     example.com, not example.com itself
 */
enum {
	/* Any entry that is not an address and has no '/' is a name, taken
	 * as written (tls.ini's lists: no checks, '*' is a plain character). */
	NETMATCH_NAMES		= 1 << 0,
	/* Names as above, but checked as DNS names (labels of 1-63 letters,
	 * digits, '-' or '_'; at most 253 characters), and "*." opens a
	 * suffix pattern. For new lists (shaping, source-IP pools). */
	NETMATCH_DOMAINS	= 1 << 1,
	/*
	 * IPv4-mapped IPv6 (::ffff:a.b.c.d), in entries and in addresses, is
	 * the IPv4 address it carries; a prefix on such an entry counts IPv4
	 * bits (0-32). Without it entries stay as written, and a mapped
	 * address matches IPv4 entries by the IPv4 address it carries and
	 * IPv6 entries by its full IPv6 address.
	 */
	NETMATCH_FOLD_MAPPED	= 1 << 2,
};

/* Why netmatch_add() refused an entry (0 when it did not). */
enum netmatch_error {
	NETMATCH_OK = 0,
	NETMATCH_EEMPTY,	/* nothing to parse */
	NETMATCH_EADDR,		/* not an address (nor a name, if allowed) */
	NETMATCH_EPREFIX,	/* prefix length: not a number, or too large */
	NETMATCH_ENAME,		/* NETMATCH_DOMAINS: not a DNS name or pattern */
};

struct netmatch;

struct netmatch	*netmatch_new(unsigned flags);
void		 netmatch_free(struct netmatch *);
/* Parses s/len and appends it; blanks around the entry are not trimmed
 * (an address with them is an error). */
enum netmatch_error netmatch_add(struct netmatch *, const char *s, size_t len);
const char	*netmatch_strerror(enum netmatch_error);

size_t		 netmatch_count(const struct netmatch *);
/* The prefix length of entry i (32 or 128 for a single address); -1 for
 * a name. */
int		 netmatch_prefix(const struct netmatch *, size_t i);

/* True when the address is in one of the networks; AF_INET and AF_INET6
 * only. netmatch_ip takes an address literal; others never match. */
int		 netmatch_sockaddr(const struct netmatch *,
		    const struct sockaddr *);
int		 netmatch_ip(const struct netmatch *, const char *ip);
/* True when name (may be NULL) is one of the names or patterns. */
int		 netmatch_name(const struct netmatch *, const char *name);

#endif
