/*
 * failpoint: named crash points for the durability tests. In the test
 * build (-DOUTPOST_FAILPOINTS: the sanitizer build) FAILPOINT("name")
 * kills the process with SIGKILL — nothing flushed, no handler run, as a
 * crash — when the environment says OUTPOST_FAILPOINT=name (the first pass)
 * or name:N (the N-th pass). Elsewhere it compiles to nothing.
 *
 * The points (docs/architecture.md, "Crash points"):
 *   queue-before-rename    queue/queue.c: a round's files are written and
 *                          flushed, none renamed into place yet
 *   queue-mid-split        queue/queue.c: the first entry of a split
 *                          message is in place, the others not
 *   queue-before-reply     smtp/accept.c: the message is durable, the 250
 *                          not sent
 *   delivery-before-record delivery/verdict.c: the server took the message,
 *                          no record is written yet
 *   record-before-dequeue  delivery/verdict.c: the records are written (and
 *                          fsynced with sync=true), the entry not yet
 *                          removed or rewritten
 *   records-mid-rotation   records/writer.c: a record file is moved into
 *                          its archive, its successor not created
 *   anvil-mid-connect      lib/anvil.c: a new key is in the shared client
 *                          table's index, counting nothing, its lock held
 *   gate-mid-admit         lib/gate.c: a new destination is in the shared
 *                          shaping table's index, nothing taken, its lock
 *                          held
 */
#ifndef OUTPOST_FAILPOINT_H
#define OUTPOST_FAILPOINT_H

/* Kills the process if `name` is the armed point and its pass has come.
 * Thread-safe; costs one comparison when no point is armed. */
void	 failpoint_hit(const char *name);

#ifdef OUTPOST_FAILPOINTS
#define FAILPOINT(name)	failpoint_hit(name)
#else
#define FAILPOINT(name)	((void)0)
#endif

#endif
