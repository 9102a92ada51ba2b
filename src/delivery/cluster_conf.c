/*
 * cluster_conf: reads config/cluster.ini (every key checked, the first
 * problem told with its line) and the pure parts of cluster-wide shaping:
 * key names and the shares a node keeps while Redis is unreachable.
 */
#include "delivery/cluster_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ini.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define NAME		"config/cluster.ini"
#define US_PER_S	1000000ULL

long
cluster_ms_parse(const char *v, long max_ms)
{
	unsigned long long n = 0, mult = 1000;
	const char *p = v;

	if (v == NULL)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (unsigned)(*p - '0')) > 100000000ULL)
			return -1;
	if (p == v)
		return -1;
	if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "s") == 0 || *p == '\0')
		mult = 1000;
	else if (strcmp(p, "m") == 0)
		mult = 60000;
	else
		return -1;
	n *= mult;
	return n > (unsigned long long)max_ms ? -1 : (long)n;
}

void
cluster_conf_clear(struct cluster_conf *c)
{
	free(c->host);
	free(c->socket);
	free(c->password);
	free(c->prefix);
	free(c->node);
	memset(c, 0, sizeof(*c));
}

static void
defaults(struct cluster_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->port = CLUSTER_DEFAULT_PORT;
	c->prefix = xstrdup("outpost");
	c->nodes = 1;
	c->connect_timeout_ms = 2000;
	c->timeout_ms = 1000;
	c->lease_ttl_ms = 30000;
	c->reconnect_max_ms = 5000;
	c->max_wait_ms = 60000;
}

struct num_key {
	const char	*name;
	size_t		 off;
	long		 min, max;
	int		 ms;		/* a duration */
};

static const struct num_key nums[] = {
#define O(f)	offsetof(struct cluster_conf, f)
	{ "port", O(port), 1, 65535, 0 },
	{ "db", O(db), 0, 1000000, 0 },
	{ "nodes", O(nodes), 1, 10000, 0 },
	{ "connect_timeout", O(connect_timeout_ms), 50, 600000, 1 },
	{ "timeout", O(timeout_ms), 10, 600000, 1 },
	{ "lease_ttl", O(lease_ttl_ms), 3000, 86400000, 1 },
	{ "reconnect_max", O(reconnect_max_ms), 250, 3600000, 1 },
	{ "max_wait", O(max_wait_ms), 0, 86400000, 1 },
#undef O
};

static const char *const strs[] = { "host", "socket", "password", "prefix",
    "node" };

/* One numeric key: 0, or -1 with *err. */
static int
num(const struct ini *ini, const struct num_key *k, struct cluster_conf *c,
    char **err)
{
	const char *v = ini_get(ini, "main", k->name);
	unsigned line = ini_line(ini, "main", k->name);
	long n;

	if (k->ms) {
		if ((n = cluster_ms_parse(v, k->max)) < k->min) {
			err_first(err, "%s:%u: %s: expected a duration (250ms, "
			    "2s, 1m; a bare number is seconds) from %ldms to "
			    "%lds, got '%s'", NAME, line, k->name, k->min,
			    k->max / 1000, v != NULL ? v : "");
			return -1;
		}
	} else {
		char *end;

		errno = 0;
		n = v != NULL && *v >= '0' && *v <= '9' ? strtol(v, &end, 10) :
		    -1;
		if (n < k->min || n > k->max || errno != 0 || *end != '\0') {
			err_first(err, "%s:%u: %s: expected a whole number "
			    "from %ld to %ld, got '%s'", NAME, line, k->name,
			    k->min, k->max, v != NULL ? v : "");
			return -1;
		}
	}
	*(unsigned *)(void *)((char *)c + k->off) = (unsigned)n;
	return 0;
}

static int
check_key(const struct ini *ini, const char *name, char **err)
{
	for (size_t j = 0; j < sizeof(nums) / sizeof(nums[0]); j++)
		if (strcmp(name, nums[j].name) == 0)
			return 0;
	for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
		if (strcmp(name, strs[j]) == 0)
			return 0;
	err_first(err, "%s:%u: unknown key '%s'", NAME,
	    ini_line(ini, "main", name), name);
	return -1;
}

/* A string key: NULL when absent or empty. */
static char *
str(const struct ini *ini, const char *key)
{
	const char *v = ini_get(ini, "main", key);

	return v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

static int
parse_ini(const struct ini *ini, struct cluster_conf *c, char **err)
{
	size_t n;
	char buf[16];

	for (size_t i = 0; i < ini_nsections(ini); i++)
		if (strcmp(ini_section_name(ini, i), "main") != 0) {
			err_first(err, "%s:%u: unknown section [%s] (every key "
			    "is in [main])", NAME, ini_section_line(ini,
			    ini_section_name(ini, i)), ini_section_name(ini, i));
			return -1;
		}
	n = ini_nkeys(ini, "main");
	for (size_t i = 0; i < n; i++) {
		const char *name = ini_key_name(ini, "main", i);

		if (check_key(ini, name, err) == -1)
			return -1;
		for (size_t j = 0; j < sizeof(nums) / sizeof(nums[0]); j++)
			if (strcmp(name, nums[j].name) == 0 &&
			    num(ini, &nums[j], c, err) == -1)
				return -1;
	}
	c->host = str(ini, "host");
	c->socket = str(ini, "socket");
	c->password = str(ini, "password");
	c->node = str(ini, "node");
	if (ini_has(ini, "main", "prefix")) {
		free(c->prefix);
		c->prefix = str(ini, "prefix");
	}
	if (c->host != NULL && c->socket != NULL) {
		err_first(err, "%s:%u: socket: set host or socket, not both",
		    NAME, ini_line(ini, "main", "socket"));
		return -1;
	}
	if (c->host != NULL && inet_pton(AF_INET, c->host, buf) != 1 &&
	    inet_pton(AF_INET6, c->host, buf) != 1) {
		err_first(err, "%s:%u: host: expected an IP address (a name "
		    "would be resolved with a blocking call), got '%s'", NAME,
		    ini_line(ini, "main", "host"), c->host);
		return -1;
	}
	if (c->prefix == NULL || strpbrk(c->prefix, "{} \t") != NULL) {
		err_first(err, "%s:%u: prefix: expected a non-empty word "
		    "without braces or blanks, got '%s'", NAME,
		    ini_line(ini, "main", "prefix"), c->prefix ? c->prefix : "");
		return -1;
	}
	if (c->node != NULL && strpbrk(c->node, " \t") != NULL) {
		err_first(err, "%s:%u: node: expected a name without blanks, "
		    "got '%s'", NAME, ini_line(ini, "main", "node"), c->node);
		return -1;
	}
	c->enabled = c->host != NULL || c->socket != NULL;
	return 0;
}

int
cluster_conf_parse(const char *text, struct cluster_conf *c, char **err)
{
	struct ini *ini;
	int rc;

	*err = NULL;
	defaults(c);
	if (text == NULL)
		return 0;
	ini = ini_parse(NAME, text, strlen(text), ini_warn_first, err);
	rc = *err != NULL ? -1 : parse_ini(ini, c, err);
	ini_free(ini);
	if (rc == -1)
		cluster_conf_clear(c);
	return rc;
}

int
cluster_conf_load(const char *config_dir, struct cluster_conf *c,
    char **err)
{
	char *path = xasprintf("%s/cluster.ini", config_dir), *text = NULL;
	size_t len;
	int rc;

	*err = NULL;
	if (read_file(path, &text, &len) == -1) {
		free(path);
		if (errno == ENOENT)
			return cluster_conf_parse(NULL, c, err);
		*err = xasprintf("%s: cannot read: %s", NAME, strerror(errno));
		memset(c, 0, sizeof(*c));
		return -1;
	}
	free(path);
	if (strlen(text) != len) {
		free(text);
		*err = xasprintf("%s: holds a NUL byte", NAME);
		memset(c, 0, sizeof(*c));
		return -1;
	}
	rc = cluster_conf_parse(text, c, err);
	free(text);
	return rc;
}

char *
cluster_key(const char *prefix, const char *dest, const char *kind)
{
	char *k = xasprintf("%s:{%s}:%s", prefix, dest, kind);
	char *p = k + strlen(prefix) + 2;
	char *end = p + strlen(dest);

	for (; p < end; p++)
		if (*p == '{' || *p == '}')
			*p = '_';
	return k;
}

unsigned
cluster_share(unsigned limit, unsigned nodes)
{
	if (limit == 0 || nodes <= 1)
		return limit;
	return limit / nodes > 0 ? limit / nodes : 1;
}

void
cluster_rate_share(const struct rate *r, unsigned nodes, struct rate *out)
{
	uint64_t period = (uint64_t)r->period * (nodes > 0 ? nodes : 1);

	*out = *r;
	if (r->n == 0)
		return;
	out->period = period > UINT32_MAX ? UINT32_MAX : (uint32_t)period;
}

uint64_t
cluster_rate_interval_us(const struct rate *r)
{
	if (r->n == 0)
		return 0;
	return ((uint64_t)r->period * US_PER_S + r->n - 1) / r->n;
}

int
cluster_conf_check(const char *config_dir, char **err)
{
	struct cluster_conf c;

	if (cluster_conf_load(config_dir, &c, err) == -1)
		return -1;
	cluster_conf_clear(&c);
	return 0;
}
