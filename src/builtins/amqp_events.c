/*
 * amqp_events: every record (delivered, deferred, bounced, remote bounces
 * and complaints) as a JSON message to a RabbitMQ exchange, one per
 * recipient, persistent, with publisher confirms (config/amqp_events.ini).
 *
 * The plugin observes the outbound hooks and OP_HOOK_FEEDBACK; each event
 * becomes spool lines (records/amqp_record.c) handed to the broker thread
 * (records/amqp_link.c), which spools them durably and publishes them in
 * order. The observer answers — and the mail's queue entry changes —
 * once the event's records are on disk in the spool (sync=false), or once
 * the broker confirmed them (sync=true; while the broker is unreachable
 * the answer waits, up to config/amqp_events.timeout). Either way a crash
 * loses no event; consumers drop repeats by event id (message_id).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "core/worker.h"
#include "outpost/plugin.h"
#include "records/amqp_link.h"
#include "records/amqp_record.h"
#include "records/backlog.h"
#include "records/record.h"
#include "builtins/builtin.h"

#define NAME		"amqp_events"
#define FILE_NAME	"amqp_events.ini"

struct waiter {
	struct op_call	*c;
	uint64_t	 last;		/* the number of its last record */
	size_t		 bytes;		/* its lines, counted in the records'
					 * backlog until spooled */
};

struct ae {
	struct amqp_link	*link;
	struct amqp_rec_ctx	 ctx;
	char			*key_template;
	char			 host[256];
	int			 sync;
	unsigned		 drain_ms;
	struct waiter		*w;		/* FIFO, by last */
	size_t			 head, n, cap;
	size_t			 unspooled;	/* w[unspooled..n): not yet
						 * spooled (>= head) */
	uint64_t		 spooled, confirmed;
};

static void
answer_ready(struct ae *ae)
{
	uint64_t upto = ae->sync ? ae->confirmed : ae->spooled;

	/* In the records' backlog (records_backlog_max) until spooled, as
	 * the record writers' lines until written. */
	while (ae->unspooled < ae->n && ae->w[ae->unspooled].last <=
	    ae->spooled)
		rbacklog_done(ae->w[ae->unspooled++].bytes);
	while (ae->head < ae->n && ae->w[ae->head].last <= upto)
		op_next(ae->w[ae->head++].c, OP_CONT, NULL);
	if (ae->head == ae->n)
		ae->head = ae->n = ae->unspooled = 0;
}

static void
on_progress(void *arg, uint64_t spooled, uint64_t confirmed)
{
	struct ae *ae = arg;

	ae->spooled = spooled;
	ae->confirmed = confirmed;
	answer_ready(ae);
}

static void
submit(struct ae *ae, struct op_call *c, const struct buf *lines,
    unsigned n)
{
	if (n == 0) {
		op_next(c, OP_CONT, NULL);
		return;
	}
	if (ae->head > 0 && ae->head == ae->n)
		ae->head = ae->n = ae->unspooled = 0;
	if (ae->n == ae->cap) {
		if (ae->head > 0) {
			memmove(ae->w, ae->w + ae->head,
			    (ae->n - ae->head) * sizeof(*ae->w));
			ae->n -= ae->head;
			ae->unspooled -= ae->head;
			ae->head = 0;
		}
		if (ae->n == ae->cap) {
			ae->cap = ae->cap ? ae->cap * 2 : 64;
			ae->w = xrealloc(ae->w, ae->cap * sizeof(*ae->w));
		}
	}
	ae->w[ae->n].c = c;
	ae->w[ae->n].bytes = lines->len;
	rbacklog_add(lines->len);
	ae->w[ae->n++].last = amqp_link_submit(ae->link, lines->p, lines->len,
	    n);
}

static void
ae_event(struct op_call *c, void *data)
{
	struct ae *ae = data;
	const struct op_outbound *o = op_call_outbound(c);
	enum op_hook h = op_call_hook(c);
	const char *type = h == OP_HOOK_DELIVERED ? "delivered" :
	    h == OP_HOOK_DEFERRED ? "deferred" : "bounced";
	struct buf lines = BUF_INIT;
	unsigned n;

	ae->ctx.now_ms = rec_now_ms();
	n = amqp_rec_outbound(&lines, &ae->ctx, type, o);
	submit(ae, c, &lines, n);
	buf_free(&lines);
}

static void
ae_feedback(struct op_call *c, void *data)
{
	struct ae *ae = data;
	const struct op_feedback *f = op_call_feedback(c);
	struct buf lines = BUF_INIT;

	ae->ctx.now_ms = rec_now_ms();
	submit(ae, c, &lines, amqp_rec_feedback(&lines, &ae->ctx, f));
	buf_free(&lines);
}

static void
ae_shutdown(void *data)
{
	struct ae *ae = data;

	if (ae == NULL)
		return;
	amqp_link_free(ae->link, ae->drain_ms);
	for (size_t i = ae->unspooled; i < ae->n; i++)
		rbacklog_done(ae->w[i].bytes);
	free(ae->key_template);
	free(ae->w);
	free(ae);
}

/* --- configuration -------------------------------------------------- */

struct cfg {
	const struct ini	*ini;
	const char		*path;
	int			 bad;
};

static const char *
str(struct cfg *g, const char *key, const char *def)
{
	const char *v = ini_get(g->ini, "main", key);

	return v != NULL && *v != '\0' ? v : def;
}

static unsigned
num(struct cfg *g, const char *key, double def, double min, double max,
    double scale)
{
	double v = def;

	if (ini_num(g->ini, "main", key, &v) == INI_BAD || v < min ||
	    v > max) {
		if (!g->bad)
			log_error(NAME, NULL, "%s line %u: %s: must be a "
			    "number from %g to %g", g->path,
			    ini_line(g->ini, "main", key), key, min, max);
		g->bad = 1;
		return 0;
	}
	return (unsigned)(v * scale);
}

static char *
password(struct cfg *g, const char *config_dir)
{
	const char *file = str(g, "password_file", NULL);
	char *path, *v = NULL;

	if (file == NULL)
		return xstrdup(str(g, "password", "guest"));
	path = path_from_root(config_dir, file);
	if (flat_value(path, &v) != 0 || v == NULL) {
		log_error(NAME, NULL, "%s line %u: password_file %s: %s",
		    g->path, ini_line(g->ini, "main", "password_file"), path,
		    errno ? strerror(errno) : "empty");
		g->bad = 1;
		free(v);
		v = NULL;
	}
	free(path);
	return v;
}

static int
configure(struct ae *ae, struct op_env *env, struct cfg *g)
{
	const char *config_dir = op_config_dir(env);
	struct amqp_link_opts o;
	char *pass, *spool, **orphans, *err = NULL;
	const char *etype;

	memset(&o, 0, sizeof(o));
	o.source = NAME;
	o.host = str(g, "host", "127.0.0.1");
	o.port = num(g, "port", 5672, 1, 65535, 1);
	o.vhost = str(g, "vhost", "/");
	o.user = str(g, "user", "guest");
	o.exchange = str(g, "exchange", "outpost.events");
	etype = str(g, "exchange_type", "topic");
	o.exchange_type = strcmp(etype, "none") == 0 ? NULL : etype;
	o.heartbeat = num(g, "heartbeat", 30, 0, 3600, 1);
	o.confirm_timeout_ms = num(g, "confirm_timeout", 10, 0.1, 3600, 1000);
	o.backoff_min_ms = num(g, "reconnect_min", 1, 0.01, 3600, 1000);
	o.backoff_max_ms = num(g, "reconnect_max", 30, 0.01, 3600, 1000);
	o.window = num(g, "window", 1000, 1, 100000, 1);
	o.segment_size = (uint64_t)num(g, "segment_size", 4096, 1, 1048576,
	    1) * 1024;
	o.tls = ini_bool(g->ini, "main", "tls", 0);
	o.tls_ca = str(g, "tls_ca_file", NULL);
	o.tls_verify = ini_bool(g->ini, "main", "tls_verify", 1);
	ae->sync = ini_bool(g->ini, "main", "sync", 0);
	ae->key_template = xstrdup(str(g, "routing_key", "outpost.{type}"));
	if (strlen(ae->key_template) > 200) {
		log_error(NAME, NULL, "%s line %u: routing_key: at most 200 "
		    "characters", g->path, ini_line(g->ini, "main",
		    "routing_key"));
		g->bad = 1;
	}
	if (o.backoff_max_ms < o.backoff_min_ms)
		o.backoff_max_ms = o.backoff_min_ms;
	pass = password(g, config_dir);
	if (g->bad) {
		free(pass);
		return -1;
	}
	o.password = pass;
	ae->drain_ms = o.confirm_timeout_ms < 5000 ? o.confirm_timeout_ms :
	    5000;
	spool = path_from_root(config_dir, str(g, "spool_dir",
	    "spool/amqp_events"));
	orphans = nodes_orphans(spool);	/* smtp.ini nodes changed */
	spool = nodes_path(spool);	/* one per worker */
	o.spool_dir = spool;
	o.adopt = orphans;
	ae->link = amqp_link_new(op_event_base(env), &o, on_progress, ae,
	    &err);
	if (ae->link == NULL) {
		log_error(NAME, NULL, "%s: %s", g->path, err);
		free(err);
	} else
		log_info(NAME, NULL, "publishing to amqp%s://%s:%u%s exchange "
		    "'%s' (%s), spool %s%s", o.tls ? "s" : "", o.host, o.port,
		    o.vhost,
		    o.exchange, etype, spool, ae->sync ? " (sync)" : "");
	for (size_t i = 0; orphans[i] != NULL; i++)
		free(orphans[i]);
	free(orphans);
	free(spool);
	free(pass);
	return ae->link != NULL ? 0 : -1;
}

static int
ae_init(struct op_env *env, void **data)
{
	struct ae *ae = xcalloc(1, sizeof(*ae));
	char *path = xasprintf("%s/%s", op_config_dir(env), FILE_NAME);
	struct cfg g;
	struct ini *ini;
	int exists = 0, rc = -1;

	*data = NULL;
	ini = ini_load(path, FILE_NAME, &exists, NULL, NULL);
	if (ini == NULL) {
		log_error(NAME, NULL, "%s: %s", path, strerror(errno));
		goto out;
	}
	g.ini = ini;
	g.path = path;
	g.bad = 0;
	if (gethostname(ae->host, sizeof(ae->host) - 1) != 0)
		snprintf(ae->host, sizeof(ae->host), "localhost");
	if (configure(ae, env, &g) != 0)
		goto out;
	ae->ctx.key_template = ae->key_template;
	ae->ctx.hostname = ae->host;
	ae->ctx.pid = (long)getpid();
	op_register_hook(env, OP_HOOK_DELIVERED, ae_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_DEFERRED, ae_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_BOUNCE, ae_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_FEEDBACK, ae_feedback, OP_HOOK_OBSERVE);
	*data = ae;
	rc = 0;
out:
	ini_free(ini);
	free(path);
	if (rc != 0)
		ae_shutdown(ae);
	return rc;
}

const struct op_plugin amqp_events_plugin = {
	.abi = OUTPOST_PLUGIN_ABI,
	.name = NAME,
	.init = ae_init,
	.shutdown = ae_shutdown,
};
