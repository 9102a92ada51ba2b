/*
 * dns: MX, A, AAAA and TXT lookups with c-ares on the event loop, and the
 * resolution steps of delivery: a domain's MX list (implicit MX, null MX,
 * sorting) and then the addresses of each MX host. Servers, timeout and
 * tries come from net-utils.ini [dns] (core/dns_config.h, included here for
 * dns_new's users); without `servers` c-ares reads the system resolver
 * configuration. Callbacks never run inside the call that started the
 * lookup.
 */
#ifndef OUTPOST_DNS_H
#define OUTPOST_DNS_H

#include <stddef.h>

#include "core/dns_config.h"
#include "delivery/dns_types.h"
#include "delivery/mx.h"

struct event_base;
struct dns;
struct dns_query;

struct dns	*dns_new(struct event_base *, const struct dns_config *,
		    char **err);
/* Cancels every pending query (their callbacks do not run). */
void		 dns_free(struct dns *);


/*
 * The MX list of domain (lower-case ASCII): MX records → mx entries with
 * exchange = the host name (lower-case, no trailing dot), from_dns =
 * domain, sorted (mx_sort). No MX records (NODATA) → implicit MX: the
 * domain's AAAA then A addresses as priority-0 entries (exchange = IP,
 * from_dns = domain), DNS_NOWHERE when there are none. NXDOMAIN →
 * DNS_NXDOMAIN. A single `0 .` → DNS_NULL_MX.
 */
struct dns_query *dns_mx(struct dns *, const char *domain, dns_answer_fn,
		    void *arg);

/*
 * The addresses of a list: each host-name exchange becomes one entry per
 * AAAA address then one per A address (exchange = the IP, from_dns = the
 * host name, every other field copied); IP and path entries are kept;
 * a name with no address (or a failed lookup) disappears. List order is
 * kept, then mx_inet_prefer. Always DNS_OK (possibly n = 0).
 */
struct dns_query *dns_addresses(struct dns *, const struct mx *, size_t n,
		    enum inet_prefer, dns_answer_fn, void *arg);

/* The TXT records of name: DNS_OK (txt/ntxt, maybe none), DNS_NOWHERE
 * (NODATA), DNS_NXDOMAIN or DNS_TEMP. */
struct dns_query *dns_txt(struct dns *, const char *name, dns_answer_fn,
		    void *arg);

/* The callback will not run. For a query whose callback has not run yet
 * (inside that callback it does nothing). */
void		 dns_cancel(struct dns_query *);

#endif
