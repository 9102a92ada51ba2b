/*
 * builtin: the table of plugins compiled into Outpost, by config/plugins
 * name (and the alternative spelling Haraka users may have).
 */
#include <stddef.h>

#include "plugin.h"

const struct builtin_plugin builtin_plugins[] = {
	{ NULL, NULL, NULL }
};
