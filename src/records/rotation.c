/*
 * rotation: names of rotating record files, chosen under the directory's
 * flock (see rotation.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/xmalloc.h"
#include "records/rotation.h"

#define MAX_SUFFIX	10000	/* names tried in one second */

int
rot_lock(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

void
rot_unlock(int fd)
{
	int saved = errno;

	if (fd != -1)
		close(fd);	/* drops the flock */
	errno = saved;
}

/* dir/<prefix>.<stamp>[.<seq>][.<ext>] */
static char *
rot_path(const struct rot *r, const char *dir, unsigned seq)
{
	char n[16] = "";

	if (seq > 0)
		snprintf(n, sizeof(n), ".%u", seq);
	return xasprintf("%s/%s.%s%s%s%s", dir, r->prefix, r->stamp, n,
	    *r->ext ? "." : "", r->ext);
}

static int
exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* The name of seq is taken in the archive (and, with in_dir, in dir). */
static int
taken(const struct rot *r, unsigned seq, int in_dir)
{
	char *p;
	int t = 0;

	if (r->archive_dir != NULL) {
		p = rot_path(r, r->archive_dir, seq);
		t = exists(p);
		free(p);
	}
	if (!t && in_dir) {
		p = rot_path(r, r->dir, seq);
		t = exists(p);
		free(p);
	}
	return t;
}

int
rot_create(struct rot *r, char **path)
{
	time_t now = time(NULL);
	struct tm tm;
	char *p;
	int fd = -1, lk, err = EEXIST;

	localtime_r(&now, &tm);
	strftime(r->stamp, sizeof(r->stamp), "%Y-%m-%d-%H%M%S", &tm);
	lk = rot_lock(r->dir);
	for (r->seq = 0; r->seq < MAX_SUFFIX; r->seq++) {
		if (taken(r, r->seq, 0))
			continue;
		p = rot_path(r, r->dir, r->seq);
		fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC,
		    0640);
		if (fd != -1) {
			*path = p;
			break;
		}
		err = errno;
		free(p);
		if (err != EEXIST)
			break;
	}
	rot_unlock(lk);
	if (fd == -1)
		errno = err;
	return fd;
}

/* Never replaces a file: where the file system cannot rename that way,
 * link() refuses an existing name just the same. */
static int
move_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return errno;
	if (link(from, to) == -1)
		return errno;
	return unlink(from) == -1 ? errno : 0;
}

int
rot_archive(const struct rot *r, const char *path, char **as)
{
	char *to = xasprintf("%s/%s", r->archive_dir, strrchr(path, '/') + 1);
	unsigned seq = r->seq;
	int err, lk = rot_lock(r->dir);

	/* Past its own name, a free .<n> is free in dir too: another
	 * worker's current file keeps its name when it is archived. */
	while ((err = move_noreplace(path, to)) == EEXIST) {
		do
			seq++;
		while (seq < MAX_SUFFIX && taken(r, seq, 1));
		if (seq >= MAX_SUFFIX)
			break;
		free(to);
		to = rot_path(r, r->archive_dir, seq);
	}
	rot_unlock(lk);
	if (err == 0)
		*as = xstrdup(strrchr(to, '/') + 1);
	free(to);
	return err;
}
