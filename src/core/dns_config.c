/*
 * dns_config: loads net-utils.ini [dns] into a struct dns_config (servers
 * normalised to c-ares' "ip", "ip:port", "[v6]:port" forms, timeout in ms
 * as Haraka's net-utils reads it — node:dns Resolver's `timeout`, in
 * milliseconds —, tries). Owns only the strings it returns; touches no resolver state.
 */
#include "core/dns_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "core/log.h"

#define DNS_FILE		"net-utils.ini"
#define DNS_MIN_TIMEOUT		100	/* ms: less is a value in seconds */
#define DNS_MAX_TIMEOUT		300000	/* ms */
#define DNS_MAX_TRIES		20
/* What Haraka's net-utils (lib/dns_config.js) gives node:dns' Resolver
 * when net-utils.ini does not say: its own values, not resolv.conf's. */
#define DNS_HARAKA_TIMEOUT	25000	/* ms */
#define DNS_HARAKA_TRIES	1

static void
ini_warn(void *arg, const char *name, unsigned lineno, const char *msg)
{
	(void)arg;
	(void)name;
	(void)lineno;
	log_warn("core", NULL, "%s", msg);
}

/* One `servers` item in c-ares' form: "ip", "ip:port" or "[v6]:port"
 * (1.18 rejects "[v6]" without a port); NULL if it is not an address. */
static char *
server_item(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];
	const char *port = NULL;
	char *host, *out = NULL;
	long p = 53;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return NULL;
		host = xstrndup(s + 1, (size_t)(close - s - 1));
		if (close[1] == ':')
			port = close + 2;
	} else if (strchr(s, ':') != NULL &&
	    strchr(s, ':') == strrchr(s, ':')) {
		host = xstrndup(s, (size_t)(strchr(s, ':') - s));
		port = strchr(s, ':') + 1;
	} else
		host = xstrdup(s);
	if (port != NULL) {
		char *end;

		if (*port < '0' || *port > '9')
			goto done;
		errno = 0;
		p = strtol(port, &end, 10);
		if (*end != '\0' || errno != 0 || p < 1 || p > 65535)
			goto done;
	}
	if (inet_pton(AF_INET, host, a) == 1 && s[0] != '[')
		out = port ? xasprintf("%s:%ld", host, p) : xstrdup(host);
	else if (inet_pton(AF_INET6, host, a) == 1)
		out = xasprintf("[%s]:%ld", host, p);
done:
	free(host);
	return out;
}

static int
load_servers(const struct ini *ini, const char *v, struct dns_config *cfg,
    char **err)
{
	char *copy = xstrdup(v), *item, *save = NULL;
	size_t n = 0;
	int rc = 0;

	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		char *t = item + strspn(item, " \t"), *norm;
		size_t len = strlen(t);

		while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = '\0';
		if ((norm = server_item(t)) == NULL) {
			*err = xasprintf("config/%s:%u: [dns] servers: '%s' is "
			    "not an address (ip, ip:port, [ipv6]:port)",
			    DNS_FILE, ini_line(ini, "dns", "servers"), t);
			rc = -1;
			break;
		}
		cfg->servers = xreallocarray(cfg->servers, n + 2,
		    sizeof(*cfg->servers));
		cfg->servers[n++] = norm;
		cfg->servers[n] = NULL;
	}
	if (rc == 0 && n == 0) {
		*err = xasprintf("config/%s:%u: [dns] servers: no address in "
		    "'%s'", DNS_FILE, ini_line(ini, "dns", "servers"), v);
		rc = -1;
	}
	free(copy);
	return rc;
}

/* A whole number in [min, max]; absent or empty leaves *out alone. */
static int
load_uint(const struct ini *ini, const char *key, const char *what,
    unsigned min, unsigned max, unsigned *out, char **err)
{
	const char *v = ini_get(ini, "dns", key);
	long long n;

	if (ini_has(ini, "dns", key) && v != NULL && *v == '\0')
		return 0;
	switch (ini_int(ini, "dns", key, &n)) {
	case INI_ABSENT:
		return 0;
	case INI_OK:
		if (n >= min && n <= max) {
			*out = (unsigned)n;
			return 0;
		}
		/* FALLTHROUGH */
	case INI_BAD:
		break;
	}
	*err = xasprintf("config/%s:%u: [dns] %s: expected %s from %u to %u, "
	    "got '%s'", DNS_FILE, ini_line(ini, "dns", key), key, what, min,
	    max, v ? v : "");
	return -1;
}

int
dns_config_load(const char *config_dir, struct dns_config *cfg, char **err)
{
	char *path = xasprintf("%s/%s", config_dir, DNS_FILE);
	struct ini *ini;
	const char *v;
	unsigned timeout = 0;
	int exists, rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	*err = NULL;
	ini = ini_load(path, DNS_FILE, &exists, ini_warn, NULL);
	free(path);
	if (ini == NULL) {
		*err = xasprintf("config/%s: cannot read: %s", DNS_FILE,
		    strerror(errno));
		return -1;
	}
	if (load_uint(ini, "timeout", "milliseconds (Haraka's unit)",
	    DNS_MIN_TIMEOUT, DNS_MAX_TIMEOUT, &timeout, err) == -1 ||
	    load_uint(ini, "tries", "a whole number", 1, DNS_MAX_TRIES,
	    &cfg->tries, err) == -1)
		goto done;
	/* Haraka's `timeout || 25000`, `tries || 1`: an absent or empty key
	 * takes Haraka's default. */
	cfg->timeout_ms = timeout != 0 ? timeout : DNS_HARAKA_TIMEOUT;
	if (cfg->tries == 0)
		cfg->tries = DNS_HARAKA_TRIES;
	v = ini_get(ini, "dns", "servers");
	if (v != NULL && *v != '\0' &&
	    load_servers(ini, v, cfg, err) == -1)
		goto done;
	rc = 0;
done:
	ini_free(ini);
	if (rc == -1)
		dns_config_clear(cfg);
	return rc;
}

void
dns_config_clear(struct dns_config *cfg)
{
	if (cfg->servers != NULL)
		for (char **s = cfg->servers; *s != NULL; s++)
			free(*s);
	free(cfg->servers);
	memset(cfg, 0, sizeof(*cfg));
}
