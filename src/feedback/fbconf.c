/*
 * fbconf: config/feedback.ini — the bounce and feedback domains, the VERP
 * prefix, secret and scope, the spool and quarantine directories — and
 * the HMAC secret file, created (0600, 32 random bytes as hex) at the
 * first start when missing, as http.ini's token is.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/worker.h"
#include "feedback/fbconf.h"
#include "lib/fsutil.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"

#define FILE_NAME	"feedback.ini"

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static int
valid_domain(const char *d)
{
	if (*d == '\0' || *d == '.' || strlen(d) > 253 || strstr(d, "..") != NULL)
		return 0;
	for (; *d; d++)
		if (!isalnum((unsigned char)*d) && *d != '-' && *d != '.')
			return 0;
	return 1;
}

static int
add_domains(const struct ini *ini, const char *key, char ***v, size_t *n,
    char **err)
{
	const char *const *vals;
	size_t k = ini_array(ini, "main", key, &vals);

	for (size_t i = 0; i < k; i++) {
		if (*vals[i] == '\0')
			continue;
		if (!valid_domain(vals[i])) {
			*err = xasprintf("%s: line %u: %s: '%s' is not a domain",
			    FILE_NAME, ini_line(ini, "main", key), key, vals[i]);
			return -1;
		}
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*v)[(*n)++] = lower_dup(vals[i]);
	}
	return 0;
}

/* The secret: hex, 16 to 64 bytes; a new one when the file is missing. */
static int
load_secret(const char *path, struct fbconf *c, char **err)
{
	char *hex = NULL;
	size_t n;

	if (flat_value(path, &hex) != 0 && errno != ENOENT) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (hex == NULL && access(path, F_OK) != 0) {
		unsigned char k[32];
		char out[65], *tmp;
		int fd, rc;

		if (RAND_bytes(k, sizeof(k)) != 1) {
			*err = xasprintf("%s: no random bytes", path);
			return -1;
		}
		for (size_t i = 0; i < sizeof(k); i++)
			snprintf(out + 2 * i, 3, "%02x", k[i]);
		out[64] = '\n';
		OPENSSL_cleanse(k, sizeof(k));
		/* Written whole under a name of this process's, then linked:
		 * workers of smtp.ini nodes starting at once all end up with
		 * the one key that was linked first, never a half-written
		 * file. */
		tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) == -1 || write_full(fd, out, 65) != 0 ||
		    fsync(fd) != 0 || ((rc = link(tmp, path)) != 0 &&
		    errno != EEXIST)) {
			*err = xasprintf("%s: cannot create: %s", path,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			unlink(tmp);
			free(tmp);
			OPENSSL_cleanse(out, sizeof(out));
			return -1;
		}
		close(fd);
		unlink(tmp);
		free(tmp);
		if (rc == 0) {
			out[64] = '\0';
			hex = xstrdup(out);
		} else if (flat_value(path, &hex) != 0) {	/* another's */
			*err = xasprintf("%s: %s", path, strerror(errno));
			OPENSSL_cleanse(out, sizeof(out));
			return -1;
		}
		OPENSSL_cleanse(out, sizeof(out));
	}
	n = hex != NULL ? strlen(hex) : 0;
	if (n < 32 || n > 2 * VERP_KEY_MAX || n % 2 != 0) {
		*err = xasprintf("%s: expected 32 to %d hex digits", path,
		    2 * VERP_KEY_MAX);
		free(hex);
		return -1;
	}
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[i]) ||
		    !isxdigit((unsigned char)hex[i + 1]) ||
		    sscanf(hex + i, "%2x", &v) != 1) {
			*err = xasprintf("%s: expected hex digits", path);
			OPENSSL_cleanse(hex, n);
			free(hex);
			return -1;
		}
		c->key[i / 2] = (unsigned char)v;
	}
	c->keylen = n / 2;
	OPENSSL_cleanse(hex, n);
	free(hex);
	return 0;
}

static char *
dir_key(const struct ini *ini, const char *config_dir, const char *key,
    const char *def)
{
	const char *v = ini_get(ini, "main", key);

	return path_from_root(config_dir, v != NULL && *v != '\0' ? v : def);
}

int
fbconf_load(const char *config_dir, struct fbconf *c, char **err)
{
	char *path = xasprintf("%s/%s", config_dir, FILE_NAME), *secret;
	const char *v;
	struct ini *ini;
	int exists, rc = -1;

	memset(c, 0, sizeof(*c));
	*err = NULL;
	if ((ini = ini_load(path, FILE_NAME, &exists, ini_warn_first,
	    err)) == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (*err != NULL)
		goto done;
	v = ini_get(ini, "main", "bounce_domain");
	c->bounce_domain = lower_dup(v != NULL ? v : "");
	if (*c->bounce_domain != '\0') {
		if (!valid_domain(c->bounce_domain)) {
			*err = xasprintf("%s: line %u: bounce_domain: '%s' is "
			    "not a domain", FILE_NAME, ini_line(ini, "main",
			    "bounce_domain"), c->bounce_domain);
			goto done;
		}
		c->domains = xcalloc(1, sizeof(*c->domains));
		c->domains[c->ndomains++] = xstrdup(c->bounce_domain);
	}
	if (add_domains(ini, "feedback_domains", &c->domains, &c->ndomains,
	    err) != 0 || add_domains(ini, "sender_domains",
	    &c->sender_domains, &c->nsender_domains, err) != 0)
		goto done;
	v = ini_get(ini, "main", "verp_prefix");
	c->prefix = xstrdup(v != NULL && *v != '\0' ? v : "b");
	for (const char *p = c->prefix; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
			*err = xasprintf("%s: line %u: verp_prefix: letters, "
			    "digits, '-' and '_' only", FILE_NAME,
			    ini_line(ini, "main", "verp_prefix"));
			goto done;
		}
	v = ini_get(ini, "main", "verp");
	if (v == NULL || strcasecmp(v, "all") == 0)
		c->verp = 1;
	else if (strcasecmp(v, "domains") == 0)
		c->verp = 2;
	else if (strcasecmp(v, "off") == 0)
		c->verp = 0;
	else {
		*err = xasprintf("%s: line %u: verp: expected all, domains or "
		    "off", FILE_NAME, ini_line(ini, "main", "verp"));
		goto done;
	}
	if (c->verp != 0 && *c->bounce_domain == '\0')
		c->verp = 0;		/* nowhere to send bounces to */
	c->on_main_listener = ini_bool(ini, "main", "on_main_listener", 1);
	c->spool_base = dir_key(ini, config_dir, "spool_dir",
	    "feedback/spool");
	c->spool_dir = nodes_path(xstrdup(c->spool_base)); /* one per worker */
	c->quarantine_dir = dir_key(ini, config_dir, "quarantine_dir",
	    "feedback/quarantine");
	rc = 0;
	if (c->ndomains > 0) {
		v = ini_get(ini, "main", "secret_file");
		secret = path_from_root(config_dir, v != NULL && *v != '\0' ?
		    v : "config/feedback.secret");
		rc = load_secret(secret, c, err);
		free(secret);
	}
done:
	ini_free(ini);
	free(path);
	if (rc != 0)
		fbconf_free(c);
	return rc;
}

void
fbconf_free(struct fbconf *c)
{
	free(c->bounce_domain);
	for (size_t i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	for (size_t i = 0; i < c->nsender_domains; i++)
		free(c->sender_domains[i]);
	free(c->sender_domains);
	free(c->prefix);
	free(c->spool_dir);
	free(c->spool_base);
	free(c->quarantine_dir);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	memset(c, 0, sizeof(*c));
}

struct verp_conf *
fbconf_verp(const struct fbconf *c)
{
	struct verp_conf *v;

	if (c->verp == 0)
		return NULL;
	v = xcalloc(1, sizeof(*v));
	v->prefix = xstrdup(c->prefix);
	v->domain = xstrdup(c->bounce_domain);
	memcpy(v->key, c->key, c->keylen);
	v->keylen = c->keylen;
	v->all = c->verp == 1;
	if (c->nsender_domains > 0)
		v->sender_domains = xcalloc(c->nsender_domains,
		    sizeof(*v->sender_domains));
	for (size_t i = 0; i < c->nsender_domains; i++)
		v->sender_domains[i] = xstrdup(c->sender_domains[i]);
	v->nsender_domains = c->nsender_domains;
	return v;
}

int
fbconf_is_domain(const struct fbconf *c, const char *domain)
{
	for (size_t i = 0; i < c->ndomains; i++)
		if (strcasecmp(c->domains[i], domain) == 0)
			return 1;
	return 0;
}
