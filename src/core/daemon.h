/*
 * daemon: what makes this process the one daemon of its queue, and never
 * root. daemon_lock_queue() takes an exclusive lock on the queue directory
 * for the life of the process (a second daemon on it refuses to start,
 * naming the holder's pid); daemon_drop() switches to smtp.ini's user and
 * group for good once the listeners are bound.
 */
#ifndef OUTPOST_DAEMON_H
#define OUTPOST_DAEMON_H

#include <stdio.h>
#include <sys/types.h>

/* smtp.ini [main] user and group, looked up in the system's databases. */
struct daemon_ids {
	char	*user;		/* the user's name; NULL without `user` */
	char	*group;		/* the group's name; NULL without `group` */
	uid_t	 uid;		/* the user's (without `user`: ours) */
	gid_t	 gid;		/* `group`, else the user's login group */
};

/* Looks user and group (names or numeric ids; NULL: absent) up. -1 with
 * *err (malloc'd, one line naming the key) when one does not exist. */
int	 daemon_ids_resolve(const char *user, const char *group,
	    struct daemon_ids *, char **err);
void	 daemon_ids_clear(struct daemon_ids *);
/* 1 when the process is root and will switch to another user. */
int	 daemon_will_drop(const struct daemon_ids *);

enum daemon_lock {
	DAEMON_LOCKED = 0,	/* ours until the process exits */
	DAEMON_LOCK_HELD = 1,	/* another process holds it */
	DAEMON_LOCK_ERROR = -1	/* the directory cannot be made or opened */
};

/*
 * Opens dir (created 0700 when missing, with its parents 0755; given to
 * the user and group of ids when the process will drop to them) and takes
 * an exclusive flock on it, non-blocking. *fd is the descriptor holding
 * the lock: keep it open (the lock survives daemon_drop). *err (malloc'd,
 * one line) unless DAEMON_LOCKED.
 */
enum daemon_lock daemon_lock_queue(const char *dir,
		    const struct daemon_ids *, int *fd, char **err);

/* The pid holding an exclusive flock on the inode (major:minor:ino)
 * according to locks, the text of /proc/locks; 0 when none is found. */
long	 daemon_lock_holder(FILE *locks, unsigned major, unsigned minor,
	    unsigned long ino);

/*
 * Switches to ids for good: supplementary groups (the user's, or only the
 * group), then the group, then the user; checks that root cannot be
 * regained; turns core dumps off. Nothing to do without `user` or `group`
 * or when already running as them. -1 with *err (malloc'd) on failure.
 */
int	 daemon_drop(const struct daemon_ids *, char **err);

/* 0 when the process may list, create and remove files in dir; else -1
 * with *err (malloc'd, one line naming who cannot). */
int	 daemon_dir_writable(const char *dir, const struct daemon_ids *,
	    char **err);

/*
 * The pid file (smtp.ini pid_file, default ROOT/outpost.pid): our pid and
 * a newline, mode 0644, written through a temporary file and a rename so
 * a reader never sees it half written. A stale one (a crashed run) is
 * replaced: the queue lock, taken first, is the real guard. -1 with *err
 * (malloc'd, one line) when it cannot be written.
 */
int	 daemon_pidfile_write(const char *path, char **err);

/* Removes path when it still holds our pid: 1 removed, 0 not ours (or
 * gone), -1 with errno when the unlink failed. */
int	 daemon_pidfile_remove(const char *path);

/* Raises the soft limit of open files to the hard one. */
void	 daemon_raise_fd_limit(void);

#endif
