/*
 * fsutil: file-system helpers shared by the roles.
 */
#ifndef OUTPOST_FSUTIL_H
#define OUTPOST_FSUTIL_H

#include <sys/types.h>

/* mkdir -p with mode for the directories it creates. 0, or -1 with
 * errno set (the first component that could not be created). */
int	 mkdirs(const char *path, mode_t mode);

/* p when absolute, else <dir of base>/<p>: a path relative to the install
 * directory given its config directory (ROOT/config). malloc'd. */
char	*path_from_root(const char *config_dir, const char *p);

#endif
