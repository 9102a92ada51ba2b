/*
 * hooks: the hook runner. hook_run() walks a chain with Haraka's semantics
 * (timeouts, orphaned calls, op_next); hook_observe() hands an event to
 * every observer at once; the log sink runs the log hook. A run lives
 * until its verdict is delivered, a call until its plugin answers. Reads
 * the registry (registry.c); owns the runs, the orphans and the sink.
 */
#include "plugins/hooks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lib/xmalloc.h"
#include "core/log.h"
#include "plugins/registry.h"

struct hook_run {
	enum op_hook	 hook;
	const void	*args;
	size_t		 idx;
	int		 sync;		/* unanswered calls count as CONT */
	hook_done_fn	 done;
	void		*arg;
	struct op_call	*cur;
	struct event	*timer;
};

/* One event handed to every observer; ends when all have answered. */
struct obs_run {
	struct obs_run	*next, *prev;	/* H.obs_runs */
	enum op_hook	 hook;
	size_t		 pending;	/* calls not answered yet */
	int		 starting;	/* the calls are still being made */
	hook_done_fn	 done;
	void		*arg;
	struct op_call	**calls;	/* NULL once answered */
	size_t		 ncalls;
	struct event	*timer;
};

static struct {
	struct op_call	*orphans;
	struct obs_run	*obs_runs;	/* observed events not answered yet */
} H;

static const char *const hook_names[OP_HOOK_COUNT] = {
	"log", "reopen", "queue_outbound", "pre_send_trans_email",
	"send_email", "get_mx", "deferred", "bounce", "delivered", "feedback"
};

const char *
hook_name(enum op_hook h)
{
	return (unsigned)h < OP_HOOK_COUNT ? hook_names[h] : "unknown";
}

const char *
code_name(int code)
{
	static const char *const names[] = {
		"CONT", "STOP", "DENY", "DENYSOFT", "DENYDISCONNECT",
		"DISCONNECT", "OK", "NEXT_HOOK", "DELAY", "DENYSOFTDISCONNECT"
	};

	return code >= OP_CONT && code <= OP_DENYSOFTDISCONNECT ?
	    names[code - OP_CONT] : "UNKNOWN";
}

/* --- running a chain -------------------------------------------------- */

static void run_step(struct hook_run *);
static void obs_answered(struct op_call *);

static void
finish(struct hook_run *r, int code, char *msg)
{
	hook_done_fn done = r->done;
	void *arg = r->arg;

	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
	done(arg, code, msg);
	free(msg);
}

static void
orphan(struct op_call *c)
{
	c->run = NULL;
	c->next_orphan = H.orphans;
	H.orphans = c;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct hook_run *r = arg;
	const struct reg *g = &registry_chain(r->hook)[r->idx];

	(void)fd;
	(void)what;
	log_crit("core", NULL, "Plugin %s timed out on hook %s - make sure "
	    "it calls op_next", registry_plugin(g->plugin)->name,
	    hook_name(r->hook));
	orphan(r->cur);
	r->cur = NULL;
	finish(r, OP_DENYSOFT, xstrdup("plugin timeout"));
}

/* An answer arrived: continue the chain or deliver the verdict. */
static void
answered(struct hook_run *r, int code, char *msg)
{
	if (code != OP_CONT) {
		finish(r, code, msg);
		return;
	}
	free(msg);
	r->idx++;
	run_step(r);
}

static void
run_step(struct hook_run *r)
{
	while (r->idx < hook_count(r->hook)) {
		const struct reg *g = &registry_chain(r->hook)[r->idx];
		const struct loaded *l = registry_plugin(g->plugin);
		struct op_call *c = xcalloc(1, sizeof(*c));
		int code;
		char *msg;

		c->run = r;
		c->hook = r->hook;
		c->args = r->args;
		c->in_call = 1;
		r->cur = c;
		g->fn(c, l->data);
		c->in_call = 0;
		if (!c->answered) {
			if (r->sync) {		/* e.g. log: cannot wait */
				orphan(c);
				r->cur = NULL;
				r->idx++;
				continue;
			}
			if (l->timeout > 0) {
				struct timeval tv = { (time_t)l->timeout, 0 };

				if (r->timer == NULL)
					r->timer = evtimer_new(
					    plugins_event_base(), on_timeout,
					    r);
				evtimer_add(r->timer, &tv);
			}
			return;		/* op_next() resumes the chain */
		}
		code = c->code;
		msg = c->msg;
		free(c);
		r->cur = NULL;
		if (code != OP_CONT) {
			finish(r, code, msg);
			return;
		}
		free(msg);
		r->idx++;
	}
	finish(r, OP_CONT, NULL);
}

static void
start(enum op_hook hook, const void *args, int sync, hook_done_fn done,
    void *arg)
{
	struct hook_run *r = xcalloc(1, sizeof(*r));

	r->hook = hook;
	r->args = args;
	r->sync = sync;
	r->done = done;
	r->arg = arg;
	run_step(r);
}

void
hook_run(enum op_hook hook, const void *args, hook_done_fn done, void *arg)
{
	start(hook, args, 0, done, arg);
}

/* --- observers --------------------------------------------------------- */

static void
obs_free(struct obs_run *o)
{
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		H.obs_runs = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	if (o->timer != NULL)
		event_free(o->timer);
	free(o->calls);
	free(o);
}

static void
obs_finish(struct obs_run *o)
{
	hook_done_fn done = o->done;
	void *arg = o->arg;

	obs_free(o);
	done(arg, OP_CONT, NULL);
}

/* An observer answered (its code does not matter). */
static void
obs_answered(struct op_call *c)
{
	struct obs_run *o = c->obs;

	o->calls[c->obs_idx] = NULL;
	free(c);
	if (--o->pending == 0 && !o->starting)
		obs_finish(o);
}

static void
obs_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct obs_run *o = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < o->ncalls; i++) {
		struct op_call *c = o->calls[i];
		const struct reg *g = &registry_observers(o->hook)[i];

		if (c == NULL)
			continue;
		log_crit("core", NULL, "Plugin %s timed out observing hook %s "
		    "- make sure it calls op_next",
		    registry_plugin(g->plugin)->name, hook_name(o->hook));
		c->obs = NULL;		/* a late answer only frees it */
		orphan(c);
	}
	o->pending = 0;
	obs_finish(o);
}

void
hook_observe(enum op_hook hook, const void *args, hook_done_fn done,
    void *arg)
{
	struct obs_run *o = xcalloc(1, sizeof(*o));
	unsigned timeout = 0;
	int never = 0;

	o->hook = hook;
	o->done = done;
	o->arg = arg;
	o->next = H.obs_runs;
	if (H.obs_runs != NULL)
		H.obs_runs->prev = o;
	H.obs_runs = o;
	o->ncalls = hook_observers(hook);
	o->calls = xcalloc(o->ncalls ? o->ncalls : 1, sizeof(*o->calls));
	o->pending = o->ncalls;
	o->starting = 1;
	for (size_t i = 0; i < o->ncalls; i++) {
		const struct reg *g = &registry_observers(hook)[i];
		const struct loaded *l = registry_plugin(g->plugin);
		struct op_call *c = xcalloc(1, sizeof(*c));

		c->obs = o;
		c->obs_idx = i;
		c->hook = hook;
		c->args = args;
		o->calls[i] = c;
		if (l->timeout == 0)
			never = 1;	/* it may take as long as it needs */
		else if (l->timeout > timeout)
			timeout = l->timeout;
		g->fn(c, l->data);
		/* c may be freed here: it answered during the call. */
	}
	o->starting = 0;
	if (o->pending == 0) {
		obs_finish(o);
		return;
	}
	if (timeout > 0 && !never) {
		struct timeval tv = { (time_t)timeout, 0 };

		o->timer = evtimer_new(plugins_event_base(), obs_timeout, o);
		evtimer_add(o->timer, &tv);
	}
}

/* --- answers ------------------------------------------------------------ */

void
op_next(struct op_call *c, int code, const char *msg)
{
	struct hook_run *r = c->run;
	char *msg_copy;

	if (code == 0)
		code = OP_CONT;		/* next() without a code */
	if (c->obs != NULL) {
		obs_answered(c);
		return;
	}
	if (r == NULL) {		/* late answer after a timeout */
		struct op_call **pp;

		for (pp = &H.orphans; *pp != NULL; pp = &(*pp)->next_orphan)
			if (*pp == c) {
				*pp = c->next_orphan;
				break;
			}
		free(c->msg);
		free(c);
		return;
	}
	if (c->answered)
		return;
	c->answered = 1;
	c->code = code;
	c->msg = msg ? xstrdup(msg) : NULL;
	if (c->in_call)
		return;			/* run_step() picks it up */
	if (r->timer != NULL)
		evtimer_del(r->timer);
	r->cur = NULL;
	msg_copy = c->msg;
	free(c);
	answered(r, code, msg_copy);
}

void *
hook_answer_args(struct op_call *c, enum op_hook hook)
{
	if (c->run == NULL || c->answered || c->hook != hook)
		return NULL;
	/* The run's argument block belongs to the caller, which lets the
	 * answer be written into it. */
	return (void *)(uintptr_t)c->args;
}

/* --- the runner's teardown ------------------------------------------------ */

void
hooks_abandon(void)
{
	while (H.obs_runs != NULL) {
		struct obs_run *o = H.obs_runs;

		for (size_t i = 0; i < o->ncalls; i++)
			if (o->calls[i] != NULL) {
				o->calls[i]->obs = NULL;
				orphan(o->calls[i]);
			}
		obs_free(o);
	}
}

void
hooks_free_orphans(void)
{
	struct op_call *c, *next;

	for (c = H.orphans; c != NULL; c = next) {
		next = c->next_orphan;
		free(c->msg);
		free(c);
	}
	H.orphans = NULL;
}

/* --- the log hook ----------------------------------------------------- */

static void
log_done(void *arg, int code, const char *msg)
{
	(void)msg;
	*(int *)arg = code;
}

static int
log_sink(void *arg, const struct log_record *rec, const char *line)
{
	struct op_log_record r;
	int code = OP_CONT;

	(void)arg;
	if (hook_count(OP_HOOK_LOG) == 0)
		return 0;
	r.level = rec->level;
	r.level_name = log_level_name(rec->level);
	r.uuid = rec->uuid;
	r.source = rec->origin;
	r.message = rec->message;
	r.line = line;
	start(OP_HOOK_LOG, &r, 1, log_done, &code);
	/* Any answer but CONT means a plugin took the record. */
	return code != OP_CONT;
}

void
plugins_attach_log(void)
{
	log_set_sink(log_sink, NULL);
}
