/*
 * record: what the recording plugins (outbound_logger, accounting_files)
 * derive alike from an outbound event.
 */
#ifndef OUTPOST_RECORD_H
#define OUTPOST_RECORD_H

#include "lib/buf.h"
#include "outpost/plugin.h"

/* The two recording plugins, listed in builtins/builtin.c's table. */
extern const struct op_plugin outbound_logger_plugin;
extern const struct op_plugin accounting_files_plugin;

/* The directories each one writes records to, as its ini file names them
 * (nothing is created; an unreadable file names none): add(arg, dir) for
 * each. records/space.c watches their free space. */
typedef void	(*rec_dir_fn)(void *arg, const char *dir);
void		 outbound_logger_dirs(const char *config_dir, rec_dir_fn,
		    void *arg);
void		 accounting_files_dirs(const char *config_dir, rec_dir_fn,
		    void *arg);

/* Now, in ms since the epoch. */
long long	 rec_now_ms(void);
/* A number as JavaScript prints it, to the millisecond: 2.26, 64, 0.5. */
void		 rec_number(struct buf *, double);
/* The mail's Subject, MIME-decoded and on one line; "unknown" when the
 * mail has none (as Haraka's plugin). */
void		 rec_subject(const struct op_outbound *, struct buf *);
/* Header `name` of the mail, unfolded and trimmed; 0 when absent. */
int		 rec_header(const struct op_outbound *, const char *name,
		    struct buf *);
/* Why a recipient was not delivered: a remote reply's text after its
 * code, as the remote worded it ("5.1.1 no such user", "mailbox busy"
 * when it sent no enhanced status; from r->reason), or "<code> -
 * <message>" for Outpost's own failures (seed 000). */
void		 rec_reason(struct buf *, const struct op_rcpt *);

/* outbound_logger's record (one JSON line) of a remote bounce or a
 * complaint (fb->type "remote_bounce" or "complaint"), written at now_ms
 * by process pid on host. */
void		 ol_feedback_record(struct buf *, const struct op_feedback *,
		    long long now_ms, long pid, const char *host);

/* The feedback of the call c (OP_HOOK_FEEDBACK) when its type is one the
 * records know ("remote_bounce", "complaint"); else it is logged (ERROR,
 * from source), c is answered and NULL returned. */
const struct op_feedback *rec_feedback(struct op_call *c, const char *source);

struct rw_stream;
/* Hands an event's lines to a stream (none: s NULL or no lines) and
 * answers the observer call c: once they are written and fsynced when
 * sync, else at once. */
void		 rec_submit(struct rw_stream *s, const struct buf *lines,
		    int sync, struct op_call *c);

#endif
