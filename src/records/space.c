/*
 * records/space: the record directories' file systems against
 * records_min_free. Owns one space_watch per file system (the first
 * directory named on each) and a one-second timer; tells its owner
 * (main.c) when the records as a whole enter or leave the low state.
 */
#include "records/space.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lib/xmalloc.h"
#include "records/record.h"

#define POLL_SEC	1

struct records_space {
	struct event		*timer;
	struct space_rule	 rule;
	struct space_watch	*w;
	size_t			 n;
	int			 low;
	records_space_fn	 fn;
	void			*arg;
};

/* The record directories with what statvfs says of each. */
struct dirs {
	char			**path;
	struct space_stat	 *st;
	int			 *err;		/* 0: st is valid */
	size_t			  n;
};

/* rec_dir_fn: one directory per file system (the first named). */
static void
add_dir(void *arg, const char *dir)
{
	struct dirs *d = arg;
	struct space_stat st;
	int err = space_measure(dir, &st) == 0 ? 0 : errno;

	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->path[i], dir) == 0 ||
		    (err == 0 && d->err[i] == 0 && d->st[i].dev == st.dev))
			return;
	d->path = xreallocarray(d->path, d->n + 1, sizeof(*d->path));
	d->st = xreallocarray(d->st, d->n + 1, sizeof(*d->st));
	d->err = xreallocarray(d->err, d->n + 1, sizeof(*d->err));
	d->path[d->n] = xstrdup(dir);
	d->st[d->n] = st;
	d->err[d->n] = err;
	d->n++;
}

/* config/plugins' name of a built-in, with Haraka's '-' spelling. */
static int
is_plugin(const char *name, const struct op_plugin *p)
{
	size_t n = strlen(p->name);

	if (strlen(name) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (name[i] != p->name[i] && !(name[i] == '-' &&
		    p->name[i] == '_'))
			return 0;
	return 1;
}

static void
dirs_find(const struct config *cfg, struct dirs *d)
{
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < cfg->nplugins; i++) {
		if (is_plugin(cfg->plugins[i], &outbound_logger_plugin))
			outbound_logger_dirs(cfg->config_dir, add_dir, d);
		else if (is_plugin(cfg->plugins[i], &accounting_files_plugin))
			accounting_files_dirs(cfg->config_dir, add_dir, d);
	}
}

static void
dirs_clear(struct dirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->path[i]);
	free(d->path);
	free(d->st);
	free(d->err);
}

static void
poll_all(struct records_space *rs)
{
	int low = 0;

	for (size_t i = 0; i < rs->n; i++)
		low |= space_watch_poll(&rs->w[i], &rs->rule);
	if (low != rs->low) {
		rs->low = low;
		rs->fn(rs->arg, low);
	}
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poll_all(arg);
}

struct records_space *
records_space_new(struct event_base *base, const struct config *cfg,
    records_space_fn fn, void *arg)
{
	struct records_space *rs = xcalloc(1, sizeof(*rs));
	struct timeval tv = { POLL_SEC, 0 };
	struct dirs d;

	rs->fn = fn;
	rs->arg = arg;
	rs->rule = cfg->outbound->records_min_free;
	dirs_find(cfg, &d);
	rs->n = d.n;
	rs->w = xcalloc(d.n ? d.n : 1, sizeof(*rs->w));
	for (size_t i = 0; i < d.n; i++)
		space_watch_init(&rs->w[i], d.path[i], "records",
		    "records_min_free", "deliveries are paused until it "
		    "returns", "deliveries resume");
	dirs_clear(&d);
	poll_all(rs);
	rs->timer = event_new(base, -1, EV_PERSIST, on_poll, rs);
	if (rs->n > 0)
		event_add(rs->timer, &tv);
	return rs;
}

void
records_space_free(struct records_space *rs)
{
	if (rs == NULL)
		return;
	event_free(rs->timer);
	for (size_t i = 0; i < rs->n; i++)
		space_watch_clear(&rs->w[i]);
	free(rs->w);
	free(rs);
}

void
records_space_configure(struct records_space *rs, const struct space_rule *r)
{
	rs->rule = *r;
	poll_all(rs);
}

void
records_space_report(FILE *out, const struct config *cfg)
{
	const struct space_rule *r = &cfg->outbound->records_min_free;
	struct dirs d;
	size_t pick = 0;

	dirs_find(cfg, &d);
	if (d.n == 0) {
		fputs("records_space ok\nrecords_free none (no record "
		    "files)\n", out);
		dirs_clear(&d);
		return;
	}
	/* The one that is low or unknown, else the one with least free. */
	for (size_t i = 0; i < d.n; i++) {
		int bad = d.err[i] != 0 || space_test(&d.st[i], r, 0) != 0;
		int pbad = d.err[pick] != 0 ||
		    space_test(&d.st[pick], r, 0) != 0;

		if ((bad && !pbad) || (bad == pbad && !pbad &&
		    d.st[i].avail < d.st[pick].avail))
			pick = i;
	}
	space_print(out, "records", "records_min_free", d.path[pick],
	    d.err[pick] ? NULL : &d.st[pick], d.err[pick], r);
	dirs_clear(&d);
}
