/*
 * amqp_link_priv: what the two halves of amqp_link share — the link's
 * state and the thread's helpers (amqp_link.c: the thread and the loop
 * side; amqp_conn.c: the broker connection, publishing, confirms).
 * Include records/amqp_link.h (struct amqp_link_opts) first.
 */
#ifndef OUTPOST_AMQP_LINK_PRIV_H
#define OUTPOST_AMQP_LINK_PRIV_H

#include <pthread.h>
#include <stdint.h>

#include <amqp.h>

struct event;
struct event_base;

#include "lib/buf.h"
#include "records/amqp_spool.h"

#define CHANNEL		1
#define SLICE_MS	50
#define SPOOL_RETRY_MS	1000

struct flight {
	struct aspool_pos	 end;
	uint64_t		 sent_ms;
	int			 acked;
};

struct logmsg {
	int		 level;
	char		*text;
};

struct amqp_link {
	struct amqp_link_opts	 o;
	char			*strs[9];	/* the copied strings */
	struct event_base	*base;
	struct event		*ev;
	int			 efd;
	amqp_progress_fn	 fn;
	void			*arg;
	pthread_t		 th;
	int			 started;
	/* shared, under mu */
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct buf		 inbox;
	uint64_t		 inbox_n, submitted;
	int			 stop;
	unsigned		 drain_ms;
	uint64_t		 spooled, confirmed;
	struct logmsg		*logs;
	size_t			 nlogs, logcap;
	/* the thread's own */
	struct aspool		*sp;
	amqp_connection_state_t	 conn;
	struct buf		 pending;
	uint64_t		 pending_n, done_spooled;
	int			 spool_failing, down_logged;
	uint64_t		 spool_retry_ms, next_try_ms, backoff_ms;
	struct flight		*fl;
	size_t			 nfl, flcap;
	uint64_t		 first_tag, next_tag;
	int			 window_full;	/* more to publish */
};

/* The thread's side. */
/* A log line, emitted on the loop. */
void		 alink_log(struct amqp_link *, int level, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Progress counts for the loop (each only ever grows). */
void		 alink_progress(struct amqp_link *, uint64_t spooled,
		    uint64_t confirmed);
/* amqp_conn.c: connect (declare, confirm.select); drop the connection
 * (why: logged; NULL: quietly) and schedule the next try; publish from
 * the spool up to the window; read confirms, heartbeats and closes,
 * waiting up to wait_ms for the first frame. */
void		 alink_connect(struct amqp_link *);
void		 alink_drop(struct amqp_link *, int clean, const char *why);
void		 alink_publish(struct amqp_link *);
void		 alink_read_frames(struct amqp_link *, unsigned wait_ms);

#endif
