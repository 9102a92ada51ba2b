/*
 * load: the plugins' life cycle. plugins_load() finds each plugin named in
 * config/plugins among the built-ins or as ROOT/plugins/<name>.so (a
 * Haraka plugin that only filters inbound mail is skipped with a warning:
 * plugins/haraka_names.c), reads its timeout and adds it to the registry
 * in order; plugins_unload() stops the runner, shuts the plugins down and
 * empties the registry.
 */
#include "plugins/plugin.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "plugins/haraka_names.h"
#include "plugins/hooks.h"
#include "plugins/registry.h"

#define DEFAULT_TIMEOUT	30

static unsigned
plugin_timeout(const char *config_dir, const char *name)
{
	char *path = xasprintf("%s/%s.timeout", config_dir, name), *v = NULL;
	unsigned t = DEFAULT_TIMEOUT;

	if (flat_value(path, &v) == 0 && v != NULL) {
		if (ini_is_integer(v) && v[0] != '-' && strlen(v) < 10)
			t = (unsigned)strtoul(v, NULL, 10);
		else
			log_warn("core", NULL, "%s: not a number of seconds: "
			    "'%s'; using %u", path, v, t);
	}
	free(v);
	free(path);
	return t;
}

int
plugins_add(const struct op_plugin *p, const char *config_dir,
    unsigned timeout, char **err)
{
	return registry_add(p, p->name ? p->name : "unnamed", config_dir,
	    timeout, NULL, err);
}

/* A plugin name maps to a path under ROOT/plugins: no absolute paths, no
 * '..' or empty components. */
static int
valid_name(const char *name)
{
	const char *p = name;

	if (*name == '\0' || *name == '/')
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 1 && p[0] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
		else
			break;
	}
	return name[strlen(name) - 1] != '/';
}

/* Whether ROOT/plugins/<name>.so exists (it wins over a known name). */
static int
shared_exists(const struct config *cfg, const char *name)
{
	char *path = xasprintf("%s/plugins/%s.so", cfg->root, name);
	int ok = access(path, F_OK) == 0;

	free(path);
	return ok;
}

static int
load_shared(const struct config *cfg, const char *name, char **err)
{
	char *path = xasprintf("%s/plugins/%s.so", cfg->root, name);
	const struct op_plugin *p;
	void *dl;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		if (access(path, F_OK) == 0)
			*err = xasprintf("config/plugins: cannot load plugin "
			    "%s: %s", name, dlerror());
		else
			*err = xasprintf("config/plugins: unknown plugin '%s' "
			    "(not built in, and no %s)", name, path);
		free(path);
		return -1;
	}
	free(path);
	p = dlsym(dl, "outpost_plugin");
	if (p == NULL) {
		*err = xasprintf("config/plugins: plugin %s does not export "
		    "outpost_plugin", name);
		dlclose(dl);
		return -1;
	}
	return registry_add(p, name, cfg->config_dir,
	    plugin_timeout(cfg->config_dir, name), dl, err);
}

int
plugins_load(const struct config *cfg, struct event_base *base,
    const struct builtin_plugin *builtins, char **err)
{
	registry_set_base(base);
	for (size_t i = 0; i < cfg->nplugins; i++) {
		const char *name = cfg->plugins[i];
		const struct builtin_plugin *b;
		int rc;

		int dup = 0;

		for (size_t j = 0; j < i; j++)
			dup |= strcmp(cfg->plugins[j], name) == 0;
		if (dup) {
			log_warn("core", NULL, "config/plugins: plugin '%s' "
			    "listed twice; loading it once", name);
			continue;
		}
		for (b = builtins; b->name != NULL; b++)
			if (strcmp(b->name, name) == 0 ||
			    (b->alias && strcmp(b->alias, name) == 0))
				break;
		if (b->name != NULL)
			rc = registry_add(b->plugin, b->name, cfg->config_dir,
			    plugin_timeout(cfg->config_dir, b->name), NULL,
			    err);
		else if (!valid_name(name)) {
			*err = xasprintf("config/plugins: invalid plugin name "
			    "'%s'", name);
			rc = -1;
		} else if (haraka_inbound_only(name) &&
		    !shared_exists(cfg, name)) {
			log_warn("core", NULL, "config/plugins: '%s' is a "
			    "Haraka plugin that only filters inbound mail; "
			    "Outpost does not implement it and runs without "
			    "it", name);
			rc = 0;
		} else
			rc = load_shared(cfg, name, err);
		if (rc != 0) {
			plugins_unload();
			return -1;
		}
	}
	return 0;
}

void
plugins_unload(void)
{
	log_set_sink(NULL, NULL);
	/* Observers first: an answer from shutdown() only frees its call. */
	hooks_abandon();
	registry_shutdown();
	hooks_free_orphans();
	registry_free();
}
