/*
 * auth/flat_file: Haraka's auth_flat_file plugin. auth_flat_file.ini
 * [core] methods (a comma list of PLAIN, LOGIN, CRAM-MD5; default all
 * three) and [users] name=password. The session runs the SASL exchange
 * (and offers PLAIN and LOGIN only under TLS or to loopback clients);
 * this plugin checks credentials, in constant time.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "smtp/policy.h"

struct users {
	struct auth_backend	 backend;
	struct ini		*ini;
};

static const char *
password_of(const struct users *u, const char *user)
{
	return user[0] ? ini_get(u->ini, "users", user) : NULL;
}

static int
same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* Length leaks; content does not. */
	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static int
check_plain(void *data, const char *user, const char *pass)
{
	const char *want = password_of(data, user);

	return want != NULL && same(want, pass);
}

static int
check_cram(void *data, const char *user, const char *challenge,
    const char *hex)
{
	const char *want = password_of(data, user);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char got[2 * EVP_MAX_MD_SIZE + 1], lower[2 * EVP_MAX_MD_SIZE + 1];
	size_t i;

	if (want == NULL || strlen(hex) != 32)
		return 0;
	if (HMAC(EVP_md5(), want, (int)strlen(want),
	    (const unsigned char *)challenge, strlen(challenge), mac,
	    &len) == NULL)
		return 0;
	for (i = 0; i < len; i++)
		snprintf(got + 2 * i, 3, "%02x", mac[i]);
	for (i = 0; hex[i]; i++)
		lower[i] = (char)tolower((unsigned char)hex[i]);
	lower[i] = '\0';
	return same(got, lower);
}

static void
auth_shutdown(void *data)
{
	struct users *u = data;

	reception_set_auth(NULL);
	if (u != NULL)
		ini_free(u->ini);
	free(u);
}

static int
auth_init(struct op_env *env, void **data)
{
	char *path = xasprintf("%s/auth_flat_file.ini", op_config_dir(env));
	struct users *u = xcalloc(1, sizeof(*u));
	const char *methods;
	int exists;

	u->ini = ini_load(path, "auth_flat_file.ini", &exists, NULL, NULL);
	free(path);
	if (u->ini == NULL) {
		op_log(OP_LOG_CRIT, "auth/flat_file", NULL, "cannot read "
		    "config/auth_flat_file.ini");
		free(u);
		return -1;
	}
	methods = ini_get(u->ini, "core", "methods");
	if (methods == NULL)
		methods = "PLAIN,LOGIN,CRAM-MD5";
	for (const char *p = methods; *p; ) {
		size_t n = strcspn(p, ", \t");

		if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
			u->backend.methods |= AUTH_PLAIN;
		else if (n == 5 && strncasecmp(p, "LOGIN", 5) == 0)
			u->backend.methods |= AUTH_LOGIN;
		else if (n == 8 && strncasecmp(p, "CRAM-MD5", 8) == 0)
			u->backend.methods |= AUTH_CRAM_MD5;
		else if (n > 0)
			op_log(OP_LOG_WARN, "auth/flat_file", NULL,
			    "config/auth_flat_file.ini: methods: unknown "
			    "method '%.*s' ignored", (int)n, p);
		p += n;
		p += strspn(p, ", \t");
	}
	u->backend.check_plain = check_plain;
	u->backend.check_cram = check_cram;
	u->backend.data = u;
	reception_set_auth(&u->backend);
	*data = u;
	op_log(OP_LOG_INFO, "auth/flat_file", NULL, "%zu user%s",
	    ini_nkeys(u->ini, "users"), ini_nkeys(u->ini, "users") == 1 ?
	    "" : "s");
	return 0;
}

const struct op_plugin auth_flat_file_plugin = {
	OUTPOST_PLUGIN_ABI, "auth/flat_file", auth_init, auth_shutdown
};
