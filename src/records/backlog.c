/*
 * records/backlog: one process-wide count of record bytes waiting for
 * their writers (the writers are the recording plugins' own, so the count
 * is this module's, not any writer's), with the limit, the over/under
 * state and the one watcher main.c installs. Hysteresis: over past the
 * limit, under again at half of it, so that delivery does not flap on
 * every batch written.
 */
#include "records/backlog.h"

#include <stddef.h>

#include "core/log.h"

#define SRC	"core"

static struct {
	uint64_t	 bytes;
	uint64_t	 max;		/* 0: no limit */
	int		 over;
	rbacklog_fn	 fn;
	void		*arg;
} bl;

static void
check(void)
{
	if (!bl.over && bl.max > 0 && bl.bytes > bl.max) {
		bl.over = 1;
		log_warn(SRC, NULL, "records: %llu bytes of records wait for "
		    "the disk (records_backlog_max %llu); deliveries are "
		    "paused until they drain", (unsigned long long)bl.bytes,
		    (unsigned long long)bl.max);
	} else if (bl.over && (bl.max == 0 || bl.bytes <= bl.max / 2)) {
		bl.over = 0;
		log_notice(SRC, NULL, "records: the backlog drained to %llu "
		    "bytes (records_backlog_max %llu); deliveries resume",
		    (unsigned long long)bl.bytes, (unsigned long long)bl.max);
	} else
		return;
	if (bl.fn != NULL)
		bl.fn(bl.arg, bl.over);
}

void
rbacklog_add(uint64_t n)
{
	bl.bytes += n;
	check();
}

void
rbacklog_done(uint64_t n)
{
	bl.bytes -= n <= bl.bytes ? n : bl.bytes;
	check();
}

uint64_t
rbacklog_bytes(void)
{
	return bl.bytes;
}

void
rbacklog_configure(uint64_t max)
{
	bl.max = max;
	check();
}

void
rbacklog_watch(rbacklog_fn fn, void *arg)
{
	bl.fn = fn;
	bl.arg = arg;
	if (fn != NULL && bl.over)
		fn(arg, 1);
}
