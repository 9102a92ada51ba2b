/*
 * routes: every module of the admin listener (status, /metrics and its
 * observer, the status page, the queue, destinations, injection and
 * suppression APIs)
 * registered together once the queue and delivery exist, and freed in two
 * steps: the routes' state after the listener (admin_free), the metrics
 * observer's after the plugins are unloaded.
 */
#ifndef OUTPOST_ADMIN_ROUTES_H
#define OUTPOST_ADMIN_ROUTES_H

#include "admin/api_dest.h"

struct admin;
struct admin_routes;
struct event_base;
struct mta;

/* NULL with *err (malloc'd) when the metrics observer cannot be added. */
struct admin_routes *admin_routes_new(struct admin *, struct event_base *,
		    const char *config_dir, const char *queue_dir,
		    struct mta *, api_reload_fn reload, void *reload_arg,
		    char **err);
/* After admin_free(): the routes' own state. */
void		 admin_routes_stop(struct admin_routes *);
/* After plugins_unload(): the rest (the observer's state). */
void		 admin_routes_free(struct admin_routes *);

#endif
