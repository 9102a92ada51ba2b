/*
 * records/backlog: the bytes of records handed to the record writers
 * (writer.c) and not yet written, across every writer of the process,
 * against outbound.ini's records_backlog_max. When a disk is slow or
 * failing, records wait in memory; past the limit the owner (main.c,
 * which wires it to mta_hold) is told to stop starting deliveries, and
 * once the backlog is below half the limit, to start them again. Logged
 * once each way (WARN, NOTICE). Loop thread only.
 */
#ifndef OUTPOST_RECORDS_BACKLOG_H
#define OUTPOST_RECORDS_BACKLOG_H

#include <stdint.h>

/* over: 1 when the backlog went past the limit, 0 when it drained. */
typedef void (*rbacklog_fn)(void *arg, int over);

/* n bytes of records were queued for a writer. */
void		 rbacklog_add(uint64_t n);
/* n of them were written (or dropped at shutdown). */
void		 rbacklog_done(uint64_t n);
/* Bytes waiting now. */
uint64_t	 rbacklog_bytes(void);
/* records_backlog_max in bytes (0: no limit); applies at once. */
void		 rbacklog_configure(uint64_t max);
/* Who is told (NULL: nobody). A backlog already over is told at once. */
void		 rbacklog_watch(rbacklog_fn, void *arg);

#endif
