/*
 * worker: this process's place among smtp.ini `nodes` workers (core/
 * nodes.c is the supervisor): its number, the paths that are one per
 * worker, its "ready". In a single process: worker -1 of 1.
 */
#ifndef OUTPOST_WORKER_H
#define OUTPOST_WORKER_H

#include <stdint.h>
#include <time.h>

#define NODES_MAX	64
#define NODES_BEAT_MS	250	/* a worker's heartbeat (nodes_beat) */

struct anvil;
struct gate;

/* A directory only one process may use (a spool): in a worker dir/w<i>
 * (dir, malloc'd, is freed), else dir itself. */
char	*nodes_path(char *dir);

/* The spool directories under base (the path nodes_path() takes) that no
 * process of this run owns, for the one that takes them over: in worker
 * 0, base itself (the single process's) and base/w<j> for every j >=
 * nodes; in a single process, every base/w<j>; none in other workers.
 * Only those that exist; NULL-terminated, the list and each malloc'd. */
char	**nodes_orphans(const char *base);

/* smtp.ini nodes: a number (0..NODES_MAX) or "cpus" (the online CPUs).
 * 0 and sets *n, or -1 when v is neither. */
int	 nodes_parse(const char *v, unsigned *n);

/* This process's worker number, or -1 in a single process (and in the
 * supervisor). */
int	 nodes_worker(void);
/* How many workers run (1 in a single process). */
unsigned nodes_count(void);

/* smtp.ini nodes (v: its value, NULL when absent; line: its line) into
 * *n; a bad value sets *err (the first error wins; err_first). */
void	 nodes_load(const char *v, unsigned line, unsigned *n, char **err);

/* The supervisor, before it forks: notes the time the run starts (the
 * file system's coarse clock). */
void	 nodes_mark_start(void);

/* 1 when a file last modified at mtime predates the run (no worker of it
 * wrote it: a leftover of an earlier run), else 0; always 1 in a single
 * process. */
int	 nodes_before_run(const struct timespec *mtime);

/* The supervisor's forked child becomes worker no of n; fd: the pipe its
 * "ready" is written to; table: the client table the workers share
 * (lib/anvil.h), gate: their destinations' shaping state (lib/gate.h);
 * column no of each is this worker's; heartbeat: where its event loop
 * writes the time every NODES_BEAT_MS once it serves, for the supervisor
 * to see it hang (NULL: none). */
void	 nodes_become(int no, unsigned n, int fd, struct anvil *table,
	    struct gate *gate, uint64_t *heartbeat);
/* That shared client table; NULL in a single process. */
struct anvil *nodes_anvil(void);
/* That shared shaping state; NULL in a single process. */
struct gate *nodes_gate(void);

/* A worker, its signal handlers in place and its heartbeat started
 * (nodes_beat: the supervisor looks once it is ready): unblocks HUP and
 * USR1 (blocked from the fork on) and tells the supervisor it serves
 * (READY once all do). Nothing in a single process. */
void	 nodes_ready(void);
/* A worker's heartbeat, from its event loop every NODES_BEAT_MS once it
 * serves: the time now in its slot, for the supervisor to see it hang.
 * 0 (nothing to do, no timer needed) in a single process, else 1. */
int	 nodes_beat(void);

/* A worker that cannot start: hands msg to the supervisor down the "ready"
 * pipe, which prints the first worker's on stderr (once, not once per
 * worker); 1 when it did, 0 in a single process (print it yourself). */
int	 nodes_start_failed(const char *msg);

#endif
