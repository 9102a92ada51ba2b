/*
 * suppression: the built-in plugin that feeds the suppression list
 * (core/suppress_writer.h), added at start-up whatever config/plugins
 * says (suppression_start); config/suppression.ini turns it off. It
 * observes the bounce hook (a recipient whose failure falls in one of the
 * listed bounce categories) and the feedback hook (a remote bounce of those
 * categories, a complaint), and answers each event only once its entries
 * are durable, so the queue entry is not removed before them. It opens the
 * store, publishes the running list, and purges expired entries every
 * purge_interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "builtins/builtin.h"
#include "core/config.h"
#include "core/suppress_writer.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "records/bouncecat.h"

#define NAME		"suppression"
#define RULES		"bounce_categories"
#define TIMEOUT		30	/* s: the observers' deadline */

static struct {
	struct suppressor	*s;
	struct bouncecat	*bc;
	unsigned		 cats;		/* 1 << enum bounce_cat */
	struct event		*purge;
} S;

static void
entry_init(struct suppress_entry *e, const char *addr, const char *scope,
    enum suppress_source src, const char *reason)
{
	const struct suppress_config *c = suppressor_config(S.s);
	int64_t now = (int64_t)time(NULL);

	memset(e, 0, sizeof(*e));
	snprintf(e->address, sizeof(e->address), "%s", addr);
	snprintf(e->scope, sizeof(e->scope), "%s", c->global ? "" : scope);
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	e->source = src;
	e->created = now;
	e->expires = c->expiry[src] > 0 ? now + c->expiry[src] : 0;
}

/* Whether a failure of cat (and this status) suppresses. */
static int
listed(enum bounce_cat cat)
{
	return (S.cats >> cat) & 1u;
}

/* The entries are on disk (or could not be written): the event goes on. */
static void
written(void *arg, int ok, long changed, const char *err)
{
	struct op_call *c = arg;

	if (!ok)
		op_log(OP_LOG_ERROR, NAME, NULL, "not recorded: %s",
		    err ? err : "write failed");
	else if (changed > 0)
		op_log(OP_LOG_INFO, NAME, NULL, "%ld entr%s written", changed,
		    changed == 1 ? "y" : "ies");
	op_next(c, OP_CONT, NULL);
}

static void
add(struct op_call *c, struct suppress_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		op_log(OP_LOG_NOTICE, NAME, NULL, "suppressing <%s> for %s "
		    "(%s): %s", v[i].address, v[i].scope[0] ? v[i].scope :
		    "every sender", suppress_source_name(v[i].source),
		    v[i].reason);
	if (n == 0)
		op_next(c, OP_CONT, NULL);
	else
		suppressor_put(S.s, v, n, 0, written, c);
}

static void
on_bounce(struct op_call *c, void *data)
{
	const struct op_outbound *o = op_call_outbound(c);
	struct suppress_entry *v = xcalloc(o->nrcpts + 1, sizeof(*v));
	char sd[SUPPRESS_SCOPE_MAX + 1], addr[SUPPRESS_ADDR_MAX + 1];
	size_t n = 0;

	(void)data;
	suppress_sender_domain(o->mail_from, sd);
	/* Per sender domain, the null sender's bounces (a DSN that did
	 * not arrive) have no domain to be kept for. */
	for (unsigned i = 0; (sd[0] || suppressor_config(S.s)->global) &&
	    i < o->nrcpts; i++) {
		const struct op_rcpt *r = &o->rcpts[i];

		if (r->status == NULL || r->status[0] != '5' ||
		    !listed(bouncecat_classify(S.bc, r->code, r->status,
		    r->response)) || suppress_address(r->address, addr) != 0)
			continue;
		entry_init(&v[n++], addr, sd, SUP_BOUNCE, r->reason ?
		    r->reason : "");
	}
	add(c, v, n);
	free(v);
}

static void
on_feedback(struct op_call *c, void *data)
{
	const struct op_feedback *f = op_call_feedback(c);
	const struct suppress_config *cfg = suppressor_config(S.s);
	char sd[SUPPRESS_SCOPE_MAX + 1], addr[SUPPRESS_ADDR_MAX + 1];
	char reason[SUPPRESS_REASON_MAX + 1];
	struct suppress_entry e;
	size_t n = 0;

	(void)data;
	/* An unknown original sender: the entry is global. */
	suppress_sender_domain(f->mail_from != NULL ? f->mail_from : "", sd);
	if (f->type == NULL || f->recipient == NULL ||
	    suppress_address(f->recipient, addr) != 0)
		;
	else if (strcmp(f->type, "complaint") == 0 && cfg->complaints) {
		snprintf(reason, sizeof(reason), "complaint%s%s%s%s%s",
		    f->feedback_type ? " (" : "", f->feedback_type ?
		    f->feedback_type : "", f->feedback_type ? ")" : "",
		    f->reporting_mta ? " from " : "", f->reporting_mta ?
		    f->reporting_mta : "");
		entry_init(&e, addr, sd, SUP_COMPLAINT, reason);
		n = 1;
	} else if (strcmp(f->type, "remote_bounce") == 0 &&
	    cfg->remote_bounces && (f->action == NULL ||
	    strcmp(f->action, "failed") == 0) &&
	    (f->status == NULL || f->status[0] == '5') &&
	    f->category != NULL && bouncecat_parse(f->category) >= 0 &&
	    listed((enum bounce_cat)bouncecat_parse(f->category))) {
		snprintf(reason, sizeof(reason), "%s%s%s", f->status ?
		    f->status : "", f->status ? " " : "", f->diagnostic ?
		    f->diagnostic : f->category);
		entry_init(&e, addr, sd, SUP_REMOTE_BOUNCE, reason);
		n = 1;
	}
	add(c, &e, n);
}

static void
purged(void *arg, int ok, long changed, const char *err)
{
	(void)arg;
	if (!ok)
		op_log(OP_LOG_ERROR, NAME, NULL, "purge failed: %s", err);
	else if (changed > 0)
		op_log(OP_LOG_INFO, NAME, NULL, "%ld expired entr%s purged",
		    changed, changed == 1 ? "y" : "ies");
}

static void
on_purge(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	suppressor_purge(S.s, purged, NULL);
}

static int
sup_init(struct op_env *env, void **data)
{
	struct timeval tv = { 0, 0 };

	*data = NULL;
	if (S.s == NULL)
		return -1;
	tv.tv_sec = suppressor_config(S.s)->purge_interval;
	S.purge = event_new(op_event_base(env), -1, EV_PERSIST, on_purge,
	    NULL);
	event_add(S.purge, &tv);
	suppressor_purge(S.s, purged, NULL);	/* what expired while down */
	op_register_hook(env, OP_HOOK_BOUNCE, on_bounce, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_FEEDBACK, on_feedback, OP_HOOK_OBSERVE);
	suppress_set_running(S.s);
	return 0;
}

static void
sup_shutdown(void *data)
{
	(void)data;
	if (S.purge != NULL)
		event_free(S.purge);
	S.purge = NULL;
	suppressor_stop(S.s);
	S.s = NULL;
	bouncecat_free(S.bc);
	S.bc = NULL;
}

static const struct op_plugin suppression_plugin = {
	.abi = OUTPOST_PLUGIN_ABI,
	.name = NAME,
	.init = sup_init,
	.shutdown = sup_shutdown,
};

int
suppression_start(const struct config *cfg, char **err)
{
	struct suppress_config c;
	struct suppress_store *st;
	char *rules;
	int cat;

	if (suppress_config_load(cfg->root, cfg->config_dir, &c, err) != 0)
		return -1;
	if (!c.enabled) {
		op_log(OP_LOG_INFO, NAME, NULL, "off (suppression.ini "
		    "enabled=false)");
		suppress_config_clear(&c);
		return 0;
	}
	S.cats = 0;
	for (size_t i = 0; i < c.ncategories; i++) {
		if ((cat = bouncecat_parse(c.categories[i])) < 0) {
			*err = xasprintf("suppression.ini: categories: unknown "
			    "bounce category '%s'", c.categories[i]);
			suppress_config_clear(&c);
			return -1;
		}
		S.cats |= 1u << cat;
	}
	if ((st = suppress_open(c.path, c.map_mb, 0, err)) == NULL) {
		suppress_config_clear(&c);
		return -1;
	}
	if ((S.s = suppressor_start(plugins_event_base(), st, &c,
	    err)) == NULL) {
		suppress_close(st);
		suppress_config_clear(&c);
		return -1;
	}
	S.bc = bouncecat_new();
	rules = xasprintf("%s/%s", cfg->config_dir, RULES);
	bouncecat_load(S.bc, rules, NULL, NULL);
	free(rules);
	op_log(OP_LOG_INFO, NAME, NULL, "on: %s, scope %s",
	    suppressor_config(S.s)->path, suppressor_config(S.s)->global ?
	    "global" : "sender_domain");
	if (plugins_add(&suppression_plugin, cfg->config_dir, TIMEOUT,
	    err) != 0) {
		sup_shutdown(NULL);
		return -1;
	}
	return 0;
}

void
suppression_report(FILE *out, const struct config *cfg)
{
	suppress_report(out, cfg->root, cfg->config_dir);
}
