/*
 * queue/space: is the queue's file system short of space? Below
 * outbound.ini's queue_min_free (bytes or %) or queue_min_free_inodes,
 * reception refuses new mail (452 4.3.1 at MAIL) while delivery, which
 * frees space, and Outpost's own mail (DSNs) go on. The figures are
 * measured once a second off the message path; asking costs nothing.
 */
#ifndef OUTPOST_QUEUE_SPACE_H
#define OUTPOST_QUEUE_SPACE_H

#include <stdint.h>
#include <stdio.h>

#include "core/space.h"

struct event_base;
struct qspace;

/* Watches dir's file system; nothing is measured until configured. */
struct qspace	*qspace_new(struct event_base *, const char *dir);
void		 qspace_free(struct qspace *);
/* The thresholds (at start and on every reload): measures now, then once
 * a second. Entering and leaving the low state is logged once each. */
void		 qspace_configure(struct qspace *, const struct space_rule *);
/* 1 when a message of size bytes (0: not announced) may be queued: the
 * file system is not low and size would not take it below
 * queue_min_free. */
int		 qspace_room(const struct qspace *, uint64_t size);
/* --qstat: "queue_space ok|low|unknown" and "queue_free ..." for dir. */
void		 qspace_report(FILE *, const char *dir,
		    const struct space_rule *);

#endif
