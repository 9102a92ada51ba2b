/*
 * fsutil: file-system helpers shared by the roles.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"

int
mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path), *s = p, c;
	int err = 0;

	do {
		s += strspn(s, "/");
		s += strcspn(s, "/");
		c = *s;
		*s = '\0';
		if (*p != '\0' && mkdir(p, mode) == -1 && errno != EEXIST)
			err = errno;
		*s = c;
	} while (err == 0 && c != '\0');
	free(p);
	errno = err;
	return err == 0 ? 0 : -1;
}

char *
path_from_root(const char *config_dir, const char *p)
{
	const char *slash = strrchr(config_dir, '/');

	if (p[0] == '/')
		return xstrdup(p);
	if (slash == NULL)
		return xstrdup(p);
	if (slash == config_dir)
		return xasprintf("/%s", p);
	return xasprintf("%.*s/%s", (int)(slash - config_dir), config_dir, p);
}
