/*
 * nodes: smtp.ini `nodes` (Haraka's key): several worker processes under
 * a supervisor. The supervisor locks the top queue directory, writes the
 * pid file, hands partitions no worker owns to worker 0, forks the
 * workers (each runs the whole daemon on ROOT/queue/w<i>, binding the
 * listeners itself with SO_REUSEPORT), forwards TERM, INT, HUP and USR1
 * to them, restarts one that dies (with a backoff; its connections are
 * forgotten from the client table the workers share, lib/anvil.h) and
 * exits after them.
 * With nodes 0 or 1 none of this runs: the one process is the daemon.
 */
#ifndef OUTPOST_NODES_H
#define OUTPOST_NODES_H

#include "core/config.h"
#include "core/daemon.h"
#include "core/worker.h"

/*
 * Moves every regular file of the directories no worker owns into the
 * partition that adopts them: nodes > 1: qdir itself and qdir/w<j> for
 * j >= nodes into qdir/w0; nodes <= 1: every qdir/w<j> into qdir. Each
 * file moves by rename(2) (atomic; a name already present at the target
 * is left and logged); the directories are synced after. Run with no
 * daemon on the queue (its lock held); a crash midway is finished by the
 * next start. The number of files moved, or -1 with *err (malloc'd).
 */
long	 nodes_adopt(const char *qdir, unsigned nodes, char **err);

/*
 * Runs the supervisor for c->nodes workers (the caller has loaded the
 * configuration and opened the service manager's socket). Returns -1 in
 * each worker (nodes_worker() then >= 0; the caller goes on to start the
 * daemon); in the supervisor returns the exit status once
 * the workers have stopped (a worker's queue_dir is made its partition).
 * With nodes <= 1 only adopts the partitions and returns -1 (or an exit
 * status when that fails).
 */
int	 nodes_run(struct config_core *);

/*
 * The client table (lib/anvil.h) for c's connection.ini limits, with a
 * column for each of `columns` processes: the supervisor's, made before
 * it forks (every worker inherits it: nodes_anvil()), or a single
 * process's own. NULL (errno set) when it cannot be mapped.
 */
struct anvil *nodes_anvil_new(const struct config_core *c, unsigned columns);

#endif
