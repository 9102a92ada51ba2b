/*
 * dkim: the built-in plugin `dkim` (Haraka's name) — DKIM signing of
 * every message at enqueue. Its init loads config/dkim.ini and the keys
 * (core/dkim_keys; a bad or unreadable key stops start-up) and starts the
 * signing thread (queue/dkim_worker); dkim_plugin_reload() loads them
 * again on SIGHUP or a change of dkim.ini, keeping the running set when
 * the new one is bad. The running configuration is owned here. Also
 * the command outpost --dkim-keygen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dkim_keys.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "queue/dkim_worker.h"

/* sysexits(3), as main.c */
#define EXIT_USAGE	64
#define EXIT_NOINPUT	66
#define EXIT_CANTCREAT	73

static struct {
	char			*config_dir;
	struct dkim_config	*cfg;
} D;

static void
describe(const struct dkim_config *c, const char *what)
{
	op_log(OP_LOG_INFO, "dkim", NULL, "%s: %s, %zu key%s for %zu "
	    "domain%s%s%s, c=%s/%s", what, c->enabled ? "signing" :
	    "enabled=false: not signing", dkim_config_nkeys(c),
	    dkim_config_nkeys(c) == 1 ? "" : "s", c->ndomains,
	    c->ndomains == 1 ? "" : "s", c->fallback ? ", fallback " : "",
	    c->fallback ? c->fallback->name : "", dkim_canon_name(c->hcanon),
	    dkim_canon_name(c->bcanon));
	if (c->warning != NULL)
		op_log(OP_LOG_WARN, "dkim", NULL, "%s", c->warning);
}

int
dkim_plugin_reload(void)
{
	struct dkim_config *c;
	char *err = NULL;

	if (D.config_dir == NULL)
		return 0;		/* the plugin is not listed */
	if ((c = dkim_config_load(D.config_dir, &err)) == NULL) {
		op_log(OP_LOG_ERROR, "dkim", NULL, "not reloaded: %s; keeping "
		    "the running keys", err);
		free(err);
		return -1;
	}
	dkim_worker_set(c);
	dkim_config_unref(D.cfg);
	D.cfg = c;
	describe(c, "reloaded");
	return 0;
}

static void
dkim_shutdown(void *data)
{
	(void)data;
	dkim_worker_stop();
	dkim_config_unref(D.cfg);
	free(D.config_dir);
	D.cfg = NULL;
	D.config_dir = NULL;
}

static int
dkim_init(struct op_env *env, void **data)
{
	char *err = NULL;

	*data = NULL;
	if ((D.cfg = dkim_config_load(op_config_dir(env), &err)) == NULL) {
		op_log(OP_LOG_CRIT, "dkim", NULL, "%s", err);
		free(err);
		return -1;
	}
	if (dkim_worker_start(op_event_base(env), &err) != 0) {
		op_log(OP_LOG_CRIT, "dkim", NULL, "%s", err);
		free(err);
		dkim_config_unref(D.cfg);
		D.cfg = NULL;
		return -1;
	}
	D.config_dir = xstrdup(op_config_dir(env));
	dkim_worker_set(D.cfg);
	describe(D.cfg, "loaded");
	return 0;
}

const struct op_plugin dkim_plugin = {
	OUTPOST_PLUGIN_ABI, "dkim", dkim_init, dkim_shutdown
};

/* outpost -c ROOT --dkim-keygen DOMAIN SELECTOR [--type] [--bits]. */
int
dkim_keygen_command(const char *root, char **args, int nargs, const char *type,
    const char *bits)
{
	enum dkim_alg alg = DKIM_RSA_SHA256;
	struct buf out = BUF_INIT;
	char *dir, *err = NULL, *end;
	unsigned long nbits = 2048;
	struct stat st;
	int rc;

	if (nargs != 2) {
		fprintf(stderr, "outpost: --dkim-keygen needs DOMAIN SELECTOR\n"
		    "Try 'outpost --help'.\n");
		return EXIT_USAGE;
	}
	if (type != NULL && strcmp(type, "ed25519") == 0)
		alg = DKIM_ED25519_SHA256;
	else if (type != NULL && strcmp(type, "rsa") != 0) {
		fprintf(stderr, "outpost: --type %s: rsa or ed25519\n", type);
		return EXIT_USAGE;
	}
	if (bits != NULL && (errno = 0, nbits = strtoul(bits, &end, 10),
	    errno != 0 || *end != '\0' || end == bits)) {
		fprintf(stderr, "outpost: --bits %s: not a number\n", bits);
		return EXIT_USAGE;
	}
	dir = xasprintf("%s/config", root);
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "outpost: %s: no such directory (create it with "
		    "outpost -i %s)\n", dir, root);
		free(dir);
		return EXIT_NOINPUT;
	}
	rc = dkim_keygen(dir, args[0], args[1], alg, nbits > 65536 ? 65536 :
	    (unsigned)nbits, &out, &err);
	if (rc != 0) {
		fprintf(stderr, "outpost: %s\n", err);
		rc = strstr(err, "exists") != NULL ? EXIT_CANTCREAT : EXIT_USAGE;
	} else {
		printf("Wrote %s/dkim/%s/%sprivate (and public, selector, dns). "
		    "Publish this TXT record:\n%s", dir, args[0],
		    alg == DKIM_ED25519_SHA256 ? "ed25519." : "", buf_cstr(&out));
		rc = EXIT_SUCCESS;
	}
	free(err);
	free(dir);
	buf_free(&out);
	return rc;
}
