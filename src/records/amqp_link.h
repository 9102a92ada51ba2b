/*
 * amqp_link: the amqp_events plugin's connection to a RabbitMQ broker, on
 * a thread of its own (librabbitmq blocks), with the spool it publishes
 * from.
 *
 * The loop hands it batches of record lines (amqp_spool.h's format); the
 * thread appends each batch to the spool (fdatasync'd), then publishes
 * the spool in order to the exchange — persistent messages, JSON, the
 * event id as message_id — with publisher confirms, at most `window`
 * unconfirmed. Confirms move the spool's confirmed position. A lost
 * connection, a nack or a confirm that does not come within
 * confirm_timeout drops the connection; the thread connects again after a
 * back-off (doubling from backoff_min to backoff_max) and publishes again
 * from the confirmed position: consumers may see an event twice (same
 * message_id), never miss one.
 *
 * Progress goes back to the loop as two counts of this run's records,
 * spooled and confirmed (every record up to that number is); the thread's
 * log lines are emitted on the loop too.
 */
#ifndef OUTPOST_AMQP_LINK_H
#define OUTPOST_AMQP_LINK_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct amqp_link;

struct amqp_link_opts {
	const char	*source;	/* log source */
	const char	*host;
	unsigned	 port;
	const char	*vhost;
	const char	*user;
	const char	*password;
	const char	*exchange;
	const char	*exchange_type;	/* declared durable; NULL: not
					 * declared (it must exist) */
	unsigned	 heartbeat;	/* s, 0: none */
	unsigned	 confirm_timeout_ms;
	unsigned	 backoff_min_ms, backoff_max_ms;
	unsigned	 window;
	const char	*spool_dir;
	char *const	*adopt;		/* spools to take over at the start
					 * (aspool_adopt), NULL-terminated;
					 * NULL: none */
	uint64_t	 segment_size;
	int		 tls;
	const char	*tls_ca;	/* NULL: the system's */
	int		 tls_verify;
};

typedef void (*amqp_progress_fn)(void *arg, uint64_t spooled,
		    uint64_t confirmed);

/* Opens the spool (created) and starts the thread. NULL with *err. */
struct amqp_link *amqp_link_new(struct event_base *,
		    const struct amqp_link_opts *, amqp_progress_fn, void *arg,
		    char **err);
/* Queues n records (whole lines); they are numbered after the ones before
 * (the first is 1). Returns the number of the last. */
uint64_t	 amqp_link_submit(struct amqp_link *, const char *lines,
		    size_t len, unsigned n);
/* Spools what is queued, publishes for up to drain_ms more while the
 * broker confirms, stops the thread and frees. Progress is not reported
 * any more. */
void		 amqp_link_free(struct amqp_link *, unsigned drain_ms);

#endif
