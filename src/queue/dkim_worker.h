/*
 * dkim_worker: DKIM signing off the event loop. One thread takes the
 * messages being queued, prepends their DKIM-Signature fields
 * (queue/dkim_sign) and hands each back to the loop through an eventfd,
 * so a slow key never stalls the loop. The signing configuration is set
 * (and swapped on a reload) by the dkim plugin; each job keeps the
 * generation it started with.
 */
#ifndef OUTPOST_DKIM_WORKER_H
#define OUTPOST_DKIM_WORKER_H

#include <stddef.h>

struct event_base;
struct dkim_config;
struct dkim_job;

/* Starts the thread (idempotent). 0, or -1 with *err (malloc'd). */
int		 dkim_worker_start(struct event_base *, char **err);
/* Signs with cfg from now on (a reference is taken); NULL: no signing. */
void		 dkim_worker_set(struct dkim_config *);
/* Stops the thread; jobs not reported are dropped (callbacks not run). */
void		 dkim_worker_stop(void);

/* Runs on the loop with the message (malloc'd, NUL-terminated, now
 * owned by the callee): signed, or as it was when no key applied or
 * signing failed (logged). */
typedef void	(*dkim_job_fn)(void *arg, char *msg, size_t len);
/*
 * Queues msg (malloc'd, len + 1 bytes, NUL-terminated: taken) for
 * signing; fn runs later on the loop. NULL when signing is off (msg is
 * then not taken). id names the message in the log; mail_from is the
 * envelope sender; domain and selector a plugin's choice (or NULL).
 */
struct dkim_job	*dkim_worker_submit(char *msg, size_t len, const char *id,
		    const char *mail_from, const char *domain,
		    const char *selector, dkim_job_fn fn, void *arg);
/* fn will not run (the message is freed); from the loop only. */
void		 dkim_job_cancel(struct dkim_job *);

#endif
