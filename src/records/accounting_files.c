/*
 * accounting_files: Haraka's accounting-files plugin (seeds 001/004,
 * SPEC §9). One line per recipient for every delivered, deferred and
 * bounced event, in one file per type (<prefix>.<time>.<extension> under
 * path/<location>), each file starting with a header line of its fields;
 * archiving moves a file into its type's archive directory by size or by
 * interval and starts a new one.
 *
 * Like outbound_logger it observes the three hooks, so every event is
 * recorded whatever other plugins answer, and it never changes an outcome.
 * With sync=true (the default) the mail's queue entry changes only once
 * the event's lines are on disk. The files are written off the loop by the
 * record writer (writer.c), which also rotates them between whole
 * records and never reuses or overwrites a name.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "records/bouncecat.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "outpost/plugin.h"
#include "records/record.h"
#include "records/writer.h"

#define NAME		"accounting_files"
#define INI		"accounting_files.ini"
#define RULES		"bounce_categories"
#define MB		1000000.0

enum field {
	F_TYPE, F_TIME_LOGGED, F_TIME_QUEUED, F_RCPT, F_SRC_TYPE, F_SRC_MTA,
	F_SRC_IP, F_DEST_IP, F_VMTA, F_JOB_ID, F_DSN_STATUS, F_DSN_MSG,
	F_DELAY, F_BOUNCE_CAT, F_DLV_SOURCE_IP, F_CUSTOM, F_UNKNOWN
};

static const char *const field_names[] = {
	"type", "timeLogged", "timeQueued", "rcpt", "srcType", "srcMta",
	"srcIp", "destIp", "vmta", "jobId", "dsnStatus", "dsnMsg", "delay",
	"bounceCat", "dlvSourceIp"
};

#define CUSTOM	"custom_"

struct field_spec {
	enum field	 f;
	char		*name;		/* as configured */
	const char	*header;	/* F_CUSTOM: the header's name */
};

struct kind {
	const char		*key;		/* ini keys: "delivered" ... */
	const char		*prefix;	/* file prefix and type value */
	const char		*fields;	/* the default fields */
	struct field_spec	*spec;
	size_t			 nspec;
	struct rw_stream	*s;
};

struct acct {
	struct recwriter	*w;
	struct kind		 kinds[3];
	char			*sep;
	int			 csv;
	int			 sync;
	struct bouncecat	*bc;
	struct event		*timer;
};

static const struct kind kind_defaults[3] = {
	{ "delivered", "d", "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,"
	  "vmta,jobId,dsnStatus,dsnMsg", NULL, 0, NULL },
	{ "deferred", "df", "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,"
	  "vmta,jobId,dsnStatus,dsnMsg,delay", NULL, 0, NULL },
	{ "bounce", "b", "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,"
	  "vmta,jobId,dsnStatus,dsnMsg,bounceCat", NULL, 0, NULL },
};

/* --- values ------------------------------------------------------------- */

/*
 * One value, so that it never breaks the line: RFC 4180 quoting for CSV
 * (a NUL byte is dropped); otherwise TAB, CR, LF, backslash and NUL as
 * \t \r \n \\ \0, and a character of the separator after a backslash.
 */
static void
put_value(const struct acct *a, struct buf *b, const char *v, size_t len)
{
	if (a->csv) {
		size_t i;

		for (i = 0; i < len; i++)
			if (v[i] == ',' || v[i] == '"' || v[i] == '\r' ||
			    v[i] == '\n' || v[i] == '\0')
				break;
		if (i == len) {
			buf_add(b, v, len);
			return;
		}
		buf_addc(b, '"');
		for (i = 0; i < len; i++) {
			if (v[i] == '\0')	/* CSV cannot carry it */
				continue;
			if (v[i] == '"')
				buf_addc(b, '"');
			buf_addc(b, v[i]);
		}
		buf_addc(b, '"');
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c == '\t')
			buf_adds(b, "\\t");
		else if (c == '\r')
			buf_adds(b, "\\r");
		else if (c == '\n')
			buf_adds(b, "\\n");
		else if (c == '\\')
			buf_adds(b, "\\\\");
		else if (c == '\0')
			buf_adds(b, "\\0");
		else {
			if (strchr(a->sep, c) != NULL)
				buf_addc(b, '\\');
			buf_addc(b, c);
		}
	}
}

static void
put_str(const struct acct *a, struct buf *b, const char *v)
{
	if (v != NULL)
		put_value(a, b, v, strlen(v));
}

/* "2026-11-21 09:05:01+0100": local time; "" if it cannot be told. */
static void
local_time(char *out, size_t size, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%S%z", &tm) == 0)
		out[0] = '\0';
}

/* What an event's lines share: its times, formatted once. */
struct event_times {
	char	 logged[64];
	char	 queued[64];
};

/* A failure that ran out of retries (Outpost's "Too many failures"):
 * whatever the last reply said, the message expired in the queue. */
static int
expired(const struct op_outbound *o, const struct op_rcpt *r)
{
	return r->code >= 300 && r->code < 500 && o->error != NULL &&
	    strncmp(o->error, "Too many failures", 17) == 0;
}

static void
add_str(struct buf *v, const char *s)
{
	if (s != NULL)
		buf_adds(v, s);
}

/* One field's value, raw, into v. */
static void
field_value(const struct acct *a, const struct kind *k,
    const struct field_spec *fs, struct buf *v, const struct event_times *t,
    const struct op_outbound *o, const struct op_rcpt *r)
{
	switch (fs->f) {
	case F_TYPE:
		buf_adds(v, k->prefix);
		break;
	case F_TIME_LOGGED:
		buf_adds(v, t->logged);
		break;
	case F_TIME_QUEUED:
		buf_adds(v, t->queued);
		break;
	case F_RCPT:
		add_str(v, r->address);
		break;
	case F_SRC_TYPE:
		buf_adds(v, "smtp");
		break;
	case F_SRC_MTA:
		add_str(v, o->helo);
		break;
	case F_SRC_IP:
	case F_DLV_SOURCE_IP:
		add_str(v, o->local_ip);
		break;
	case F_DEST_IP:
		add_str(v, o->ip);
		break;
	case F_VMTA:
		add_str(v, o->route);
		break;
	case F_JOB_ID:
		add_str(v, o->id);
		break;
	case F_DSN_STATUS:
		add_str(v, r->status);
		break;
	case F_DSN_MSG:
		add_str(v, r->response);
		break;
	case F_DELAY:
		if (k == &a->kinds[1])
			rec_number(v, o->delay);
		break;
	case F_BOUNCE_CAT:
		if (k == &a->kinds[2])
			buf_adds(v, bouncecat_name(expired(o, r) ?
			    BC_MESSAGE_EXPIRED : bouncecat_classify(a->bc,
			    r->code, r->status, r->response)));
		break;
	case F_CUSTOM:
		rec_header(o, fs->header, v);
		break;
	case F_UNKNOWN:
		break;
	}
}

static void
acct_event(struct op_call *c, void *data)
{
	const struct acct *a = data;
	const struct op_outbound *o = op_call_outbound(c);
	enum op_hook h = op_call_hook(c);
	const struct kind *k = &a->kinds[h == OP_HOOK_DELIVERED ? 0 :
	    h == OP_HOOK_DEFERRED ? 1 : 2];
	struct buf b = BUF_INIT, v = BUF_INIT;
	struct event_times t;

	local_time(t.logged, sizeof(t.logged), rec_now_ms());
	local_time(t.queued, sizeof(t.queued), o->queue_time);

	for (unsigned i = 0; i < o->nrcpts; i++) {
		for (size_t j = 0; j < k->nspec; j++) {
			if (j > 0)
				buf_adds(&b, a->sep);
			buf_reset(&v);
			field_value(a, k, &k->spec[j], &v, &t, o,
			    &o->rcpts[i]);
			put_value(a, &b, v.p, v.len);
		}
		buf_addc(&b, '\n');
	}
	rec_submit(k->s, &b, a->sync, c);
	buf_free(&b);
	buf_free(&v);
	log_debug(NAME, o->id, "%s record%s added", k->key,
	    o->nrcpts == 1 ? "" : "s");
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
	for (size_t i = 0; i < 3; i++)
		rw_rotate(a->kinds[i].s);
}

/* --- configuration ------------------------------------------------------ */

/* The fields of a kind: the comma list, each name trimmed. */
static void
parse_fields(struct kind *k, const char *list)
{
	char *copy = xstrdup(list), *p = copy, *name;

	while ((name = strsep(&p, ",")) != NULL) {
		struct slice s = slice_trim(slice_of(name, strlen(name)));
		struct field_spec *fs;

		if (s.len == 0)
			continue;
		k->spec = xreallocarray(k->spec, k->nspec + 1,
		    sizeof(*k->spec));
		fs = &k->spec[k->nspec++];
		fs->name = xasprintf("%.*s", (int)s.len, s.p);
		fs->header = NULL;
		fs->f = F_UNKNOWN;
		for (size_t i = 0; i < sizeof(field_names) /
		    sizeof(field_names[0]); i++)
			if (strcmp(fs->name, field_names[i]) == 0)
				fs->f = (enum field)i;
		if (fs->f == F_UNKNOWN && strncmp(fs->name, CUSTOM,
		    strlen(CUSTOM)) == 0 && fs->name[strlen(CUSTOM)] != '\0') {
			fs->f = F_CUSTOM;
			fs->header = fs->name + strlen(CUSTOM);
		}
		if (fs->f == F_UNKNOWN)
			log_warn(NAME, NULL, INI ": [fields] %s: unknown field "
			    "'%s'; it is written empty", k->key, fs->name);
	}
	free(copy);
}

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
 * warning).
 */
static void
archive_leftovers(const char *dir, const char *archive, const char *prefix,
    const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *from, *to;

		if (!our_name(de->d_name, prefix, ext))
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
	const char *v;
	char *dir, *archive, *err = NULL, *header;
	struct rw_opts opts;
	struct buf h = BUF_INIT;
	const char *ext = ini_get(ini, "main", "extension");

	if (kind_dirs(ini, root, k->key, archiving, &dir, &archive) != 0 ||
	    make_dir(dir) != 0 || (archive != NULL && make_dir(archive) != 0)) {
		free(dir);
		free(archive);
		return -1;
	}
	if (ext == NULL || *ext == '\0')
		ext = "tsv";
	if (archive != NULL)
		archive_leftovers(dir, archive, k->prefix, ext);
	parse_fields(k, (v = ini_get(ini, "fields", k->key)) != NULL && *v ?
	    v : k->fields);
	for (size_t j = 0; j < k->nspec; j++) {
		if (j > 0)
			buf_adds(&h, a->sep);
		put_str(a, &h, k->spec[j].name);
	}
	buf_addc(&h, '\n');
	header = buf_release(&h);
	memset(&opts, 0, sizeof(opts));
	opts.source = NAME;
	opts.fd = -1;
	opts.dir = dir;
	opts.prefix = k->prefix;
	opts.ext = ext;
	opts.header = header;
	opts.archive_dir = archive;
	opts.max_size = max_size;
	opts.sync = a->sync;
	k->s = rw_stream_open(a->w, &opts, &err);
	free(header);
	free(dir);
	free(archive);
	if (k->s == NULL) {
		log_error(NAME, NULL, "%s", err);
		free(err);
		return -1;
	}
	log_info(NAME, NULL, "%s records go to %s", k->key,
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
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < a->kinds[i].nspec; j++)
			free(a->kinds[i].spec[j].name);
		free(a->kinds[i].spec);
	}
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
	a->csv = strcmp(a->sep, ",") == 0;
	a->sync = ini_bool(ini, "main", "sync", 1);
	archiving = ini_bool(ini, "main", "archiving", 0);
	/* Ten years; a million terabytes. */
	if (positive(ini, "archive_interval", 86400, 315360000, &interval) !=
	    0 || positive(ini, "max_size", 200, 1e12, &max_mb) != 0)
		return -1;
	a->bc = bouncecat_new();
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
	for (size_t i = 0; i < 3; i++)
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

	memcpy(a->kinds, kind_defaults, sizeof(a->kinds));
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
	for (size_t i = 0; i < 3; i++) {
		if (kind_dirs(ini, root, kind_defaults[i].key, archiving, &dir,
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
