/*
 * feedback: reception of asynchronous bounces and complaints (issue of
 * config/feedback.ini). Mail for the bounce / feedback domains is written
 * durably to the feedback spool before the 250, then read off the event
 * loop (a worker thread: GMime through proto/fbreport.h), correlated to
 * the original mail (VERP token, else the report's copy of the original
 * headers) and handed to the OP_HOOK_FEEDBACK observers, one event per
 * failed recipient or complaint; the spool file goes once they answered.
 * Unreadable reports and forged tokens go to the quarantine directory.
 */
#ifndef OUTPOST_FEEDBACK_H
#define OUTPOST_FEEDBACK_H

struct event_base;
struct config;
struct feedback;

/* Reads config/feedback.ini (creating the secret file when missing),
 * installs the VERP setting and the reception hook, and starts the worker
 * on what the spool holds. NULL with *err NULL when feedback is not
 * configured; NULL with *err (malloc'd, "<file>: <key>: <problem>") on a
 * configuration error. */
struct feedback	*feedback_start(struct event_base *, const struct config *,
		    char **err);
/* Stops the worker (the spool keeps what was not finished). NULL ok. */
void		 feedback_stop(struct feedback *);

#endif
