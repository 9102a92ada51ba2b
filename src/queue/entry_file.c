/*
 * entry_file: reading one queue entry file (docs/queue-format.md). What
 * is not a regular file is never opened and a link is never followed;
 * without the message, the header is decoded from a bounded read and the
 * rest streamed through the checksum (entry.c's qfs_source). Holds
 * nothing between calls; changes no file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xmalloc.h"
#include "queue/entry.h"

/* A qfs_source read: all n bytes at off; a file that got shorter since
 * fstat is EIO (changed under us: not corrupt, unreadable). */
int
qfs_pread_all(void *arg, size_t off, void *buf, size_t n)
{
	int fd = *(const int *)arg;
	char *p = buf;
	ssize_t r;

	while (n > 0) {
		if ((r = pread(fd, p, n, (off_t)off)) == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p += r;
		off += (size_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Opens path if it is a regular file: the fd, or -1 with *why and *err
 * (errno; EINVAL when it is not a regular file). The type is
 * checked before the open, so a FIFO or a device is never opened; the
 * open neither follows a link nor waits for a FIFO put there meanwhile.
 */
int
qfs_open_regular(const char *path, struct stat *st, const char **why,
    int *err)
{
	int fd = -1;

	*err = 0;
	if (lstat(path, st) == -1)
		goto syserr;
	if (!S_ISREG(st->st_mode))
		goto odd;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) == -1 || fstat(fd, st) == -1)
		goto syserr;
	if (!S_ISREG(st->st_mode))
		goto odd;
	return fd;
odd:
	*err = EINVAL;
	*why = "not a regular file";
	if (fd != -1)
		close(fd);
	return -1;
syserr:
	*err = errno;
	*why = strerror(errno);
	if (fd != -1)
		close(fd);
	return -1;
}

int
qfs_read_err(const char *path, struct qentry *e, char **msg, size_t *msglen,
    const char **why, int *err)
{
	struct qfs_source src;
	struct stat st;
	char *p = NULL;
	size_t len;
	int fd, rc = -1;

	memset(e, 0, sizeof(*e));
	if ((fd = qfs_open_regular(path, &st, why, err)) == -1)
		return -1;
	len = (size_t)st.st_size;
	if ((uintmax_t)st.st_size > QFS_FILE_MAX) {
		*why = "file too large";	/* no entry can be: corrupt */
		goto done;
	}
	if (msg == NULL) {
		src = (struct qfs_source){ len, qfs_pread_all, &fd, 0 };
		if ((rc = qfs_decode_source(&src, e, why, err)) == -1 &&
		    *err != 0)
			*why = strerror(*err);
		goto done;
	}
	p = xmalloc(len + 1);
	if (qfs_pread_all(&fd, 0, p, len) == -1) {
		*err = errno;
		*why = strerror(errno);
		goto done;
	}
	if (qfs_decode(p, len, e, why) == -1)
		goto done;
	rc = 0;
	if (e->body != NULL) {		/* version 2: not in this file */
		*msg = NULL;
		goto done;
	}
	memmove(p, p + e->msg_offset, e->msg_len);
	p[e->msg_len] = '\0';
	*msg = p;
	p = NULL;
	if (msglen != NULL)
		*msglen = e->msg_len;
done:
	free(p);
	close(fd);
	return rc;
}

int
qfs_read(const char *path, struct qentry *e, char **msg, size_t *msglen,
    const char **why)
{
	int err;

	return qfs_read_err(path, e, msg, msglen, why, &err);
}

int
qfs_read_entry(const char *dir, const char *name, struct qentry *e,
    const char **why, int *err)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rc = qfs_read_err(path, e, NULL, NULL, why, err);

	free(path);
	if (rc == 0 && strcmp(e->id, name) != 0) {
		qentry_clear(e);
		*why = "id does not match the file name";
		rc = -1;
	}
	return rc;
}

int
qfs_salvage_entry(const char *dir, const char *name, struct qentry *e)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct qfs_source src;
	struct stat st;
	const char *why;
	int fd, err, rc = -1;

	memset(e, 0, sizeof(*e));
	if ((fd = qfs_open_regular(path, &st, &why, &err)) != -1) {
		src = (struct qfs_source){ (size_t)st.st_size, qfs_pread_all, &fd,
		    0 };
		rc = qfs_salvage_source(&src, name, e);
		close(fd);
	}
	free(path);
	return rc;
}

int
qfs_read_entry_at(int dirfd, const char *name, int regular, struct qentry *e,
    struct stat *st, const char **why, int *err)
{
	struct qfs_source src;
	int fd = -1, rc = -1;

	memset(e, 0, sizeof(*e));
	*err = 0;
	if (!regular && fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == -1)
		goto syserr;
	if (!regular && !S_ISREG(st->st_mode))
		goto odd;
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY)) == -1 || fstat(fd, st) == -1)
		goto syserr;
	if (!S_ISREG(st->st_mode))
		goto odd;
	if ((uintmax_t)st->st_size > QFS_FILE_MAX) {
		*why = "file too large";
		goto done;
	}
	src = (struct qfs_source){ (size_t)st->st_size, qfs_pread_all, &fd,
	    0 };
	if ((rc = qfs_decode_source(&src, e, why, err)) == -1) {
		if (*err != 0)
			*why = strerror(*err);
		goto done;
	}
	if (strcmp(e->id, name) != 0) {
		qentry_clear(e);
		*why = "id does not match the file name";
		rc = -1;
	}
	goto done;
odd:
	*err = EINVAL;
	*why = "not a regular file";
	goto done;
syserr:
	*err = errno;
	*why = strerror(errno);
done:
	if (fd != -1)
		close(fd);
	return rc;
}
