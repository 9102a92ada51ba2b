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

/* What a file that is not regular is, for log lines ("FIFO", "socket",
 * "directory", "symbolic link" ...); NULL for a regular file. */
const char *fs_type_name(unsigned mode);

#endif
