/*
 * records/space: are the record directories short of space? The
 * recording plugins listed in config/plugins (outbound_logger's log_dir,
 * accounting_files' path and type and archive directories) are watched
 * against outbound.ini's records_min_free (bytes or %) and
 * records_min_free_inodes, one watch per file system, once a second.
 * While one is low, delivery is held (main.c wires the callback to
 * mta_hold): no attempt starts, so no record waits for a full disk;
 * attempts in flight finish. It resumes by itself when space returns.
 */
#ifndef OUTPOST_RECORDS_SPACE_H
#define OUTPOST_RECORDS_SPACE_H

#include <stdio.h>

#include "core/config.h"

struct event_base;
struct records_space;

/* low: 1 when entering the low state, 0 when leaving it. */
typedef void (*records_space_fn)(void *arg, int low);

/* Measures the record directories of cfg's recording plugins now (fn
 * runs at once when one is low), then once a second. */
struct records_space *records_space_new(struct event_base *,
		    const struct config *, records_space_fn, void *arg);
void		 records_space_free(struct records_space *);
/* A reloaded outbound.ini: the new thresholds apply now. */
void		 records_space_configure(struct records_space *,
		    const struct space_rule *);
/* --qstat: "records_space ok|low|unknown" and "records_free ..." for the
 * file system that is low (else the one with the least space free), or
 * "records_space ok" / "records_free none" without record files. */
void		 records_space_report(FILE *, const struct config *);

#endif
