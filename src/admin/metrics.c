/*
 * metrics: GET /metrics (Prometheus' text format, from core/metrics.c),
 * and what feeds the families no other module owns: an observer of the
 * delivered, deferred, bounce and feedback events (built-in plugin
 * "admin_metrics", added when the admin listener runs) counting recipients
 * by destination and bounce category, remote bounces and complaints by
 * category, and keeping the latest failures for the status
 * page; and at each scrape, the record writers' backlog and the free
 * space of the queue and record file systems.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/http.h"
#include "admin/metrics.h"
#include "core/metrics.h"
#include "core/space.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "records/backlog.h"
#include "records/bouncecat.h"
#include "records/record.h"

#define NAME		"admin_metrics"
#define RULES		"bounce_categories"
#define RECENT		50	/* failures kept for the status page */
#define FIELD_MAX	300
#define OBSERVER_TIMEOUT 30	/* s, as a plugin's default */

struct recent {
	time_t	 when;
	int	 bounced;
	char	 rcpt[FIELD_MAX];
	char	 domain[FIELD_MAX];
	char	 category[32];
	char	 reason[FIELD_MAX];
};

struct am {
	char		*queue_dir;
	char		*config_dir;
	char	       **dirs;		/* record directories */
	size_t		 ndirs;
	struct bouncecat *bc;
	struct recent	 ring[RECENT];
	size_t		 next, n;
};

/* One instance: the observer plugin's init finds it here. */
static struct am *the;

/* --- the observer ---------------------------------------------------------- */

static void
remember(struct am *m, int bounced, const struct op_outbound *o,
    const struct op_rcpt *r, const char *category)
{
	struct recent *e = &m->ring[m->next];

	m->next = (m->next + 1) % RECENT;
	if (m->n < RECENT)
		m->n++;
	e->when = time(NULL);
	e->bounced = bounced;
	snprintf(e->rcpt, sizeof(e->rcpt), "%s", r->address ? r->address : "");
	snprintf(e->domain, sizeof(e->domain), "%s", o->domain ? o->domain :
	    "");
	snprintf(e->category, sizeof(e->category), "%s", category);
	snprintf(e->reason, sizeof(e->reason), "%s", r->reason ? r->reason :
	    "");
}

static void
on_event(struct op_call *c, void *data)
{
	struct am *m = data;
	const struct op_outbound *o = op_call_outbound(c);
	enum op_hook h = op_call_hook(c);
	const char *dest[2] = { o->domain != NULL ? o->domain : "", NULL };

	for (unsigned i = 0; i < o->nrcpts; i++) {
		const struct op_rcpt *r = &o->rcpts[i];
		const char *cat;

		if (h == OP_HOOK_DELIVERED) {
			metric_add(m_delivered, dest, 1);
			metric_observe(m_delivery_delay, NULL, o->delay);
			continue;
		}
		cat = bouncecat_name(bouncecat_classify(m->bc, r->code,
		    r->status, r->response));
		if (h == OP_HOOK_DEFERRED)
			metric_add(m_deferred, dest, 1);
		else
			metric_add(m_bounced, (const char *[]){ dest[0], cat },
			    1);
		remember(m, h == OP_HOOK_BOUNCE, o, r, cat);
	}
	op_next(c, OP_CONT, NULL);
}

/* A remote bounce (by its category) or a complaint (by feedback type). */
static void
on_feedback(struct op_call *c, void *data)
{
	const struct op_feedback *f = op_call_feedback(c);
	const char *type = f->type != NULL ? f->type : "";
	const char *cat = strcmp(type, "complaint") == 0 ? f->feedback_type :
	    f->category;

	(void)data;
	metric_add(m_feedback_events, (const char *[]){ type,
	    cat != NULL && *cat != '\0' ? cat : "unknown" }, 1);
	op_next(c, OP_CONT, NULL);
}

static int
am_init(struct op_env *env, void **data)
{
	char *rules;

	if (the == NULL)
		return -1;
	the->bc = bouncecat_new();
	rules = xasprintf("%s/%s", op_config_dir(env), RULES);
	bouncecat_load(the->bc, rules, NULL, NULL);
	free(rules);
	op_register_hook(env, OP_HOOK_DELIVERED, on_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_DEFERRED, on_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_BOUNCE, on_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_FEEDBACK, on_feedback, OP_HOOK_OBSERVE);
	*data = the;
	return 0;
}

static void
am_shutdown(void *data)
{
	struct am *m = data;

	if (m != NULL) {
		bouncecat_free(m->bc);
		m->bc = NULL;
	}
}

static const struct op_plugin am_plugin = {
	.abi = OUTPOST_PLUGIN_ABI,
	.name = NAME,
	.init = am_init,
	.shutdown = am_shutdown,
};

/* --- the scrape ---------------------------------------------------------------- */

static void
add_dir(void *arg, const char *dir)
{
	struct am *m = arg;

	m->dirs = xreallocarray(m->dirs, m->ndirs + 1, sizeof(*m->dirs));
	m->dirs[m->ndirs++] = xstrdup(dir);
}

static void
collect(void *arg)
{
	struct am *m = arg;
	struct space_stat st;
	dev_t seen = 0;
	int any = 0;

	metric_set(m_record_backlog, NULL, (double)rbacklog_bytes());
	metric_clear(m_fs_free);
	if (space_measure(m->queue_dir, &st) == 0) {
		metric_set(m_fs_free, (const char *[]){ "queue" },
		    (double)st.avail);
		seen = st.dev;
		any = 1;
	}
	/* The record file system: the first directory that exists, when it
	 * is not the queue's. */
	for (size_t i = 0; i < m->ndirs; i++)
		if (space_measure(m->dirs[i], &st) == 0) {
			if (!any || st.dev != seen)
				metric_set(m_fs_free,
				    (const char *[]){ "records" },
				    (double)st.avail);
			break;
		}
}

static void
get_metrics(struct admin_req *r, void *arg)
{
	struct buf b = BUF_INIT;

	(void)arg;
	metrics_render(&b);
	admin_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p,
	    b.len);
	buf_free(&b);
}

struct am *
admin_metrics_new(struct admin *a, const char *config_dir,
    const char *queue_dir, char **err)
{
	struct am *m = xcalloc(1, sizeof(*m));

	m->queue_dir = xstrdup(queue_dir);
	m->config_dir = xstrdup(config_dir);
	outbound_logger_dirs(config_dir, add_dir, m);
	accounting_files_dirs(config_dir, add_dir, m);
	the = m;
	if (plugins_add(&am_plugin, config_dir, OBSERVER_TIMEOUT, err) != 0) {
		the = NULL;
		admin_metrics_free(m);
		return NULL;
	}
	metrics_collector(collect, m);
	admin_route(a, "GET", "/metrics", get_metrics, m);
	return m;
}

void
admin_metrics_free(struct am *m)
{
	if (m == NULL)
		return;
	metrics_collector_remove(collect, m);
	if (the == m)
		the = NULL;
	for (size_t i = 0; i < m->ndirs; i++)
		free(m->dirs[i]);
	free(m->dirs);
	free(m->queue_dir);
	free(m->config_dir);
	free(m);
}

void
admin_metrics_recent(const struct am *m, struct buf *out)
{
	buf_adds(out, "[");
	for (size_t k = 0; k < m->n; k++) {
		const struct recent *e =
		    &m->ring[(m->next + RECENT - 1 - k) % RECENT];

		buf_printf(out, "%s{\"time\":%lld,\"type\":\"%s\","
		    "\"recipient\":", k ? "," : "", (long long)e->when,
		    e->bounced ? "bounced" : "deferred");
		json_string(out, e->rcpt);
		buf_adds(out, ",\"destination\":");
		json_string(out, e->domain);
		buf_printf(out, ",\"category\":\"%s\",\"reason\":",
		    e->category);
		json_string(out, e->reason);
		buf_adds(out, "}");
	}
	buf_adds(out, "]");
}
