/*
 * daemon: the queue directory's lock and the privilege drop (daemon.h).
 * Runs once, at start-up, before the event loop; keeps no state: the
 * caller holds the lock's descriptor for the life of the process. And
 * the pid file, written after the lock is taken, removed at exit.
 */
#include "core/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"

/* --- user and group -------------------------------------------------------- */

/* s is a whole number that fits an id (the all-ones value is not one). */
static int
numeric_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *out < UINT_MAX;
}

int
daemon_ids_resolve(const char *user, const char *group,
    struct daemon_ids *ids, char **err)
{
	const struct passwd *pw;
	const struct group *gr;
	unsigned long n;

	memset(ids, 0, sizeof(*ids));
	ids->uid = geteuid();
	ids->gid = getegid();
	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL && numeric_id(user, &n))
			pw = getpwuid((uid_t)n);
		if (pw == NULL) {
			*err = xasprintf("config/smtp.ini: user: no user '%s' "
			    "on this system", user);
			return -1;
		}
		ids->user = xstrdup(pw->pw_name);
		ids->uid = pw->pw_uid;
		ids->gid = pw->pw_gid;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL && numeric_id(group, &n))
			gr = getgrgid((gid_t)n);
		if (gr == NULL) {
			*err = xasprintf("config/smtp.ini: group: no group '%s' "
			    "on this system", group);
			daemon_ids_clear(ids);
			return -1;
		}
		ids->group = xstrdup(gr->gr_name);
		ids->gid = gr->gr_gid;
	}
	return 0;
}

void
daemon_ids_clear(struct daemon_ids *ids)
{
	free(ids->user);
	free(ids->group);
	ids->user = ids->group = NULL;
}

int
daemon_will_drop(const struct daemon_ids *ids)
{
	return geteuid() == 0 && ids->user != NULL && ids->uid != 0;
}

/* --- the queue directory's lock ---------------------------------------------- */

/* mkdir dir 0700 (its parents 0755): 1 when this call made it, 0 when
 * it was there, -1 with errno. */
static int
make_queue_dir(const char *dir)
{
	char *parent = xstrdup(dir), *slash;
	size_t len = strlen(parent);
	int rc = 0;

	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		rc = mkdirs(parent, 0755);
	}
	free(parent);
	if (rc == -1)
		return -1;
	if (mkdir(dir, 0700) == 0)
		return 1;
	return errno == EEXIST ? 0 : -1;
}

long
daemon_lock_holder(FILE *locks, unsigned major, unsigned minor,
    unsigned long ino)
{
	char line[512], *tok[8], *save, *t, *end;
	unsigned ma, mi;
	unsigned long in;
	long pid, same_ino = 0;
	int used, n_ino = 0;
	size_t n;

	while (fgets(line, sizeof(line), locks) != NULL) {
		/* "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"; a waiter's
		 * line has "->" after the number and is skipped. */
		n = 0;
		for (t = strtok_r(line, " \t\n", &save); t != NULL && n < 8;
		    t = strtok_r(NULL, " \t\n", &save))
			tok[n++] = t;
		if (n < 6 || strcmp(tok[1], "FLOCK") != 0 ||
		    strcmp(tok[3], "WRITE") != 0)
			continue;
		used = 0;
		if (sscanf(tok[5], "%x:%x:%lu%n", &ma, &mi, &in, &used) != 3 ||
		    tok[5][used] != '\0' || in != ino)
			continue;
		errno = 0;
		pid = strtol(tok[4], &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0)
			continue;
		if (ma == major && mi == minor)
			return pid;
		/* Some file systems (btrfs subvolumes) show another device
		 * number in stat(2) than here: an inode alone will do when
		 * it is the only one. */
		same_ino = pid;
		n_ino++;
	}
	return n_ino == 1 ? same_ino : 0;
}

/* Who holds the lock on fd's directory: 0 when /proc/locks cannot say. */
static long
holder_of(int fd)
{
	struct stat st;
	FILE *f;
	long pid;

	if (fstat(fd, &st) == -1 || (f = fopen("/proc/locks", "re")) == NULL)
		return 0;
	pid = daemon_lock_holder(f, major(st.st_dev), minor(st.st_dev),
	    (unsigned long)st.st_ino);
	fclose(f);
	return pid;
}

enum daemon_lock
daemon_lock_queue(const char *dir, const struct daemon_ids *ids, int *fdp,
    char **err)
{
	int fd, created = 0, saved;
	long pid;

	*fdp = -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		if ((created = make_queue_dir(dir)) == -1) {
			*err = xasprintf("queue directory %s: cannot create: %s",
			    dir, strerror(errno));
			return DAEMON_LOCK_ERROR;
		}
		/* What was just made is a directory, never a link put in
		 * its place meanwhile: it may be chown'ed below. */
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		    (created ? O_NOFOLLOW : 0));
	}
	if (fd == -1) {
		*err = xasprintf("queue directory %s: %s", dir, strerror(errno));
		return DAEMON_LOCK_ERROR;
	}
	/* Created by root for a daemon that will not be root: its user's. */
	if (created && daemon_will_drop(ids) &&
	    fchown(fd, ids->uid, ids->gid) == -1) {
		*err = xasprintf("queue directory %s: cannot give it to user "
		    "%s: %s", dir, ids->user, strerror(errno));
		goto fail;
	}
	/* flock, not fcntl: the lock belongs to the open directory, which
	 * survives the privilege drop and is never written. */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		if (saved != EWOULDBLOCK) {
			*err = xasprintf("queue directory %s: cannot lock: %s",
			    dir, strerror(saved));
			goto fail;
		}
		if ((pid = holder_of(fd)) > 0)
			*err = xasprintf("queue directory %s is in use by "
			    "another outpost (pid %ld); not starting a second "
			    "one", dir, pid);
		else
			*err = xasprintf("queue directory %s is in use by "
			    "another outpost (pid unknown); not starting a "
			    "second one", dir);
		close(fd);
		return DAEMON_LOCK_HELD;
	}
	*fdp = fd;
	return DAEMON_LOCKED;
fail:
	close(fd);
	return DAEMON_LOCK_ERROR;
}

/* --- the drop ---------------------------------------------------------------- */

/* Nothing to switch: the process already runs with exactly these ids. */
static int
already(const struct daemon_ids *ids)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return 0;
	if (rg != ids->gid || eg != ids->gid || sg != ids->gid)
		return 0;
	return ids->user == NULL ||
	    (ru == ids->uid && eu == ids->uid && su == ids->uid);
}

/* The ids as the error messages name them. */
static char *
who(const struct daemon_ids *ids)
{
	if (ids->user != NULL)
		return xasprintf("user %s (uid %u, gid %u)", ids->user,
		    (unsigned)ids->uid, (unsigned)ids->gid);
	return xasprintf("group %s (gid %u)", ids->group, (unsigned)ids->gid);
}

/* The one-line error of a failed step (errno is the step's). */
static char *
step_error(const char *name, const char *step)
{
	if (errno == EPERM && geteuid() != 0)
		return xasprintf("cannot switch to %s: %s: %s (start outpost "
		    "as root, or as that user)", name, step, strerror(errno));
	return xasprintf("cannot switch to %s: %s: %s", name, step,
	    strerror(errno));
}

int
daemon_drop(const struct daemon_ids *ids, char **err)
{
	char *name = NULL;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int rc = -1;

	if ((ids->user == NULL && ids->group == NULL) || already(ids))
		return 0;
	name = who(ids);
	/* In this order: each step needs the privilege the next removes. */
	if ((ids->user != NULL ? initgroups(ids->user, ids->gid) :
	    setgroups(1, &ids->gid)) == -1) {
		*err = step_error(name, "setgroups");
		goto out;
	}
	if (setresgid(ids->gid, ids->gid, ids->gid) == -1) {
		*err = step_error(name, "setgid");
		goto out;
	}
	if (ids->user != NULL &&
	    setresuid(ids->uid, ids->uid, ids->uid) == -1) {
		*err = step_error(name, "setuid");
		goto out;
	}
	if (getresgid(&rg, &eg, &sg) == -1 || rg != ids->gid ||
	    eg != ids->gid || sg != ids->gid ||
	    (ids->user != NULL && (getresuid(&ru, &eu, &su) == -1 ||
	    ru != ids->uid || eu != ids->uid || su != ids->uid))) {
		*err = xasprintf("switched to %s, but the process's ids are "
		    "not all that; not starting", name);
		goto out;
	}
	if (ids->user == NULL || ids->uid == 0) {
		rc = 0;			/* still root: main warns */
		goto out;
	}
	if (setuid(0) != -1 || seteuid(0) != -1 ||
	    (ids->gid != 0 && (setgid(0) != -1 || setegid(0) != -1))) {
		*err = xasprintf("switched to %s, but root can be regained; "
		    "not starting", name);
		goto out;
	}
	/*
	 * Core dumps off, both ways. RLIMIT_CORE 0, soft and hard (never to
	 * be raised again), stops the kernel writing a core file; but a
	 * core_pattern pipe (systemd-coredump) is not bound by it.
	 * PR_SET_DUMPABLE 0 stops every dump, and ptrace by other processes
	 * of the same user: the memory holds passwords, keys and mail. The
	 * kernel already clears "dumpable" on the uid change when
	 * fs.suid_dumpable is 0 (the default); this holds whatever it says.
	 */
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) == -1) {
		*err = step_error(name, "setrlimit(RLIMIT_CORE)");
		goto out;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		*err = step_error(name, "prctl(PR_SET_DUMPABLE)");
		goto out;
	}
	rc = 0;
out:
	free(name);
	return rc;
}

int
daemon_dir_writable(const char *dir, const struct daemon_ids *ids,
    char **err)
{
	int saved;

	if (access(dir, R_OK | W_OK | X_OK) == 0)
		return 0;
	saved = errno;
	if (ids->user != NULL)
		*err = xasprintf("queue directory %s is not writable by user "
		    "%s (uid %u, gid %u): %s", dir, ids->user,
		    (unsigned)getuid(), (unsigned)getgid(), strerror(saved));
	else
		*err = xasprintf("queue directory %s is not writable (uid "
		    "%u): %s", dir, (unsigned)getuid(), strerror(saved));
	return -1;
}

/* --- the pid file ------------------------------------------------------------ */

int
daemon_pidfile_write(const char *path, char **err)
{
	char *tmp = xasprintf("%s.tmp", path), line[32];
	int fd, n, saved;

	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	/* O_NOFOLLOW: the directory may be the daemon user's, and this runs
	 * as root; rename() then replaces a link, never follows it. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd != -1 && (fchmod(fd, 0644) == -1 ||
	    write_full(fd, line, (size_t)n) == -1)) {
		saved = errno;
		close(fd);
		errno = saved;
		fd = -2;
	} else if (fd != -1 && close(fd) == -1)
		fd = -2;
	if (fd < 0) {
		saved = errno;
		if (fd == -2)
			unlink(tmp);
		*err = xasprintf("pid file %s: %s (smtp.ini pid_file)", tmp,
		    strerror(saved));
		free(tmp);
		return -1;
	}
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		*err = xasprintf("pid file %s: %s (smtp.ini pid_file)", path,
		    strerror(saved));
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int
daemon_pidfile_remove(const char *path)
{
	char line[32];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	line[n] = '\0';
	if (strtol(line, NULL, 10) != (long)getpid())
		return 0;
	return unlink(path) == 0 ? 1 : -1;
}

void
daemon_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}
