/*
 * reload: the signals and the configuration reloads. HUP re-reads
 * shaping, pools and DKIM keys and retries deferred mail now; USR1 runs
 * the reopen hook; TERM and INT hand over to shutdown.c. A change in the
 * config directory (inotify, coalesced) or POST /api/reload reloads the
 * changed files; a bad file is logged and the running one kept.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <event2/event.h>

#include "builtins/builtin.h"
#include "core/config.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/shaping.h"
#include "core/vmta.h"
#include "delivery/mta.h"
#include "lib/buf.h"
#include "plugins/plugin.h"
#include "queue/queue.h"
#include "queue/space.h"
#include "records/backlog.h"
#include "records/space.h"
#include "smtp/server.h"
#include "outpost.h"

#define RELOAD_DELAY_MS	100	/* coalesce an editor's burst of events */

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
char *
reload_admin(void *arg)
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

void
reload_watch_config(struct outpost *op)
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

/* TERM, INT, HUP and USR1 (on_signal). */
void
reload_watch_signals(struct outpost *op)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		op->signals[i] = evsignal_new(op->base, sigs[i], on_signal, op);
		evsignal_add(op->signals[i], NULL);
	}
}
