/*
 * accounting_files: Haraka's accounting-files plugin (seeds 001/004,
 * SPEC §9). One line per recipient for every delivered, deferred and
 * bounced event, and, as PowerMTA's accounting, one line for every remote
 * bounce (rb) and complaint (f) the feedback hook reports, in one file per
 * type (<prefix>.<time>.<extension> under path/<location>), each file
 * starting with a header line of its fields; archiving moves a file into
 * its type's archive directory by size or by interval and starts a new
 * one. The lines themselves are acct_fields.c's.
 *
 * Like outbound_logger it observes its hooks, so every event is recorded
 * whatever other plugins answer, and it never changes an outcome.
 * With sync=true (the default) the mail's queue entry changes only once
 * the event's lines are on disk. The files are written off the loop by the
 * record writer (writer.c), which also rotates them between whole
 * records and never reuses or overwrites a name.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "core/worker.h"
#include "outpost/plugin.h"
#include "records/acct_fields.h"
#include "records/bouncecat.h"
#include "records/record.h"
#include "records/rotation.h"
#include "records/writer.h"

#define NAME		"accounting_files"
#define INI		"accounting_files.ini"
#define RULES		"bounce_categories"
#define MB		1000000.0

struct kind {
	enum acct_kind		 k;
	struct acct_fields	 fields;
	struct rw_stream	*s;
};

struct acct {
	struct recwriter	*w;
	struct kind		 kinds[AK_COUNT];
	struct acct_fmt		 fmt;
	char			*sep;
	int			 sync;
	struct bouncecat	*bc;
	struct event		*timer;
};

/* delivered, deferred and bounce: one line per recipient. */
static void
acct_event(struct op_call *c, void *data)
{
	const struct acct *a = data;
	const struct op_outbound *o = op_call_outbound(c);
	enum op_hook h = op_call_hook(c);
	enum acct_kind k = h == OP_HOOK_DELIVERED ? AK_DELIVERED :
	    h == OP_HOOK_DEFERRED ? AK_DEFERRED : AK_BOUNCE;
	struct buf b = BUF_INIT;

	acct_outbound_lines(&a->fmt, k, &a->kinds[k].fields, o, rec_now_ms(),
	    &b);
	rec_submit(a->kinds[k].s, &b, a->sync, c);
	buf_free(&b);
	log_debug(NAME, o->id, "%s record%s added", acct_kind_key(k),
	    o->nrcpts == 1 ? "" : "s");
}

/* A remote bounce (rb) or a complaint (f): one line. */
static void
acct_feedback(struct op_call *c, void *data)
{
	const struct acct *a = data;
	const struct op_feedback *fb = rec_feedback(c, NAME);
	struct buf b = BUF_INIT;
	enum acct_kind k;

	if (fb == NULL)
		return;
	k = strcmp(fb->type, "complaint") == 0 ? AK_FEEDBACK :
	    AK_REMOTE_BOUNCE;
	acct_feedback_line(&a->fmt, k, &a->kinds[k].fields, fb, &b);
	rec_submit(a->kinds[k].s, &b, a->sync, c);
	buf_free(&b);
	log_debug(NAME, fb->id, "%s record added", acct_kind_key(k));
}

static void
acct_reopen(struct op_call *c, void *data)
{
	const struct acct *a = data;

	recwriter_reopen(a->w);
	op_next(c, OP_CONT, NULL);
}

static void
on_interval(evutil_socket_t fd, short what, void *arg)
{
	struct acct *a = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < AK_COUNT; i++)
		rw_rotate(a->kinds[i].s);
}

/* --- configuration ------------------------------------------------------ */

/* A directory under another, path-joined as Haraka does (a leading '/'
 * is dropped); NULL (logged) when it would leave its parent. */
static char *
subdir(const char *parent, const char *section, const char *key,
    const char *v)
{
	char *copy, *p, *part;
	int bad = 0;

	while (*v == '/')
		v++;
	copy = xstrdup(v);
	for (p = copy; (part = strsep(&p, "/")) != NULL; )
		bad |= strcmp(part, "..") == 0;
	free(copy);
	if (bad) {
		log_error(NAME, NULL, INI ": [%s] %s: '%s' leaves %s", section,
		    key, v, parent);
		return NULL;
	}
	if (strspn(v, "./") == strlen(v)) {	/* "", ".", "./." */
		log_error(NAME, NULL, INI ": [%s] %s: '%s' is %s itself",
		    section, key, v, parent);
		return NULL;
	}
	return xasprintf("%s/%s", parent, v);
}

static int
make_dir(const char *path)
{
	if (mkdirs(path, 0750) == 0)
		return 0;
	log_error(NAME, NULL, "%s: cannot create: %s", path, strerror(errno));
	return -1;
}

static void
rules_warn(void *arg, const char *msg)
{
	(void)arg;
	log_warn(NAME, NULL, "%s", msg);
}

/* Settings of [main]: numbers in (0, max]. */
static int
positive(const struct ini *ini, const char *key, double def, double max,
    double *out)
{
	switch (ini_num(ini, "main", key, out)) {
	case INI_ABSENT:
		*out = def;
		return 0;
	case INI_OK:
		if (*out > 0 && *out <= max)
			return 0;
		/* FALLTHROUGH */
	default:
		log_error(NAME, NULL, INI ": [main] %s: '%s' is not a number "
		    "above 0 and up to %.0f", key, ini_get(ini, "main", key),
		    max);
		return -1;
	}
}

/* <prefix>.<yyyy-mm-dd-HHMMss>[.<n>].<ext>: a file this plugin wrote. */
static int
our_name(const char *name, const char *prefix, const char *ext)
{
	static const char stamp[] = "dddd-dd-dd-dddddd";
	size_t pl = strlen(prefix), el = strlen(ext), n = strlen(name), i;

	if (n < pl + 1 + sizeof(stamp) - 1 + 1 + el ||
	    strncmp(name, prefix, pl) != 0 || name[pl] != '.' ||
	    strcmp(name + n - el, ext) != 0 || name[n - el - 1] != '.')
		return 0;
	name += pl + 1;
	for (i = 0; stamp[i] != '\0'; i++)
		if (stamp[i] == 'd' ? name[i] < '0' || name[i] > '9' :
		    name[i] != stamp[i])
			return 0;
	name += i;
	n = strlen(name) - el - 1;	/* what is left before ".<ext>" */
	if (n == 0)
		return 1;
	if (name[0] != '.' || n < 2)
		return 0;
	for (i = 1; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

/*
 * Files of earlier runs are finished: with archiving on they join the
 * archive at start-up (link then unlink, so nothing is ever replaced; a
 * name already in the archive leaves the file where it is, with a
 * warning). Workers share dir: worker 0 sweeps it alone, and takes only
 * files last written before the run began (another worker's current file
 * is newer; a file a worker of this run left when it died stays until the
 * next start).
 */
static void
archive_leftovers(const char *dir, const char *archive, const char *prefix,
    const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	int lk;

	if (d == NULL)
		return;
	lk = rot_lock(dir);	/* the other workers may be naming files */
	while ((de = readdir(d)) != NULL) {
		char *from, *to;

		if (!our_name(de->d_name, prefix, ext) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0 || !S_ISREG(st.st_mode) || !nodes_before_run(&st.st_mtim))
			continue;
		from = xasprintf("%s/%s", dir, de->d_name);
		to = xasprintf("%s/%s", archive, de->d_name);
		if (link(from, to) == 0) {
			if (unlink(from) != 0)
				log_warn(NAME, NULL, "%s: %s", from,
				    strerror(errno));
			else
				log_info(NAME, NULL, "File '%s' archived "
				    "(from an earlier run)", de->d_name);
		} else
			log_warn(NAME, NULL, "cannot archive %s: %s", from,
			    strerror(errno));
		free(from);
		free(to);
	}
	rot_unlock(lk);
	closedir(d);
}

/* [main] path: the directory of the types' directories (malloc'd). */
static char *
root_dir(const struct ini *ini, const char *config_dir)
{
	const char *v = ini_get(ini, "main", "path");

	return path_from_root(config_dir, v != NULL && *v ? v : NAME);
}

/* A type's directory and, with archiving, its archive directory (else
 * NULL), malloc'd; -1 (logged) when one would leave its parent. */
static int
kind_dirs(const struct ini *ini, const char *root, const char *key,
    int archiving, char **dir, char **archive)
{
	const char *v = ini_get(ini, "location", key);

	*archive = NULL;
	if ((*dir = subdir(root, "location", key, v != NULL && *v ? v :
	    key)) == NULL)
		return -1;
	if (!archiving)
		return 0;
	v = ini_get(ini, "archive_to", key);
	if ((*archive = subdir(*dir, "archive_to", key, v != NULL && *v ? v :
	    "archive")) == NULL) {
		free(*dir);
		*dir = NULL;
		return -1;
	}
	return 0;
}

static int
open_kind(struct acct *a, struct kind *k, const struct ini *ini,
    const char *root, int archiving, uint64_t max_size)
{
	const char *v, *key = acct_kind_key(k->k);
	const char *prefix = acct_kind_prefix(k->k);
	char *dir, *archive, *err = NULL, *header;
	struct rw_opts opts;
	struct buf h = BUF_INIT;
	const char *ext = ini_get(ini, "main", "extension");

	if (kind_dirs(ini, root, key, archiving, &dir, &archive) != 0 ||
	    make_dir(dir) != 0 || (archive != NULL && make_dir(archive) != 0)) {
		free(dir);
		free(archive);
		return -1;
	}
	if (ext == NULL || *ext == '\0')
		ext = "tsv";
	if (archive != NULL && nodes_worker() <= 0)
		archive_leftovers(dir, archive, prefix, ext);
	acct_fields_parse(&k->fields, (v = ini_get(ini, "fields", key)) !=
	    NULL && *v ? v : acct_kind_fields(k->k), key);
	acct_header(&a->fmt, &k->fields, &h);
	header = buf_release(&h);
	memset(&opts, 0, sizeof(opts));
	opts.source = NAME;
	opts.fd = -1;
	opts.dir = dir;
	opts.prefix = prefix;
	opts.ext = ext;
	opts.header = header;
	opts.archive_dir = archive;
	opts.max_size = max_size;
	opts.sync = a->sync;
	opts.archive_at_close = archive != NULL && nodes_worker() >= 0;
	k->s = rw_stream_open(a->w, &opts, &err);
	free(header);
	free(dir);
	free(archive);
	if (k->s == NULL) {
		log_error(NAME, NULL, "%s", err);
		free(err);
		return -1;
	}
	log_info(NAME, NULL, "%s records go to %s", key,
	    rw_stream_path(k->s));
	return 0;
}

static void
acct_shutdown(void *data)
{
	struct acct *a = data;

	if (a == NULL)
		return;
	if (a->timer != NULL)
		event_free(a->timer);
	if (a->w != NULL)
		recwriter_free(a->w);
	for (size_t i = 0; i < AK_COUNT; i++)
		acct_fields_free(&a->kinds[i].fields);
	if (a->bc != NULL)
		bouncecat_free(a->bc);
	free(a->sep);
	free(a);
}

static int
configure(struct acct *a, struct op_env *env, const struct ini *ini)
{
	const char *config_dir = op_config_dir(env);
	const char *v = ini_get(ini, "main", "separator");
	double interval, max_mb;
	char *root, *rules, *err = NULL;
	int archiving, rc = -1;

	a->sep = xstrdup(v == NULL || *v == '\0' || strcmp(v, "\\t") == 0 ?
	    "\t" : v);
	a->fmt.sep = a->sep;
	a->fmt.csv = strcmp(a->sep, ",") == 0;
	a->sync = ini_bool(ini, "main", "sync", 1);
	archiving = ini_bool(ini, "main", "archiving", 0);
	/* Ten years; a million terabytes. */
	if (positive(ini, "archive_interval", 86400, 315360000, &interval) !=
	    0 || positive(ini, "max_size", 200, 1e12, &max_mb) != 0)
		return -1;
	a->bc = bouncecat_new();
	a->fmt.bc = a->bc;
	rules = xasprintf("%s/%s", config_dir, RULES);
	if (bouncecat_load(a->bc, rules, rules_warn, NULL) < 0)
		log_warn(NAME, NULL, "%s: %s; using the built-in bounce "
		    "categories", rules, strerror(errno));
	free(rules);
	if ((a->w = recwriter_new(op_event_base(env), &err)) == NULL) {
		log_error(NAME, NULL, "%s", err);
		free(err);
		return -1;
	}
	root = root_dir(ini, config_dir);
	if (make_dir(root) != 0)
		goto out;
	for (size_t i = 0; i < AK_COUNT; i++)
		if (open_kind(a, &a->kinds[i], ini, root, archiving,
		    archiving ? (uint64_t)(max_mb * MB) : 0) != 0)
			goto out;
	if (archiving) {
		struct timeval tv;

		tv.tv_sec = (time_t)interval;
		tv.tv_usec = (suseconds_t)((interval - (double)tv.tv_sec) * 1e6);
		a->timer = event_new(op_event_base(env), -1, EV_PERSIST,
		    on_interval, a);
		event_add(a->timer, &tv);
	}
	rc = 0;
out:
	free(root);
	return rc;
}

static int
acct_init(struct op_env *env, void **data)
{
	struct acct *a = xcalloc(1, sizeof(*a));
	char *path = xasprintf("%s/" INI, op_config_dir(env));
	struct ini *ini;
	int exists, rc;

	for (size_t i = 0; i < AK_COUNT; i++)
		a->kinds[i].k = (enum acct_kind)i;
	*data = a;
	if ((ini = ini_load(path, INI, &exists, NULL, NULL)) == NULL) {
		log_error(NAME, NULL, "%s: %s", path, strerror(errno));
		rc = -1;
	} else
		rc = configure(a, env, ini);
	free(path);
	ini_free(ini);
	if (rc != 0) {		/* shutdown() is not called after a failure */
		acct_shutdown(a);
		*data = NULL;
		return -1;
	}
	op_register_hook(env, OP_HOOK_DELIVERED, acct_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_DEFERRED, acct_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_BOUNCE, acct_event, OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_FEEDBACK, acct_feedback,
	    OP_HOOK_OBSERVE);
	op_register_hook(env, OP_HOOK_REOPEN, acct_reopen, 0);
	log_info(NAME, NULL, "Plugin is Ready!");
	return 0;
}

void
accounting_files_dirs(const char *config_dir, rec_dir_fn add, void *arg)
{
	char *path = xasprintf("%s/" INI, config_dir), *root, *dir, *archive;
	struct ini *ini;
	int exists, archiving;

	ini = ini_load(path, INI, &exists, NULL, NULL);
	free(path);
	if (ini == NULL)
		return;
	root = root_dir(ini, config_dir);
	add(arg, root);
	archiving = ini_bool(ini, "main", "archiving", 0);
	for (size_t i = 0; i < AK_COUNT; i++) {
		if (kind_dirs(ini, root, acct_kind_key((enum acct_kind)i),
		    archiving, &dir,
		    &archive) != 0)
			continue;
		add(arg, dir);
		if (archive != NULL)
			add(arg, archive);
		free(dir);
		free(archive);
	}
	free(root);
	ini_free(ini);
}

const struct op_plugin accounting_files_plugin = {
	.abi = OUTPOST_PLUGIN_ABI,
	.name = NAME,
	.init = acct_init,
	.shutdown = acct_shutdown,
};
