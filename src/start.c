/*
 * start: the daemon's start-up steps around the privilege drop (the
 * queue lock, the pid file, the listeners as root; then smtp.ini's user)
 * and the free-space and backlog watches that hold reception or delivery.
 * A failure is logged, told on stderr and answered with an exit status.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "admin/http.h"
#include "core/config.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/nodes.h"
#include "delivery/mta.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"
#include "queue/space.h"
#include "records/backlog.h"
#include "records/space.h"
#include "smtp/server.h"
#include "outpost.h"

/* records_min_free: no delivery starts while the records are short. */
static void
on_records_space(void *arg, int low)
{
	struct outpost *op = arg;

	mta_hold(op->mta, MTA_HOLD_RECORDS_SPACE, low);
}

/* records_backlog_max: no delivery starts while records pile up. */
static void
on_records_backlog(void *arg, int over)
{
	struct outpost *op = arg;

	mta_hold(op->mta, MTA_HOLD_RECORDS_BACKLOG, over);
}

/* Free-space thresholds, before the first client: queue_min_free holds
 * reception, records_min_free delivery. Never fails. */
int
start_watch_space(struct outpost *op)
{
	qspace_configure(queue_space(op->queue),
	    &op->cfg->outbound->queue_min_free);
	op->rspace = records_space_new(op->base, op->cfg, on_records_space,
	    op);
	rbacklog_configure(op->cfg->outbound->records_backlog_max);
	rbacklog_watch(on_records_backlog, op);
	return 0;
}

/* The queue directory is the user's to write; a worker's partition is
 * queue_dir/w<i>, and the queue directory it is in is checked first, so
 * that the same one line names the same directory as in a single
 * process (the supervisor, root, made the partition the user's). */
static int
queue_writable(const char *qdir, const struct daemon_ids *ids, char **err)
{
	char *top;
	int rc;

	if (nodes_worker() >= 0 && strrchr(qdir, '/') != NULL) {
		top = xstrndup(qdir, (size_t)(strrchr(qdir, '/') - qdir));
		rc = daemon_dir_writable(top, ids, err);
		free(top);
		if (rc != 0)
			return rc;
	}
	return daemon_dir_writable(qdir, ids, err);
}

/*
 * The steps that need root, then the drop (core/daemon.c): the queue
 * directory's lock before anything touches the queue, the listeners bound
 * (port 25), then smtp.ini's user and group for good. Everything after it
 * (plugins, the queue, delivery) runs as that user, so whatever it
 * creates is the user's. An exit status on failure.
 */
int
start_daemon(struct outpost *op)
{
	const struct config_core *c = op->cfg->core;
	char *err = NULL;
	int bind_failed;

	/* Thousands of sessions need thousands of descriptors (as root,
	 * the hard limit too: it stays after the drop). */
	daemon_fd_limit(op->cfg, 1);
	if (daemon_ids_resolve(c->user, c->group, &op->ids, &err) != 0)
		return log_start_failed(EXIT_CONFIG, err);
	switch (daemon_lock_queue(c->queue_dir, &op->ids, &op->lock_fd,
	    &err)) {
	case DAEMON_LOCKED:
		break;
	case DAEMON_LOCK_HELD:
		return log_start_failed(EXIT_TEMPFAIL, err);
	default:
		return log_start_failed(EXIT_FAILURE, err);
	}
	if (nodes_worker() < 0 && daemon_pidfile_write(c->pid_file, &err))
		return log_start_failed(EXIT_CANTCREAT, err);
	op->pid_file = xstrdup(c->pid_file);
	if ((op->base = event_base_new()) == NULL)
		return log_start_failed(EXIT_FAILURE,
		    xstrdup("cannot create the event loop"));
	if ((op->server = smtp_server_start(op->base, op->cfg, NULL,
	    &err)) == NULL)
		return log_start_failed(EXIT_FAILURE, err);
	if ((op->admin = admin_new(op->base,
	    op->cfg->config_dir, op->ids.user != NULL ? op->ids.uid :
	    (uid_t)-1, op->ids.user != NULL ? op->ids.gid : (gid_t)-1, &err,
	    &bind_failed)) == NULL && err != NULL)
		return log_start_failed(bind_failed ? EXIT_FAILURE :
		    EXIT_CONFIG, err);
	if (daemon_drop(&op->ids, &err) != 0)
		return log_start_failed(EXIT_CONFIG, err);
	if (nodes_worker() > 0)
		;	/* the same in every worker: worker 0 says it */
	else if (geteuid() == 0)
		log_warn("core", NULL, "running as root: set smtp.ini user "
		    "(and group) to have outpost drop root once its "
		    "listeners are bound");
	else if (op->ids.user != NULL)
		log_notice("core", NULL, "running as user %s (uid %u, gid %u)",
		    op->ids.user, (unsigned)getuid(), (unsigned)getgid());
	if (queue_writable(c->queue_dir, &op->ids, &err) != 0)
		return log_start_failed(EXIT_CANTCREAT, err);
	return 0;
}
