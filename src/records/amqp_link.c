/*
 * amqp_link: the broker thread of amqp_events — spooling the loop's
 * batches, driving the connection (amqp_conn.c: librabbitmq, blocking,
 * so never on the loop) and reporting progress and log lines back to the
 * loop through an eventfd — and its loop side.
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

#include <event2/event.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "records/amqp_link.h"
#include "records/amqp_link_priv.h"
#include "records/amqp_spool.h"

static void
wake_loop(struct amqp_link *l)
{
	uint64_t one = 1;

	if (write(l->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

void
alink_log(struct amqp_link *l, int level, const char *fmt, ...)
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

void
alink_progress(struct amqp_link *l, uint64_t spooled, uint64_t confirmed)
{
	pthread_mutex_lock(&l->mu);
	if (spooled > l->spooled)
		l->spooled = spooled;
	if (confirmed > l->confirmed)
		l->confirmed = confirmed;
	pthread_mutex_unlock(&l->mu);
	wake_loop(l);
}

/* --- the thread ----------------------------------------------------- */

static void
spool_pending(struct amqp_link *l)
{
	if (l->pending.len == 0 || util_now_ms() < l->spool_retry_ms)
		return;
	if (aspool_append(l->sp, l->pending.p, l->pending.len) != 0) {
		if (!l->spool_failing)
			alink_log(l, LOG_ERROR, "spool %s: %s (retrying every "
			    "second; events wait in memory)", l->o.spool_dir,
			    strerror(errno));
		l->spool_failing = 1;
		l->spool_retry_ms = util_now_ms() + SPOOL_RETRY_MS;
		return;
	}
	if (l->spool_failing)
		alink_log(l, LOG_NOTICE, "spool %s: writing again",
		    l->o.spool_dir);
	l->spool_failing = 0;
	l->done_spooled += l->pending_n;
	buf_reset(&l->pending);
	l->pending_n = 0;
	alink_progress(l, l->done_spooled, 0);
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
			deadline = util_now_ms() + l->drain_ms;
		}
		pthread_mutex_unlock(&l->mu);
		spool_pending(l);
		now = util_now_ms();
		if (l->conn == NULL && now >= l->next_try_ms &&
		    (!stopping || now < deadline))
			alink_connect(l);
		if (l->conn != NULL)
			alink_publish(l);
		if (l->conn != NULL)
			alink_read_frames(l, l->nfl > 0 ? SLICE_MS : 0);
		now = util_now_ms();
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
	alink_drop(l, 1, NULL);
	if (l->pending.len > 0)
		alink_log(l, LOG_ERROR, "%" PRIu64 " events could not be spooled "
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
	for (size_t i = 0; o->adopt != NULL && o->adopt[i] != NULL; i++) {
		uint64_t n;
		char *why = NULL;

		if (aspool_adopt(l->sp, o->adopt[i], &n, &why) != 0) {
			log_error(l->o.source, NULL, "cannot take over the spool "
			    "%s (it stays): %s", o->adopt[i], why);
			free(why);
		} else if (n > 0)
			log_notice(l->o.source, NULL, "spool %s: %" PRIu64
			    " events taken over from %s (smtp.ini nodes "
			    "changed)", o->spool_dir, n, o->adopt[i]);
	}
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
