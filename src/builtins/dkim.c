/*
 * dkim: the built-in plugin `dkim` (Haraka's name) — DKIM signing of
 * every message at enqueue. Its init loads config/dkim.ini and the keys
 * (core/dkim_keys; a bad or unreadable key stops start-up) and starts the
 * signing thread (queue/dkim_worker); dkim_plugin_reload() loads them
 * again on SIGHUP or a change of dkim.ini, keeping the running set when
 * the new one is bad. The running configuration is owned here.
 */
#include <stdlib.h>

#include "core/dkim_keys.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "queue/dkim_worker.h"

static struct {
	char			*config_dir;
	struct dkim_config	*cfg;
} D;

static void
describe(const struct dkim_config *c, const char *what)
{
	op_log(OP_LOG_INFO, "dkim", NULL, "%s: %s, %zu key%s for %zu "
	    "domain%s%s%s, c=%s/%s", what, c->enabled ? "signing" :
	    "enabled=false: not signing", dkim_config_nkeys(c),
	    dkim_config_nkeys(c) == 1 ? "" : "s", c->ndomains,
	    c->ndomains == 1 ? "" : "s", c->fallback ? ", fallback " : "",
	    c->fallback ? c->fallback->name : "", dkim_canon_name(c->hcanon),
	    dkim_canon_name(c->bcanon));
	if (c->warning != NULL)
		op_log(OP_LOG_WARN, "dkim", NULL, "%s", c->warning);
}

int
dkim_plugin_reload(void)
{
	struct dkim_config *c;
	char *err = NULL;

	if (D.config_dir == NULL)
		return 0;		/* the plugin is not listed */
	if ((c = dkim_config_load(D.config_dir, &err)) == NULL) {
		op_log(OP_LOG_ERROR, "dkim", NULL, "not reloaded: %s; keeping "
		    "the running keys", err);
		free(err);
		return -1;
	}
	dkim_worker_set(c);
	dkim_config_unref(D.cfg);
	D.cfg = c;
	describe(c, "reloaded");
	return 0;
}

static void
dkim_shutdown(void *data)
{
	(void)data;
	dkim_worker_stop();
	dkim_config_unref(D.cfg);
	free(D.config_dir);
	D.cfg = NULL;
	D.config_dir = NULL;
}

static int
dkim_init(struct op_env *env, void **data)
{
	char *err = NULL;

	*data = NULL;
	if ((D.cfg = dkim_config_load(op_config_dir(env), &err)) == NULL) {
		op_log(OP_LOG_CRIT, "dkim", NULL, "%s", err);
		free(err);
		return -1;
	}
	if (dkim_worker_start(op_event_base(env), &err) != 0) {
		op_log(OP_LOG_CRIT, "dkim", NULL, "%s", err);
		free(err);
		dkim_config_unref(D.cfg);
		D.cfg = NULL;
		return -1;
	}
	D.config_dir = xstrdup(op_config_dir(env));
	dkim_worker_set(D.cfg);
	describe(D.cfg, "loaded");
	return 0;
}

const struct op_plugin dkim_plugin = {
	OUTPOST_PLUGIN_ABI, "dkim", dkim_init, dkim_shutdown
};
