/*
 * fsutil: file-system helpers shared by the roles.
 */
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int
write_full(int fd, const void *p, size_t n)
{
	struct iovec v = { (void *)(uintptr_t)p, n };

	return writev_full(fd, &v, 1);
}

int
writev_full(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int
fs_unnamed_open(int dirfd)
{
#ifdef O_TMPFILE
	return openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
#else
	(void)dirfd;
	errno = EOPNOTSUPP;
	return -1;
#endif
}

int
fs_unnamed_link(enum fs_unnamed how, int fd, int dirfd, const char *name)
{
	char proc[40];

	if (how == FS_UNNAMED_EMPTY)
		return linkat(fd, "", dirfd, name, AT_EMPTY_PATH);
	if (how != FS_UNNAMED_PROC) {
		errno = EOPNOTSUPP;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

enum fs_unnamed
fs_unnamed_probe(int dirfd, const char *probe)
{
	enum fs_unnamed how = FS_UNNAMED_NONE;
	int fd;

	for (int h = FS_UNNAMED_EMPTY; h <= FS_UNNAMED_PROC; h++) {
		if ((fd = fs_unnamed_open(dirfd)) == -1)
			return FS_UNNAMED_NONE;
		unlinkat(dirfd, probe, 0);	/* a crash's left-over */
		if (fs_unnamed_link((enum fs_unnamed)h, fd, dirfd,
		    probe) == 0) {
			how = (enum fs_unnamed)h;
			unlinkat(dirfd, probe, 0);
		}
		close(fd);
		if (how != FS_UNNAMED_NONE)
			break;
	}
	return how;
}

const char *
fs_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return NULL;
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symbolic link";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	default:
		return "special file";
	}
}
