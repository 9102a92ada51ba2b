/*
 * config: loads ROOT/config into struct config generations.
 * Haraka semantics for every file; a value of the wrong type is a
 * start-up error naming the file, line, key and problem, except where
 * Haraka documents a fallback (log level and format, inet_prefer,
 * temp_fail_intervals), which is logged and applied.
 */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "core/config_keys.h"
#include "core/dns_config.h"
#include "core/worker.h"
#include "lib/ini.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define DEFAULT_LISTEN		"[::0]:25"
#define DEFAULT_RECEIVED	"Haraka outbound"
#define DEFAULT_DELIVERY_MEMORY	((uint64_t)256 << 20)	/* 256M */
#define DEFAULT_RECORDS_BACKLOG	((uint64_t)64 << 20)	/* 64M */

static const char *const watched[] = {
	"log.ini", "loglevel", "log_timestamps", "outbound.ini"
};

const char *
config_file_name(enum config_file f)
{
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (f == (1u << i))
			return watched[i];
	return NULL;
}

enum config_file
config_file_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (strcmp(name, watched[i]) == 0)
			return (enum config_file)(1u << i);
	return 0;
}

/* --- helpers ------------------------------------------------------------ */

struct loader {
	const char	*config_dir;
	char		*err;
};

/* The first problem is the one told. */
#define fail(ld, ...)	err_first(&(ld)->err, __VA_ARGS__)

static void
ini_warn(void *arg, const char *name, unsigned lineno, const char *msg)
{
	(void)arg;
	(void)lineno;
	(void)name;
	log_warn("core", NULL, "%s", msg);
}

struct ini *
config_read_ini(const char *dir, const char *name, char **err)
{
	char *path = xasprintf("%s/%s", dir, name);
	int exists;
	struct ini *ini = ini_load(path, name, &exists, ini_warn, NULL);

	if (ini == NULL)
		err_first(err, "config/%s: cannot read: %s", name,
		    strerror(errno));
	free(path);
	return ini;
}

char *
config_read_flat(const char *dir, const char *name, char **err)
{
	char *path = xasprintf("%s/%s", dir, name), *v = NULL;

	if (flat_value(path, &v) == -1)
		err_first(err, "config/%s: cannot read: %s", name,
		    strerror(errno));
	free(path);
	return v;
}

/* An ini file; a missing one is empty. NULL only on a read error. */
static struct ini *
load_ini(struct loader *ld, const char *name)
{
	return config_read_ini(ld->config_dir, name, &ld->err);
}

static char *
load_flat(struct loader *ld, const char *name)
{
	return config_read_flat(ld->config_dir, name, &ld->err);
}

/* A whole number in [min, max] (absent: *out untouched). */
static void
get_uint(struct loader *ld, const struct ini *ini, const char *sect,
    const char *key, unsigned min, unsigned max, unsigned *out)
{
	long long v;

	switch (ini_int(ini, sect, key, &v)) {
	case INI_ABSENT:
		return;
	case INI_OK:
		if (v >= min && v <= max) {
			*out = (unsigned)v;
			return;
		}
		/* FALLTHROUGH */
	case INI_BAD:
		fail(ld, "config/%s:%u: %s: expected a whole number from %u "
		    "to %u, got '%s'", ini_name(ini), ini_line(ini, sect, key),
		    key, min, max, ini_get(ini, sect, key) ?
		    ini_get(ini, sect, key) : "");
	}
}

/* --- core: read once ------------------------------------------------------ */

static int
parse_listen_item(const char *item, struct listen_addr *la)
{
	const char *colon, *host, *port;
	size_t hlen;
	unsigned char tmp[sizeof(struct in6_addr)];
	char *h, *end;
	long p;

	if (item[0] == '[') {
		const char *close = strchr(item, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		host = item + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
	} else {
		if ((colon = strrchr(item, ':')) == NULL ||
		    strchr(item, ':') != colon)
			return -1;
		host = item;
		hlen = (size_t)(colon - item);
		port = colon + 1;
	}
	h = xstrndup(host, hlen);
	if (inet_pton(AF_INET, h, tmp) != 1 && inet_pton(AF_INET6, h, tmp) != 1) {
		free(h);
		return -1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno || p < 1 || p > 65535) {
		free(h);
		return -1;
	}
	la->host = h;
	la->port = xstrdup(port);
	return 0;
}

static void
load_listen(struct loader *ld, const struct ini *smtp, struct config_core *c)
{
	const char *spec = ini_get(smtp, "main", "listen");
	char *copy, *item, *save;

	if (spec == NULL || *spec == '\0')
		spec = DEFAULT_LISTEN;
	copy = xstrdup(spec);
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		char *t = item + strspn(item, " \t");
		size_t len = strlen(t);

		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = '\0';
		c->listen = xreallocarray(c->listen, c->nlisten + 1,
		    sizeof(*c->listen));
		if (parse_listen_item(t, &c->listen[c->nlisten]) != 0) {
			fail(ld, "config/smtp.ini:%u: listen: '%s' is not an "
			    "address:port (IPv6 as [addr]:port)",
			    ini_line(smtp, "main", "listen"), t);
			break;
		}
		c->nlisten++;
	}
	free(copy);
	if (c->nlisten == 0 && ld->err == NULL)
		fail(ld, "config/smtp.ini: listen: no address given");
}

static void
core_free(struct config_core *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	free(c->root);
	free(c->config_dir);
	free(c->queue_dir);
	free(c->me);
	flat_list_free(c->plugins);
	for (size_t i = 0; i < c->nlisten; i++) {
		free(c->listen[i].host);
		free(c->listen[i].port);
	}
	free(c->listen);
	free(c->user);
	free(c->group);
	free(c->pid_file);
	free(c);
}

/* connection.ini (and Haraka's older `databytes` flat file). */
static void
load_limits(struct loader *ld, struct config_core *c)
{
	struct ini *conn;
	unsigned bytes = 26214400;
	char *db;

	c->max_line_length = 512;
	c->max_data_line_length = 992;	/* Haraka's (and Sendmail's) */
	c->max_recipients = 1000;
	c->max_unrecognized = 10;
	c->max_connections = 10000;
	c->max_connections_per_ip = 50;
	c->max_auth_failures = 3;
	c->auth_failure_delay = 2;
	/* Per client address: 10 failures, draining over 10 min, lock out for
	 * 10 min (fail2ban's findtime and bantime). */
	c->auth_max_failures_per_ip = 10;
	c->auth_failure_window = 600;
	c->auth_lockout = 600;
	c->smtputf8 = 1;
	if ((db = load_flat(ld, "databytes")) != NULL) {
		if (ini_is_integer(db) && db[0] != '-' && strlen(db) < 10)
			bytes = (unsigned)strtoul(db, NULL, 10);
		else
			fail(ld, "config/databytes: expected a whole number, "
			    "got '%s'", db);
		free(db);
	}
	if ((conn = load_ini(ld, "connection.ini")) != NULL) {
		get_uint(ld, conn, "max", "bytes", 0, 2000000000, &bytes);
		get_uint(ld, conn, "max", "line_length", 512, 65536,
		    &c->max_line_length);
		get_uint(ld, conn, "max", "data_line_length", 0, 1000000,
		    &c->max_data_line_length);
		if (c->max_data_line_length > 0 && c->max_data_line_length < 4)
			fail(ld, "config/connection.ini:%u: data_line_length: "
			    "expected 0 (no limit) or a number of bytes from 4, "
			    "got '%u'", ini_line(conn, "max", "data_line_length"),
			    c->max_data_line_length);
		get_uint(ld, conn, "max", "recipients", 1, 100000,
		    &c->max_recipients);
		get_uint(ld, conn, "max", "unrecognized_commands", 0, 100000,
		    &c->max_unrecognized);
		get_uint(ld, conn, "max", "connections", 1, 1000000,
		    &c->max_connections);
		get_uint(ld, conn, "max", "connections_per_ip", 0, 1000000,
		    &c->max_connections_per_ip);
		get_uint(ld, conn, "max", "auth_failures", 1, 1000,
		    &c->max_auth_failures);
		get_uint(ld, conn, "auth", "failure_delay", 0, 60,
		    &c->auth_failure_delay);
		get_uint(ld, conn, "auth", "max_failures_per_ip", 0, 100000,
		    &c->auth_max_failures_per_ip);
		get_uint(ld, conn, "auth", "failure_window", 1, 86400,
		    &c->auth_failure_window);
		get_uint(ld, conn, "auth", "lockout", 1, 86400,
		    &c->auth_lockout);
		if (ini_has(conn, "main", "smtputf8"))
			c->smtputf8 = ini_bool(conn, "main", "smtputf8", 1);
		ini_free(conn);
	}
	c->max_bytes = bytes;
}

/* A value, NULL when absent or empty. malloc'd. */
static char *
opt_string(const struct ini *ini, const char *sect, const char *key)
{
	const char *v = ini_get(ini, sect, key);

	return v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

static struct config_core *
load_core(struct loader *ld, const char *root)
{
	struct config_core *c = xcalloc(1, sizeof(*c));
	struct ini *smtp;
	char *path, *qd;

	c->refs = 1;
	c->root = xstrdup(root);
	c->config_dir = xstrdup(ld->config_dir);

	c->me = load_flat(ld, "me");
	if (c->me == NULL) {
		char host[HOST_NAME_MAX + 1] = "localhost";

		gethostname(host, sizeof(host) - 1);
		c->me = xstrdup(host);
	}

	qd = load_flat(ld, "queue_dir");
	if (qd == NULL)
		c->queue_dir = xasprintf("%s/queue", root);
	else if (qd[0] == '/')
		c->queue_dir = xstrdup(qd);
	else
		c->queue_dir = xasprintf("%s/%s", root, qd);
	free(qd);
	c->queue_dir = nodes_path(c->queue_dir);	/* a worker's part */

	path = xasprintf("%s/plugins", ld->config_dir);
	if (flat_list(path, &c->plugins, &c->nplugins) == -1) {
		fail(ld, "config/plugins: cannot read: %s", strerror(errno));
		c->plugins = xcalloc(1, sizeof(*c->plugins));
	}
	free(path);

	c->inactivity_timeout = 300;
	c->force_shutdown_timeout = 30;
	c->worker_timeout = 60;
	if ((smtp = load_ini(ld, "smtp.ini")) != NULL) {
		load_listen(ld, smtp, c);
		/* Haraka's name, and the one its docs sometimes use. */
		get_uint(ld, smtp, "main", "inactivity_time", 1, 86400,
		    &c->inactivity_timeout);
		get_uint(ld, smtp, "main", "inactivity_timeout", 1, 86400,
		    &c->inactivity_timeout);
		get_uint(ld, smtp, "main", "force_shutdown_timeout", 0, 3600,
		    &c->force_shutdown_timeout);
		/* Haraka's user and group: names or numeric ids. */
		c->user = opt_string(smtp, "main", "user");
		c->group = opt_string(smtp, "main", "group");
		/* Outpost's: where the daemon writes its pid. */
		c->pid_file = opt_string(smtp, "main", "pid_file");
		nodes_load(ini_get(smtp, "main", "nodes"), ini_line(smtp,
		    "main", "nodes"), &c->nodes, &ld->err);
		get_uint(ld, smtp, "main", "worker_timeout", 0, 86400,
		    &c->worker_timeout);
		ini_free(smtp);
	}
	if (c->pid_file == NULL)
		c->pid_file = xasprintf("%s/outpost.pid", root);
	else if (c->pid_file[0] != '/') {
		qd = c->pid_file;
		c->pid_file = xasprintf("%s/%s", root, qd);
		free(qd);
	}
	load_limits(ld, c);
	return c;
}

/* --- outbound.ini -------------------------------------------------------- */

static void
outbound_free(struct config_outbound *o)
{
	if (o == NULL || --o->refs > 0)
		return;
	free(o->intervals);
	free(o->received_header);
	free(o);
}

/* Haraka's legacy flat files outbound.<key>, used when the ini key is
 * unset (or 0). */
static char *
legacy(struct loader *ld, const char *key)
{
	char *name = xasprintf("outbound.%s", key), *v = load_flat(ld, name);

	free(name);
	return v;
}

static unsigned
uint_with_legacy(struct loader *ld, const struct ini *ini, const char *key,
    unsigned max, unsigned def)
{
	unsigned v = 0;
	char *lv;

	get_uint(ld, ini, "main", key, 0, max, &v);
	if (v != 0)
		return v;
	if ((lv = legacy(ld, key)) != NULL) {
		if (ini_is_integer(lv) && lv[0] != '-' && strlen(lv) < 10 &&
		    strtoul(lv, NULL, 10) <= max)
			v = (unsigned)strtoul(lv, NULL, 10);
		else
			fail(ld, "config/outbound.%s: expected a whole number "
			    "from 0 to %u, got '%s'", key, max, lv);
		free(lv);
	}
	return v ? v : def;
}

static int
legacy_truth(struct loader *ld, const char *key)
{
	char *lv = legacy(ld, key);
	int t = lv != NULL && ini_is_truth(lv);

	free(lv);
	return t;
}

/* --- free-space thresholds: <key> bytes|%, <key>_inodes count|% --------- */

static void
get_space_min(struct loader *ld, const struct ini *ini, const char *key,
    int bytes, const char *def, struct space_min *out)
{
	const char *v = ini_get(ini, "main", key);

	if (v == NULL || *v == '\0')
		v = def;
	if (space_min_parse(v, bytes, out) == 0)
		return;
	fail(ld, "config/outbound.ini:%u: %s: expected %s or a percentage "
	    "below 100 (5%%), got '%s'", ini_line(ini, "main", key), key,
	    bytes ? "bytes (k, M, G, T suffixes)" : "a number of inodes", v);
	space_min_parse(def, bytes, out);
}

static void
load_space(struct loader *ld, const struct ini *ini, const char *key,
    const char *def, struct space_rule *r)
{
	char *ikey = xasprintf("%s_inodes", key);

	get_space_min(ld, ini, key, 1, def, &r->bytes);
	get_space_min(ld, ini, ikey, 0, def, &r->inodes);
	free(ikey);
}

/* The timeout_<stage> keys: seconds, 0 < s <= 3600; absent or 0 is the
 * default (as connect_timeout). */
static double
stage_timeout(struct loader *ld, const struct ini *ini, const char *key,
    double def)
{
	double d;

	if (ini == NULL)
		return def;
	switch (ini_num(ini, "main", key, &d)) {
	case INI_ABSENT:
		return def;
	case INI_OK:
		if (d > 0 && d <= 3600)
			return d;
		if (d == 0)
			return def;
		break;
	case INI_BAD:
		break;
	}
	fail(ld, "config/outbound.ini:%u: %s: expected seconds from 0 to "
	    "3600, got '%s'", ini_line(ini, "main", key), key,
	    ini_get(ini, "main", key) ? ini_get(ini, "main", key) : "");
	return def;
}

static void
stage_timeouts(struct loader *ld, const struct ini *ini,
    struct config_outbound *o)
{
	o->timeouts.greeting = stage_timeout(ld, ini, "timeout_greeting", 300);
	o->timeouts.ehlo = stage_timeout(ld, ini, "timeout_ehlo", 300);
	o->timeouts.starttls = stage_timeout(ld, ini, "timeout_starttls", 300);
	o->timeouts.auth = stage_timeout(ld, ini, "timeout_auth", 300);
	o->timeouts.rset = stage_timeout(ld, ini, "timeout_rset", 20);
	o->timeouts.mail = stage_timeout(ld, ini, "timeout_mail", 300);
	o->timeouts.rcpt = stage_timeout(ld, ini, "timeout_rcpt", 300);
	o->timeouts.data = stage_timeout(ld, ini, "timeout_data", 120);
	o->timeouts.data_block = stage_timeout(ld, ini, "timeout_data_block",
	    180);
	o->timeouts.dot = stage_timeout(ld, ini, "timeout_dot", 600);
	o->timeouts.quit = stage_timeout(ld, ini, "timeout_quit", 5);
}

/* --- bounded memory: <key> bytes (k, M, G, T), 0 = unlimited ------------ */

static void
get_bytes(struct loader *ld, const struct ini *ini, const char *key,
    uint64_t def, uint64_t *out)
{
	const char *v = ini_get(ini, "main", key);
	struct space_min m;

	*out = def;
	if (v == NULL || *v == '\0')
		return;
	if (space_min_parse(v, 1, &m) == 0 && m.kind != SPACE_PCT) {
		*out = m.kind == SPACE_OFF ? 0 : (uint64_t)m.v;
		return;
	}
	fail(ld, "config/outbound.ini:%u: %s: expected bytes (k, M, G, T "
	    "suffixes) or 0 for no limit, got '%s'", ini_line(ini, "main",
	    key), key, v);
}

static struct config_outbound *
load_outbound(struct loader *ld)
{
	struct config_outbound *o = xcalloc(1, sizeof(*o));
	struct ini *ini = load_ini(ld, "outbound.ini");
	const char *v;
	char *lv = NULL;
	double d;

	o->refs = 1;
	stage_timeouts(ld, NULL, o);	/* the defaults */
	o->delivery_memory_max = DEFAULT_DELIVERY_MEMORY;
	o->records_backlog_max = DEFAULT_RECORDS_BACKLOG;
	if (ini == NULL)
		return o;
	o->disabled = ini_bool(ini, "main", "disabled", 0) ||
	    legacy_truth(ld, "disabled");
	o->enable_tls = ini_bool(ini, "main", "enable_tls", 1) ||
	    legacy_truth(ld, "enable_tls");
	o->always_split = ini_bool(ini, "main", "always_split", 0);
	o->local_mx_ok = ini_bool(ini, "main", "local_mx_ok", 0);
	o->concurrency_max = uint_with_legacy(ld, ini, "concurrency_max",
	    1000000, 10000);
	/* 2^(i+5) seconds must stay representable: 50 is years of retries. */
	o->max_temp_failures = uint_with_legacy(ld, ini, "maxTempFailures",
	    50, 13);

	v = ini_get(ini, "main", "temp_fail_intervals");
	if (v == NULL || *v == '\0')
		v = lv = legacy(ld, "temp_fail_intervals");
	if (v == NULL || *v == '\0')
		config_default_intervals(o->max_temp_failures, &o->intervals,
		    &o->nintervals);
	else
		config_temp_fail_intervals(v, o->max_temp_failures,
		    &o->intervals, &o->nintervals);
	free(lv);

	v = ini_get(ini, "main", "received_header");
	lv = NULL;
	if (v == NULL || *v == '\0')
		v = lv = legacy(ld, "received_header");
	if (v == NULL || *v == '\0')
		v = DEFAULT_RECEIVED;
	o->received_header = strcmp(v, "disabled") == 0 ? NULL : xstrdup(v);
	free(lv);

	o->timeouts.connect = 30;
	switch (ini_num(ini, "main", "connect_timeout", &d)) {
	case INI_ABSENT:
		break;
	case INI_OK:
		if (d > 0 && d <= 3600) {
			o->timeouts.connect = d;
			break;
		}
		if (d == 0)
			break;		/* Haraka: 0 means the default */
		/* FALLTHROUGH */
	case INI_BAD:
		fail(ld, "config/outbound.ini:%u: connect_timeout: expected "
		    "seconds from 0 to 3600, got '%s'",
		    ini_line(ini, "main", "connect_timeout"),
		    ini_get(ini, "main", "connect_timeout") ?
		    ini_get(ini, "main", "connect_timeout") : "");
	}

	stage_timeouts(ld, ini, o);

	v = ini_get(ini, "main", "inet_prefer");
	o->inet_prefer = INET_PREFER_DEFAULT;
	if (v != NULL && strcmp(v, "v4") == 0)
		o->inet_prefer = INET_PREFER_V4;
	else if (v != NULL && strcmp(v, "v6") == 0)
		o->inet_prefer = INET_PREFER_V6;
	else if (ini_has(ini, "main", "inet_prefer") &&
	    (v == NULL || strcmp(v, "default") != 0))
		log_warn("core", NULL, "inet_prefer is set to an invalid value: "
		    "%s", v ? v : "");
	/* Reception stops before records do on a shared file system. */
	load_space(ld, ini, "queue_min_free", "5%", &o->queue_min_free);
	load_space(ld, ini, "records_min_free", "1%", &o->records_min_free);
	get_bytes(ld, ini, "delivery_memory_max", DEFAULT_DELIVERY_MEMORY,
	    &o->delivery_memory_max);
	get_bytes(ld, ini, "records_backlog_max", DEFAULT_RECORDS_BACKLOG,
	    &o->records_backlog_max);
	ini_free(ini);
	return o;
}

/* net-utils.ini (read by the resolvers) and Haraka files' booleans: a bad
 * value stops start-up here, with the other configuration errors. */
static void
check_dns(struct loader *ld)
{
	struct dns_config dc;
	char *err = NULL;

	if (config_check_values(ld->config_dir, &err) != 0 ||
	    dns_config_load(ld->config_dir, &dc, &err) != 0) {
		fail(ld, "%s", err);
		free(err);
		return;
	}
	dns_config_clear(&dc);
}

/* --- generations ---------------------------------------------------------- */

static struct config *
assemble(struct config_core *core, struct config_outbound *ob,
    const struct config_log *lg)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->refs = 1;
	cfg->core = core;
	cfg->outbound = ob;
	cfg->log = *lg;
	cfg->root = core->root;
	cfg->config_dir = core->config_dir;
	cfg->plugins = core->plugins;
	cfg->nplugins = core->nplugins;
	return cfg;
}

struct config *
config_load(const char *root, char **err)
{
	struct loader ld = { NULL, NULL };
	struct config_log lg = { LOG_WARN, LOG_FMT_DEFAULT, 0 };
	struct config_core *core;
	struct config_outbound *ob;
	char *dir = xasprintf("%s/config", root);

	ld.config_dir = dir;
	if (access(dir, R_OK | X_OK) != 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	config_log_load(dir, &lg, CONFIG_LOG_INI | CONFIG_LOGLEVEL |
	    CONFIG_LOG_TIMESTAMPS, &ld.err);
	core = load_core(&ld, root);
	ob = load_outbound(&ld);
	check_dns(&ld);
	free(dir);
	if (ld.err != NULL) {
		*err = ld.err;
		core_free(core);
		outbound_free(ob);
		return NULL;
	}
	return assemble(core, ob, &lg);
}

struct config *
config_reload(const struct config *cur, unsigned changed, char **err)
{
	struct loader ld = { cur->config_dir, NULL };
	struct config_log lg = cur->log;
	struct config_outbound *ob;

	config_log_load(cur->config_dir, &lg, changed, &ld.err);
	if (changed & CONFIG_OUTBOUND_INI)
		ob = load_outbound(&ld);
	else {
		ob = cur->outbound;
		ob->refs++;
	}
	if (ld.err != NULL) {
		*err = ld.err;
		outbound_free(ob);
		return NULL;
	}
	cur->core->refs++;
	return assemble(cur->core, ob, &lg);
}

struct config *
config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_unref(struct config *cfg)
{
	if (cfg == NULL || --cfg->refs > 0)
		return;
	core_free(cfg->core);
	outbound_free(cfg->outbound);
	free(cfg);
}
