/*
 * amqp_link: the broker thread of amqp_events — spooling the loop's
 * batches, connecting (librabbitmq, blocking, so never on the loop),
 * publishing the spool with publisher confirms, reconnecting with a
 * back-off, and reporting progress and log lines back to the loop
 * through an eventfd.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "records/amqp_link.h"
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

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
wake_loop(struct amqp_link *l)
{
	uint64_t one = 1;

	if (write(l->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

static void tlog(struct amqp_link *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
tlog(struct amqp_link *l, int level, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&l->mu);
	if (l->nlogs == l->logcap) {
		l->logcap = l->logcap ? l->logcap * 2 : 8;
		l->logs = xrealloc(l->logs, l->logcap * sizeof(*l->logs));
	}
	l->logs[l->nlogs].level = level;
	l->logs[l->nlogs++].text = text;
	pthread_mutex_unlock(&l->mu);
	wake_loop(l);
}

static void
post_progress(struct amqp_link *l, uint64_t spooled, uint64_t confirmed)
{
	pthread_mutex_lock(&l->mu);
	if (spooled > l->spooled)
		l->spooled = spooled;
	if (confirmed > l->confirmed)
		l->confirmed = confirmed;
	pthread_mutex_unlock(&l->mu);
	wake_loop(l);
}

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

static void
drop(struct amqp_link *l, int clean, const char *why)
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
		tlog(l, LOG_WARN, "broker %s:%u: %s; events are spooled and "
		    "published again from the last confirmed one (retry in "
		    "%" PRIu64 " ms)", l->o.host, l->o.port, why, l->backoff_ms);
		l->down_logged = 1;
	}
	l->next_try_ms = now_ms() + l->backoff_ms;
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
	drop(l, 0, msg);
	return -1;
}

static void
connect_broker(struct amqp_link *l)
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
		drop(l, 0, "cannot create a socket");
		return;
	}
	if (l->o.tls) {
		if (l->o.tls_ca != NULL &&
		    amqp_ssl_socket_set_cacert(sock, l->o.tls_ca) != 0) {
			drop(l, 0, "cannot load tls ca_file");
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
		drop(l, 0, l->down_logged ? NULL : msg);
		return;
	}
	r = amqp_login(l->conn, l->o.vhost, 0, 131072, (int)l->o.heartbeat,
	    AMQP_SASL_METHOD_PLAIN, l->o.user, l->o.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		snprintf(msg, sizeof(msg), "login: %s",
		    reply_error(r, buf, sizeof(buf)));
		drop(l, 0, msg);
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
	tlog(l, LOG_NOTICE, "connected to broker %s:%u, exchange '%s'",
	    l->o.host, l->o.port, l->o.exchange);
	l->down_logged = 0;
}

/* --- publishing ----------------------------------------------------- */

static void
publish_some(struct amqp_link *l)
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
			drop(l, 0, msg);
			return;
		}
		if (l->nfl == l->flcap) {
			l->flcap = l->flcap ? l->flcap * 2 : 64;
			l->fl = xrealloc(l->fl, l->flcap * sizeof(*l->fl));
		}
		l->fl[l->nfl].end = rec.end;
		l->fl[l->nfl].sent_ms = now_ms();
		l->fl[l->nfl++].acked = 0;
		l->next_tag++;
		l->window_full = l->nfl >= l->o.window;
	}
	if (err != NULL) {
		tlog(l, LOG_ERROR, "spool: %s", err);
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
	post_progress(l, 0, l->fl[k - 1].end.fresh);
	memmove(l->fl, l->fl + k, (l->nfl - k) * sizeof(*l->fl));
	l->nfl -= k;
	l->first_tag += k;
	l->backoff_ms = l->o.backoff_min_ms;
}

/* Reads what the broker sent, waiting up to wait_ms for the first frame:
 * confirms, heartbeats, a close. */
static void
read_frames(struct amqp_link *l, unsigned wait_ms)
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
			drop(l, 0, msg);
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
			drop(l, 0, "the broker refused (nack) an event");
			return;
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD: {
			const amqp_connection_close_t *c =
			    f.payload.method.decoded;

			snprintf(msg, sizeof(msg), "closed by the broker: "
			    "%u %.*s", c->reply_code, (int)c->reply_text.len,
			    (const char *)c->reply_text.bytes);
			drop(l, 0, msg);
			return;
		}
		default:
			break;
		}
	}
	if (l->nfl > 0 && now_ms() - l->fl[0].sent_ms >
	    l->o.confirm_timeout_ms)
		drop(l, 0, "no confirm within confirm_timeout");
}

/* --- the thread ----------------------------------------------------- */

static void
spool_pending(struct amqp_link *l)
{
	if (l->pending.len == 0 || now_ms() < l->spool_retry_ms)
		return;
	if (aspool_append(l->sp, l->pending.p, l->pending.len) != 0) {
		if (!l->spool_failing)
			tlog(l, LOG_ERROR, "spool %s: %s (retrying every "
			    "second; events wait in memory)", l->o.spool_dir,
			    strerror(errno));
		l->spool_failing = 1;
		l->spool_retry_ms = now_ms() + SPOOL_RETRY_MS;
		return;
	}
	if (l->spool_failing)
		tlog(l, LOG_NOTICE, "spool %s: writing again",
		    l->o.spool_dir);
	l->spool_failing = 0;
	l->done_spooled += l->pending_n;
	buf_reset(&l->pending);
	l->pending_n = 0;
	post_progress(l, l->done_spooled, 0);
}

static void *
run(void *arg)
{
	struct amqp_link *l = arg;
	uint64_t deadline = 0;
	int stopping = 0;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		uint64_t now, wake;
		struct timespec ts;

		if (l->inbox.len > 0) {
			buf_add(&l->pending, l->inbox.p, l->inbox.len);
			l->pending_n += l->inbox_n;
			buf_reset(&l->inbox);
			l->inbox_n = 0;
		}
		if (l->stop && !stopping) {
			stopping = 1;
			deadline = now_ms() + l->drain_ms;
		}
		pthread_mutex_unlock(&l->mu);
		spool_pending(l);
		now = now_ms();
		if (l->conn == NULL && now >= l->next_try_ms &&
		    (!stopping || now < deadline))
			connect_broker(l);
		if (l->conn != NULL)
			publish_some(l);
		if (l->conn != NULL)
			read_frames(l, l->nfl > 0 ? SLICE_MS : 0);
		now = now_ms();
		if (stopping && (l->pending.len == 0 || l->spool_failing) &&
		    (aspool_drained(l->sp) || l->conn == NULL ||
		    now >= deadline))
			break;
		pthread_mutex_lock(&l->mu);
		if (l->inbox.len > 0 || (l->stop && !stopping))
			continue;
		if (l->conn != NULL && (l->nfl > 0 || l->window_full))
			continue;	/* read_frames waited */
		/* Idle: a look at the connection each second (heartbeats,
		 * a close by the broker). */
		wake = now + 1000;
		if (l->conn == NULL && l->next_try_ms < wake)
			wake = l->next_try_ms > now ? l->next_try_ms : now;
		if (l->pending.len > 0 && l->spool_retry_ms < wake)
			wake = l->spool_retry_ms > now ? l->spool_retry_ms :
			    now;
		if (stopping && deadline < wake)
			wake = deadline;
		if (wake > now) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((wake - now) / 1000);
			ts.tv_nsec += (long)((wake - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		}
	}
	drop(l, 1, NULL);
	if (l->pending.len > 0)
		tlog(l, LOG_ERROR, "%" PRIu64 " events could not be spooled "
		    "at exit", l->pending_n);
	return NULL;
}

/* --- the loop side -------------------------------------------------- */

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct amqp_link *l = arg;
	struct logmsg *logs;
	uint64_t n, spooled, confirmed;
	size_t nlogs;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&l->mu);
	logs = l->logs;
	nlogs = l->nlogs;
	l->logs = NULL;
	l->nlogs = l->logcap = 0;
	spooled = l->spooled;
	confirmed = l->confirmed;
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < nlogs; i++) {
		log_emit(logs[i].level, l->o.source, NULL, NULL, 0, "%s",
		    logs[i].text);
		free(logs[i].text);
	}
	free(logs);
	if (l->fn != NULL)
		l->fn(l->arg, spooled, confirmed);
}

static const char *
keep(struct amqp_link *l, size_t i, const char *s)
{
	l->strs[i] = s != NULL ? xstrdup(s) : NULL;
	return l->strs[i];
}

struct amqp_link *
amqp_link_new(struct event_base *base, const struct amqp_link_opts *o,
    amqp_progress_fn fn, void *arg, char **err)
{
	struct amqp_link *l = xcalloc(1, sizeof(*l));
	pthread_condattr_t ca;

	l->o = *o;
	l->o.source = keep(l, 0, o->source);
	l->o.host = keep(l, 1, o->host);
	l->o.vhost = keep(l, 2, o->vhost);
	l->o.user = keep(l, 3, o->user);
	l->o.password = keep(l, 4, o->password);
	l->o.exchange = keep(l, 5, o->exchange);
	l->o.exchange_type = keep(l, 6, o->exchange_type);
	l->o.spool_dir = keep(l, 7, o->spool_dir);
	l->o.tls_ca = keep(l, 8, o->tls_ca);
	if (l->o.window == 0)
		l->o.window = 1;
	l->backoff_ms = l->o.backoff_min_ms;
	l->base = base;
	l->fn = fn;
	l->arg = arg;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0) {
		*err = xasprintf("eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((l->sp = aspool_open(o->spool_dir, o->segment_size, err)) == NULL)
		goto fail;
	if (aspool_backlog(l->sp) > 0)
		log_notice(l->o.source, NULL, "spool %s: %" PRIu64 " bytes of "
		    "events from an earlier run to publish", o->spool_dir,
		    aspool_backlog(l->sp));
	l->ev = event_new(base, l->efd, EV_READ | EV_PERSIST, on_wake, l);
	if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
		*err = xstrdup("cannot add the wake-up event");
		goto fail;
	}
	if (pthread_create(&l->th, NULL, run, l) != 0) {
		*err = xstrdup("cannot start the broker thread");
		goto fail;
	}
	l->started = 1;
	return l;
fail:
	amqp_link_free(l, 0);
	return NULL;
}

uint64_t
amqp_link_submit(struct amqp_link *l, const char *lines, size_t len,
    unsigned n)
{
	uint64_t last;

	pthread_mutex_lock(&l->mu);
	buf_add(&l->inbox, lines, len);
	l->inbox_n += n;
	l->submitted += n;
	last = l->submitted;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return last;
}

void
amqp_link_free(struct amqp_link *l, unsigned drain_ms)
{
	if (l == NULL)
		return;
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->stop = 1;
		l->drain_ms = drain_ms;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->th, NULL);
		l->fn = NULL;
		on_wake(l->efd, EV_READ, l);	/* the thread's last lines */
	}
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->efd >= 0)
		close(l->efd);
	aspool_close(l->sp);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	buf_free(&l->inbox);
	buf_free(&l->pending);
	for (size_t i = 0; i < l->nlogs; i++)
		free(l->logs[i].text);
	free(l->logs);
	free(l->fl);
	for (size_t i = 0; i < sizeof(l->strs) / sizeof(l->strs[0]); i++)
		free(l->strs[i]);
	free(l);
}
