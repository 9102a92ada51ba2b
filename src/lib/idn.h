/*
 * idn: internationalised domain names and UTF-8 mail (RFC 5890, 6531).
 * A domain in U-labels is looked up by its A-labels: IDNA2008 with UTS #46
 * non-transitional mapping (libidn2), the choice of Postfix's smtputf8
 * support and of today's browsers (ß and ς stay themselves). A domain
 * that is all ASCII is never handed to libidn2: it goes through as is.
 */
#ifndef OUTPOST_IDN_H
#define OUTPOST_IDN_H

#include <stddef.h>

/* Whether the NUL-terminated s is all ASCII (bytes < 0x80). */
int	 idn_is_ascii(const char *s);

/*
 * The A-label form of domain. Returns 0 and sets *out to NULL when domain
 * is all ASCII (use it as it is: nothing converted, nothing allocated),
 * 0 and a new string in *out (the caller frees) when it had U-labels,
 * or -1 with *why (static text) when it is not a valid IDNA2008 name.
 */
int	 idn_domain_ascii(const char *domain, char **out, const char **why);

/*
 * The ASCII form of the mailbox addr ("local@domain", or "" for <>):
 * the same address with its domain in A-labels. Returns 0 and a new
 * string in *out, or -1 when it cannot be written in ASCII without loss
 * (a non-ASCII local part, or a domain that fails IDNA2008).
 */
int	 idn_addr_ascii(const char *addr, char **out);

/* Whether the header section of msg (up to its first empty line, or
 * all of it) has a byte outside ASCII. */
int	 idn_header_nonascii(const char *msg, size_t len);

#endif
