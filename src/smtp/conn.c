/*
 * smtp/conn: one inbound session's plumbing — states, replies (one write
 * per loop pass), park/resume, close, refcount, libevent callbacks. Reaches
 * the read loop only through s->input, the server only through s->ended_cb.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "core/log.h"
#include "core/vmta.h"
#include "lib/xmalloc.h"
#include "queue/submit.h"
#include "smtp/conn.h"
#include "smtp/data.h"

static const char *const state_names[] = {
	"helo", "idle", "mail", "rcpt", "data", "auth", "tls", "wait",
	"closing"
};

void
conn_enter(struct smtp_session *s, enum state new)
{
	if (s->state != new)
		log_protocol("core", s->uuid, "state %s -> %s",
		    state_names[s->state], state_names[new]);
	s->state = new;
}

/* A socket without TLS (no filter stacked on it). */
static int
plain(const struct smtp_session *s)
{
	return bufferevent_get_underlying(s->bev) == NULL;
}

void
conn_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	if (log_would(LOG_PROTOCOL)) {
		va_list aq;
		char *line;

		va_copy(aq, ap);
		line = xvasprintf(fmt, aq);
		va_end(aq);
		log_protocol("core", s->uuid, "S: %s", line);
		free(line);
	}
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (plain(s))
		event_active(s->flush, EV_WRITE, 0);
}

/* Ends the session once the pending output is written. */
void
conn_close(struct smtp_session *s)
{
	conn_enter(s, S_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (plain(s))
		event_active(s->flush, EV_WRITE, 0);
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

/*
 * Plain sockets: the replies of one loop pass are written here, directly,
 * and EV_WRITE is enabled only while the kernel does not take them all —
 * no epoll_ctl per reply. Under TLS the OpenSSL filter writes.
 */
static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct evbuffer *out;

	(void)fd;
	(void)what;
	if (!plain(s))
		return;
	out = bufferevent_get_output(s->bev);
	if (evbuffer_get_length(out) > 0) {
		int n;

		/* A socket bufferevent keeps its output's start frozen
		 * except while it writes itself. */
		evbuffer_unfreeze(out, 1);
		errno = 0;
		n = evbuffer_write(out, bufferevent_getfd(s->bev));
		evbuffer_freeze(out, 1);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			conn_end(s);	/* the peer is gone */
			return;
		}
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(s->bev, EV_WRITE);
	else if (s->state == S_CLOSING)
		conn_end(s);
}

void
conn_end(struct smtp_session *s)
{
	if (s->ended)
		return;
	s->ended = 1;
	log_info("core", s->uuid, "disconnect ip=%s transactions=%u", s->ip,
	    s->txns);
	if (s->tx != NULL && !s->hook_pending) {
		tx_free(s->tx);
		s->tx = NULL;
	}
	data_clear(&s->data);
	if (s->delay != NULL) {
		event_free(s->delay);
		s->delay = NULL;
	}
	event_free(s->flush);
	bufferevent_free(s->bev);
	s->bev = NULL;
	s->ended_cb(s->ended_arg);
	conn_unref(s);
}

void
conn_unref(struct smtp_session *s)
{
	if (--s->refs > 0)
		return;
	free(s->helo);
	free(s->auth_user);
	free(s->sasl_user);
	free(s->challenge);
	config_unref(s->cfg);
	vmta_unref(s->vmta);
	free(s);
}

/* Parks the session: no input is read until conn_resume(). */
void
conn_wait(struct smtp_session *s)
{
	conn_enter(s, S_WAIT);
	bufferevent_disable(s->bev, EV_READ);
}

void
conn_resume(struct smtp_session *s, enum state st)
{
	if (s->ended)
		return;
	if (s->draining && st != S_CLOSING && st != S_TLS) {
		conn_reply(s, "421 4.3.2 %s Service shutting down", conn_core(s)->me);
		conn_close(s);
		return;
	}
	conn_enter(s, st);
	bufferevent_enable(s->bev, EV_READ);
	s->refs++;
	s->input(s);
	conn_unref(s);
}

void
conn_tx_reset(struct smtp_session *s)
{
	if (s->tx != NULL) {
		tx_free(s->tx);
		s->tx = NULL;
	}
}

/* --- events -------------------------------------------------------------------- */

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	s->refs++;
	s->input(s);
	conn_unref(s);
}

/* Bytes not yet handed to the kernel: under TLS, the filter's output
 * moves to the socket bufferevent's before it is written. */
static size_t
output_pending(struct smtp_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void
on_close_check(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval tv = { 0, 20000 };

	(void)fd;
	(void)what;
	if (output_pending(s) > 0 && s->close_checks++ < 500) {
		evtimer_add(s->delay, &tv);
		return;
	}
	conn_end(s);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == S_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
			return;
		if (output_pending(s) == 0) {
			conn_end(s);
			return;
		}
		/* TLS: wait (bounded, 10 s) for the socket to take the rest. */
		if (s->delay == NULL) {
			s->delay = evtimer_new(s->base, on_close_check, s);
			on_close_check(-1, 0, s);
		}
		return;
	}
	if (plain(s) && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		bufferevent_disable(s->bev, EV_WRITE);
	/* Replies drained below the mark: read again. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (s->state != S_WAIT && s->state != S_TLS) {
		bufferevent_enable(s->bev, EV_READ);
		s->refs++;
		s->input(s);
		conn_unref(s);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* The TLS handshake is done. */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		s->tls = 1;
		log_info("core", s->uuid, "TLS established: %s %s",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		conn_resume(s, S_HELO);
		conn_unref(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == S_CLOSING) {
			conn_end(s);
			return;
		}
		log_info("core", s->uuid, "timeout ip=%s in state %s", s->ip,
		    state_names[s->state]);
		conn_reply(s, "421 4.4.2 %s Timeout, closing connection",
		    conn_core(s)->me);
		conn_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->state == S_TLS) {
			log_info("core", s->uuid, "TLS handshake failed ip=%s",
			    s->ip);
			conn_unref(s);
		}
		if (s->state == S_DATA)
			log_notice("core", s->uuid, "connection lost during "
			    "DATA ip=%s", s->ip);
		conn_end(s);
	}
}

void
conn_set_io(struct smtp_session *s)
{
	struct timeval tv = { (time_t)conn_core(s)->inactivity_timeout, 0 };

	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
	if (plain(s))
		bufferevent_disable(s->bev, EV_WRITE);	/* on_flush writes */
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

int
conn_open(struct smtp_session *s, int fd)
{
	s->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		return -1;
	s->flush = event_new(s->base, -1, 0, on_flush, s);
	conn_set_io(s);
	return 0;
}
