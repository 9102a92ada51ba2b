/*
 * tls: builds the server context of the tls plugin from tls.ini [main],
 * and the outbound client context and host lists from [outbound] (which
 * overrides [main]). Haraka's keys: key, cert (files relative to config/,
 * defaults tls_key.pem and tls_cert.pem), minVersion (TLSv1, TLSv1.1,
 * TLSv1.2, TLSv1.3; default TLSv1.2), ciphers (an OpenSSL cipher list for
 * TLS 1.2 and below), honorCipherOrder; outbound also ca, no_tls_hosts
 * and force_tls_hosts; dane, dane_trust_anchor, dane_resolvers and mta_sts
 * ([outbound] only). The outbound object is immutable once loaded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/ini.h"
#include "lib/netmatch.h"
#include "lib/xmalloc.h"
#include "core/tls.h"

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

/* --- outbound ------------------------------------------------------------------- */

struct tls_outbound {
	SSL_CTX		*ctx;
	struct netmatch	*no_tls;
	struct netmatch	*force_tls;
	/* DANE (RFC 7672): off by default; see tls_dane(). */
	int		 dane;
	char		*dane_ta;	/* trust anchor file, absolute */
	char		*dane_resolvers;	/* comma list, NULL: net-utils.ini */
	char		*ca;		/* the `ca` bundle, NULL */
	int		 mta_sts;
	int		 reject_unauthorized;	/* rejectUnauthorized */
};

/* IPs, CIDR blocks and names taken as written; ::ffff:a.b.c.d is a.b.c.d. */
#define HOST_LIST_FLAGS	(NETMATCH_NAMES | NETMATCH_FOLD_MAPPED)

/* [outbound] first, then [main]; *sect tells which one answered. */
static const char *
out_get(const struct ini *ini, const char *key, const char **sect)
{
	const char *v;

	*sect = "outbound";
	if ((v = ini_get(ini, "outbound", key)) != NULL)
		return v;
	*sect = "main";
	return ini_get(ini, "main", key);
}

/* Adds one entry (trimmed here, skipped when blank); -1 on a malformed
 * address block. */
static int
host_add(struct netmatch *l, const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	return netmatch_add(l, s, len) == NETMATCH_OK ? 0 : -1;
}

/* Comma-separated entries; -1 on a bad one. */
static int
host_add_list(struct netmatch *l, const char *v)
{
	const char *comma;

	for (;;) {
		comma = strchr(v, ',');
		if (host_add(l, v, comma ? (size_t)(comma - v) : strlen(v)) == -1)
			return -1;
		if (comma == NULL)
			return 0;
		v = comma + 1;
	}
}

/* `key=a,b` (or key[]=) in [outbound] else [main], plus the keys of
 * section [key]. */
static int
host_list_load(struct netmatch *l, const struct ini *ini, const char *key,
    char **err)
{
	const char *const *vals;
	const char *sect = "outbound";
	size_t n;

	if ((n = ini_array(ini, sect, key, &vals)) == 0) {
		sect = "main";
		n = ini_array(ini, sect, key, &vals);
	}
	for (size_t i = 0; i < n; i++)
		if (host_add_list(l, vals[i]) == -1) {
			*err = xasprintf("config/tls.ini:%u: %s: bad address "
			    "block in '%s'", ini_line(ini, sect, key), key,
			    vals[i]);
			return -1;
		}
	n = ini_nkeys(ini, key);
	for (size_t i = 0; i < n; i++) {
		const char *k = ini_key_name(ini, key, i);

		if (host_add(l, k, strlen(k)) == -1) {
			*err = xasprintf("config/tls.ini:%u: [%s]: bad address "
			    "block '%s'", ini_line(ini, key, k), key, k);
			return -1;
		}
	}
	return 0;
}

/* The MX address, the MX name (may be NULL) or the recipient domain. */
static int
host_match(const struct netmatch *l, const char *ip, const char *host,
    const char *domain)
{
	return netmatch_ip(l, ip) || netmatch_name(l, host) ||
	    netmatch_name(l, domain);
}

int
tls_no_tls_host(const struct tls_outbound *t, const char *ip,
    const char *host, const char *domain)
{
	return t != NULL && host_match(t->no_tls, ip, host, domain);
}

int
tls_reject_unauthorized(const struct tls_outbound *t)
{
	return t != NULL && t->reject_unauthorized;
}

int
tls_force_tls_host(const struct tls_outbound *t, const char *ip,
    const char *host, const char *domain)
{
	return t != NULL && host_match(t->force_tls, ip, host, domain);
}

int
tls_dane(const struct tls_outbound *t, const char **trust_anchor,
    const char **resolvers)
{
	if (t == NULL || !t->dane)
		return 0;
	*trust_anchor = t->dane_ta;
	*resolvers = t->dane_resolvers;
	return 1;
}

/* dane, dane_trust_anchor, dane_resolvers ([outbound] only). */
static int
dane_load(struct tls_outbound *t, const struct ini *ini, const char *dir,
    char **err)
{
	const char *v;

	if (!(t->dane = ini_bool(ini, "outbound", "dane", 0)))
		return 0;
	v = ini_get(ini, "outbound", "dane_trust_anchor");
	t->dane_ta = config_path(dir, v != NULL && *v ? v :
	    TLS_DANE_ROOT_KEY);
	if (access(t->dane_ta, R_OK) != 0) {
		*err = xasprintf("config/tls.ini:%u: dane_trust_anchor: cannot "
		    "read %s: %s", ini_line(ini, "outbound",
		    v != NULL ? "dane_trust_anchor" : "dane"), t->dane_ta,
		    strerror(errno));
		return -1;
	}
	if ((v = ini_get(ini, "outbound", "dane_resolvers")) != NULL && *v)
		t->dane_resolvers = xstrdup(v);
	if (SSL_CTX_dane_enable(t->ctx) <= 0) {
		*err = ssl_error("cannot enable DANE in", "tls.ini");
		return -1;
	}
	/* RFC 7672 3.1.1: DANE-EE(3) ignores the names in the certificate. */
	SSL_CTX_dane_set_flags(t->ctx, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	return 0;
}

int
tls_mta_sts(const struct tls_outbound *t)
{
	return t != NULL && t->mta_sts;
}

const char *
tls_outbound_ca(const struct tls_outbound *t)
{
	return t != NULL ? t->ca : NULL;
}

SSL_CTX *
tls_outbound_ctx(const struct tls_outbound *t)
{
	return t != NULL ? t->ctx : NULL;
}

void
tls_outbound_free(struct tls_outbound *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	netmatch_free(t->no_tls);
	netmatch_free(t->force_tls);
	free(t->dane_ta);
	free(t->dane_resolvers);
	free(t->ca);
	free(t);
}

/*
 * The client certificate: key and cert set in [outbound] must load;
 * inherited from [main] or the defaults they are used only when both
 * files exist (the server's pair, as Haraka does).
 */
static int
client_cert(SSL_CTX *ctx, const struct ini *ini, const char *dir,
    char **err)
{
	const char *v, *ks, *cs;
	char *key, *cert;
	int explicit, rv = 0;

	v = out_get(ini, "key", &ks);
	key = config_path(dir, v && *v ? v : "tls_key.pem");
	v = out_get(ini, "cert", &cs);
	cert = config_path(dir, v && *v ? v : "tls_cert.pem");
	explicit = ini_get(ini, "outbound", "key") != NULL ||
	    ini_get(ini, "outbound", "cert") != NULL;
	if (!explicit && (access(key, R_OK) != 0 || access(cert, R_OK) != 0))
		goto done;
	rv = -1;
	if (access(cert, R_OK) != 0)
		*err = xasprintf("tls: cannot read the client certificate %s: "
		    "%s", cert, strerror(errno));
	else if (access(key, R_OK) != 0)
		*err = xasprintf("tls: cannot read the client key %s: %s", key,
		    strerror(errno));
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		*err = ssl_error("cannot load the client certificate", cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		*err = ssl_error("cannot load the client key", key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		*err = ssl_error("the client key does not match the "
		    "certificate", cert);
	else
		rv = 0;
done:
	free(key);
	free(cert);
	return rv;
}

struct tls_outbound *
tls_outbound_load(const char *dir, char **err)
{
	char *ipath = xasprintf("%s/tls.ini", dir), *ca = NULL;
	int exists, minv = TLS1_2_VERSION;
	struct ini *ini = ini_load(ipath, "tls.ini", &exists, NULL, NULL);
	struct tls_outbound *t = xcalloc(1, sizeof(*t));
	const char *v, *sect;

	*err = NULL;
	if (ini == NULL) {
		*err = xasprintf("tls: cannot read config/tls.ini");
		goto done;
	}
	if ((v = out_get(ini, "minVersion", &sect)) != NULL &&
	    (minv = parse_version(v)) == -1) {
		*err = xasprintf("config/tls.ini:%u: minVersion: expected "
		    "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3, got '%s'",
		    ini_line(ini, sect, "minVersion"), v);
		goto done;
	}
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*err = ssl_error("cannot create a client context for",
		    "tls.ini");
		goto done;
	}
	SSL_CTX_set_min_proto_version(t->ctx, minv);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Per connection: SSL_VERIFY_PEER only for forced hosts. */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	if ((v = out_get(ini, "ciphers", &sect)) != NULL && *v &&
	    SSL_CTX_set_cipher_list(t->ctx, v) != 1) {
		*err = xasprintf("config/tls.ini:%u: ciphers: no usable cipher "
		    "in '%s'", ini_line(ini, sect, "ciphers"), v);
		goto done;
	}
	if (client_cert(t->ctx, ini, dir, err) == -1)
		goto done;
	SSL_CTX_set_default_verify_paths(t->ctx);
	ERR_clear_error();	/* a missing system store is not an error */
	if ((v = out_get(ini, "ca", &sect)) != NULL && *v) {
		ca = config_path(dir, v);
		if (access(ca, R_OK) != 0) {
			*err = xasprintf("tls: cannot read the CA bundle %s: %s",
			    ca, strerror(errno));
			goto done;
		}
		if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
			*err = ssl_error("cannot load the CA bundle", ca);
			goto done;
		}
		t->ca = xstrdup(ca);
	}
	t->mta_sts = ini_bool(ini, "outbound", "mta_sts", 1);
	/* Haraka's rejectUnauthorized: every STARTTLS verifies the server. */
	t->reject_unauthorized = (v = out_get(ini, "rejectUnauthorized",
	    &sect)) != NULL && ini_is_truth(v);
	t->no_tls = netmatch_new(HOST_LIST_FLAGS);
	t->force_tls = netmatch_new(HOST_LIST_FLAGS);
	if (host_list_load(t->no_tls, ini, "no_tls_hosts", err) == -1 ||
	    host_list_load(t->force_tls, ini, "force_tls_hosts", err) == -1)
		goto done;
	if (dane_load(t, ini, dir, err) == -1)
		goto done;
done:
	if (*err != NULL) {
		tls_outbound_free(t);
		t = NULL;
	}
	ini_free(ini);
	free(ipath);
	free(ca);
	return t;
}
