/*
 * defaults: the commented configuration files `outpost -i` writes, taken
 * from the repository's config/ directory at build time (build/gen/).
 */
#ifndef OUTPOST_DEFAULTS_H
#define OUTPOST_DEFAULTS_H

#include <stddef.h>

struct default_file {
	const char		*name;
	const unsigned char	*data;
	size_t			 len;
};

/* Terminated by an entry whose name is NULL. */
extern const struct default_file default_files[];

/* Creates root/config with every default file (and `me` holding this
 * host's name). Refuses, changing nothing, if any file already exists.
 * Returns 0, or -1 with a malloc'd reason in *err. */
int	defaults_install(const char *root, char **err);

#endif
