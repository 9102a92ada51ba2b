/*
 * queue/space: the queue directory's file system against queue_min_free
 * (a space_watch polled by a one-second timer on the loop; statvfs costs
 * about a microsecond, but a timer keeps it off the message path
 * entirely). Owned by the queue (queue.c); asked by reception.
 */
#include "queue/space.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/worker.h"
#include "lib/xmalloc.h"

#define POLL_SEC	1

struct qspace {
	struct event		*timer;
	struct space_watch	 w;
	struct space_rule	 rule;
	int			 configured;
};

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct qspace *qs = arg;

	(void)fd;
	(void)what;
	space_watch_poll(&qs->w, &qs->rule);
}

struct qspace *
qspace_new(struct event_base *base, const char *dir)
{
	struct qspace *qs = xcalloc(1, sizeof(*qs));
	const char *slash = strrchr(dir, '/');
	char *top;

	/* A worker's partition queue/w<i>: the queue directory as configured
	 * is watched and named (the same file system). */
	top = nodes_worker() >= 0 && slash != NULL && slash > dir ?
	    xstrndup(dir, (size_t)(slash - dir)) : xstrdup(dir);
	space_watch_init(&qs->w, top, "queue", "queue_min_free",
	    "new mail gets 452 4.3.1 until it returns",
	    "new mail is accepted again");
	free(top);
	qs->timer = event_new(base, -1, EV_PERSIST, on_poll, qs);
	return qs;
}

void
qspace_free(struct qspace *qs)
{
	if (qs == NULL)
		return;
	event_free(qs->timer);
	space_watch_clear(&qs->w);
	free(qs);
}

void
qspace_configure(struct qspace *qs, const struct space_rule *r)
{
	struct timeval tv = { POLL_SEC, 0 };

	qs->rule = *r;
	space_watch_poll(&qs->w, &qs->rule);
	if (!qs->configured)
		event_add(qs->timer, &tv);
	qs->configured = 1;
}

int
qspace_room(const struct qspace *qs, uint64_t size)
{
	if (qs == NULL || !qs->w.measured)
		return 1;
	if (qs->w.low)
		return 0;
	return size == 0 || space_test(&qs->w.st, &qs->rule, size) == 0;
}

void
qspace_report(FILE *out, const char *dir, const struct space_rule *r)
{
	struct space_stat st;
	int ok = space_measure(dir, &st) == 0;

	space_print(out, "queue", "queue_min_free", dir, ok ? &st : NULL,
	    errno, r);
}
