/*
 * worker: which worker of smtp.ini `nodes` this process is (core/nodes.c
 * forks them), the paths that are one per worker, the "ready" it tells
 * the supervisor, the client table it inherited, and the key's parsing.
 */
#include "core/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lib/util.h"
#include "lib/xmalloc.h"

static int	 worker_no = -1;
static unsigned	 workers = 1;
static int	 ready_fd = -1;
static struct timespec run_start;	/* the supervisor's; 0 in a single process */
static struct anvil *shared;	/* the supervisor's, inherited */
static struct gate *shared_gate;	/* likewise */
static uint64_t	*beat;		/* this worker's heartbeat, in the
				 * supervisor's map (ms, monotonic) */

int
nodes_worker(void)
{
	return worker_no;
}

unsigned
nodes_count(void)
{
	return workers;
}

char *
nodes_path(char *dir)
{
	char *p;

	if (worker_no < 0)
		return dir;
	p = xasprintf("%s/w%d", dir, worker_no);
	free(dir);
	return p;
}

static int
is_dir(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

char **
nodes_orphans(const char *base)
{
	char **v = xcalloc(NODES_MAX + 2, sizeof(*v));
	size_t n = 0;

	if (worker_no > 0)
		return v;
	if (worker_no == 0 && is_dir(base))
		v[n++] = xstrdup(base);
	for (unsigned j = worker_no < 0 ? 0 : workers; j < NODES_MAX; j++) {
		char *p = xasprintf("%s/w%u", base, j);

		if (is_dir(p))
			v[n++] = p;
		else
			free(p);
	}
	return v;
}

int
nodes_parse(const char *v, unsigned *n)
{
	char *end;
	long cpus, l;

	if (strcmp(v, "cpus") == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		*n = cpus < 1 ? 1 : cpus > NODES_MAX ? NODES_MAX : (unsigned)cpus;
		return 0;
	}
	errno = 0;
	l = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || l < 0 || l > NODES_MAX)
		return -1;
	*n = (unsigned)l;
	return 0;
}

int
nodes_beat(void)
{
	if (beat == NULL)
		return 0;
	__atomic_store_n(beat, util_now_ms(), __ATOMIC_RELAXED);
	return 1;
}

void
nodes_ready(void)
{
	char one = 1;
	sigset_t set;

	if (ready_fd == -1)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &set, NULL);	/* the loop handles them */
	while (write(ready_fd, &one, 1) == -1 && errno == EINTR)
		;
	close(ready_fd);
	ready_fd = -1;
}

int
nodes_start_failed(const char *msg)
{
	size_t len = strlen(msg);
	char *b;

	if (ready_fd == -1)
		return 0;
	b = xmalloc(len + 1);
	b[0] = 2;	/* not the ready byte (1) */
	memcpy(b + 1, msg, len);
	/* One write up to PIPE_BUF is atomic; a longer message is cut. */
	while (write(ready_fd, b, len + 1 > 4096 ? 4096 : len + 1) == -1 &&
	    errno == EINTR)
		;
	free(b);
	close(ready_fd);
	ready_fd = -1;
	return 1;
}

void
nodes_mark_start(void)
{
	/* The clock file times come from: a file created after this is
	 * never stamped before it. */
	clock_gettime(CLOCK_REALTIME_COARSE, &run_start);
}

int
nodes_before_run(const struct timespec *mtime)
{
	if (worker_no < 0)
		return 1;
	return mtime->tv_sec < run_start.tv_sec ||
	    (mtime->tv_sec == run_start.tv_sec &&
	    mtime->tv_nsec < run_start.tv_nsec);
}

void
nodes_become(int no, unsigned n, int fd, struct anvil *table,
    struct gate *gate, uint64_t *heartbeat)
{
	worker_no = no;
	workers = n;
	ready_fd = fd;
	shared = table;
	shared_gate = gate;
	beat = heartbeat;
}

struct anvil *
nodes_anvil(void)
{
	return shared;
}

struct gate *
nodes_gate(void)
{
	return shared_gate;
}

void
nodes_load(const char *v, unsigned line, unsigned *n, char **err)
{
	if (v != NULL && *v != '\0' && nodes_parse(v, n) != 0)
		err_first(err, "config/smtp.ini:%u: nodes: '%s' is not a "
		    "number (0..%d) or 'cpus'", line, v, NODES_MAX);
}
