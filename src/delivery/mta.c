/*
 * mta: the delivery side main.c sees: owns what the attempts share (struct
 * attempt_env), feeds queue entries to the scheduler, whose due items become
 * attempts (attempt.c); reload, flush, drain, shutdown; gives freed message
 * memory back to the system once delivery is idle.
 */
#include <sys/stat.h>

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/shaping.h"
#include "core/vmta.h"
#include "core/tls.h"
#include "core/worker.h"
#include "delivery/attempt.h"
#include "delivery/attempt_shape.h"
#include "delivery/cluster.h"
#include "delivery/cluster_conf.h"
#include "delivery/dane.h"
#include "delivery/dns.h"
#include "delivery/inject.h"
#include "delivery/mta.h"
#include "delivery/mtasts.h"
#include "delivery/pool.h"
#include "delivery/scheduler.h"
#include "delivery/shaper.h"
#include "delivery/shaper_file.h"
#include "delivery/tlsrpt.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"

#define SRC		"outbound"
#define TRIM_SEC	1	/* idle this long: freed memory goes back */
#define SHAPER_CAPACITY	10000	/* destinations kept (more while busy) */
#define SHAPER_IDLE_MS	(600 * 1000)	/* an idle normal one is dropped */

struct mta {
	struct attempt_env	 env;
	void			(*drained)(void *);
	void			*drained_arg;
	struct event		*drain_ev;
	struct event		*lost_ev;	/* corrupt at start-up */
	int			 draining;
	struct event		*trim_ev;
	/* ROOT/run/shaping.tsv (shaping.w<i>.tsv in worker i), rewritten
	 * each second when it changed. */
	struct event		*state_ev;
	char			*state_path;
	char			*state_last;
	int			 state_warned;
};

static void
sink(void *arg, struct qentry *e, struct qmsg *msg)
{
	struct mta *m = arg;

	scheduler_add(m->env.sched, e, msg);
}

static void
lost(void *arg, struct qentry *e, const char *why)
{
	struct mta *m = arg;

	attempt_lost(&m->env, e, why);
}

/* From the loop: the corrupt entries found at start-up are recorded as
 * lost (whether delivery is disabled or not), then set aside. */
static void
on_lost(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;

	(void)fd;
	(void)what;
	queue_take_lost(m->env.q, lost, m);
}

/*
 * glibc keeps what a burst of large messages freed (its mmap threshold
 * rises with each large block freed, so later ones come from the heap):
 * without this a burst's RSS stays for good. A second after delivery went
 * idle the free pages go back; under load the budget bounds them.
 */
static void
on_trim(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;

	(void)fd;
	(void)what;
	if (m->env.live == NULL)
		malloc_trim(0);
}

/* Every second: the shaping state to its file, when it changed. */
static void
on_state(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;
	struct buf b = BUF_INIT;

	(void)fd;
	(void)what;
	shaper_file_text(m->env.shaper, util_now_ms(), sched_now_ms(), &b);
	if (m->state_last == NULL || strcmp(m->state_last, buf_cstr(&b)) != 0) {
		if (shaper_file_write(m->state_path, buf_cstr(&b), b.len) == 0) {
			free(m->state_last);
			m->state_last = xstrdup(buf_cstr(&b));
			m->state_warned = 0;
		} else if (!m->state_warned) {
			m->state_warned = 1;
			log_warn(SRC, NULL, "cannot write %s: %s",
			    m->state_path, strerror(errno));
		}
	}
	buf_free(&b);
}

/* The last attempt in flight ended. */
static void
on_emptied(void *arg)
{
	struct mta *m = arg;
	struct timeval tv = { TRIM_SEC, 0 };

	if (m->trim_ev != NULL && !evtimer_pending(m->trim_ev, NULL))
		evtimer_add(m->trim_ev, &tv);
	if (m->draining && m->drained != NULL)
		event_active(m->drain_ev, 0, 0);
}

static void
on_drained(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;
	void (*done)(void *) = m->drained;

	(void)fd;
	(void)what;
	m->drained = NULL;
	if (done != NULL)
		done(m->drained_arg);
}

/* tls.ini dane=true: the validating resolver. */
static int
dane_start(struct attempt_env *env, char *const *servers, char **err)
{
	const char *ta, *resolvers;

	if (!tls_dane(env->tls, &ta, &resolvers))
		return 0;
	if ((env->dane = dane_new(env->base, ta, resolvers, servers,
	    err)) == NULL)
		return -1;
	log_info(SRC, NULL, "DANE on: trust anchor %s", ta);
	return 0;
}

struct mta *
mta_new(struct event_base *base, struct config *cfg, struct shaping *sh,
    struct queue *q, char **err, int *bad_config)
{
	struct mta *m = xcalloc(1, sizeof(*m));
	struct dns_config dc;
	struct timeval sec = { 1, 0 };
	char *run;

	m->env.base = base;
	m->env.cfg = config_ref(cfg);
	m->env.q = q;
	m->env.emptied = on_emptied;
	m->env.emptied_arg = m;
	memset(&dc, 0, sizeof(dc));
	*bad_config = 1;	/* net-utils.ini, tls.ini and the files they name */
	if (dns_config_load(cfg->config_dir, &dc, err) != 0)
		goto fail;
	*bad_config = 0;	/* c-ares itself */
	m->env.dns = dns_new(base, &dc, err);
	if (m->env.dns == NULL ||
	    (*bad_config = 1, m->env.tls = tls_outbound_load(cfg->config_dir,
	    err)) == NULL || dane_start(&m->env, dc.servers, err) == -1) {
		dns_config_clear(&dc);
		goto fail;
	}
	*bad_config = 0;
	dns_config_clear(&dc);
	m->env.pool = pool_new(base);
	m->env.shaping = shaping_ref(sh);
	m->env.shaper = shaper_new(sh, SHAPER_CAPACITY, SHAPER_IDLE_MS);
	m->env.cluster = cluster_new(base, cfg->config_dir, err);
	if (m->env.cluster == NULL && *err != NULL)
		goto fail;
	run = xasprintf("%s/run", cfg->root);
	if (mkdir(run, 0755) == -1 && errno != EEXIST)
		log_warn(SRC, NULL, "cannot create %s: %s", run,
		    strerror(errno));
	m->state_path = nodes_worker() < 0 ? xasprintf("%s/shaping.tsv", run) :
	    xasprintf("%s/shaping.w%d.tsv", run, nodes_worker());
	if (tls_mta_sts(m->env.tls)) {
		char *sts = xasprintf("%s/mta-sts.tsv", run);

		m->env.sts = mtasts_new(base, m->env.dns,
		    tls_outbound_ca(m->env.tls), sts);
		free(sts);
	}
	free(run);
	m->state_ev = event_new(base, -1, EV_PERSIST, on_state, m);
	event_add(m->state_ev, &sec);
	m->drain_ev = event_new(base, -1, 0, on_drained, m);
	m->trim_ev = evtimer_new(base, on_trim, m);
	m->env.sched = scheduler_new(base, attempt_dispatch, &m->env);
	scheduler_configure(m->env.sched, cfg->outbound->concurrency_max,
	    cfg->outbound->disabled);
	scheduler_set_budget(m->env.sched, cfg->outbound->delivery_memory_max);
	metrics_collector(attempt_metrics, &m->env);
	queue_set_sink(q, sink, m);
	/* Last: op_send_email() queues through the newest injector. */
	m->env.inject = inject_new(base, cfg, q);
	m->lost_ev = event_new(base, -1, 0, on_lost, m);
	event_active(m->lost_ev, 0, 0);
	return m;
fail:
	mta_free(m);
	return NULL;
}

int
mta_check_config(const char *config_dir, char **err)
{
	return cluster_conf_check(config_dir, err);
}

void
mta_free(struct mta *m)
{
	if (m == NULL)
		return;
	metrics_collector_remove(attempt_metrics, &m->env);
	inject_free(m->env.inject);
	if (m->env.sched != NULL) {
		scheduler_stop(m->env.sched);
		queue_set_sink(m->env.q, NULL, NULL);
	}
	shape_cancel_all(&m->env);
	attempt_cancel_all(&m->env);
	mtasts_free(m->env.sts);
	tlsrpt_log_all();
	tlsrpt_reset();
	pool_free(m->env.pool);
	cluster_free(m->env.cluster);	/* after the connections' leases */
	if (m->env.shaper != NULL)
		shaper_free(m->env.shaper);
	shaping_unref(m->env.shaping);
	vmta_unref(m->env.vmta);
	if (m->state_ev != NULL)
		event_free(m->state_ev);
	free(m->state_path);
	free(m->state_last);
	scheduler_free(m->env.sched);
	dns_free(m->env.dns);
	dane_free(m->env.dane);
	tls_outbound_free(m->env.tls);
	if (m->drain_ev != NULL)
		event_free(m->drain_ev);
	if (m->lost_ev != NULL)
		event_free(m->lost_ev);
	if (m->trim_ev != NULL)
		event_free(m->trim_ev);
	config_unref(m->env.cfg);
	free(m);
}

void
mta_configure(struct mta *m, struct config *cfg)
{
	const struct config_outbound *old = m->env.cfg->outbound;
	const struct config_outbound *ob = cfg->outbound;

	if (old->disabled != ob->disabled)
		log_notice(SRC, NULL, "outbound delivery %s",
		    ob->disabled ? "disabled" : "enabled");
	config_unref(m->env.cfg);
	m->env.cfg = config_ref(cfg);
	inject_configure(m->env.inject, cfg);
	scheduler_configure(m->env.sched, ob->concurrency_max, ob->disabled);
	scheduler_set_budget(m->env.sched, ob->delivery_memory_max);
}

void
mta_set_shaping(struct mta *m, struct shaping *sh)
{
	shaping_unref(m->env.shaping);
	m->env.shaping = shaping_ref(sh);
	shaper_set_shaping(m->env.shaper, sh);
}

void
mta_set_vmta(struct mta *m, struct vmta *v)
{
	if (v != NULL)
		vmta_ref(v);
	vmta_unref(m->env.vmta);
	m->env.vmta = v;
}

void
mta_hold(struct mta *m, unsigned reason, int on)
{
	scheduler_hold(m->env.sched, reason, on);
}

void
mta_flush(struct mta *m)
{
	scheduler_flush(m->env.sched);
}

void
mta_drain(struct mta *m, void (*done)(void *), void *arg)
{
	m->draining = 1;
	m->drained = done;
	m->drained_arg = arg;
	scheduler_stop(m->env.sched);
	pool_drain(m->env.pool);
	if (m->env.live == NULL)
		event_active(m->drain_ev, 0, 0);
}

struct attempt_env *
mta_env(struct mta *m)
{
	return &m->env;
}

int
mta_draining(const struct mta *m)
{
	return m->draining;
}
