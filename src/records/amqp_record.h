/*
 * amqp_record: the messages amqp_events publishes — one JSON object per
 * recipient of a delivered, deferred or bounced event (outbound_logger's
 * fields, plus event_id, domain and attempts) and per feedback report —
 * with their stable event ids and routing keys, as spool lines
 * (amqp_spool.h).
 *
 * An outbound event's id is "<job id>-<type>-<attempts>-<16 hex digits of
 * SHA-256 of the recipient>": the same event recorded again after a crash
 * (the queue entry was not yet updated) has the same id. A feedback
 * report's id is the one the report parser gave it.
 */
#ifndef OUTPOST_AMQP_RECORD_H
#define OUTPOST_AMQP_RECORD_H

#include "lib/buf.h"
#include "outpost/plugin.h"

struct amqp_rec_ctx {
	const char	*key_template;	/* "outpost.{type}" */
	const char	*hostname;
	long		 pid;
	long long	 now_ms;
};

/* The routing key: the template with {type}, {domain}, {vmta} and
 * {hostname} replaced (an absent vmta is "default"). */
void	 amqp_rec_key(struct buf *, const char *tmpl, const char *type,
	    const char *domain, const char *vmta, const char *hostname);
/* The event id of one recipient of an outbound event. */
void	 amqp_rec_event_id(struct buf *, const char *job_id,
	    const char *type, unsigned attempts, const char *recipient);
/* Appends the spool lines of an outbound event ("delivered", "deferred",
 * "bounced"), one per recipient; returns how many. */
unsigned amqp_rec_outbound(struct buf *lines, const struct amqp_rec_ctx *,
	    const char *type, const struct op_outbound *);
/* Appends the spool line of a feedback report; returns 1. */
unsigned amqp_rec_feedback(struct buf *lines, const struct amqp_rec_ctx *,
	    const struct op_feedback *);

#endif
