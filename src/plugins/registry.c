/*
 * registry: the loaded plugins (data, timeout, shared-object handle) and
 * the hooks they registered, chains and observers in load order, plus
 * what init() is handed (op_register_hook, op_config_*, op_event_base).
 * It owns all of that and touches nothing else.
 */
#include "plugins/registry.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"

struct op_env {
	struct loaded	*l;
	size_t		 index;
};

static struct {
	struct loaded	*plugins;
	size_t		 n;
	struct reg	*chain[OP_HOOK_COUNT];
	size_t		 nchain[OP_HOOK_COUNT];
	struct reg	*obs[OP_HOOK_COUNT];	/* OP_HOOK_OBSERVE */
	size_t		 nobs[OP_HOOK_COUNT];
	struct event_base *base;
	char		*init_why;	/* its first CRIT-or-worse line */
} R;

/* The log tap during init(): the first ERROR-or-worse line a plugin logs
 * there becomes the reason start-up gives when that init() fails. */
static void
init_tap(int level, const char *msg)
{
	if (R.init_why == NULL && level <= LOG_ERROR)
		R.init_why = xstrdup(msg);
}

/* --- the env handed to init() ----------------------------------------- */

int
op_register_hook(struct op_env *env, enum op_hook hook, op_hook_fn fn,
    unsigned flags)
{
	if ((unsigned)hook >= OP_HOOK_COUNT || fn == NULL ||
	    (flags & ~(unsigned)OP_HOOK_OBSERVE) != 0)
		return -1;
	if (flags & OP_HOOK_OBSERVE) {
		if (hook != OP_HOOK_DEFERRED && hook != OP_HOOK_BOUNCE &&
		    hook != OP_HOOK_DELIVERED && hook != OP_HOOK_FEEDBACK)
			return -1;
		R.obs[hook] = xreallocarray(R.obs[hook], R.nobs[hook] + 1,
		    sizeof(struct reg));
		R.obs[hook][R.nobs[hook]].plugin = env->index;
		R.obs[hook][R.nobs[hook]].fn = fn;
		R.nobs[hook]++;
		return 0;
	}
	R.chain[hook] = xreallocarray(R.chain[hook], R.nchain[hook] + 1,
	    sizeof(struct reg));
	R.chain[hook][R.nchain[hook]].plugin = env->index;
	R.chain[hook][R.nchain[hook]].fn = fn;
	R.nchain[hook]++;
	return 0;
}

const char *
op_config_dir(const struct op_env *env)
{
	return env->l->config_dir;
}

const char *
op_plugin_name(const struct op_env *env)
{
	return env->l->name;
}

char *
op_config_get(const struct op_env *env, const char *file, const char *section,
    const char *key)
{
	char *path;
	struct ini *ini;
	const char *v;
	char *r = NULL;
	int exists;

	if (file == NULL || section == NULL || key == NULL ||
	    strchr(file, '/') != NULL)
		return NULL;
	path = xasprintf("%s/%s", env->l->config_dir, file);
	ini = ini_load(path, file, &exists, NULL, NULL);
	free(path);
	if (ini == NULL)
		return NULL;
	if ((v = ini_get(ini, section, key)) != NULL)
		r = xstrdup(v);
	ini_free(ini);
	return r;
}

struct event_base *
plugins_event_base(void)
{
	return R.base;
}

struct event_base *
op_event_base(const struct op_env *env)
{
	(void)env;
	return R.base;
}

/* --- the table ---------------------------------------------------------- */

int
registry_add(const struct op_plugin *p, const char *name,
    const char *config_dir, unsigned timeout, void *dl, char **err)
{
	struct loaded *l;
	struct op_env env;
	int rc;

	if (p->abi != OUTPOST_PLUGIN_ABI) {
		*err = xasprintf("plugin %s: built for plugin ABI %u, this "
		    "Outpost has ABI %u", name, p->abi, OUTPOST_PLUGIN_ABI);
		if (dl != NULL)
			dlclose(dl);
		return -1;
	}
	R.plugins = xreallocarray(R.plugins, R.n + 1, sizeof(*R.plugins));
	l = &R.plugins[R.n];
	memset(l, 0, sizeof(*l));
	l->p = p;
	l->name = xstrdup(name);
	l->config_dir = xstrdup(config_dir);
	l->timeout = timeout;
	l->dl = dl;
	env.l = l;
	env.index = R.n++;
	log_set_tap(init_tap);
	rc = p->init != NULL ? p->init(&env, &l->data) : 0;
	log_set_tap(NULL);
	if (rc != 0) {
		/* Name the cause (a file and key, usually), not just the
		 * plugin. */
		*err = R.init_why != NULL ? xasprintf("plugin %s: %s", name,
		    R.init_why) : xasprintf("plugin %s: initialisation failed",
		    name);
	}
	free(R.init_why);
	R.init_why = NULL;
	if (rc != 0)
		return -1;
	l->ready = 1;
	log_debug("core", NULL, "loaded plugin: %s", name);
	return 0;
}

const struct loaded *
registry_plugin(size_t i)
{
	return &R.plugins[i];
}

const struct reg *
registry_chain(enum op_hook h)
{
	return R.chain[h];
}

const struct reg *
registry_observers(enum op_hook h)
{
	return R.obs[h];
}

void
registry_set_base(struct event_base *base)
{
	R.base = base;
}

size_t
plugins_count(void)
{
	return R.n;
}

const char *
plugins_name(size_t i)
{
	return i < R.n ? R.plugins[i].name : NULL;
}

size_t
hook_count(enum op_hook h)
{
	return (unsigned)h < OP_HOOK_COUNT ? R.nchain[h] : 0;
}

size_t
hook_observers(enum op_hook h)
{
	return (unsigned)h < OP_HOOK_COUNT ? R.nobs[h] : 0;
}

void
registry_shutdown(void)
{
	for (size_t i = R.n; i-- > 0; ) {
		struct loaded *l = &R.plugins[i];

		if (l->ready && l->p->shutdown != NULL)
			l->p->shutdown(l->data);
	}
}

void
registry_free(void)
{
	for (size_t i = 0; i < R.n; i++) {
		if (R.plugins[i].dl != NULL)
			dlclose(R.plugins[i].dl);
		free(R.plugins[i].name);
		free(R.plugins[i].config_dir);
	}
	free(R.plugins);
	for (size_t h = 0; h < OP_HOOK_COUNT; h++) {
		free(R.chain[h]);
		free(R.obs[h]);
	}
	memset(&R, 0, sizeof(R));
}
