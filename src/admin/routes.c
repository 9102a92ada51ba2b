/*
 * routes: the admin listener's modules registered and freed together
 * (contract in routes.h).
 */
#include <stdlib.h>
#include <time.h>

#include "admin/api_dest.h"
#include "admin/api_inject.h"
#include "admin/api_queue.h"
#include "admin/api_status.h"
#include "admin/api_suppress.h"
#include "admin/fanout.h"
#include "admin/metrics.h"
#include "admin/routes.h"
#include "admin/status_page.h"
#include "lib/xmalloc.h"

struct admin_routes {
	void			*status;
	struct am		*metrics;	/* /metrics, its observer */
	struct status_page	*page;
	void			*api[3];	/* queue, destinations, inject */
	struct api_suppress	*suppress;
	struct fanout		*fan;		/* worker 0 of several */
};

struct admin_routes *
admin_routes_new(struct admin *a, struct event_base *base,
    const char *config_dir, const char *queue_dir, struct mta *mta,
    api_reload_fn reload, void *reload_arg, char **err)
{
	struct admin_routes *r = xcalloc(1, sizeof(*r));

	if ((r->metrics = admin_metrics_new(a, config_dir, queue_dir,
	    err)) == NULL) {
		free(r);
		return NULL;
	}
	r->status = api_status_register(a, time(NULL));
	r->page = status_page_new(a, base, mta, r->metrics);
	r->api[0] = api_queue_register(a, mta);
	r->api[1] = api_dest_register(a, mta, reload, reload_arg);
	r->api[2] = api_inject_register(a, mta);
	r->suppress = api_suppress_register(a);
	r->fan = fanout_new(a, base, config_dir);
	return r;
}

void
admin_routes_stop(struct admin_routes *r)
{
	if (r == NULL)
		return;
	fanout_free(r->fan);
	r->fan = NULL;
	free(r->status);
	r->status = NULL;
	status_page_free(r->page);
	r->page = NULL;
	api_suppress_stop(r->suppress);
	r->suppress = NULL;
	for (size_t i = 0; i < 3; i++) {
		free(r->api[i]);
		r->api[i] = NULL;
	}
}

void
admin_routes_free(struct admin_routes *r)
{
	if (r == NULL)
		return;
	admin_routes_stop(r);
	admin_metrics_free(r->metrics);
	free(r);
}
