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

#endif
