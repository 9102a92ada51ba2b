/*
 * tls: builds the server context of the tls plugin from tls.ini [main].
 * Haraka's keys: key, cert (files relative to config/, defaults
 * tls_key.pem and tls_cert.pem), minVersion (TLSv1, TLSv1.1, TLSv1.2,
 * TLSv1.3; default TLSv1.2), ciphers (an OpenSSL cipher list for TLS 1.2
 * and below), honorCipherOrder.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "tls.h"

static char *
ssl_error(const char *what, const char *path)
{
	char why[256] = "unknown error";
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return xasprintf("tls: %s %s: %s", what, path, why);
}

static char *
config_path(const char *dir, const char *v)
{
	return v[0] == '/' ? xstrdup(v) : xasprintf("%s/%s", dir, v);
}

static int
parse_version(const char *v)
{
	static const struct { const char *name; int version; } tab[] = {
		{ "TLSv1", TLS1_VERSION }, { "TLSv1.1", TLS1_1_VERSION },
		{ "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(v, tab[i].name) == 0)
			return tab[i].version;
	return -1;
}

SSL_CTX *
tls_server_ctx(const char *dir, char **err)
{
	char *ipath = xasprintf("%s/tls.ini", dir), *key = NULL, *cert = NULL;
	int exists;
	struct ini *ini = ini_load(ipath, "tls.ini", &exists, NULL, NULL);
	const char *v;
	SSL_CTX *ctx = NULL;
	int minv = TLS1_2_VERSION;

	*err = NULL;
	if (ini == NULL) {
		*err = xasprintf("tls: cannot read config/tls.ini");
		goto done;
	}
	key = config_path(dir, (v = ini_get(ini, "main", "key")) && *v ? v :
	    "tls_key.pem");
	cert = config_path(dir, (v = ini_get(ini, "main", "cert")) && *v ? v :
	    "tls_cert.pem");
	if ((v = ini_get(ini, "main", "minVersion")) != NULL &&
	    (minv = parse_version(v)) == -1) {
		*err = xasprintf("config/tls.ini:%u: minVersion: expected "
		    "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3, got '%s'",
		    ini_line(ini, "main", "minVersion"), v);
		goto done;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*err = ssl_error("cannot create a context for", "tls.ini");
		goto done;
	}
	SSL_CTX_set_min_proto_version(ctx, minv);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ini_bool(ini, "main", "honorCipherOrder", 0))
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if ((v = ini_get(ini, "main", "ciphers")) != NULL && *v &&
	    SSL_CTX_set_cipher_list(ctx, v) != 1) {
		*err = xasprintf("config/tls.ini:%u: ciphers: no usable cipher "
		    "in '%s'", ini_line(ini, "main", "ciphers"), v);
		goto done;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		*err = ssl_error("cannot load the certificate", cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		*err = ssl_error("cannot load the key", key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		*err = ssl_error("the key does not match the certificate",
		    cert);
done:
	if (*err != NULL && ctx != NULL) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	ini_free(ini);
	free(ipath);
	free(key);
	free(cert);
	return ctx;
}
