/*
 * route: get_mx's answers that become delivery's MX list. A plugin's
 * structured answer (op_next_mx, include/outpost/plugin.h) is converted
 * here and written into the hook's argument block (struct outbound_call).
 */
#ifndef OUTPOST_ROUTE_H
#define OUTPOST_ROUTE_H

#include <stddef.h>

#include "outpost/plugin.h"

struct mx;
struct shaping;
struct shaping_limits;

/* list[0..n) as MX entries: those with neither exchange nor path are
 * skipped, strings copied ("" as NULL), exchanges lower-cased. Returns
 * how many; *out is malloc'd (one slot at least) even for none. */
size_t	 route_from_plugin(const struct op_mx *list, unsigned n,
	    struct mx **out);

/* get_mx's OK with a string: MX forms ("smtp://user:pass@host:port",
 * "lmtp://host", "[1.2.3.4]:2525", "host:port", "host") separated by
 * commas or spaces; a bad one is logged (uuid: the mail's) and skipped.
 * Returns how many; *out is malloc'd, or NULL for none. */
size_t	 route_from_strings(const char *msg, const char *uuid,
	    struct mx **out);

/*
 * op_next_mx for a built-in route with settings of its own (smtp_forward:
 * enable_tls, [tls], connect_timeout, max_connections,
 * one_message_per_rcpt): list[0..n) as op_next_mx takes it, each MX given
 * own's tls, tls_verify, connect_timeout, max_connections and
 * one_per_rcpt (the other fields of own are not read).
 */
void	 route_next_mx_own(struct op_call *, const struct op_mx *list,
	    unsigned n, const struct mx *own);

/*
 * The shaping of a route whose MX hosts have limits of their own
 * (connect_timeout, max_connections, one_per_rcpt): 1, with the key
 * "forward:HOST:PORT" (one budget for that host, whatever the recipient
 * domain) in key and in *lim shaping.ini's limits for that host (a
 * section named after it, an [mx:...] section matching it, else [main])
 * with the route's own over them; 0 when the route has none.
 */
int	 route_shaping(const struct mx *mxs, size_t n,
	    const struct shaping *sh, char *key, struct shaping_limits *lim);

#endif
