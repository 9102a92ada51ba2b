/*
 * smtp/accept: the end of DATA — refusals, the trace header, the
 * queue_outbound hook, then for CONT the queue headers, pre_send_trans_email,
 * the durable commit (queue/submit.h) and the 250 once it is on disk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "core/log.h"
#include "lib/failpoint.h"
#include "lib/idn.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "queue/queue.h"
#include "queue/submit.h"
#include "core/metrics.h"
#include "smtp/accept.h"
#include "smtp/accept_pool.h"
#include "smtp/conn.h"
#include "smtp/data.h"
#include "smtp/policy.h"

static void
commit_done(void *arg, int err)
{
	struct smtp_session *s = arg;
	const char *uuid = tx_uuid(s->tx);

	tx_set_job(s->tx, NULL);
	if (err == 0)
		FAILPOINT("queue-before-reply");
	if (err == 0) {
		log_info("core", s->uuid, "queued %s from=<%s> rcpts=%zu",
		    uuid, tx_mail_from(s->tx), tx_rcpt_count(s->tx));
		conn_reply(s, "250 2.0.0 Message Queued (%s)", uuid);
		metric_add(m_received_messages, NULL, 1);
		metric_add(m_received_recipients, NULL,
		    (double)tx_rcpt_count(s->tx));
	} else if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
		log_error("core", s->uuid, "queue: %s not queued: %s", uuid,
		    strerror(err));
		conn_reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		log_error("core", s->uuid, "queue: %s not queued: %s", uuid,
		    strerror(err));
		conn_reply(s, "451 4.3.0 Queue write error, try again later");
	}
	conn_tx_reset(s);
	conn_resume(s, S_IDLE);
}

static void
pre_send_done(void *arg, int code, const char *msg)
{
	struct smtp_session *s = arg;

	/* Haraka ignores pre_send_trans_email's answer. */
	(void)code;
	(void)msg;
	s->hook_pending = 0;
	if (s->ended) {
		conn_tx_reset(s);
		conn_unref(s);
		return;
	}
	tx_commit(s->tx, s->queue, s->cfg->outbound->always_split, s->helo,
	    s->ip, NULL, commit_done, s);
	conn_unref(s);
}

/* CONT from queue_outbound: into Outpost's own queue. */
static void
enqueue(struct smtp_session *s)
{
	const struct config *cfg = s->cfg;

	accept_pool_header(s);
	tx_add_queue_headers(s->tx, cfg->outbound->received_header,
	    cfg->core->me);
	tx_view(s->tx, &s->view, s->ip, s->helo);
	s->hook_pending = 1;
	s->refs++;	/* released by pre_send_done */
	hook_run(OP_HOOK_PRE_SEND_TRANS_EMAIL, &s->view, pre_send_done, s);
}

static void
queue_outbound_done(void *arg, int code, const char *msg)
{
	struct smtp_session *s = arg;

	s->hook_pending = 0;
	if (s->ended) {
		conn_tx_reset(s);
		conn_unref(s);
		return;
	}
	switch (code) {
	case OP_CONT:
		enqueue(s);
		break;
	case OP_OK:
		conn_reply(s, "250 2.0.0 %s", msg ? msg : "Message Queued");
		log_info("core", s->uuid, "%s: taken by a queue_outbound "
		    "plugin", tx_uuid(s->tx));
		conn_tx_reset(s);
		conn_resume(s, S_IDLE);
		break;
	case OP_DENY:
	case OP_DENYDISCONNECT:
		conn_reply(s, "550 5.7.1 %s", msg ? msg : "Message denied");
		conn_tx_reset(s);
		if (code == OP_DENYDISCONNECT)
			conn_close(s);
		else
			conn_resume(s, S_IDLE);
		break;
	default:
		/* DENYSOFT, DENYSOFTDISCONNECT, and any other answer. */
		conn_reply(s, "450 4.7.1 %s", msg ? msg :
		    "Message denied temporarily");
		conn_tx_reset(s);
		if (code == OP_DENYSOFTDISCONNECT)
			conn_close(s);
		else
			conn_resume(s, S_IDLE);
		break;
	}
	conn_unref(s);
}

static const char *
protocol_name(const struct smtp_session *s)
{
	static const char *const names[] = {
		"SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA",
		"UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA"
	};
	int i;

	if (!s->esmtp)
		return names[0];
	i = 1 + (s->tls ? 1 : 0) + (s->auth_user ? 2 : 0);
	if (tx_flags(s->tx) & QE_SMTPUTF8)
		i += 4;
	return names[i];
}

static void
feedback_done(void *cookie, int err)
{
	struct smtp_session *s = cookie;

	if (s->ended) {
		conn_tx_reset(s);
		conn_unref(s);
		return;
	}
	if (err == 0) {
		log_info("core", s->uuid, "feedback %s from=<%s> taken",
		    tx_uuid(s->tx), tx_mail_from(s->tx));
		conn_reply(s, "250 2.0.0 Feedback accepted (%s)",
		    tx_uuid(s->tx));
	} else {
		log_error("core", s->uuid, "feedback: %s not kept: %s",
		    tx_uuid(s->tx), strerror(err));
		conn_reply(s, err == ENOSPC || err == EDQUOT ?
		    "452 4.3.1 Insufficient system storage" :
		    "451 4.3.0 Feedback spool write error, try again later");
	}
	conn_tx_reset(s);
	conn_resume(s, S_IDLE);
	conn_unref(s);
}

/* Mail for the feedback domains (feedback/): spooled, never queued. */
static void
take_feedback(struct smtp_session *s)
{
	const struct reception *r = reception_get();
	size_t n = tx_rcpt_count(s->tx), len;
	const char **rcpts = xcalloc(n, sizeof(*rcpts));
	char *msg;

	for (size_t i = 0; i < n; i++)
		rcpts[i] = tx_rcpt(s->tx, i);
	msg = tx_take_message(s->tx, &len);
	s->refs++;	/* released by feedback_done */
	r->feedback_take(tx_uuid(s->tx), tx_mail_from(s->tx), rcpts, n,
	    s->helo, s->ip, msg, len, feedback_done, s, r->feedback_data);
	free(rcpts);
}

/* The end of DATA: refused, or on to the queue_outbound hook. */
void
accept_data_end(struct smtp_session *s)
{
	struct trace_info ti;
	char cipher[160] = "", *ascii_rcpt = NULL;
	SSL *ssl;

	switch (data_result(&s->data)) {
	case DATA_OK:
		break;
	case DATA_BARE:
		log_notice("core", s->uuid, "refused: bare CR or LF in DATA "
		    "ip=%s", s->ip);
		conn_reply(s, "550 5.6.0 Message contains a bare CR or LF; lines "
		    "must end with CRLF (RFC 5321 2.3.8)");
		goto refused;
	case DATA_TOO_BIG:
		conn_reply(s, "552 5.3.4 Message size exceeds fixed maximum message "
		    "size (%zu bytes)", conn_core(s)->max_bytes);
		goto refused;
	}
	if (s->data.folded)
		log_info("core", s->uuid, "DATA line length exceeds limit of %u "
		    "bytes: folded", conn_core(s)->max_data_line_length);
	if (s->tls && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		snprintf(cipher, sizeof(cipher), "using %s with cipher %s",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	ti.helo = s->helo;
	ti.ip = s->ip;
	ti.v6 = s->sa.ss_family == AF_INET6;
	ti.me = conn_core(s)->me;
	ti.protocol = protocol_name(s);
	ti.tls = cipher[0] ? cipher : NULL;
	ti.id = tx_uuid(s->tx);
	ti.rcpt = tx_rcpt_count(s->tx) == 1 ? tx_rcpt(s->tx, 0) : NULL;
	/* An IDN recipient with its A-labels: the header stays ASCII, and
	 * the mail can still go to a server without SMTPUTF8. */
	if (ti.rcpt != NULL && !idn_is_ascii(ti.rcpt) &&
	    idn_addr_ascii(ti.rcpt, &ascii_rcpt) == 0)
		ti.rcpt = ascii_rcpt;
	data_add_trace(&s->data, &ti);
	free(ascii_rcpt);
	tx_put_message(s->tx, &s->data.msg, s->data.trace_len);
	conn_wait(s);
	if (reception_feedback_rcpt(tx_rcpt(s->tx, 0))) {
		take_feedback(s);
		return;
	}
	tx_view(s->tx, &s->view, s->ip, s->helo);
	s->hook_pending = 1;
	s->refs++;	/* released by queue_outbound_done */
	hook_run(OP_HOOK_QUEUE_OUTBOUND, &s->view, queue_outbound_done, s);
	return;
refused:
	conn_tx_reset(s);
	data_clear(&s->data);
	conn_enter(s, S_IDLE);
	if (s->draining) {
		conn_reply(s, "421 4.3.2 %s Service shutting down", conn_core(s)->me);
		conn_close(s);
	}
}
