/*
 * metrics: GET /metrics on the admin listener, the observer plugin that
 * counts outcomes by destination and bounce category, and the latest
 * deferrals and bounces for the status page.
 */
#ifndef OUTPOST_ADMIN_METRICS_H
#define OUTPOST_ADMIN_METRICS_H

struct admin;
struct am;
struct buf;

/* After plugins_load: adds the observer plugin and the /metrics route.
 * NULL with *err (malloc'd) when the plugin cannot be added. */
struct am	*admin_metrics_new(struct admin *, const char *config_dir,
		    const char *queue_dir, char **err);
/* After plugins_unload (the observer is gone by then). */
void		 admin_metrics_free(struct am *);
/* The latest deferred and bounced recipients, newest first, as a JSON
 * array of {"time","type","recipient","destination","category",
 * "reason"}. */
void		 admin_metrics_recent(const struct am *, struct buf *out);

#endif
