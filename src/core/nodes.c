/*
 * nodes: the supervisor of smtp.ini `nodes` worker processes and the
 * queue partitions' adoption (ROOT/queue/w<i> per worker; the top
 * directory is a single process's). The worker's side: core/worker.c.
 */
#include "core/nodes.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/anvil.h"
#include "lib/gate.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/worker.h"

#define BACKOFF_MAX	30	/* s between restarts of a failing worker */
#define BACKOFF_RESET	60	/* s of life that count as a success */
#define AUTH_CLIENTS	16384	/* client addresses whose AUTH failures count */
#define CLIENTS_MIN	1024	/* keys with connections, at least */

/* --- adoption ------------------------------------------------------------ */

/* "w<digits>": a worker's partition; its number, else -1. */
static long
partition_no(const char *name)
{
	char *end;
	long n;

	if (name[0] != 'w' || name[1] < '0' || name[1] > '9')
		return -1;
	n = strtol(name + 1, &end, 10);
	return *end == '\0' && n >= 0 && n < 100000 ? n : -1;
}

static void
sync_dir(int fd)
{
	if (fsync(fd) == -1)
		log_warn("core", NULL, "queue: fsync of a directory: %s",
		    strerror(errno));
}

/* Every regular file of dir from into dir to (both open). With top, from
 * is the top directory, which no worker scans: what is neither a regular
 * file nor a partition is named in the log, as a scan names it. */
static long
move_files(int from, const char *fname, int to, const char *tname,
    int top, char **err)
{
	struct dirent *de;
	struct stat st;
	long moved = 0;
	DIR *d;
	int fd = dup(from);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		*err = xasprintf("queue directory %s: %s", fname,
		    strerror(errno));
		return -1;
	}
	rewinddir(d);		/* a dup shares the offset: from the start */
	while (errno = 0, (de = readdir(d)) != NULL) {
		if (fstatat(from, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISREG(st.st_mode)) {
			if (top && strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0 &&
			    !(S_ISDIR(st.st_mode) &&
			    partition_no(de->d_name) >= 0))
				log_error("core", NULL, "queue: %s is a %s, not "
				    "a queue file; left alone%s", de->d_name,
				    fs_type_name(st.st_mode), S_ISLNK(st.st_mode) ?
				    " (not followed)" : " (not opened)");
			continue;
		}
		if (renameat2(from, de->d_name, to, de->d_name,
		    RENAME_NOREPLACE) == 0) {
			moved++;
			continue;
		}
		log_error("core", NULL, "queue: %s/%s not moved to %s: %s",
		    fname, de->d_name, tname, strerror(errno));
	}
	closedir(d);
	if (moved > 0) {
		sync_dir(to);
		sync_dir(from);
	}
	return moved;
}

long
nodes_adopt(const char *qdir, unsigned nodes, char **err)
{
	struct dirent *de;
	char *to_name;
	long total = 0, n, p;
	int top, to, src;
	DIR *d;

	if ((top = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("queue directory %s: %s", qdir,
		    strerror(errno));
		return -1;
	}
	if (nodes > 1) {
		to_name = xasprintf("%s/w0", qdir);
		to = open(to_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		to_name = xstrdup(qdir);
		to = dup(top);
	}
	if (to == -1) {
		*err = xasprintf("queue directory %s: %s", to_name,
		    strerror(errno));
		free(to_name);
		close(top);
		return -1;
	}
	if (nodes > 1 && (total = move_files(top, qdir, to, to_name, 1,
	    err)) < 0)
		goto out;
	if ((src = dup(top)) == -1 || (d = fdopendir(src)) == NULL) {
		if (src != -1)
			close(src);
		*err = xasprintf("queue directory %s: %s", qdir,
		    strerror(errno));
		total = -1;
		goto out;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		char *name;
		int fd;

		if ((p = partition_no(de->d_name)) < 0 ||
		    (nodes > 1 && p < (long)nodes))
			continue;
		name = xasprintf("%s/%s", qdir, de->d_name);
		if ((fd = openat(top, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC | O_NOFOLLOW)) == -1) {
			free(name);
			continue;
		}
		n = move_files(fd, name, to, to_name, 0, err);
		close(fd);
		free(name);
		if (n < 0) {
			total = -1;
			break;
		}
		total += n;
	}
	closedir(d);
out:
	if (total > 0)
		log_notice("core", NULL, "queue: %ld file%s of partitions no "
		    "worker owns moved to %s", total, total == 1 ? "" : "s",
		    to_name);
	free(to_name);
	close(to);
	close(top);
	return total;
}

/* --- the client table ---------------------------------------------------- */

struct anvil *
nodes_anvil_new(const struct config_core *c, unsigned columns)
{
	/* A key holds one connection at least: [max] connections bound
	 * the keys with connections (as at start: the table cannot grow). */
	return anvil_new(columns, c->max_connections > CLIENTS_MIN ?
	    c->max_connections : CLIENTS_MIN, c->auth_max_failures_per_ip,
	    c->auth_failure_window, c->auth_lockout, AUTH_CLIENTS);
}

/* --- the supervisor ------------------------------------------------------ */

struct worker {
	pid_t		 pid;		/* 0: not running */
	int		 rfd;		/* its "ready" pipe; -1 once read */
	int		 ready;
	time_t		 started;
	time_t		 restart_at;	/* 0: none due */
	unsigned	 backoff;	/* s */
	int		 hung;		/* killed for it, not yet reaped */
};

struct sup {
	struct worker	*w;
	unsigned	 n;
	int		 sfd;		/* signalfd */
	int		 lock_fd;
	sigset_t	 old;		/* the mask before ours */
	struct config_core *c;
	char		*top;		/* the top queue directory */
	int		 told;		/* a worker's start-up error printed */
	long long	 ping_at;	/* the next WATCHDOG=1 (monotonic ms) */
	long long	 ping_every;	/* ms; 0: no watchdog, or not yet */
	struct anvil	*table;		/* the client table, shared */
	struct gate	*gate;		/* the destinations' shaping, shared */
	uint64_t	*beats;		/* [n] the workers' heartbeats, shared */
};

/* The service manager's watchdog is the supervisor's to feed (the main
 * pid, READY's sender): WATCHDOG=1 every half of WATCHDOG_USEC once all
 * workers are ready, as a single process pings from its loop. */
static void
ping(struct sup *s)
{
	long long now = (long long)util_now_ms();

	if (s->ping_every == 0 || now < s->ping_at)
		return;
	notify_send("WATCHDOG=1", NULL);
	s->ping_at = now + s->ping_every;
}

/* Forks worker i: its pid in the supervisor, 0 in the worker. */
static pid_t
spawn(struct sup *s, unsigned i)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_error("core", NULL, "nodes: worker %u: pipe: %s", i,
		    strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_error("core", NULL, "nodes: worker %u: fork: %s", i,
		    strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* The worker: the supervisor's state is not its own. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		close(p[0]);
		close(s->sfd);
		for (unsigned j = 0; j < s->n; j++)
			if (s->w[j].rfd != -1)
				close(s->w[j].rfd);
		free(s->w);
		notify_close();		/* READY is the supervisor's */
		/* HUP and USR1 wait for the loop's handlers (nodes_ready):
		 * their default action would end a worker still starting. */
		sigaddset(&s->old, SIGHUP);
		sigaddset(&s->old, SIGUSR1);
		sigprocmask(SIG_SETMASK, &s->old, NULL);
		nodes_become((int)i, s->n, p[1], s->table, s->gate,
		    &s->beats[i]);
		free(s->c->queue_dir);
		s->c->queue_dir = xasprintf("%s/w%u", s->top, i);
		free(s->top);
		log_hold(1);
		return 0;
	}
	close(p[1]);
	s->w[i].pid = pid;
	s->w[i].rfd = p[0];
	s->w[i].ready = 0;
	s->w[i].hung = 0;
	__atomic_store_n(&s->beats[i], util_now_ms(), __ATOMIC_RELAXED);
	s->w[i].started = time(NULL);
	s->w[i].restart_at = 0;
	log_notice("core", NULL, "nodes: worker %u started (pid %ld)", i,
	    (long)pid);
	return pid;
}

static void
forward(struct sup *s, int sig)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->w[i].pid > 0)
			kill(s->w[i].pid, sig);
}

static unsigned
running(const struct sup *s)
{
	unsigned k = 0;

	for (unsigned i = 0; i < s->n; i++)
		k += s->w[i].pid > 0;
	return k;
}

/* Reaps the dead; schedules restarts. 1 + an exit status when a worker
 * died before it served, while they start (the start failed), else 0. */
static int
reap(struct sup *s, int stopping, int all_ready)
{
	int status, code = 0;
	pid_t pid;
	time_t now = time(NULL);

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < s->n; i++) {
			struct worker *w = &s->w[i];

			if (w->pid != pid)
				continue;
			w->pid = 0;
			if (w->rfd != -1) {	/* its "ready", if not yet read */
				char b = 0;

				if (read(w->rfd, &b, 1) == 1 && b == 1)
					w->ready = 1;
				close(w->rfd);
			}
			w->rfd = -1;
			/* Its connections died with it (the kernel closed
			 * them): they count no more. */
			anvil_forget(s->table, i);
			gate_forget(s->gate, i);
			if (WIFSIGNALED(status))
				log_warn("core", NULL, "nodes: worker %u (pid %ld) "
				    "killed by signal %d", i, (long)pid,
				    WTERMSIG(status));
			else
				log_notice("core", NULL, "nodes: worker %u (pid "
				    "%ld) exited with status %d", i, (long)pid,
				    WEXITSTATUS(status));
			if (stopping)
				break;
			/* Dead before it served, while the workers start: the
			 * start failed. One that served is restarted, even
			 * before the others are ready. */
			if (!all_ready && !w->ready) {
				code = 1 + (WIFEXITED(status) &&
				    WEXITSTATUS(status) != 0 ?
				    WEXITSTATUS(status) : 1);
				break;
			}
			w->backoff = now - w->started >= BACKOFF_RESET ||
			    w->backoff == 0 ? 1 : w->backoff * 2 > BACKOFF_MAX ?
			    BACKOFF_MAX : w->backoff * 2;
			w->restart_at = now + w->backoff;
			log_warn("core", NULL, "nodes: restarting worker %u in "
			    "%us", i, w->backoff);
			break;
		}
	}
	return code;
}

/* A worker that serves and whose loop has not beaten for smtp.ini
 * worker_timeout seconds is hung (a loop that never comes back, a
 * process stopped): killed, so that reap() restarts it as any dead one.
 * Its queue is on disk; the kernel closes its connections. */
static void
watch_beats(struct sup *s)
{
	long long now = (long long)util_now_ms(),
	    limit = (long long)s->c->worker_timeout * 1000;

	for (unsigned i = 0; limit > 0 && i < s->n; i++) {
		struct worker *w = &s->w[i];
		long long last = (long long)__atomic_load_n(&s->beats[i],
		    __ATOMIC_RELAXED);

		if (w->pid <= 0 || !w->ready || w->hung || now - last <= limit)
			continue;
		log_error("core", NULL, "nodes: worker %u (pid %ld) has not "
		    "come back to its event loop for %llds (smtp.ini "
		    "worker_timeout=%u): killing it", i, (long)w->pid,
		    (now - last) / 1000, s->c->worker_timeout);
		kill(w->pid, SIGKILL);
		w->hung = 1;
	}
}

/* The poll timeout: until the next restart due (none while stopping),
 * the next watchdog ping or the next look at the heartbeats, else
 * none. */
static int
next_timeout(const struct sup *s, int stopping)
{
	time_t now = time(NULL), t = 0;
	long long ms = !stopping && s->c->worker_timeout > 0 ?
	    NODES_BEAT_MS : -1;

	for (unsigned i = 0; !stopping && i < s->n; i++)
		if (s->w[i].restart_at != 0 && (t == 0 ||
		    s->w[i].restart_at < t))
			t = s->w[i].restart_at;
	if (t != 0)
		ms = t <= now ? 0 : (long long)(t - now) * 1000;
	if (s->ping_every != 0) {
		long long p = s->ping_at - (long long)util_now_ms();

		p = p < 0 ? 0 : p;
		ms = ms == -1 || p < ms ? p : ms;
	}
	return (int)ms;
}

/* The supervisor's loop: its exit status when it is over; -1 in a worker. */
static int
supervise(struct sup *s)
{
	struct pollfd pf[NODES_MAX + 1];
	unsigned idx[NODES_MAX + 1], np;
	int stopping = 0, all_ready = 0, status = 0, code;

	for (unsigned i = 0; i < s->n; i++) {
		pid_t pid = spawn(s, i);

		if (pid == 0)
			return -1;
		if (pid == -1) {
			stopping = 1;
			status = 1;
			forward(s, SIGTERM);
			break;
		}
	}
	while (!stopping || running(s) > 0) {
		pf[0].fd = s->sfd;
		pf[0].events = POLLIN;
		np = 1;
		for (unsigned i = 0; i < s->n; i++)
			if (s->w[i].rfd != -1) {
				pf[np].fd = s->w[i].rfd;
				pf[np].events = POLLIN;
				idx[np++] = i;
			}
		if (poll(pf, np, next_timeout(s, stopping)) == -1 &&
		    errno != EINTR)
			break;
		ping(s);
		if (!stopping)
			watch_beats(s);
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
				int sig = (int)si.ssi_signo;

				if (sig == SIGCHLD) {
					if ((code = reap(s, stopping,
					    all_ready)) != 0 && !stopping) {
						log_error("core", NULL, "nodes: a "
						    "worker failed to start; "
						    "stopping");
						stopping = 1;
						status = code - 1;
						forward(s, SIGTERM);
					}
					continue;
				}
				if (sig == SIGHUP && all_ready && !stopping)
					notify_send("RELOADING=1", NULL);
				if ((sig == SIGTERM || sig == SIGINT) &&
				    stopping) {
					/* A second stop ("now"): sent as the
					 * other signal, which a worker that has
					 * not yet taken the first from its
					 * pending set cannot merge with it. */
					log_notice("core", NULL, "%s again: the "
					    "workers stop now", sig == SIGTERM ?
					    "SIGTERM" : "SIGINT");
					forward(s, sig == SIGTERM ? SIGINT :
					    SIGTERM);
					continue;
				}
				if (sig == SIGTERM || sig == SIGINT) {
					log_notice("core", NULL, "%s: stopping "
					    "the workers", sig == SIGTERM ?
					    "SIGTERM" : "SIGINT");
					notify_send("STOPPING=1",
					    "shutting down");
					stopping = 1;
				}
				forward(s, sig);
				/* The workers reload as they get it (a
				 * single process: at once, then READY). */
				if (sig == SIGHUP && all_ready && !stopping)
					notify_send("READY=1", "ready");
			}
		}
		for (unsigned k = 1; k < np; k++) {
			struct worker *w = &s->w[idx[k]];
			char b[4096];
			ssize_t r;

			if (!(pf[k].revents & (POLLIN | POLLHUP)) || w->rfd == -1)
				continue;
			while ((r = read(w->rfd, b, sizeof(b))) == -1 &&
			    errno == EINTR)
				;
			if (r >= 1 && b[0] == 1) {
				w->ready = 1;
				log_info("core", NULL, "nodes: worker %u ready",
				    idx[k]);
			} else if (r > 1 && b[0] == 2 && !s->told) {
				/* nodes_start_failed(): every worker would say
				 * the same; the first says it for all. */
				fprintf(stderr, "outpost: %.*s\n", (int)(r - 1),
				    b + 1);
				s->told = 1;
			}
			close(w->rfd);
			w->rfd = -1;
		}
		if (!all_ready && !stopping) {
			unsigned k = 0;

			for (unsigned i = 0; i < s->n; i++)
				k += s->w[i].ready;
			if (k == s->n) {
				all_ready = 1;
				log_notice("core", NULL, "nodes: all %u workers "
				    "ready", s->n);
				notify_send("READY=1", "ready");
				s->ping_every = (long long)
				    (notify_watchdog_usec() / 1000);
				s->ping_every += s->ping_every == 0 &&
				    notify_watchdog_usec() > 0;
				s->ping_at = (long long)util_now_ms();
				ping(s);
			}
		}
		for (unsigned i = 0; !stopping && i < s->n; i++) {
			pid_t pid;

			if (s->w[i].pid != 0 || s->w[i].restart_at == 0 ||
			    s->w[i].restart_at > time(NULL))
				continue;
			if ((pid = spawn(s, i)) == 0)
				return -1;
			if (pid == -1)
				s->w[i].restart_at = time(NULL) + BACKOFF_MAX;
		}
	}
	return status;
}

/* Creates (given to ids) each partition of a worker. */
static int
make_partitions(const struct sup *s, const struct daemon_ids *ids,
    char **err)
{
	for (unsigned i = 0; i < s->n; i++) {
		char *dir = xasprintf("%s/w%u", s->top, i);
		int fd = -1;

		if (daemon_lock_queue(dir, ids, &fd, err) != DAEMON_LOCKED) {
			free(dir);
			return -1;
		}
		close(fd);
		free(dir);
	}
	return 0;
}

int
nodes_run(struct config_core *c)
{
	struct daemon_ids ids;
	struct sup s;
	sigset_t set;
	char *err = NULL;
	int rc, fd = -1;

	if (c->nodes <= 1) {
		struct stat st;

		/* A single process adopts the partitions of a multi-worker
		 * run; a daemon holding the lock is told later. */
		if (stat(c->queue_dir, &st) == -1)
			return -1;
		memset(&ids, 0, sizeof(ids));
		ids.uid = getuid();
		ids.gid = getgid();
		if (daemon_lock_queue(c->queue_dir, &ids, &fd, &err) !=
		    DAEMON_LOCKED) {
			free(err);
			return -1;
		}
		rc = nodes_adopt(c->queue_dir, 1, &err) < 0 ?
		    log_start_failed(1, err) : -1;
		close(fd);
		return rc;
	}
	memset(&s, 0, sizeof(s));
	s.n = c->nodes;
	s.c = c;
	s.top = xstrdup(c->queue_dir);
	s.lock_fd = -1;
	if (daemon_ids_resolve(c->user, c->group, &ids, &err) != 0) {
		free(s.top);
		return log_start_failed(78, err);
	}
	switch (daemon_lock_queue(s.top, &ids, &s.lock_fd, &err)) {
	case DAEMON_LOCKED:
		break;
	case DAEMON_LOCK_HELD:
		rc = log_start_failed(75, err);
		goto out;
	default:
		rc = log_start_failed(1, err);
		goto out;
	}
	if (make_partitions(&s, &ids, &err) != 0 ||
	    nodes_adopt(s.top, s.n, &err) < 0) {
		rc = log_start_failed(1, err);
		goto out;
	}
	if ((s.table = nodes_anvil_new(c, s.n)) == NULL ||
	    (s.gate = gate_new(s.n, GATE_KEYS)) == NULL ||
	    (s.beats = mmap(NULL, s.n * sizeof(*s.beats), PROT_READ |
	    PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
		rc = log_start_failed(1, xasprintf("nodes: the %s table: %s",
		    s.table == NULL ? "client" : s.gate == NULL ? "shaping" :
		    "heartbeat", strerror(errno)));
		s.beats = NULL;
		goto out;
	}
	if (daemon_pidfile_write(c->pid_file, &err) != 0) {
		rc = log_start_failed(73, err);
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &s.old);
	if ((s.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		rc = log_start_failed(1, xasprintf("signalfd: %s",
		    strerror(errno)));
		goto out;
	}
	s.w = xcalloc(s.n, sizeof(*s.w));
	for (unsigned i = 0; i < s.n; i++)
		s.w[i].rfd = -1;
	log_hold(0);
	nodes_mark_start();
	log_notice("core", NULL, "nodes: supervising %u workers (pid %ld)",
	    s.n, (long)getpid());
	if ((rc = supervise(&s)) == -1) {
		daemon_ids_clear(&ids);
		return -1;		/* a worker */
	}
	log_notice("core", NULL, "nodes: all workers stopped");
	for (unsigned i = 0; i < s.n; i++)
		if (s.w[i].rfd != -1)
			close(s.w[i].rfd);
	free(s.w);
	close(s.sfd);
	daemon_pidfile_remove(c->pid_file);
out:
	anvil_free(s.table);
	gate_free(s.gate);
	if (s.beats != NULL)
		munmap(s.beats, s.n * sizeof(*s.beats));
	if (s.lock_fd != -1)
		close(s.lock_fd);
	daemon_ids_clear(&ids);
	free(s.top);
	return rc;
}
