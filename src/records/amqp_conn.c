/*
 * amqp_conn: amqp_link's broker connection, on its thread — connecting
 * (login, exchange.declare, confirm.select, TLS), publishing the spool
 * with publisher confirms, reading confirms, heartbeats and closes, and
 * dropping the connection with a back-off.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "records/amqp_link.h"
#include "records/amqp_link_priv.h"

/* --- the connection ------------------------------------------------- */

static const char *
reply_error(amqp_rpc_reply_t r, char *buf, size_t size)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return "ok";
	case AMQP_RESPONSE_NONE:
		return "no reply";
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		return amqp_error_string2(r.library_error);
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_connection_close_t *c = r.reply.decoded;

			snprintf(buf, size, "server: %u %.*s", c->reply_code,
			    (int)c->reply_text.len,
			    (const char *)c->reply_text.bytes);
			return buf;
		}
		snprintf(buf, size, "server method 0x%08x", r.reply.id);
		return buf;
	}
	return "unknown";
}

void
alink_drop(struct amqp_link *l, int clean, const char *why)
{
	if (l->conn == NULL)
		return;
	if (clean) {
		amqp_channel_close(l->conn, CHANNEL, AMQP_REPLY_SUCCESS);
		amqp_connection_close(l->conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(l->conn);
	l->conn = NULL;
	l->nfl = 0;
	l->window_full = 0;
	aspool_rewind(l->sp);
	if (why != NULL) {
		alink_log(l, LOG_WARN, "broker %s:%u: %s; events are spooled and "
		    "published again from the last confirmed one (retry in "
		    "%" PRIu64 " ms)", l->o.host, l->o.port, why, l->backoff_ms);
		l->down_logged = 1;
	}
	l->next_try_ms = util_now_ms() + l->backoff_ms;
	l->backoff_ms *= 2;
	if (l->backoff_ms > l->o.backoff_max_ms)
		l->backoff_ms = l->o.backoff_max_ms;
}

static int
check(struct amqp_link *l, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(l->conn);
	char buf[256], msg[320];

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	snprintf(msg, sizeof(msg), "%s: %s", what, reply_error(r, buf,
	    sizeof(buf)));
	alink_drop(l, 0, msg);
	return -1;
}

void
alink_connect(struct amqp_link *l)
{
	struct timeval tv;
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	char buf[256], msg[320];
	int fd;

	tv.tv_sec = l->o.confirm_timeout_ms / 1000;
	tv.tv_usec = (l->o.confirm_timeout_ms % 1000) * 1000;
	l->conn = amqp_new_connection();
	sock = l->o.tls ? amqp_ssl_socket_new(l->conn) :
	    amqp_tcp_socket_new(l->conn);
	if (sock == NULL) {
		alink_drop(l, 0, "cannot create a socket");
		return;
	}
	if (l->o.tls) {
		if (l->o.tls_ca != NULL &&
		    amqp_ssl_socket_set_cacert(sock, l->o.tls_ca) != 0) {
			alink_drop(l, 0, "cannot load tls ca_file");
			return;
		}
		amqp_ssl_socket_set_verify_peer(sock, l->o.tls_verify);
		amqp_ssl_socket_set_verify_hostname(sock, l->o.tls_verify);
	}
	amqp_set_rpc_timeout(l->conn, &tv);
	if ((fd = amqp_socket_open_noblock(sock, l->o.host, (int)l->o.port,
	    &tv)) != AMQP_STATUS_OK) {
		snprintf(msg, sizeof(msg), "connect: %s",
		    amqp_error_string2(fd));
		alink_drop(l, 0, l->down_logged ? NULL : msg);
		return;
	}
	r = amqp_login(l->conn, l->o.vhost, 0, 131072, (int)l->o.heartbeat,
	    AMQP_SASL_METHOD_PLAIN, l->o.user, l->o.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		snprintf(msg, sizeof(msg), "login: %s",
		    reply_error(r, buf, sizeof(buf)));
		alink_drop(l, 0, msg);
		return;
	}
	amqp_channel_open(l->conn, CHANNEL);
	if (check(l, "channel.open") != 0)
		return;
	if (l->o.exchange_type != NULL) {
		amqp_exchange_declare(l->conn, CHANNEL,
		    amqp_cstring_bytes(l->o.exchange),
		    amqp_cstring_bytes(l->o.exchange_type), 0, 1, 0, 0,
		    amqp_empty_table);
		if (check(l, "exchange.declare") != 0)
			return;
	}
	amqp_confirm_select(l->conn, CHANNEL);
	if (check(l, "confirm.select") != 0)
		return;
	/* A write the broker does not take (flow control) fails in time. */
	if ((fd = amqp_get_sockfd(l->conn)) >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	l->first_tag = l->next_tag = 1;
	l->nfl = 0;
	aspool_rewind(l->sp);
	alink_log(l, LOG_NOTICE, "connected to broker %s:%u, exchange '%s'",
	    l->o.host, l->o.port, l->o.exchange);
	l->down_logged = 0;
}

/* --- publishing ----------------------------------------------------- */

void
alink_publish(struct amqp_link *l)
{
	struct aspool_rec rec;
	char *err = NULL;
	int rc;

	l->window_full = l->nfl >= l->o.window;
	while (l->conn != NULL && l->nfl < l->o.window &&
	    (rc = aspool_next(l->sp, &rec, &err)) == 1) {
		amqp_basic_properties_t p;
		amqp_bytes_t body, key;

		memset(&p, 0, sizeof(p));
		p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
		    AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
		p.content_type = amqp_cstring_bytes("application/json");
		p.delivery_mode = 2;	/* persistent */
		p.message_id.len = rec.id.len;
		p.message_id.bytes = (void *)rec.id.p;
		key.len = rec.key.len;
		key.bytes = (void *)rec.key.p;
		body.len = rec.json.len;
		body.bytes = (void *)rec.json.p;
		rc = amqp_basic_publish(l->conn, CHANNEL,
		    amqp_cstring_bytes(l->o.exchange), key, 0, 0, &p, body);
		if (rc != AMQP_STATUS_OK) {
			char msg[256];

			snprintf(msg, sizeof(msg), "publish: %s",
			    amqp_error_string2(rc));
			alink_drop(l, 0, msg);
			return;
		}
		if (l->nfl == l->flcap) {
			l->flcap = l->flcap ? l->flcap * 2 : 64;
			l->fl = xrealloc(l->fl, l->flcap * sizeof(*l->fl));
		}
		l->fl[l->nfl].end = rec.end;
		l->fl[l->nfl].sent_ms = util_now_ms();
		l->fl[l->nfl++].acked = 0;
		l->next_tag++;
		l->window_full = l->nfl >= l->o.window;
	}
	if (err != NULL) {
		alink_log(l, LOG_ERROR, "spool: %s", err);
		free(err);
	}
}

static void
acked(struct amqp_link *l, uint64_t tag, int multiple)
{
	size_t k = 0;

	for (size_t i = 0; i < l->nfl; i++) {
		uint64_t t = l->first_tag + i;

		if (t == tag || (multiple && t < tag))
			l->fl[i].acked = 1;
	}
	while (k < l->nfl && l->fl[k].acked)
		k++;
	if (k == 0)
		return;
	aspool_confirm(l->sp, &l->fl[k - 1].end);
	alink_progress(l, 0, l->fl[k - 1].end.fresh);
	memmove(l->fl, l->fl + k, (l->nfl - k) * sizeof(*l->fl));
	l->nfl -= k;
	l->first_tag += k;
	l->backoff_ms = l->o.backoff_min_ms;
}

/* Reads what the broker sent, waiting up to wait_ms for the first frame:
 * confirms, heartbeats, a close. */
void
alink_read_frames(struct amqp_link *l, unsigned wait_ms)
{
	for (;;) {
		struct timeval tv = { wait_ms / 1000, (wait_ms % 1000) * 1000 };
		amqp_frame_t f;
		char msg[320];
		int rc;

		rc = amqp_simple_wait_frame_noblock(l->conn, &f, &tv);
		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			snprintf(msg, sizeof(msg), "connection lost: %s",
			    amqp_error_string2(rc));
			alink_drop(l, 0, msg);
			return;
		}
		wait_ms = 0;
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;	/* a returned message's content */
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;

			acked(l, a->delivery_tag, a->multiple);
			break;
		}
		case AMQP_BASIC_NACK_METHOD:
			alink_drop(l, 0, "the broker refused (nack) an event");
			return;
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD: {
			const amqp_connection_close_t *c =
			    f.payload.method.decoded;

			snprintf(msg, sizeof(msg), "closed by the broker: "
			    "%u %.*s", c->reply_code, (int)c->reply_text.len,
			    (const char *)c->reply_text.bytes);
			alink_drop(l, 0, msg);
			return;
		}
		default:
			break;
		}
	}
	if (l->nfl > 0 && util_now_ms() - l->fl[0].sent_ms >
	    l->o.confirm_timeout_ms)
		alink_drop(l, 0, "no confirm within confirm_timeout");
}
