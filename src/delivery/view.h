/*
 * view: what the outbound hooks and their observers see of an attempt
 * (struct op_outbound in its outbound_call), and the seconds in their
 * DELAY / DENYSOFT answers.
 */
#ifndef OUTPOST_VIEW_H
#define OUTPOST_VIEW_H

#include "delivery/mta_error.h"
#include "plugins/plugin.h"

struct attempt;

/* The entry's fields only: no recipients, no server, no event. */
void	 view_reset(struct attempt *);
/* The recipients whose outcome has class `class` (all when class < 0). */
void	 view_rcpts(struct attempt *, int class);
/*
 * The view of one event of the attempt (delivered, deferred, bounce),
 * for its hook and its observers: the recipients it concerns, the server,
 * and the event's own fields. `attempts` is left to the caller (the
 * bounce hook sees the entry's).
 */
void	 view_event(struct attempt *, enum op_hook);
/* The outcome class an event concerns. */
enum fail_class view_event_class(enum op_hook);
/* A hook's answer as a number of seconds (0 to a year, trailing spaces
 * allowed): 0, or -1 when msg is NULL or not such a number. */
int	 view_seconds(const char *msg, long *out);

#endif
