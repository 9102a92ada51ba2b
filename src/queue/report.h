/*
 * report: --qlist and --qstat, the queue directory as the operator sees
 * it (read without a running daemon; nothing is changed).
 */
#ifndef OUTPOST_QUEUE_REPORT_H
#define OUTPOST_QUEUE_REPORT_H

#include <stdio.h>

/* --qlist: one line per entry (id, domain, recipients, attempts, next
 * attempt, last error); --qstat: counts. Return 0, or -1 after printing
 * the reason to stderr. */
int	 qfs_list(const char *dir, FILE *out);
int	 qfs_stat(const char *dir, FILE *out);

#endif
