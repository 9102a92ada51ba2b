/*
 * registry (private to plugins/; others include plugins/plugin.h): the
 * loaded plugins and the hooks they registered. registry.c owns both;
 * hooks.c reads them to run a chain, load.c fills and empties them.
 */
#ifndef OUTPOST_PLUGINS_REGISTRY_H
#define OUTPOST_PLUGINS_REGISTRY_H

#include <stddef.h>

#include "plugins/plugin.h"

struct loaded {
	const struct op_plugin	*p;
	char			*name;
	char			*config_dir;
	void			*data;
	void			*dl;		/* dlopen handle, NULL if built in */
	unsigned		 timeout;
	int			 ready;		/* init() succeeded */
};

struct reg {
	size_t		 plugin;	/* index in the registry */
	op_hook_fn	 fn;
};

/* Adds a plugin to the registry and runs its init(). dl (may be NULL) is
 * owned by the registry from here on. */
int		 registry_add(const struct op_plugin *, const char *name,
		    const char *config_dir, unsigned timeout, void *dl,
		    char **err);
/* The i-th plugin loaded (i < plugins_count()). */
const struct loaded *registry_plugin(size_t i);
/* A hook's chain (hook_count() entries) and its observers
 * (hook_observers() entries); hook < OP_HOOK_COUNT. */
const struct reg *registry_chain(enum op_hook);
const struct reg *registry_observers(enum op_hook);
/* The event loop plugins_event_base() and op_event_base() return. */
void		 registry_set_base(struct event_base *);
/* Calls every initialised plugin's shutdown(), last loaded first. */
void		 registry_shutdown(void);
/* Unloads shared objects and forgets everything (base included). */
void		 registry_free(void);

#endif
