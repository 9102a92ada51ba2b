/*
 * shutdown: stopping the daemon. TERM or INT begins the drain (sessions
 * finish their transaction, then in-flight deliveries end, bounded by
 * force_shutdown_timeout); teardown frees every role in reverse order of
 * start, on a clean exit and on every start-up failure alike.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "admin/http.h"
#include "admin/routes.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/notify.h"
#include "core/shaping.h"
#include "core/vmta.h"
#include "delivery/mta.h"
#include "feedback/feedback.h"
#include "plugins/plugin.h"
#include "queue/queue.h"
#include "records/backlog.h"
#include "records/space.h"
#include "smtp/server.h"
#include "outpost.h"

static void
on_force_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct outpost *op = arg;

	(void)fd;
	(void)what;
	log_warn("core", NULL, "shutdown: in-flight work did not finish in "
	    "%us; stopping now", op->cfg->core->force_shutdown_timeout);
	event_base_loopbreak(op->base);
}

/* Every delivery attempt has ended: the queue is as on disk. */
static void
on_deliveries_done(void *arg)
{
	struct outpost *op = arg;

	event_base_loopexit(op->base, NULL);
}

/* Every session has ended; then in-flight deliveries finish. */
static void
on_sessions_done(void *arg)
{
	struct outpost *op = arg;

	if (op->mta != NULL)
		mta_drain(op->mta, on_deliveries_done, op);
	else
		event_base_loopexit(op->base, NULL);
}

void
shutdown_begin(struct outpost *op, const char *why)
{
	struct timeval tv = { (time_t)op->cfg->core->force_shutdown_timeout, 0 };

	if (op->stopping) {
		log_notice("core", NULL, "%s again: stopping now", why);
		event_base_loopbreak(op->base);
		return;
	}
	op->stopping = 1;
	log_notice("core", NULL, "%s: shutting down", why);
	notify_send("STOPPING=1", "shutting down");
	/* Nothing else keeps the loop alive once roles have stopped; the
	 * timer bounds how long in-flight work may take. */
	op->force_timer = evtimer_new(op->base, on_force_timeout, op);
	evtimer_add(op->force_timer, &tv);
	for (size_t i = 0; i < sizeof(op->signals) / sizeof(op->signals[0]); i++)
		if (op->signals[i] != NULL && event_get_signal(op->signals[i]) !=
		    SIGTERM && event_get_signal(op->signals[i]) != SIGINT)
			event_del(op->signals[i]);
	if (op->inotify_ev != NULL)
		event_del(op->inotify_ev);
	if (op->reload_timer != NULL)
		event_del(op->reload_timer);
	/* Sessions finish their transaction and say 421; then stop. */
	if (op->server != NULL)
		smtp_server_drain(op->server, on_sessions_done, op);
	else
		event_base_loopexit(op->base, NULL);
}

void
shutdown_teardown(struct outpost *op)
{
	smtp_server_free(op->server);
	admin_free(op->admin);		/* before what its routes use */
	admin_routes_stop(op->routes);
	records_space_free(op->rspace);
	rbacklog_watch(NULL, NULL);
	mta_free(op->mta);
	shaping_unref(op->shaping);
	vmta_unref(op->vmta);
	queue_close(op->queue);
	plugins_unload();
	feedback_stop(op->fb);		/* after its observers */
	admin_routes_free(op->routes);	/* its observer is gone */
	metrics_free();
	for (size_t i = 0; i < sizeof(op->signals) / sizeof(op->signals[0]); i++)
		if (op->signals[i] != NULL)
			event_free(op->signals[i]);
	if (op->inotify_ev != NULL)
		event_free(op->inotify_ev);
	if (op->reload_timer != NULL)
		event_free(op->reload_timer);
	if (op->force_timer != NULL)
		event_free(op->force_timer);
	if (op->beat_timer != NULL)
		event_free(op->beat_timer);
	if (op->inotify_fd != -1)
		close(op->inotify_fd);
	notify_close();
	if (op->base != NULL)
		event_base_free(op->base);
	if (op->pid_file != NULL && daemon_pidfile_remove(op->pid_file) == -1)
		log_warn("core", NULL, "pid file %s not removed: %s",
		    op->pid_file, strerror(errno));
	free(op->pid_file);
	if (op->lock_fd != -1)
		close(op->lock_fd);
	daemon_ids_clear(&op->ids);
	config_unref(op->cfg);
	log_flush_exit();
	libevent_global_shutdown();
}
