/*
 * dsn_send: a DSN built (dsn.c) from the outbound.bounce_message* templates
 * and queued (inject.c) to the original sender with envelope <>.
 */
#ifndef OUTPOST_DSN_SEND_H
#define OUTPOST_DSN_SEND_H

#include "delivery/dsn.h"
#include "delivery/inject.h"

/*
 * p: all but now, pid and the templates, which dsn_send sets (templates
 * read from config_dir). done(arg, code, msg) as inject_send's: never
 * inside this call.
 */
void	 dsn_send(struct inject *, const char *config_dir,
	    struct dsn_params *p, inject_done_fn done, void *arg);

#endif
