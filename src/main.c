/*
 * main: the command line and the daemon's run: start-up in order (ROOT
 * and its configuration, the steps as root, plugins, queue, delivery,
 * feedback, admin API, signals and config watch), the event loop, exit.
 * Each step lives in its own file of the top layer (outpost.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "admin/routes.h"
#include "builtins/builtin.h"
#include "core/config.h"
#include "core/config_keys.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/nodes.h"
#include "core/notify.h"
#include "core/shaping.h"
#include "core/version.h"
#include "core/worker.h"
#include "core/vmta.h"
#include "delivery/mta.h"
#include "feedback/feedback.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "queue/queue.h"
#include "report/report.h"
#include "smtp/server.h"
#include "outpost.h"

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

static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)nodes_beat();
}

/* A worker tells its supervisor its loop turns (core/worker.h). */
static void
start_beat(struct outpost *op)
{
	struct timeval tv = { 0, NODES_BEAT_MS * 1000 };

	if (!nodes_beat())
		return;		/* a single process: systemd's watchdog */
	op->beat_timer = event_new(op->base, -1, EV_PERSIST, on_beat, NULL);
	if (op->beat_timer != NULL)
		event_add(op->beat_timer, &tv);
}

static int
run(const char *root)
{
	struct outpost op;
	char *err = NULL;
	int rc;

	memset(&op, 0, sizeof(op));
	op.inotify_fd = op.lock_fd = -1;
	log_hold(1);
	if ((rc = root_open(root, &op.cfg)) != 0)
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
		rc = log_start_failed(EXIT_CONFIG, err);
		shutdown_teardown(&op);
		return rc;
	}

	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit shows as EFBIG (452), not as a fatal signal. */
	signal(SIGXFSZ, SIG_IGN);
	if ((rc = nodes_run(op.cfg->core)) >= 0 ||	/* the supervisor */
	    (rc = start_daemon(&op)) != 0) {
		shutdown_teardown(&op);
		return rc;
	}
	if (plugins_load(op.cfg, op.base, builtin_plugins, &err) != 0 ||
	    suppression_start(op.cfg, &err) != 0) {
		char *msg;

		log_flush_exit();
		/* What a plugin could not open, it could not as the user. */
		msg = op.ids.user != NULL && geteuid() != 0 ?
		    xasprintf("%s (running as user %s)", err, op.ids.user) :
		    xstrdup(err);
		if (!nodes_start_failed(msg))	/* the supervisor tells it */
			fprintf(stderr, "outpost: %s\n", msg);
		free(msg);
		free(err);
		shutdown_teardown(&op);
		return EXIT_CONFIG;
	}
	plugins_attach_log();
	log_hold(0);
	if (nodes_worker() <= 0)	/* the same in every worker: 0 says it */
		daemon_fd_limit(op.cfg, 0);	/* logged now, after the plugins' */
	if ((op.queue = queue_open(op.base, op.cfg->core->queue_dir,
	    &err)) == NULL || (op.mta = mta_new(op.base, op.cfg, op.shaping,
	    op.queue, &err, &rc)) == NULL || start_watch_space(&op) != 0) {
		rc = log_start_failed(op.queue != NULL && rc ? EXIT_CONFIG :
		    EXIT_FAILURE, err);
		shutdown_teardown(&op);
		return rc;
	}
	if ((op.fb = feedback_start(op.base, op.cfg, &err)) == NULL &&
	    err != NULL) {
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		shutdown_teardown(&op);
		return EXIT_CONFIG;
	}
	if (op.admin != NULL && (op.routes = admin_routes_new(op.admin,
	    op.base, op.cfg->config_dir, op.cfg->core->queue_dir, op.mta,
	    reload_admin, &op, &err)) == NULL) {
		log_crit("core", NULL, "%s", err);
		fprintf(stderr, "outpost: %s\n", err);
		free(err);
		shutdown_teardown(&op);
		return EXIT_FAILURE;
	}
	smtp_server_set_queue(op.server, op.queue);
	smtp_server_set_vmta(op.server, op.vmta);
	mta_set_vmta(op.mta, op.vmta);
	reload_watch_signals(&op);
	reload_watch_config(&op);
	log_notice("core", NULL, "ready");
	notify_send("READY=1", "ready");
	start_beat(&op);
	nodes_ready();
	notify_watchdog_start(op.base);
	event_base_dispatch(op.base);
	log_notice("core", NULL, "stopped");
	shutdown_teardown(&op);
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
		return root_queue_report(run_root, report == 'L');
	return init != NULL ? root_init(init) : run(run_root);
}
