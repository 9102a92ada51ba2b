/*
 * fsutil: file-system helpers shared by the roles.
 */
#ifndef OUTPOST_FSUTIL_H
#define OUTPOST_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p with mode for the directories it creates. 0, or -1 with
 * errno set (the first component that could not be created). */
int	 mkdirs(const char *path, mode_t mode);

/* All n bytes of p to fd (EINTR retried): 0, or -1 with errno (a write
 * that takes nothing is EIO). */
int	 write_full(int fd, const void *p, size_t n);
/* All of iov[0..n) to fd, in as few writev calls as the kernel allows;
 * iov is consumed. 0, or -1 with errno. */
struct iovec;
int	 writev_full(int fd, struct iovec *iov, int n);

/* p when absolute, else <dir of base>/<p>: a path relative to the install
 * directory given its config directory (ROOT/config). malloc'd. */
char	*path_from_root(const char *config_dir, const char *p);

/*
 * Unnamed files (O_TMPFILE): written, made durable, then linked into
 * place under their final name in one step, so that no temporary name is
 * created and renamed. How a file of this directory is linked:
 * FS_UNNAMED_NONE (the file system or kernel has no O_TMPFILE, or /proc
 * is missing: use a temporary name), FS_UNNAMED_EMPTY (linkat with
 * AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH) or FS_UNNAMED_PROC
 * (linkat of /proc/self/fd/N). fs_unnamed_probe tries both on dirfd with
 * a file named probe (created and removed again).
 */
enum fs_unnamed { FS_UNNAMED_NONE = 0, FS_UNNAMED_EMPTY, FS_UNNAMED_PROC };
enum fs_unnamed	 fs_unnamed_probe(int dirfd, const char *probe);
/* A new unnamed file in dirfd, write-only, close-on-exec, 0600: the fd,
 * or -1 with errno. */
int	 fs_unnamed_open(int dirfd);
/* Gives the unnamed file fd the name `name` in dirfd (fails with EEXIST
 * when it is taken): 0, or -1 with errno. */
int	 fs_unnamed_link(enum fs_unnamed how, int fd, int dirfd,
	    const char *name);

/* What a file that is not regular is, for log lines ("FIFO", "socket",
 * "directory", "symbolic link" ...); NULL for a regular file. */
const char *fs_type_name(unsigned mode);

#endif
