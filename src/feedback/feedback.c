/*
 * feedback: the reception of bounces and complaints (feedback/feedback.h)
 * — the reception hook (spool write before the 250), the worker thread
 * (spool writes, report parsing and correlation, removals, quarantine)
 * and, on the loop, the OP_HOOK_FEEDBACK observers; a spool file is
 * removed only once every observer of every event it gave has answered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "core/verp.h"
#include "feedback/correlate.h"
#include "feedback/fbconf.h"
#include "feedback/feedback.h"
#include "feedback/spool.h"
#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "proto/fbreport.h"
#include "records/bouncecat.h"
#include "smtp/policy.h"

#define SRC		"feedback"
#define MAX_INFLIGHT	64	/* reports read, not yet removed */

enum job_kind { J_WRITE, J_PROCESS, J_REMOVE };
enum job_state { S_EVENTS, S_QUARANTINED, S_NOTED, S_FAILED };

struct job {
	enum job_kind		 kind;
	enum job_state		 state;
	char			*name;
	struct feedback		*fb;
	/* J_WRITE */
	struct buf		 pre;
	char			*msg;
	size_t			 len;
	feedback_done_fn	 done;
	void			*cookie;
	int			 err;
	/* J_PROCESS */
	struct fb_outcome	 out;
	char			*what;		/* for the log */
	size_t			 pending;
	struct job		*next;
	struct job		*wprev, *wnext;	/* while observed */
};

struct jq {
	struct job	*head, *tail;
};

struct feedback {
	struct event_base	*base;
	struct fbconf		 conf;
	struct bouncecat	*bc;
	pthread_t		 thread;
	int			 started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 efd;
	struct event		*wake;
	struct jq		 writes, procs, removes, results;
	size_t			 inflight;
	int			 stop;
	struct job		*watching;	/* at the observers */
};

static void
push(struct jq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *
pop(struct jq *q)
{
	struct job *j = q->head;

	if (j != NULL && (q->head = j->next) == NULL)
		q->tail = NULL;
	return j;
}

static void
job_free(struct job *j)
{
	free(j->name);
	buf_free(&j->pre);
	free(j->msg);
	fb_outcome_free(&j->out);
	free(j->what);
	free(j);
}

/* --- the worker thread ------------------------------------------------ */

static void
digest(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32 && i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
process(struct feedback *fb, struct job *j)
{
	struct fb_keys k = { fb->conf.prefix, fb->conf.key, fb->conf.keylen,
	    fb->bc };
	struct fb_envelope env;
	struct fb_report r;
	char *data, hex[65] = "";
	size_t len;
	int e;

	if ((e = spool_read(fb->conf.spool_dir, j->name, &data, &len)) != 0) {
		j->state = e == ENOENT ? S_NOTED : S_FAILED;
		j->what = xasprintf("cannot read: %s", strerror(e));
		return;
	}
	digest(data, len, hex);
	if (spool_envelope(data, len, &env) != 0) {
		j->out.quarantine = xstrdup("not a feedback spool file");
		memset(&env, 0, sizeof(env));
	} else {
		fb_report_parse(env.msg, env.len, &r);
		correlate(&env, &r, &k, hex, &j->out);
		j->what = xasprintf("kind=%s from=<%s> rcpt=<%s> ip=%s",
		    fb_kind_name(r.kind), env.from, env.nrcpts > 0 ?
		    env.rcpts[0] : "", env.ip);
		fb_report_free(&r);
	}
	spool_envelope_free(&env);
	free(data);
	metric_add(m_feedback_reports, (const char *[]){
	    j->out.quarantine != NULL ? "quarantined" : j->out.nev == 0 ?
	    "none" : "events" }, 1);
	if (j->out.quarantine != NULL) {
		j->state = S_QUARANTINED;
		j->err = spool_move(fb->conf.spool_dir, j->name,
		    fb->conf.quarantine_dir);
	} else if (j->out.nev == 0) {
		j->state = S_NOTED;
		j->err = spool_remove(fb->conf.spool_dir, j->name);
	} else
		j->state = S_EVENTS;
}

static void
wake_loop(struct feedback *fb)
{
	uint64_t one = 1;

	while (write(fb->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

/* Every write waiting, then one fsync of the directory for them all (a
 * round, as the queue commits); called and returns locked. */
static void
write_round(struct feedback *fb)
{
	struct jq round = fb->writes;
	struct job *j;
	int e;

	fb->writes.head = fb->writes.tail = NULL;
	pthread_mutex_unlock(&fb->mu);
	for (j = round.head; j != NULL; j = j->next)
		j->err = spool_write(fb->conf.spool_dir, j->name, &j->pre,
		    j->msg, j->len);
	if ((e = spool_sync(fb->conf.spool_dir)) != 0)
		for (j = round.head; j != NULL; j = j->next)
			if (j->err == 0)
				j->err = e;
	pthread_mutex_lock(&fb->mu);
	while ((j = pop(&round)) != NULL)
		push(&fb->results, j);
	wake_loop(fb);
}

static void *
worker(void *arg)
{
	struct feedback *fb = arg;
	struct job *j;

	pthread_mutex_lock(&fb->mu);
	while (!fb->stop) {
		if (fb->writes.head != NULL) {
			write_round(fb);
			continue;
		} else if ((j = pop(&fb->removes)) != NULL) {
			pthread_mutex_unlock(&fb->mu);
			j->err = spool_remove(fb->conf.spool_dir, j->name);
		} else if (fb->inflight < MAX_INFLIGHT &&
		    (j = pop(&fb->procs)) != NULL) {
			fb->inflight++;
			pthread_mutex_unlock(&fb->mu);
			process(fb, j);
		} else {
			pthread_cond_wait(&fb->cv, &fb->mu);
			continue;
		}
		pthread_mutex_lock(&fb->mu);
		push(&fb->results, j);
		wake_loop(fb);
	}
	pthread_mutex_unlock(&fb->mu);
	return NULL;
}

/* --- the loop --------------------------------------------------------- */

static void
enqueue(struct feedback *fb, struct jq *q, struct job *j)
{
	pthread_mutex_lock(&fb->mu);
	push(q, j);
	pthread_cond_signal(&fb->cv);
	pthread_mutex_unlock(&fb->mu);
}

static void
finished(struct feedback *fb, struct job *j)
{
	pthread_mutex_lock(&fb->mu);
	fb->inflight--;
	pthread_cond_signal(&fb->cv);
	pthread_mutex_unlock(&fb->mu);
	job_free(j);
}

static void
observed(void *arg, int code, const char *msg)
{
	struct job *j = arg;

	(void)code;
	(void)msg;
	if (--j->pending > 0)
		return;
	/* Every observer answered: the records are durable. */
	if (j->wprev != NULL)
		j->wprev->wnext = j->wnext;
	else
		j->fb->watching = j->wnext;
	if (j->wnext != NULL)
		j->wnext->wprev = j->wprev;
	j->kind = J_REMOVE;
	enqueue(j->fb, &j->fb->removes, j);
}

static void
result(struct feedback *fb, struct job *j)
{
	switch (j->kind) {
	case J_WRITE:
		j->done(j->cookie, j->err);
		if (j->err != 0) {
			job_free(j);
			return;
		}
		buf_free(&j->pre);
		free(j->msg);
		j->msg = NULL;
		j->kind = J_PROCESS;
		enqueue(fb, &fb->procs, j);
		return;
	case J_REMOVE:
		if (j->err != 0)
			log_error(SRC, NULL, "%s/%s: cannot remove: %s; it will "
			    "be processed again at the next start",
			    fb->conf.spool_dir, j->name, strerror(j->err));
		finished(fb, j);
		return;
	case J_PROCESS:
		break;
	}
	switch (j->state) {
	case S_EVENTS:
		for (size_t i = 0; i < j->out.nev; i++) {
			const struct op_feedback *e = &j->out.ev[i].pub;

			log_info(SRC, e->event_id, "%s id=%s rcpt=<%s> "
			    "category=%s correlation=%s (%s)", e->type,
			    e->id != NULL ? e->id : "-", e->recipient,
			    e->category, e->correlation, j->name);
		}
		j->pending = j->out.nev + 1;
		j->wnext = fb->watching;
		if (fb->watching != NULL)
			fb->watching->wprev = j;
		fb->watching = j;
		for (size_t i = 0; i < j->out.nev; i++)
			hook_observe(OP_HOOK_FEEDBACK, &j->out.ev[i].pub,
			    observed, j);
		observed(j, 0, NULL);
		return;
	case S_QUARANTINED:
		log_warn(SRC, NULL, "quarantined %s: %s (%s)%s%s", j->name,
		    j->out.quarantine, j->what != NULL ? j->what : "",
		    j->err != 0 ? "; cannot move it: " : "",
		    j->err != 0 ? strerror(j->err) : "");
		break;
	case S_NOTED:
		log_info(SRC, NULL, "%s: no record: %s", j->name,
		    j->out.note != NULL ? j->out.note : j->what);
		break;
	case S_FAILED:
		log_error(SRC, NULL, "%s/%s: %s", fb->conf.spool_dir, j->name,
		    j->what);
		break;
	}
	finished(fb, j);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct feedback *fb = arg;
	struct jq got;
	struct job *j;
	uint64_t n;

	(void)what;
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	pthread_mutex_lock(&fb->mu);
	got = fb->results;
	fb->results.head = fb->results.tail = NULL;
	pthread_mutex_unlock(&fb->mu);
	while ((j = pop(&got)) != NULL)
		result(fb, j);
}

static int
is_domain(const char *domain, void *data)
{
	return fbconf_is_domain(&((struct feedback *)data)->conf, domain);
}

static void
take(const char *uuid, const char *mail_from, const char *const *rcpts,
    size_t nrcpts, const char *helo, const char *ip, char *msg, size_t len,
    feedback_done_fn done, void *cookie, void *data)
{
	struct feedback *fb = data;
	struct job *j = xcalloc(1, sizeof(*j));
	struct timeval tv;

	gettimeofday(&tv, NULL);
	j->kind = J_WRITE;
	j->fb = fb;
	spool_preamble((long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, uuid,
	    helo, ip, mail_from, rcpts, nrcpts, &j->pre, &j->name);
	j->msg = msg;
	j->len = len;
	j->done = done;
	j->cookie = cookie;
	enqueue(fb, &fb->writes, j);
}

static void
rules_warn(void *arg, const char *msg)
{
	(void)arg;
	log_warn(SRC, NULL, "%s", msg);
}

/* Mail a process that no longer runs left in its spool (smtp.ini nodes
 * changed: a worker beyond nodes, or the single process before workers)
 * moves into ours, to be processed here; a file that cannot move stays,
 * and is named. */
static void
adopt_spools(struct feedback *fb)
{
	char **dirs = nodes_orphans(fb->conf.spool_base);

	for (size_t i = 0; dirs[i] != NULL; i++) {
		char **names = spool_scan(dirs[i]);
		size_t moved = 0;
		int e;

		for (size_t k = 0; names[k] != NULL; k++) {
			char *p = xasprintf("%s/%s", dirs[i], names[k]);
			struct stat sb;

			if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
				if ((e = spool_move(dirs[i], names[k],
				    fb->conf.spool_dir)) == 0)
					moved++;
				else
					log_error(SRC, NULL, "cannot take over "
					    "%s: %s", p, strerror(e));
			}
			free(p);
			free(names[k]);
		}
		free(names);
		if (moved > 0)
			log_notice(SRC, NULL, "%zu feedback mail%s taken over "
			    "from %s (smtp.ini nodes changed)", moved,
			    moved == 1 ? "" : "s", dirs[i]);
		if (strcmp(dirs[i], fb->conf.spool_base) != 0)
			(void)rmdir(dirs[i]);
		free(dirs[i]);
	}
	free(dirs);
}

struct feedback *
feedback_start(struct event_base *base, const struct config *cfg, char **err)
{
	struct feedback *fb = xcalloc(1, sizeof(*fb));
	char **names, *rules;
	size_t n = 0;

	*err = NULL;
	if (fbconf_load(cfg->config_dir, &fb->conf, err) != 0) {
		free(fb);
		return NULL;
	}
	if (fb->conf.ndomains == 0) {		/* not configured */
		fbconf_free(&fb->conf);
		free(fb);
		return NULL;
	}
	fb->base = base;
	fb->efd = -1;
	for (int i = 0; i < 2; i++) {
		const char *d = i == 0 ? fb->conf.spool_dir :
		    fb->conf.quarantine_dir;

		if (mkdirs(d, 0700) != 0) {
			*err = xasprintf("feedback.ini: %s: %s", d,
			    strerror(errno));
			goto fail;
		}
	}
	fb->bc = bouncecat_new();
	rules = xasprintf("%s/bounce_categories", cfg->config_dir);
	if (bouncecat_load(fb->bc, rules, rules_warn, NULL) < 0)
		log_warn(SRC, NULL, "%s: %s; using the built-in bounce "
		    "categories", rules, strerror(errno));
	free(rules);
	pthread_mutex_init(&fb->mu, NULL);
	pthread_cond_init(&fb->cv, NULL);
	if ((fb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    pthread_create(&fb->thread, NULL, worker, fb) != 0) {
		*err = xasprintf("feedback: cannot start its worker: %s",
		    strerror(errno));
		goto fail;
	}
	fb->started = 1;
	fb->wake = event_new(base, fb->efd, EV_READ | EV_PERSIST, on_wake, fb);
	event_add(fb->wake, NULL);
	adopt_spools(fb);
	names = spool_scan(fb->conf.spool_dir);
	for (; names[n] != NULL; n++) {
		struct job *j = xcalloc(1, sizeof(*j));

		j->kind = J_PROCESS;
		j->fb = fb;
		j->name = names[n];
		enqueue(fb, &fb->procs, j);
	}
	free(names);
	if (n > 0)
		log_notice(SRC, NULL, "%zu feedback mail%s in %s to process",
		    n, n == 1 ? "" : "s", fb->conf.spool_dir);
	verp_set(fbconf_verp(&fb->conf));
	if (fb->conf.on_main_listener)
		reception_set_feedback(is_domain, take, fb);
	log_notice(SRC, NULL, "bounce domain %s, VERP %s, %s on the "
	    "listener", *fb->conf.bounce_domain ? fb->conf.bounce_domain :
	    "(none)", verp_get() == NULL ? "off" : verp_get()->all ? "all" :
	    "listed sender domains", fb->conf.on_main_listener ?
	    "feedback taken" : "no feedback taken");
	return fb;
fail:
	feedback_stop(fb);
	return NULL;
}

static void
drop(struct jq *q)
{
	struct job *j;

	while ((j = pop(q)) != NULL)
		job_free(j);
}

void
feedback_stop(struct feedback *fb)
{
	if (fb == NULL)
		return;
	reception_set_feedback(NULL, NULL, NULL);
	verp_set(NULL);
	if (fb->started) {
		pthread_mutex_lock(&fb->mu);
		fb->stop = 1;
		pthread_cond_signal(&fb->cv);
		pthread_mutex_unlock(&fb->mu);
		pthread_join(fb->thread, NULL);
		pthread_mutex_destroy(&fb->mu);
		pthread_cond_destroy(&fb->cv);
	}
	/* What was not finished stays in the spool for the next start. */
	drop(&fb->writes);
	drop(&fb->procs);
	drop(&fb->removes);
	drop(&fb->results);
	while (fb->watching != NULL) {	/* abandoned by plugins_unload() */
		struct job *j = fb->watching;

		fb->watching = j->wnext;
		job_free(j);
	}
	if (fb->wake != NULL)
		event_free(fb->wake);
	if (fb->efd != -1)
		close(fb->efd);
	bouncecat_free(fb->bc);
	fbconf_free(&fb->conf);
	free(fb);
}
