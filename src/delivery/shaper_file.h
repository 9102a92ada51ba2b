/*
 * shaper_file: the shaping state as the operator sees it — written by the
 * daemon to ROOT/run/shaping.tsv, by a worker of smtp.ini nodes to
 * ROOT/run/shaping.w<i>.tsv (temp file + rename, only when it changed) and printed by --qstat, one "destination ..." line per key.
 *
 * The file: a "# outpost shaping 2" line, then one line per destination,
 * tab-separated: key, mode (normal|backoff|suspended), queue entries last
 * routed to it, connections in flight, the connection limit now (0: none), the backoff step, mail
 * waiting for a slot, suspended until (Unix seconds, 0: not), the reply
 * that set backoff or suspension (tabs and line ends as spaces).
 */
#ifndef OUTPOST_SHAPER_FILE_H
#define OUTPOST_SHAPER_FILE_H

#include <stdint.h>
#include <stdio.h>

struct buf;
struct shaper;

/* The file's text for sp now (mono: the shaper's clock, epoch_ms: the
 * wall clock), appended to out. */
void	 shaper_file_text(struct shaper *sp, uint64_t mono, int64_t epoch_ms,
	    struct buf *out);
/* Writes text to path atomically (path.tmp, rename): 0, or -1 with
 * errno. */
int	 shaper_file_write(const char *path, const char *text, size_t len);
/* --qstat: ROOT/run/shaping.tsv as "destination KEY mode=... ..." lines;
 * with nodes > 1 the workers' ROOT/run/shaping.w<i>.tsv (i < nodes), one
 * line per destination: queued, inflight, limit (none if any has none)
 * and waiting summed, the worst mode with its reply, the highest step,
 * the latest suspension. Nothing when no file is there. */
void	 shaper_file_report(FILE *out, const char *root, unsigned nodes);

#endif
