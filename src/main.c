/*
 * main: command line, start-up, signals, configuration reloads, exit.
 * Owns the event base and the current configuration generation; every
 * role is started from here and stopped here, in reverse order.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>

#include "admin/http.h"
#include "admin/routes.h"
#include "core/metrics.h"
#include "core/config.h"
#include "core/config_keys.h"
#include "core/daemon.h"
#include "core/defaults.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "core/nodes.h"
#include "core/notify.h"
#include "core/shaping.h"
#include "core/vmta.h"
#include "plugins/plugin.h"
#include "builtins/builtin.h"
#include "delivery/mta.h"
#include "delivery/shaper_file.h"
#include "feedback/feedback.h"
#include "queue/queue.h"
#include "queue/report.h"
#include "queue/space.h"
#include "records/backlog.h"
#include "records/space.h"
#include "report/report.h"
#include "smtp/server.h"
#include "core/version.h"

/* sysexits(3) */
#define EXIT_USAGE	64
#define EXIT_NOINPUT	66
#define EXIT_CANTCREAT	73
#define EXIT_TEMPFAIL	75
#define EXIT_CONFIG	78

#define RELOAD_DELAY_MS	100	/* coalesce an editor's burst of events */

struct outpost {
	struct event_base	*base;
	struct config		*cfg;
	struct event		*signals[5];
	int			 inotify_fd;
	struct event		*inotify_ev;
	struct event		*reload_timer;
	unsigned		 pending;	/* enum config_file bits */
	struct shaping		*shaping;	/* shaping.ini, shaping_rules */
	int			 shaping_pending;	/* one of them changed */
	struct vmta		*vmta;		/* pools.ini */
	int			 vmta_pending;	/* it changed */
	int			 dkim_pending;	/* dkim.ini changed */
	struct event		*force_timer;
	int			 stopping;
	struct queue		*queue;
	struct smtp_server	*server;
	struct admin		*admin;		/* http.ini; NULL: none */
	struct admin_routes	*routes;	/* its modules */
	struct mta		*mta;
	struct records_space	*rspace;	/* records_min_free */
	struct feedback		*fb;		/* feedback.ini */
	struct daemon_ids	 ids;		/* smtp.ini user, group */
	int			 lock_fd;	/* the queue directory's lock */
	char			*pid_file;	/* written: removed at exit */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: outpost -c ROOT     run the daemon in the foreground\n"
	    "       outpost -c ROOT --qlist   list the queued mail\n"
	    "       outpost -c ROOT --qstat   count the queued mail\n"
	    "       outpost -c ROOT --dkim-keygen DOMAIN SELECTOR [--type rsa|"
	    "ed25519] [--bits N]\n"
	    "                           write a DKIM key (RSA 2048 bits by "
	    "default) in\n"
	    "                           ROOT/config/dkim/DOMAIN/ and print its "
	    "DNS record\n"
	    "       outpost -i ROOT     create ROOT with a default config/\n"
	    "       outpost report [-c ROOT] [FILE|DIR]...  totals of the "
	    "record files\n"
	    "       outpost --help | --version\n"
	    "\n"
	    "ROOT is an install directory like Haraka's: ROOT/config holds the\n"
	    "configuration (the same files and keys as Haraka's).\n"
	    "\n"
	    "Signals: HUP retries deferred mail now, TERM/INT stop cleanly,\n"
	    "USR1 reopens log and accounting files. The daemon's pid is in\n"
	    "ROOT/outpost.pid (smtp.ini pid_file) while it runs.\n"
	    "Exit status: 0 ok, 1 run-time failure (a listener or the queue\n"
	    "directory cannot be opened), 64 usage, 66 ROOT missing, 73 cannot\n"
	    "create (or the queue directory is not writable by smtp.ini user),\n"
	    "75 another outpost runs on the queue directory, 78 configuration\n"
	    "error (smtp.ini user or group missing or not switchable too).\n");
}

/* --- signals ------------------------------------------------------------ */

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

static void
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

static void
reopen_done(void *arg, int code, const char *msg)
{
	(void)arg;
	if (code != OP_CONT)
		log_warn("core", NULL, "reopen hook answered %s%s%s",
		    code_name(code), msg ? ": " : "", msg ? msg : "");
}

static void reload_shaping(struct outpost *);
static void reload_vmta(struct outpost *);

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct outpost *op = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		shutdown_begin(op, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		log_notice("core", NULL, "SIGHUP: flushing the temp-fail queue");
		notify_send("RELOADING=1", NULL);
		reload_shaping(op);
		reload_vmta(op);
		dkim_plugin_reload();
		notify_send("READY=1", "ready");
		if (op->mta != NULL)
			mta_flush(op->mta);
		break;
	case SIGUSR1:
		log_notice("core", NULL, "SIGUSR1: reopening log and "
		    "accounting files");
		hook_run(OP_HOOK_REOPEN, NULL, reopen_done, NULL);
		break;
	}
}

/* --- configuration reloads ---------------------------------------------- */

/* shaping.ini and shaping_rules again (a change, or SIGHUP); a bad one is
 * logged and the running one kept. */
static void
reload_shaping(struct outpost *op)
{
	struct shaping *sh;
	char *err = NULL;

	op->shaping_pending = 0;
	if ((sh = shaping_load(op->cfg->config_dir, &err)) == NULL) {
		log_error("core", NULL, "shaping not reloaded: %s; keeping the "
		    "running shaping configuration", err);
		free(err);
		return;
	}
	if (op->mta != NULL)
		mta_set_shaping(op->mta, sh);
	shaping_unref(op->shaping);
	op->shaping = sh;
	log_notice("core", NULL, "reloaded shaping.ini and shaping_rules");
}

/* pools.ini again (a change, or SIGHUP); a bad one is logged and the
 * running one kept. The round-robin starts over. */
static void
reload_vmta(struct outpost *op)
{
	struct vmta *v;
	char *err = NULL;

	op->vmta_pending = 0;
	if ((v = vmta_load(op->cfg->config_dir, &err)) == NULL) {
		log_error("core", NULL, "pools not reloaded: %s; keeping the "
		    "running pools", err);
		free(err);
		return;
	}
	if (op->server != NULL)
		smtp_server_set_vmta(op->server, v);
	if (op->mta != NULL)
		mta_set_vmta(op->mta, v);
	vmta_unref(op->vmta);
	op->vmta = v;
	log_notice("core", NULL, "reloaded pools.ini (%u pools)",
	    vmta_count(v));
}

static void
on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct outpost *op = arg;
	struct config *cfg;
	unsigned changed = op->pending;
	char *err = NULL;

	(void)fd;
	(void)what;
	op->pending = 0;
	if (op->shaping_pending)
		reload_shaping(op);
	if (op->vmta_pending)
		reload_vmta(op);
	if (op->dkim_pending) {
		op->dkim_pending = 0;
		dkim_plugin_reload();
	}
	if (changed == 0)
		return;
	cfg = config_reload(op->cfg, changed, &err);
	if (cfg == NULL) {
		log_error("core", NULL, "configuration not reloaded: %s; "
		    "keeping the running configuration", err);
		free(err);
		return;
	}
	config_apply_log(cfg, op->cfg);
	if (op->server != NULL)
		smtp_server_config(op->server, cfg);
	if (op->mta != NULL)
		mta_configure(op->mta, cfg);
	qspace_configure(queue_space(op->queue),
	    &cfg->outbound->queue_min_free);
	records_space_configure(op->rspace, &cfg->outbound->records_min_free);
	rbacklog_configure(cfg->outbound->records_backlog_max);
	for (unsigned bit = 1; bit <= CONFIG_OUTBOUND_INI; bit <<= 1)
		if (changed & bit)
			log_notice("core", NULL, "reloaded %s",
			    config_file_name((enum config_file)bit));
	config_unref(op->cfg);
	op->cfg = cfg;
}

/* POST /api/reload: every watched file, shaping and pools, as if each had
 * changed; NULL, or what kept its running configuration (logged). */
static char *
admin_reload(void *arg)
{
	struct outpost *op = arg;
	const void *cfg = op->cfg, *sh = op->shaping, *v = op->vmta;
	struct buf b = BUF_INIT;

	op->pending = CONFIG_LOG_INI | CONFIG_LOGLEVEL | CONFIG_LOG_TIMESTAMPS |
	    CONFIG_OUTBOUND_INI;
	op->shaping_pending = op->vmta_pending = 1;
	on_reload(-1, 0, op);
	if (op->cfg == cfg)
		buf_adds(&b, "log.ini, loglevel, outbound.ini; ");
	if (op->shaping == sh)
		buf_adds(&b, "shaping.ini, shaping_rules; ");
	if (op->vmta == v)
		buf_adds(&b, "pools.ini; ");
	if (b.len == 0)
		return NULL;
	b.len -= 2;
	buf_adds(&b, ": not reloaded (see the log), running configuration "
	    "kept");
	return buf_release(&b);
}

static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct outpost *op = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct timeval tv = { 0, RELOAD_DELAY_MS * 1000 };
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;
		    p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->len == 0)
				continue;
			op->pending |= config_file_by_name(ev->name);
			if (strcmp(ev->name, "shaping.ini") == 0 ||
			    strcmp(ev->name, "shaping_rules") == 0)
				op->shaping_pending = 1;
			if (strcmp(ev->name, "pools.ini") == 0)
				op->vmta_pending = 1;
			if (strcmp(ev->name, "dkim.ini") == 0)
				op->dkim_pending = 1;
		}
	}
	if (op->pending || op->shaping_pending || op->vmta_pending ||
	    op->dkim_pending)
		evtimer_add(op->reload_timer, &tv);
}

static void
watch_config(struct outpost *op)
{
	op->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (op->inotify_fd == -1 ||
	    inotify_add_watch(op->inotify_fd, op->cfg->config_dir,
	    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
	    IN_MOVED_FROM) == -1) {
		log_warn("core", NULL, "cannot watch %s (%s): configuration "
		    "changes need a restart", op->cfg->config_dir,
		    strerror(errno));
		return;
	}
	op->reload_timer = evtimer_new(op->base, on_reload, op);
	op->inotify_ev = event_new(op->base, op->inotify_fd,
	    EV_READ | EV_PERSIST, on_inotify, op);
	event_add(op->inotify_ev, NULL);
}

/* --- run ----------------------------------------------------------------- */

static void
teardown(struct outpost *op)
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

/* Checks ROOT and loads its configuration; an exit status on failure. */
static int
open_root(const char *root, struct config **cfg)
{
	struct stat st;
	char *err = NULL;

	if (stat(root, &st) == -1) {
		fprintf(stderr, "outpost: %s: %s\n", root, strerror(errno));
		return EXIT_NOINPUT;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "outpost: %s: not a directory\n", root);
		return EXIT_NOINPUT;
	}
	err = xasprintf("%s/config", root);
	errno = 0;
	if (stat(err, &st) == -1 || !S_ISDIR(st.st_mode)) {
		const char *why = errno ? strerror(errno) : "not a directory";

		fprintf(stderr, "outpost: %s: %s (create it with outpost -i "
		    "%s)\n", err, why, root);
		free(err);
		return EXIT_NOINPUT;
	}
	free(err);
	err = NULL;
	if ((*cfg = config_load(root, &err)) == NULL) {
		log_flush_exit();
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		return EXIT_CONFIG;
	}
	return 0;
}

/* --qlist, --qstat: read the queue directory, change nothing. */
static int
queue_report(const char *root, int list)
{
	struct config *cfg = NULL;
	int rc;

	log_set_level(LOG_WARN);
	if ((rc = open_root(root, &cfg)) != 0)
		return rc;
	rc = list ? qfs_list(cfg->core->queue_dir, stdout) :
	    qfs_stat(cfg->core->queue_dir, stdout);
	if (rc == 0 && !list) {
		qspace_report(stdout, cfg->core->queue_dir,
		    &cfg->outbound->queue_min_free);
		records_space_report(stdout, cfg);
		shaper_file_report(stdout, root);
		suppression_report(stdout, cfg);
	}
	config_unref(cfg);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

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
static int
watch_space(struct outpost *op)
{
	qspace_configure(queue_space(op->queue),
	    &op->cfg->outbound->queue_min_free);
	op->rspace = records_space_new(op->base, op->cfg, on_records_space,
	    op);
	rbacklog_configure(op->cfg->outbound->records_backlog_max);
	rbacklog_watch(on_records_backlog, op);
	return 0;
}

/* A start-up failure: logged, told on stderr; returns status. */
static int
start_failed(int status, char *err)
{
	log_crit("core", NULL, "%s", err);
	log_flush_exit();
	fprintf(stderr, "outpost: %s\n", err);
	free(err);
	return status;
}

/*
 * The steps that need root, then the drop (core/daemon.c): the queue
 * directory's lock before anything touches the queue, the listeners bound
 * (port 25), then smtp.ini's user and group for good. Everything after it
 * (plugins, the queue, delivery) runs as that user, so whatever it
 * creates is the user's. An exit status on failure.
 */
static int
become_daemon(struct outpost *op)
{
	const struct config_core *c = op->cfg->core;
	char *err = NULL;
	int bind_failed;

	/* Thousands of sessions need thousands of descriptors (as root,
	 * the hard limit too: it stays after the drop). */
	daemon_fd_limit(op->cfg, 1);
	if (daemon_ids_resolve(c->user, c->group, &op->ids, &err) != 0)
		return start_failed(EXIT_CONFIG, err);
	switch (daemon_lock_queue(c->queue_dir, &op->ids, &op->lock_fd,
	    &err)) {
	case DAEMON_LOCKED:
		break;
	case DAEMON_LOCK_HELD:
		return start_failed(EXIT_TEMPFAIL, err);
	default:
		return start_failed(EXIT_FAILURE, err);
	}
	if (nodes_worker() < 0 && daemon_pidfile_write(c->pid_file, &err))
		return start_failed(EXIT_CANTCREAT, err);
	op->pid_file = xstrdup(c->pid_file);
	if ((op->base = event_base_new()) == NULL)
		return start_failed(EXIT_FAILURE,
		    xstrdup("cannot create the event loop"));
	if ((op->server = smtp_server_start(op->base, op->cfg, NULL,
	    &err)) == NULL)
		return start_failed(EXIT_FAILURE, err);
	if ((op->admin = admin_new(op->base,
	    op->cfg->config_dir, op->ids.user != NULL ? op->ids.uid :
	    (uid_t)-1, op->ids.user != NULL ? op->ids.gid : (gid_t)-1, &err,
	    &bind_failed)) == NULL && err != NULL)
		return start_failed(bind_failed ? EXIT_FAILURE : EXIT_CONFIG,
		    err);
	if (daemon_drop(&op->ids, &err) != 0)
		return start_failed(EXIT_CONFIG, err);
	if (geteuid() == 0)
		log_warn("core", NULL, "running as root: set smtp.ini user "
		    "(and group) to have outpost drop root once its "
		    "listeners are bound");
	else if (op->ids.user != NULL)
		log_notice("core", NULL, "running as user %s (uid %u, gid %u)",
		    op->ids.user, (unsigned)getuid(), (unsigned)getgid());
	if (daemon_dir_writable(c->queue_dir, &op->ids, &err) != 0)
		return start_failed(EXIT_CANTCREAT, err);
	return 0;
}

static int
run(const char *root)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct outpost op;
	char *err = NULL;
	int rc;

	memset(&op, 0, sizeof(op));
	op.inotify_fd = op.lock_fd = -1;
	log_hold(1);
	if ((rc = open_root(root, &op.cfg)) != 0)
		return rc;
	config_apply_log(op.cfg, NULL);
	metrics_init(OUTPOST_VERSION, (double)time(NULL));
	config_warn_keys(op.cfg->config_dir);
	/* Before the drop: the manager's socket may be root's alone. */
	if (notify_open(&err) != 0) {
		log_warn("core", NULL, "%s; not telling the service manager",
		    err);
		free(err);
		err = NULL;
	}
	log_emit(LOG_NOTICE, "core", NULL, (struct log_field[]){
	    LF_INT("pid", getpid()), LF_STR("root", root) }, 2,
	    "Starting outpost %s", OUTPOST_VERSION);
	if ((op.shaping = shaping_load(op.cfg->config_dir, &err)) == NULL ||
	    (op.vmta = vmta_load(op.cfg->config_dir, &err)) == NULL ||
	    mta_check_config(op.cfg->config_dir, &err) != 0) {
		rc = start_failed(EXIT_CONFIG, err);
		teardown(&op);
		return rc;
	}

	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit shows as EFBIG (452), not as a fatal signal. */
	signal(SIGXFSZ, SIG_IGN);
	if ((rc = nodes_run(op.cfg->core)) >= 0 ||	/* the supervisor */
	    (rc = become_daemon(&op)) != 0) {
		teardown(&op);
		return rc;
	}
	if (plugins_load(op.cfg, op.base, builtin_plugins, &err) != 0 ||
	    suppression_start(op.cfg, &err) != 0) {
		log_flush_exit();
		/* What a plugin could not open, it could not as the user. */
		if (op.ids.user != NULL && geteuid() != 0)
			fprintf(stderr, "outpost: %s (running as user %s)\n",
			    err, op.ids.user);
		else
			fprintf(stderr, "outpost: %s\n", err);
		free(err);
		teardown(&op);
		return EXIT_CONFIG;
	}
	plugins_attach_log();
	log_hold(0);
	daemon_fd_limit(op.cfg, 0);	/* logged now, after the plugins' */
	if ((op.queue = queue_open(op.base, op.cfg->core->queue_dir,
	    &err)) == NULL || (op.mta = mta_new(op.base, op.cfg, op.shaping,
	    op.queue, &err, &rc)) == NULL || watch_space(&op) != 0) {
		rc = start_failed(op.queue != NULL && rc ? EXIT_CONFIG :
		    EXIT_FAILURE, err);
		teardown(&op);
		return rc;
	}
	if ((op.fb = feedback_start(op.base, op.cfg, &err)) == NULL &&
	    err != NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		teardown(&op);
		return EXIT_CONFIG;
	}
	if (op.admin != NULL && (op.routes = admin_routes_new(op.admin,
	    op.base, op.cfg->config_dir, op.cfg->core->queue_dir, op.mta,
	    admin_reload, &op, &err)) == NULL) {
		log_crit("core", NULL, "%s", err);
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		teardown(&op);
		return EXIT_FAILURE;
	}
	smtp_server_set_queue(op.server, op.queue);
	smtp_server_set_vmta(op.server, op.vmta);
	mta_set_vmta(op.mta, op.vmta);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		op.signals[i] = evsignal_new(op.base, sigs[i], on_signal, &op);
		evsignal_add(op.signals[i], NULL);
	}
	watch_config(&op);
	log_notice("core", NULL, "ready");
	notify_send("READY=1", "ready");
	nodes_ready();
	notify_watchdog_start(op.base);
	event_base_dispatch(op.base);
	log_notice("core", NULL, "stopped");
	teardown(&op);
	return EXIT_SUCCESS;
}

static int
init_root(const char *root)
{
	char *err = NULL;

	if (defaults_install(root, &err) != 0) {
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		return EXIT_CANTCREAT;
	}
	printf("Created %s/config; run: outpost -c %s\n", root, root);
	return EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "qlist", no_argument, NULL, 'L' },
		{ "qstat", no_argument, NULL, 'S' },
		{ "dkim-keygen", no_argument, NULL, 'K' },
		{ "type", required_argument, NULL, 'T' },
		{ "bits", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 }
	};
	const char *run_root = NULL, *init = NULL, *type = NULL, *bits = NULL;
	int ch, report = 0, keygen = 0;

	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:i:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			run_root = optarg;
			break;
		case 'i':
			init = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("outpost %s\n", OUTPOST_VERSION);
			return EXIT_SUCCESS;
		case 'L':
		case 'S':
			report = ch;
			break;
		case 'K':
			keygen = 1;
			break;
		case 'T':
			type = optarg;
			break;
		case 'B':
			bits = optarg;
			break;
		case ':':
			if (optopt == 'T' || optopt == 'B')
				fprintf(stderr, "outpost: --%s needs a value\n",
				    optopt == 'T' ? "type" : "bits");
			else
				fprintf(stderr, "outpost: option -%c needs a "
				    "ROOT directory\n", optopt);
			return EXIT_USAGE;
		default:
			if (optopt)
				fprintf(stderr, "outpost: unknown option -%c\n",
				    optopt);
			else
				fprintf(stderr, "outpost: unknown option %s\n",
				    argv[optind - 1]);
			fprintf(stderr, "Try 'outpost --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (keygen) {
		if (run_root == NULL) {
			fprintf(stderr, "outpost: --dkim-keygen needs -c ROOT\n");
			return EXIT_USAGE;
		}
		return dkim_keygen_command(run_root, argv + optind,
		    argc - optind, type, bits);
	}
	if (optind < argc) {
		fprintf(stderr, "outpost: unexpected argument '%s'\n"
		    "Try 'outpost --help'.\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (report && run_root == NULL) {
		fprintf(stderr, "outpost: --qlist and --qstat need -c ROOT\n");
		return EXIT_USAGE;
	}
	if ((run_root != NULL) == (init != NULL)) {
		fprintf(stderr, "outpost: give exactly one of -c ROOT or -i ROOT\n"
		    "Try 'outpost --help'.\n");
		return EXIT_USAGE;
	}
	if (report)
		return queue_report(run_root, report == 'L');
	return init != NULL ? init_root(init) : run(run_root);
}
