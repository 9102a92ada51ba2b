/*
 * plugin: registry of loaded plugins and the hook runner.
 * The registry owns each plugin's data and shared-object handle; a run of
 * a chain (struct hook_run) lives until its verdict is delivered; a call
 * (struct op_call) lives until its plugin answers, even past a timeout.
 */
#include "plugins/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/config.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "delivery/mx.h"

#define DEFAULT_TIMEOUT	30

struct loaded {
	const struct op_plugin	*p;
	char			*name;
	char			*config_dir;
	void			*data;
	void			*dl;		/* dlopen handle, NULL if built in */
	unsigned		 timeout;
	int			 ready;		/* init() succeeded */
};

struct reg {
	size_t		 plugin;	/* index in R.plugins */
	op_hook_fn	 fn;
};

struct op_env {
	struct loaded	*l;
	size_t		 index;
};

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
	struct obs_run	*next, *prev;	/* R.obs_runs */
	enum op_hook	 hook;
	size_t		 pending;	/* calls not answered yet */
	int		 starting;	/* the calls are still being made */
	hook_done_fn	 done;
	void		*arg;
	struct op_call	**calls;	/* NULL once answered */
	size_t		 ncalls;
	struct event	*timer;
};

struct op_call {
	struct hook_run	*run;		/* NULL once orphaned by a timeout */
	struct obs_run	*obs;		/* an observer's call */
	size_t		 obs_idx;
	enum op_hook	 hook;
	const void	*args;
	int		 in_call;
	int		 answered;
	int		 code;
	char		*msg;
	struct op_call	*next_orphan;
};

static struct {
	struct loaded	*plugins;
	size_t		 n;
	struct reg	*chain[OP_HOOK_COUNT];
	size_t		 nchain[OP_HOOK_COUNT];
	struct reg	*obs[OP_HOOK_COUNT];	/* OP_HOOK_OBSERVE */
	size_t		 nobs[OP_HOOK_COUNT];
	struct event_base *base;
	struct op_call	*orphans;
	struct obs_run	*obs_runs;	/* observed events not answered yet */
} R;

static const char *const hook_names[OP_HOOK_COUNT] = {
	"log", "reopen", "queue_outbound", "pre_send_trans_email",
	"send_email", "get_mx", "deferred", "bounce", "delivered"
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

static void obs_free(struct obs_run *);
static void orphan(struct op_call *);

/* --- the env handed to init() ----------------------------------------- */

int
op_register_hook(struct op_env *env, enum op_hook hook, op_hook_fn fn,
    unsigned flags)
{
	if ((unsigned)hook >= OP_HOOK_COUNT || fn == NULL ||
	    (flags & ~(unsigned)OP_HOOK_OBSERVE) != 0)
		return -1;
	if (flags & OP_HOOK_OBSERVE) {
		if (hook != OP_HOOK_DEFERRED && hook != OP_HOOK_BOUNCE &&
		    hook != OP_HOOK_DELIVERED)
			return -1;
		R.obs[hook] = xreallocarray(R.obs[hook], R.nobs[hook] + 1,
		    sizeof(struct reg));
		R.obs[hook][R.nobs[hook]].plugin = env->index;
		R.obs[hook][R.nobs[hook]].fn = fn;
		R.nobs[hook]++;
		return 0;
	}
	R.chain[hook] = xreallocarray(R.chain[hook], R.nchain[hook] + 1,
	    sizeof(struct reg));
	R.chain[hook][R.nchain[hook]].plugin = env->index;
	R.chain[hook][R.nchain[hook]].fn = fn;
	R.nchain[hook]++;
	return 0;
}

const char *
op_config_dir(const struct op_env *env)
{
	return env->l->config_dir;
}

const char *
op_plugin_name(const struct op_env *env)
{
	return env->l->name;
}

char *
op_config_get(const struct op_env *env, const char *file, const char *section,
    const char *key)
{
	char *path;
	struct ini *ini;
	const char *v;
	char *r = NULL;
	int exists;

	if (file == NULL || section == NULL || key == NULL ||
	    strchr(file, '/') != NULL)
		return NULL;
	path = xasprintf("%s/%s", env->l->config_dir, file);
	ini = ini_load(path, file, &exists, NULL, NULL);
	free(path);
	if (ini == NULL)
		return NULL;
	if ((v = ini_get(ini, section, key)) != NULL)
		r = xstrdup(v);
	ini_free(ini);
	return r;
}

struct event_base *
plugins_event_base(void)
{
	return R.base;
}

struct event_base *
op_event_base(const struct op_env *env)
{
	(void)env;
	return R.base;
}

void
op_log(int level, const char *source, const char *uuid, const char *fmt, ...)
{
	va_list ap;

	if (level < LOG_EMERG || level > LOG_DATA)
		level = LOG_INFO;
	va_start(ap, fmt);
	log_vemit(level, source, uuid, NULL, 0, fmt, ap);
	va_end(ap);
}

/* --- loading ---------------------------------------------------------- */

static unsigned
plugin_timeout(const char *config_dir, const char *name)
{
	char *path = xasprintf("%s/%s.timeout", config_dir, name), *v = NULL;
	unsigned t = DEFAULT_TIMEOUT;

	if (flat_value(path, &v) == 0 && v != NULL) {
		if (ini_is_integer(v) && v[0] != '-' && strlen(v) < 10)
			t = (unsigned)strtoul(v, NULL, 10);
		else
			log_warn("core", NULL, "%s: not a number of seconds: "
			    "'%s'; using %u", path, v, t);
	}
	free(v);
	free(path);
	return t;
}

/* Adds a plugin to the registry and runs its init(). dl (may be NULL) is
 * owned by the registry from here on. */
static int
add(const struct op_plugin *p, const char *name, const char *config_dir,
    unsigned timeout, void *dl, char **err)
{
	struct loaded *l;
	struct op_env env;

	if (p->abi != OUTPOST_PLUGIN_ABI) {
		*err = xasprintf("plugin %s: built for plugin ABI %u, this "
		    "Outpost has ABI %u", name, p->abi, OUTPOST_PLUGIN_ABI);
		if (dl != NULL)
			dlclose(dl);
		return -1;
	}
	R.plugins = xreallocarray(R.plugins, R.n + 1, sizeof(*R.plugins));
	l = &R.plugins[R.n];
	memset(l, 0, sizeof(*l));
	l->p = p;
	l->name = xstrdup(name);
	l->config_dir = xstrdup(config_dir);
	l->timeout = timeout;
	l->dl = dl;
	env.l = l;
	env.index = R.n++;
	if (p->init != NULL && p->init(&env, &l->data) != 0) {
		*err = xasprintf("plugin %s: initialisation failed", name);
		return -1;
	}
	l->ready = 1;
	log_debug("core", NULL, "loaded plugin: %s", name);
	return 0;
}

int
plugins_add(const struct op_plugin *p, const char *config_dir,
    unsigned timeout, char **err)
{
	return add(p, p->name ? p->name : "unnamed", config_dir, timeout,
	    NULL, err);
}

/* A plugin name maps to a path under ROOT/plugins: no absolute paths, no
 * '..' or empty components. */
static int
valid_name(const char *name)
{
	const char *p = name;

	if (*name == '\0' || *name == '/')
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 1 && p[0] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
		else
			break;
	}
	return name[strlen(name) - 1] != '/';
}

static int
load_shared(const struct config *cfg, const char *name, char **err)
{
	char *path = xasprintf("%s/plugins/%s.so", cfg->root, name);
	const struct op_plugin *p;
	void *dl;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		if (access(path, F_OK) == 0)
			*err = xasprintf("config/plugins: cannot load plugin "
			    "%s: %s", name, dlerror());
		else
			*err = xasprintf("config/plugins: unknown plugin '%s' "
			    "(not built in, and no %s)", name, path);
		free(path);
		return -1;
	}
	free(path);
	p = dlsym(dl, "outpost_plugin");
	if (p == NULL) {
		*err = xasprintf("config/plugins: plugin %s does not export "
		    "outpost_plugin", name);
		dlclose(dl);
		return -1;
	}
	return add(p, name, cfg->config_dir,
	    plugin_timeout(cfg->config_dir, name), dl, err);
}

int
plugins_load(const struct config *cfg, struct event_base *base, char **err)
{
	R.base = base;
	for (size_t i = 0; i < cfg->nplugins; i++) {
		const char *name = cfg->plugins[i];
		const struct builtin_plugin *b;
		int rc;

		int dup = 0;

		for (size_t j = 0; j < i; j++)
			dup |= strcmp(cfg->plugins[j], name) == 0;
		if (dup) {
			log_warn("core", NULL, "config/plugins: plugin '%s' "
			    "listed twice; loading it once", name);
			continue;
		}
		for (b = builtin_plugins; b->name != NULL; b++)
			if (strcmp(b->name, name) == 0 ||
			    (b->alias && strcmp(b->alias, name) == 0))
				break;
		if (b->name != NULL)
			rc = add(b->plugin, b->name, cfg->config_dir,
			    plugin_timeout(cfg->config_dir, b->name), NULL, err);
		else if (!valid_name(name)) {
			*err = xasprintf("config/plugins: invalid plugin name "
			    "'%s'", name);
			rc = -1;
		} else
			rc = load_shared(cfg, name, err);
		if (rc != 0) {
			plugins_unload();
			return -1;
		}
	}
	return 0;
}

void
plugins_unload(void)
{
	struct op_call *c, *next;

	log_set_sink(NULL, NULL);
	/* Events whose observers have not answered (a forced stop): their
	 * callers are gone. Their calls become orphans before the plugins
	 * shut down, so an answer from shutdown() only frees its call. */
	while (R.obs_runs != NULL) {
		struct obs_run *o = R.obs_runs;

		for (size_t i = 0; i < o->ncalls; i++)
			if (o->calls[i] != NULL) {
				o->calls[i]->obs = NULL;
				orphan(o->calls[i]);
			}
		obs_free(o);
	}
	for (size_t i = R.n; i-- > 0; ) {
		struct loaded *l = &R.plugins[i];

		if (l->ready && l->p->shutdown != NULL)
			l->p->shutdown(l->data);
	}
	/* Calls orphaned by a timeout whose plugin never answered. */
	for (c = R.orphans; c != NULL; c = next) {
		next = c->next_orphan;
		free(c->msg);
		free(c);
	}
	for (size_t i = 0; i < R.n; i++) {
		if (R.plugins[i].dl != NULL)
			dlclose(R.plugins[i].dl);
		free(R.plugins[i].name);
		free(R.plugins[i].config_dir);
	}
	free(R.plugins);
	for (size_t h = 0; h < OP_HOOK_COUNT; h++) {
		free(R.chain[h]);
		free(R.obs[h]);
	}
	memset(&R, 0, sizeof(R));
}

size_t
plugins_count(void)
{
	return R.n;
}

const char *
plugins_name(size_t i)
{
	return i < R.n ? R.plugins[i].name : NULL;
}

size_t
hook_count(enum op_hook h)
{
	return (unsigned)h < OP_HOOK_COUNT ? R.nchain[h] : 0;
}

size_t
hook_observers(enum op_hook h)
{
	return (unsigned)h < OP_HOOK_COUNT ? R.nobs[h] : 0;
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
	c->next_orphan = R.orphans;
	R.orphans = c;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct hook_run *r = arg;
	const struct reg *g = &R.chain[r->hook][r->idx];

	(void)fd;
	(void)what;
	log_crit("core", NULL, "Plugin %s timed out on hook %s - make sure "
	    "it calls op_next", R.plugins[g->plugin].name, hook_name(r->hook));
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
	while (r->idx < R.nchain[r->hook]) {
		const struct reg *g = &R.chain[r->hook][r->idx];
		const struct loaded *l = &R.plugins[g->plugin];
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
					r->timer = evtimer_new(R.base,
					    on_timeout, r);
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

/* --- observers --------------------------------------------------------- */

static void
obs_free(struct obs_run *o)
{
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		R.obs_runs = o->next;
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
		const struct reg *g = &R.obs[o->hook][i];

		if (c == NULL)
			continue;
		log_crit("core", NULL, "Plugin %s timed out observing hook %s "
		    "- make sure it calls op_next",
		    R.plugins[g->plugin].name, hook_name(o->hook));
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
	o->next = R.obs_runs;
	if (R.obs_runs != NULL)
		R.obs_runs->prev = o;
	R.obs_runs = o;
	o->ncalls = (unsigned)hook < OP_HOOK_COUNT ? R.nobs[hook] : 0;
	o->calls = xcalloc(o->ncalls ? o->ncalls : 1, sizeof(*o->calls));
	o->pending = o->ncalls;
	o->starting = 1;
	for (size_t i = 0; i < o->ncalls; i++) {
		const struct reg *g = &R.obs[hook][i];
		const struct loaded *l = &R.plugins[g->plugin];
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

		o->timer = evtimer_new(R.base, obs_timeout, o);
		evtimer_add(o->timer, &tv);
	}
}

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

		for (pp = &R.orphans; *pp != NULL; pp = &(*pp)->next_orphan)
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

enum op_hook
op_call_hook(const struct op_call *c)
{
	return c->hook;
}

const struct op_log_record *
op_call_log(const struct op_call *c)
{
	return c->hook == OP_HOOK_LOG ? c->args : NULL;
}

const struct op_txn *
op_call_txn(const struct op_call *c)
{
	return c->hook == OP_HOOK_QUEUE_OUTBOUND ||
	    c->hook == OP_HOOK_PRE_SEND_TRANS_EMAIL ? c->args : NULL;
}

const char *
op_txn_uuid(const struct op_txn *t)
{
	return t->uuid;
}

const char *
op_txn_mail_from(const struct op_txn *t)
{
	return t->mail_from;
}

unsigned
op_txn_rcpt_count(const struct op_txn *t)
{
	return t->nrcpts;
}

const char *
op_txn_rcpt(const struct op_txn *t, unsigned i)
{
	return i < t->nrcpts ? t->rcpts[i] : NULL;
}

const char *
op_txn_remote_ip(const struct op_txn *t)
{
	return t->remote_ip;
}

const char *
op_txn_helo(const struct op_txn *t)
{
	return t->helo;
}

const char *
op_txn_message(const struct op_txn *t, unsigned long *len)
{
	if (len != NULL)
		*len = t->msglen;
	return t->msg;
}

static int
outbound_hook(enum op_hook h)
{
	return h == OP_HOOK_SEND_EMAIL || h == OP_HOOK_GET_MX ||
	    h == OP_HOOK_DEFERRED || h == OP_HOOK_BOUNCE ||
	    h == OP_HOOK_DELIVERED;
}

const struct op_outbound *
op_call_outbound(const struct op_call *c)
{
	return outbound_hook(c->hook) ?
	    &((const struct outbound_call *)c->args)->pub : NULL;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

void
op_next_mx(struct op_call *c, const struct op_mx *list, unsigned n)
{
	struct outbound_call *oc;

	if (c->run == NULL || c->answered || c->hook != OP_HOOK_GET_MX) {
		op_next(c, OP_OK, NULL);	/* releases a late call */
		return;
	}
	/* The run's argument block belongs to the caller, which lets the
	 * answer be written into it. */
	oc = (struct outbound_call *)(uintptr_t)c->args;
	mx_list_free(oc->mxs, oc->nmx);
	oc->mxs = xcalloc(n ? n : 1, sizeof(*oc->mxs));
	oc->nmx = 0;
	for (unsigned i = 0; i < n; i++) {
		struct mx *m = &oc->mxs[oc->nmx];

		if ((list[i].exchange == NULL || *list[i].exchange == '\0') &&
		    (list[i].path == NULL || *list[i].path == '\0'))
			continue;
		m->exchange = dup_or_null(list[i].exchange);
		if (m->exchange != NULL)
			for (char *p = m->exchange; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
		m->path = dup_or_null(list[i].path);
		m->priority = list[i].priority;
		m->port = list[i].port;
		m->bind = dup_or_null(list[i].bind);
		m->bind_helo = dup_or_null(list[i].bind_helo);
		m->using_lmtp = list[i].using_lmtp;
		m->auth_user = dup_or_null(list[i].auth_user);
		m->auth_pass = dup_or_null(list[i].auth_pass);
		m->auth_type = dup_or_null(list[i].auth_type);
		m->route = dup_or_null(list[i].route);
		oc->nmx++;
	}
	op_next(c, OP_OK, NULL);
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
	if (R.nchain[OP_HOOK_LOG] == 0)
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
