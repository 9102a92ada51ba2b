/*
 * api_dest: destinations and configuration in the admin API —
 * GET /api/destinations (the shaper's state with queued counts),
 * POST /api/destinations/<key>/suspend {"duration": "1h", "reason": ...}
 * and .../resume, POST /api/reload (what SIGHUP reloads, through main.c's
 * callback: admin/ does not know main.c).
 */
#ifndef OUTPOST_ADMIN_API_DEST_H
#define OUTPOST_ADMIN_API_DEST_H

struct admin;
struct mta;

/* reload: NULL when everything was reloaded, else a malloc'd text saying
 * what was not (the running configuration kept). */
typedef char *(*api_reload_fn)(void *arg);

void	*api_dest_register(struct admin *, struct mta *, api_reload_fn,
	    void *arg);

#endif
