/*
 * attempt_shape: traffic shaping in the attempt (delivery/shaper.h): the
 * destination once the MX list is known, the gate before each
 * transaction (a pooled connection, a new one within the destination's
 * limits, or the attempt ends: re-dispatched at a time, or parked until a
 * slot frees), the replies fed back, and the connections' slots given
 * back when they close. What attempt.c calls is in attempt_priv.h; this
 * is mta.c's part.
 */
#ifndef OUTPOST_ATTEMPT_SHAPE_H
#define OUTPOST_ATTEMPT_SHAPE_H

#include <stdint.h>

struct attempt_env;

/* Shutdown: every parked item's waiter dropped. */
void		 shape_cancel_all(struct attempt_env *);

#endif
