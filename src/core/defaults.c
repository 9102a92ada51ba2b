/* defaults: `outpost -i ROOT` — writes the default configuration. */
#include "core/defaults.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"

/* mkdir -p, then check the directory is usable. */
static int
make_dir(const char *path, char **err)
{
	if (mkdirs(path, 0755) != 0) {
		*err = xasprintf("%s: cannot create: %s", path,
		    strerror(errno));
		return -1;
	}
	if (access(path, W_OK | X_OK) != 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_new(const char *path, const void *data, size_t len, char **err)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd == -1)
		goto fail;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) == 0)
		return 0;
fail:
	*err = xasprintf("%s: cannot write: %s", path, strerror(errno));
	return -1;
}

/* 1 (with *err set) if dir/name exists or cannot be checked. */
static int
refuse_existing(const char *dir, const char *name, char **err)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rc = 0;

	if (access(path, F_OK) == 0) {
		*err = xasprintf("%s: already exists; refusing to overwrite it",
		    path);
		rc = 1;
	} else if (errno != ENOENT) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		rc = 1;
	}
	free(path);
	return rc;
}

int
defaults_install(const char *root, char **err)
{
	char *dir = xasprintf("%s/config", root), *path, *me;
	char host[HOST_NAME_MAX + 1] = "localhost";
	const struct default_file *f;
	int rc = -1;

	if (make_dir(dir, err) != 0)
		goto out;
	/* Check first, so that a refusal leaves nothing half-written. */
	for (f = default_files; f->name != NULL; f++)
		if (refuse_existing(dir, f->name, err))
			goto out;
	if (refuse_existing(dir, "me", err))
		goto out;
	path = xasprintf("%s/me", dir);
	gethostname(host, sizeof(host) - 1);
	me = xasprintf("%s\n", host);
	rc = write_new(path, me, strlen(me), err);
	free(me);
	free(path);
	for (f = default_files; rc == 0 && f->name != NULL; f++) {
		path = xasprintf("%s/%s", dir, f->name);
		rc = write_new(path, f->data, f->len, err);
		free(path);
	}
out:
	free(dir);
	return rc;
}
