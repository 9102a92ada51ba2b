/*
 * attempt_metrics: the queue's gauges for /metrics (core/metrics.h),
 * computed at each scrape from the scheduler's items: entries by state
 * (due, waiting, held, running), recipients still pending, the oldest
 * entry's age.
 */
#include <stdint.h>

#include "core/metrics.h"
#include "delivery/attempt.h"
#include "delivery/scheduler.h"
#include "queue/queue.h"

struct tally {
	int64_t		 now;
	double		 due, waiting, held, running, rcpts;
	int64_t		 oldest;	/* queue_time; 0: none */
};

static void
count_entry(struct tally *t, const struct qentry *e)
{
	t->rcpts += (double)qentry_pending(e);
	if (e->queue_time > 0 && (t->oldest == 0 || e->queue_time < t->oldest))
		t->oldest = e->queue_time;
}

static void
count_item(void *arg, struct sched_item *it)
{
	struct tally *t = arg;

	if (it->running)
		t->running++;
	else if (it->e->held)
		t->held++;
	else if (it->due <= t->now)
		t->due++;
	else
		t->waiting++;
	count_entry(t, it->e);
}

void
attempt_metrics(void *arg)
{
	const struct attempt_env *env = arg;
	struct tally t = { .now = sched_now_ms() };

	scheduler_foreach(env->sched, count_item, &t);
	metric_set(m_queue_entries, (const char *[]){ "due" }, t.due);
	metric_set(m_queue_entries, (const char *[]){ "waiting" }, t.waiting);
	metric_set(m_queue_entries, (const char *[]){ "held" }, t.held);
	metric_set(m_queue_entries, (const char *[]){ "running" }, t.running);
	metric_set(m_queue_recipients, NULL, t.rcpts);
	metric_set(m_queue_oldest, NULL, t.oldest == 0 ? 0 :
	    (double)(t.now - t.oldest) / 1000.0);
}
