/*
 * suppress_writer: config/suppression.ini, the writer thread of the
 * suppression list and the process's running list (contract in
 * suppress_writer.h). The loop owns the queue's ends (a mutex guards the
 * two lists); the thread owns the write transactions; an eventfd brings
 * the finished writes back to the loop, where their done() runs.
 */
#include "core/suppress_writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/shaping_rules.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"

#define FILE_NAME	"suppression.ini"
#define DURATION_MAX	(3650u * 86400)	/* ten years */

/* --- the configuration ------------------------------------------------------ */

static const char *const main_keys[] = {
	"enabled", "path", "map_size", "scope", "categories",
	"remote_bounces", "complaints", "purge_interval", NULL
};

int64_t
suppress_duration(const char *s)
{
	if (strcmp(s, "never") == 0)
		return 0;
	return shaping_duration(s, DURATION_MAX);
}

static int
known(const char *const *keys, const char *k)
{
	for (; *keys != NULL; keys++)
		if (strcmp(*keys, k) == 0)
			return 1;
	return 0;
}

/* Every key of the file is one this file has. */
static int
check_keys(const struct ini *ini, char **err)
{
	for (size_t i = 0; i < ini_nsections(ini); i++) {
		const char *sect = ini_section_name(ini, i);
		int m = strcmp(sect, "main") == 0;

		if (!m && strcmp(sect, "expiry") != 0) {
			*err = xasprintf("%s: line %u: unknown section [%s]",
			    FILE_NAME, ini_section_line(ini, sect), sect);
			return -1;
		}
		for (size_t k = 0; k < ini_nkeys(ini, sect); k++) {
			const char *key = ini_key_name(ini, sect, k);

			if (m ? known(main_keys, key) :
			    suppress_source_parse(key) >= 0)
				continue;
			*err = xasprintf("%s: line %u: unknown key '%s' in "
			    "[%s]", FILE_NAME, ini_line(ini, sect, key), key,
			    sect);
			return -1;
		}
	}
	return 0;
}

static int
read_main(const struct ini *ini, struct suppress_config *c, char **err)
{
	const char *v;
	long long n;
	int64_t d;

	c->enabled = ini_bool(ini, "main", "enabled", 1);
	c->remote_bounces = ini_bool(ini, "main", "remote_bounces", 1);
	c->complaints = ini_bool(ini, "main", "complaints", 1);
	if ((v = ini_get(ini, "main", "scope")) != NULL) {
		if (strcmp(v, "global") != 0 && strcmp(v, "sender_domain") != 0) {
			*err = xasprintf("%s: scope: '%s' is not global or "
			    "sender_domain", FILE_NAME, v);
			return -1;
		}
		c->global = strcmp(v, "global") == 0;
	}
	switch (ini_int(ini, "main", "map_size", &n)) {
	case INI_BAD:
		n = 0;
		/* FALLTHROUGH */
	case INI_OK:
		if (n < 1 || n > 1048576) {
			*err = xasprintf("%s: map_size: a number of MiB, 1 to "
			    "1048576", FILE_NAME);
			return -1;
		}
		c->map_mb = (size_t)n;
		break;
	case INI_ABSENT:
		break;
	}
	if ((v = ini_get(ini, "main", "purge_interval")) != NULL) {
		if ((d = suppress_duration(v)) <= 0) {
			*err = xasprintf("%s: purge_interval: '%s' is not a "
			    "duration (90, 30m, 1h)", FILE_NAME, v);
			return -1;
		}
		c->purge_interval = (unsigned)d;
	}
	if ((v = ini_get(ini, "main", "path")) != NULL) {
		if (*v == '\0') {
			*err = xasprintf("%s: path: empty", FILE_NAME);
			return -1;
		}
		free(c->path);
		c->path = xstrdup(v);
	}
	if ((v = ini_get(ini, "main", "categories")) != NULL) {
		char *copy = xstrdup(v), *save = NULL;

		for (size_t i = 0; i < c->ncategories; i++)
			free(c->categories[i]);
		c->ncategories = 0;
		for (char *w = strtok_r(copy, ", \t", &save); w != NULL;
		    w = strtok_r(NULL, ", \t", &save)) {
			c->categories = xreallocarray(c->categories,
			    c->ncategories + 1, sizeof(*c->categories));
			c->categories[c->ncategories++] = xstrdup(w);
		}
		free(copy);
	}
	return 0;
}

int
suppress_config_load(const char *root, const char *config_dir,
    struct suppress_config *c, char **err)
{
	static const char *const cats[] = { "bad-mailbox",
	    "inactive-mailbox", "bad-domain" };
	static const int64_t expiry[SUP_NSOURCES] = { 30 * 86400,
	    30 * 86400, 0, 0 };
	char *path = xasprintf("%s/%s", config_dir, FILE_NAME), *bad = NULL;
	struct ini *ini;
	int exists, rc = -1;

	memset(c, 0, sizeof(*c));
	c->enabled = 1;
	c->map_mb = 4096;
	c->purge_interval = 3600;
	c->path = xstrdup("suppression");
	for (size_t i = 0; i < 3; i++) {
		c->categories = xreallocarray(c->categories, i + 1,
		    sizeof(*c->categories));
		c->categories[c->ncategories++] = xstrdup(cats[i]);
	}
	memcpy(c->expiry, expiry, sizeof(expiry));
	ini = ini_load(path, FILE_NAME, &exists, ini_warn_first, &bad);
	free(path);
	if (ini == NULL) {
		*err = xasprintf("%s: %s", FILE_NAME, strerror(errno));
		return -1;
	}
	if (bad != NULL) {
		*err = bad;
		goto out;
	}
	if (check_keys(ini, err) != 0 || read_main(ini, c, err) != 0)
		goto out;
	for (int s = 0; s < SUP_NSOURCES; s++) {
		const char *v = ini_get(ini, "expiry",
		    suppress_source_name((enum suppress_source)s));

		if (v == NULL)
			continue;
		if ((c->expiry[s] = suppress_duration(v)) < 0) {
			*err = xasprintf("%s: [expiry] %s: '%s' is not a "
			    "duration (never, 0, 90, 2h, 30d)", FILE_NAME,
			    suppress_source_name((enum suppress_source)s), v);
			goto out;
		}
	}
	if (c->path[0] != '/') {
		char *abs = xasprintf("%s/%s", root, c->path);

		free(c->path);
		c->path = abs;
	}
	rc = 0;
out:
	ini_free(ini);
	if (rc != 0)
		suppress_config_clear(c);
	return rc;
}

void
suppress_config_clear(struct suppress_config *c)
{
	for (size_t i = 0; i < c->ncategories; i++)
		free(c->categories[i]);
	free(c->categories);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

/* --- the writer thread ---------------------------------------------------------- */

enum op_kind { OP_PUT, OP_DEL, OP_PURGE };

struct op {
	struct op		*next;
	enum op_kind		 kind;
	struct suppress_entry	*entries;	/* OP_PUT */
	size_t			 n;
	int			 force;
	char			*addr, *scope;	/* OP_DEL (scope NULL: all) */
	suppress_done_fn	 done;
	void			*arg;
	int			 ok;
	long			 changed;
	char			*err;
};

struct suppressor {
	struct suppress_store	*store;
	struct suppress_config	 cfg;
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct op		*todo, **todo_tail;
	struct op		*done, **done_tail;
	int			 stop;
	int			 efd;
	struct event		*ev;
};

static struct suppressor *running;

struct suppressor *
suppress_running(void)
{
	return running;
}

void
suppress_set_running(struct suppressor *s)
{
	running = s;
}

/* One op in txn t: 0, or -1 (t aborted, op->err set). */
static int
apply(struct suppress_txn *t, struct op *op)
{
	long r;

	op->changed = 0;
	switch (op->kind) {
	case OP_PUT:
		for (size_t i = 0; i < op->n; i++) {
			int w = suppress_put(t, &op->entries[i], op->force,
			    &op->err);

			if (w < 0)
				return -1;
			op->changed += w;
		}
		return 0;
	case OP_DEL:
		r = suppress_del(t, op->addr, op->scope, &op->err);
		break;
	default:
		r = suppress_purge(t, (int64_t)time(NULL), &op->err);
		break;
	}
	if (r < 0)
		return -1;
	op->changed = r;
	return 0;
}

/* Ops in one transaction; on a failure, each again in its own. */
static void
write_batch(struct suppressor *s, struct op *batch)
{
	struct suppress_txn *t;
	char *err = NULL;
	struct op *op;
	int ok = 0;

	if ((t = suppress_begin(s->store, &err)) != NULL) {
		for (op = batch; op != NULL; op = op->next)
			if (apply(t, op) != 0)
				break;
		if (op == NULL)
			ok = suppress_commit(t, &err) == 0;
		else
			suppress_abort(t);
	}
	if (ok || batch->next == NULL) {
		for (op = batch; op != NULL; op = op->next) {
			op->ok = ok;
			if (!ok && op->err == NULL)
				op->err = xstrdup(err ? err : "write failed");
		}
		free(err);
		return;
	}
	free(err);
	for (op = batch; op != NULL; op = op->next) {
		struct op *next = op->next;

		op->next = NULL;
		free(op->err);
		op->err = NULL;
		write_batch(s, op);
		op->next = next;
	}
}

static void *
writer_main(void *arg)
{
	struct suppressor *s = arg;
	struct op *batch, **tail;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->todo == NULL && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		batch = s->todo;
		tail = s->todo_tail;
		s->todo = NULL;
		s->todo_tail = &s->todo;
		pthread_mutex_unlock(&s->mu);
		if (batch == NULL)		/* stop, and nothing left */
			return NULL;
		write_batch(s, batch);
		pthread_mutex_lock(&s->mu);
		*s->done_tail = batch;
		s->done_tail = tail;
		pthread_mutex_unlock(&s->mu);
		if (write(s->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			abort();
	}
}

static void
op_free(struct op *op)
{
	free(op->entries);
	free(op->addr);
	free(op->scope);
	free(op->err);
	free(op);
}

/* The finished writes, on the loop. */
static void
run_done(struct suppressor *s)
{
	struct op *list, *next;

	pthread_mutex_lock(&s->mu);
	list = s->done;
	s->done = NULL;
	s->done_tail = &s->done;
	pthread_mutex_unlock(&s->mu);
	for (; list != NULL; list = next) {
		next = list->next;
		if (list->done != NULL)
			list->done(list->arg, list->ok, list->changed,
			    list->err);
		op_free(list);
	}
}

static void
on_written(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		return;
	run_done(arg);
}

struct suppressor *
suppressor_start(struct event_base *base, struct suppress_store *store,
    struct suppress_config *cfg, char **err)
{
	struct suppressor *s = xcalloc(1, sizeof(*s));

	s->todo_tail = &s->todo;
	s->done_tail = &s->done;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		*err = xasprintf("suppression list: eventfd: %s",
		    strerror(errno));
		goto fail;
	}
	if ((errno = pthread_create(&s->thread, NULL, writer_main, s)) != 0) {
		*err = xasprintf("suppression list: writer thread: %s",
		    strerror(errno));
		close(s->efd);
		goto fail;
	}
	s->ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_written, s);
	event_add(s->ev, NULL);
	s->store = store;
	s->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	return s;
fail:
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	return NULL;
}

void
suppressor_stop(struct suppressor *s)
{
	if (s == NULL)
		return;
	if (running == s)
		running = NULL;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	run_done(s);
	event_free(s->ev);
	close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	suppress_close(s->store);
	suppress_config_clear(&s->cfg);
	free(s);
}

struct suppress_store *
suppressor_store(struct suppressor *s)
{
	return s->store;
}

const struct suppress_config *
suppressor_config(const struct suppressor *s)
{
	return &s->cfg;
}

static void
submit(struct suppressor *s, struct op *op)
{
	pthread_mutex_lock(&s->mu);
	*s->todo_tail = op;
	s->todo_tail = &op->next;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void
suppressor_put(struct suppressor *s, const struct suppress_entry *e,
    size_t n, int force, suppress_done_fn done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_PUT;
	op->entries = xcalloc(n ? n : 1, sizeof(*e));
	memcpy(op->entries, e, n * sizeof(*e));
	op->n = n;
	op->force = force;
	op->done = done;
	op->arg = arg;
	submit(s, op);
}

void
suppressor_del(struct suppressor *s, const char *addr, const char *scope,
    suppress_done_fn done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_DEL;
	op->addr = xstrdup(addr);
	op->scope = scope != NULL ? xstrdup(scope) : NULL;
	op->done = done;
	op->arg = arg;
	submit(s, op);
}

void
suppressor_purge(struct suppressor *s, suppress_done_fn done, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = OP_PURGE;
	op->done = done;
	op->arg = arg;
	submit(s, op);
}

/* --- --qstat ------------------------------------------------------------------ */

void
suppress_report(FILE *out, const char *root, const char *config_dir)
{
	struct suppress_config c;
	struct suppress_store *st;
	size_t active = 0, expired = 0;
	char *err = NULL, *data;

	if (suppress_config_load(root, config_dir, &c, &err) != 0) {
		fprintf(out, "suppressions unknown (%s)\n", err);
		free(err);
		return;
	}
	data = xasprintf("%s/data.mdb", c.path);
	if (access(data, F_OK) == 0) {
		if ((st = suppress_open(c.path, c.map_mb, 1, &err)) == NULL) {
			fprintf(out, "suppressions unknown (%s)\n", err);
			free(err);
			goto out;
		}
		if (suppress_count(st, (int64_t)time(NULL), &active,
		    &expired) != 0) {
			fprintf(out, "suppressions unknown (read error)\n");
			suppress_close(st);
			goto out;
		}
		suppress_close(st);
	}
	fprintf(out, "suppressions %zu\nsuppressions_expired %zu\n", active,
	    expired);
	if (!c.enabled)
		fputs("suppression off\n", out);
out:
	free(data);
	suppress_config_clear(&c);
}
