/*
 * dkim_worker: the signing thread. The loop queues jobs (a message it
 * hands over, the configuration generation it references); the thread
 * signs each, builds the signed message and puts the job on the finished
 * list, then wakes the loop through an eventfd; the loop logs the result
 * and gives the message back to the job's owner (or frees it when the
 * job was cancelled). The thread touches only its jobs.
 */
#include "queue/dkim_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/dkim_keys.h"
#include "core/log.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "queue/dkim_sign.h"

struct dkim_job {
	struct dkim_job		*next;
	struct dkim_config	*cfg;
	char			*msg;
	size_t			 len;
	char			*id, *mail_from, *domain, *selector;
	dkim_job_fn		 fn;
	void			*arg;
	int			 cancelled;	/* loop only */
	int			 nsigs;		/* thread's results */
	char			*err;
	struct buf		 info;
};

static struct {
	struct event_base	*base;
	struct event		*ev;
	int			 efd;
	pthread_t		 thread;
	int			 running;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct dkim_job		*pending, **pending_tail;
	struct dkim_job		*finished;
	int			 stop;
	struct dkim_config	*cfg;		/* loop only */
} w = { .efd = -1, .mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER };

static void
job_free(struct dkim_job *j)
{
	dkim_config_unref(j->cfg);
	free(j->msg);
	free(j->id);
	free(j->mail_from);
	free(j->domain);
	free(j->selector);
	free(j->err);
	buf_free(&j->info);
	free(j);
}

/* On the thread: the signed message replaces the job's. */
static void
sign_job(struct dkim_job *j)
{
	struct dkim_request r = {
		.msg = j->msg, .len = j->len, .mail_from = j->mail_from,
		.domain = j->domain, .selector = j->selector, .now = time(NULL)
	};
	struct buf sigs = BUF_INIT;
	char *m;

	j->nsigs = dkim_sign(j->cfg, &r, &sigs, &j->info, &j->err);
	if (j->nsigs > 0) {
		m = xmalloc(sigs.len + j->len + 1);
		memcpy(m, sigs.p, sigs.len);
		memcpy(m + sigs.len, j->msg, j->len + 1);
		free(j->msg);
		j->msg = m;
		j->len += sigs.len;
	}
	buf_free(&sigs);
}

static void *
worker_main(void *arg)
{
	struct dkim_job *j;
	uint64_t one = 1;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&w.mu);
		while (w.pending == NULL && !w.stop)
			pthread_cond_wait(&w.cv, &w.mu);
		if (w.stop) {
			pthread_mutex_unlock(&w.mu);
			break;
		}
		j = w.pending;
		w.pending = j->next;
		if (w.pending == NULL)
			w.pending_tail = &w.pending;
		pthread_mutex_unlock(&w.mu);
		sign_job(j);
		pthread_mutex_lock(&w.mu);
		j->next = w.finished;
		w.finished = j;
		pthread_mutex_unlock(&w.mu);
		while (write(w.efd, &one, sizeof(one)) == -1 && errno == EINTR)
			;
	}
	return NULL;
}

/* On the loop: the finished jobs, oldest first. */
static void
on_finished(evutil_socket_t fd, short what, void *arg)
{
	struct dkim_job *j, *prev = NULL, *next;
	uint64_t n;

	(void)what;
	(void)arg;
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	pthread_mutex_lock(&w.mu);
	j = w.finished;
	w.finished = NULL;
	pthread_mutex_unlock(&w.mu);
	for (; j != NULL; j = next) {
		next = j->next;
		j->next = prev;
		prev = j;
	}
	for (j = prev; j != NULL; j = next) {
		next = j->next;
		if (j->nsigs < 0)
			log_error("dkim", j->id, "not signed: %s", j->err);
		else if (j->nsigs > 0)
			log_info("dkim", j->id, "signed: %s",
			    buf_cstr(&j->info));
		else
			log_info("dkim", j->id, "not signed: no key for this "
			    "message's domain");
		if (!j->cancelled) {
			j->fn(j->arg, j->msg, j->len);
			j->msg = NULL;
		}
		job_free(j);
	}
}

int
dkim_worker_start(struct event_base *base, char **err)
{
	if (w.running)
		return 0;
	w.pending = NULL;
	w.pending_tail = &w.pending;
	w.stop = 0;
	if ((w.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		*err = xasprintf("eventfd: %s", strerror(errno));
		return -1;
	}
	w.base = base;
	w.ev = event_new(base, w.efd, EV_READ | EV_PERSIST, on_finished, NULL);
	event_add(w.ev, NULL);
	if ((errno = pthread_create(&w.thread, NULL, worker_main, NULL)) != 0) {
		*err = xasprintf("signing thread: %s", strerror(errno));
		event_free(w.ev);
		close(w.efd);
		w.efd = -1;
		return -1;
	}
	w.running = 1;
	return 0;
}

void
dkim_worker_set(struct dkim_config *cfg)
{
	dkim_config_unref(w.cfg);
	w.cfg = cfg != NULL && cfg->enabled ? dkim_config_ref(cfg) : NULL;
}

void
dkim_worker_stop(void)
{
	struct dkim_job *lists[2], *j, *next;

	dkim_worker_set(NULL);
	if (!w.running)
		return;
	pthread_mutex_lock(&w.mu);
	w.stop = 1;
	pthread_cond_signal(&w.cv);
	pthread_mutex_unlock(&w.mu);
	pthread_join(w.thread, NULL);
	lists[0] = w.pending;
	lists[1] = w.finished;
	for (int i = 0; i < 2; i++)
		for (j = lists[i]; j != NULL; j = next) {
			next = j->next;
			job_free(j);
		}
	w.pending = w.finished = NULL;
	event_free(w.ev);
	close(w.efd);
	w.efd = -1;
	w.running = 0;
}

struct dkim_job *
dkim_worker_submit(char *msg, size_t len, const char *id,
    const char *mail_from, const char *domain, const char *selector,
    dkim_job_fn fn, void *arg)
{
	struct dkim_job *j;

	if (!w.running || w.cfg == NULL)
		return NULL;
	j = xcalloc(1, sizeof(*j));
	j->cfg = dkim_config_ref(w.cfg);
	j->msg = msg;
	j->len = len;
	j->id = xstrdup(id);
	j->mail_from = xstrdup(mail_from);
	j->domain = xstrdup_null(domain);
	j->selector = xstrdup_null(selector);
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&w.mu);
	*w.pending_tail = j;
	w.pending_tail = &j->next;
	pthread_cond_signal(&w.cv);
	pthread_mutex_unlock(&w.mu);
	return j;
}

void
dkim_job_cancel(struct dkim_job *j)
{
	if (j != NULL)
		j->cancelled = 1;
}
