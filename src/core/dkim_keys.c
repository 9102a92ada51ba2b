/*
 * dkim_keys: config/dkim.ini and the signing keys (config/dkim/<domain>/,
 * config/dkim.private.key), read whole into one immutable, reference-
 * counted struct dkim_config; the keys' public halves as DNS TXT records.
 * The first problem found is the error (file and key or line).
 */
#include "core/dkim_keys.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/ini.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

/* Haraka's default [sign] headers, and the fields signed once more than
 * they appear (so one added later breaks the signature). */
static const char DEFAULT_HEADERS[] = "From, Sender, Reply-To, Subject, "
    "Date, Message-ID, To, Cc, MIME-Version, Content-Type, "
    "Content-Transfer-Encoding, In-Reply-To, References, List-Unsubscribe, "
    "List-Unsubscribe-Post";
static const char DEFAULT_OVERSIGN[] = "From, To, Subject, Date, Message-ID";

static void
key_clear(struct dkim_key *k)
{
	free(k->domain);
	free(k->selector);
	free(k->file);
	EVP_PKEY_free(k->pkey);
}

static void
domain_clear(struct dkim_domain *d)
{
	for (size_t i = 0; i < d->nkeys; i++)
		key_clear(&d->keys[i]);
	free(d->keys);
	free(d->name);
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
dkim_config_unref(struct dkim_config *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < c->ndomains; i++)
		domain_clear(&c->domains[i]);
	free(c->domains);
	if (c->fallback != NULL && (c->fallback < c->domains ||
	    c->fallback >= c->domains + c->ndomains)) {
		domain_clear(c->fallback);
		free(c->fallback);
	}
	free(c->also);
	free(c->warning);
	strv_free(c->headers, c->nheaders);
	strv_free(c->oversign, c->noversign);
	free(c);
}

struct dkim_config *
dkim_config_ref(struct dkim_config *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

size_t
dkim_config_nkeys(const struct dkim_config *c)
{
	size_t n = c->fallback != NULL && (c->fallback < c->domains ||
	    c->fallback >= c->domains + c->ndomains) ? c->fallback->nkeys : 0;

	for (size_t i = 0; i < c->ndomains; i++)
		n += c->domains[i].nkeys;
	return n;
}

static int
cmp_domain(const void *a, const void *b)
{
	return strcmp(((const struct dkim_domain *)a)->name,
	    ((const struct dkim_domain *)b)->name);
}

const struct dkim_domain *
dkim_config_find(const struct dkim_config *c, const char *domain)
{
	char low[256];
	size_t n = strlen(domain);
	const char *p;

	if (n == 0 || n >= sizeof(low) || c->ndomains == 0)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)domain[i]);
	for (p = low; p != NULL && *p != '\0';) {
		struct dkim_domain key = { .name = (char *)p };
		const struct dkim_domain *d = bsearch(&key, c->domains,
		    c->ndomains, sizeof(*c->domains), cmp_domain);

		if (d != NULL && d->nkeys > 0)
			return d;
		if ((p = strchr(p, '.')) != NULL)
			p++;
	}
	return NULL;
}

/* --- lists of header names --------------------------------------------------- */

static int
has_name(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* Haraka's split: commas, colons or semicolons, blanks ignored. */
static void
name_list(const char *s, char ***v, size_t *n)
{
	while (*s != '\0') {
		size_t len = strcspn(s, ",;:");
		char *name = xcalloc(1, len + 1);
		size_t k = 0;

		for (size_t i = 0; i < len; i++)
			if (!isspace((unsigned char)s[i]))
				name[k++] = (char)tolower((unsigned char)s[i]);
		if (k > 0 && !has_name(*v, *n, name)) {
			*v = xreallocarray(*v, *n + 1, sizeof(**v));
			(*v)[(*n)++] = name;
		} else
			free(name);
		s += len;
		if (*s != '\0')
			s++;
	}
}

/* --- keys ------------------------------------------------------------------------- */

static int
load_key(const char *path, const char *shown, const char *domain,
    const char *selector, struct dkim_key *k, char **err)
{
	char *data = NULL;
	size_t len;
	BIO *bio;
	EVP_PKEY *pk;

	memset(k, 0, sizeof(*k));
	if (read_file(path, &data, &len) != 0) {
		err_first(err, "%s: cannot read the private key: %s", shown,
		    strerror(errno));
		return -1;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(data);
	if (pk == NULL) {
		err_first(err, "%s: not a PEM private key (RSA or Ed25519)",
		    shown);
		return -1;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		if (EVP_PKEY_get_bits(pk) < 1024) {
			err_first(err, "%s: an RSA key of %d bits; DKIM needs "
			    "at least 1024 (RFC 8301)", shown,
			    EVP_PKEY_get_bits(pk));
			EVP_PKEY_free(pk);
			return -1;
		}
		k->alg = DKIM_RSA_SHA256;
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		k->alg = DKIM_ED25519_SHA256;
	} else {
		err_first(err, "%s: neither an RSA nor an Ed25519 key", shown);
		EVP_PKEY_free(pk);
		return -1;
	}
	k->pkey = pk;
	k->domain = xstrdup(domain);
	k->selector = xstrdup(selector);
	k->file = xstrdup(shown);
	return 0;
}

/* A selector is a DNS label sequence: letters, digits, '-', '_', '.'. */
static int
valid_selector(const char *s)
{
	if (*s == '\0' || *s == '.' || strlen(s) > 63 * 4)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	return 1;
}

/* config/dkim/<name>/<tag>private with its <tag>selector. */
static int
add_dir_key(struct dkim_domain *d, const char *dir, const char *name,
    const char *file, char **err)
{
	size_t tl = strlen(file) - strlen("private");
	char *path = xasprintf("%s/%s", dir, file);
	char *spath = xasprintf("%s/%.*sselector", dir, (int)tl, file);
	char *shown = xasprintf("config/dkim/%s/%s", name, file);
	char *sel = NULL;
	int rc = -1, frc;

	if ((frc = flat_value(spath, &sel)) != 0 || sel == NULL) {
		err_first(err, "config/dkim/%s/%.*sselector: %s (the selector "
		    "of %s)", name, (int)tl, file, frc != 0 ? strerror(errno) :
		    "missing or empty", shown);
		goto done;
	}
	if (!valid_selector(sel)) {
		err_first(err, "config/dkim/%s/%.*sselector: '%s' is not a "
		    "DNS label", name, (int)tl, file, sel);
		goto done;
	}
	d->keys = xreallocarray(d->keys, d->nkeys + 1, sizeof(*d->keys));
	if (load_key(path, shown, d->name, sel, &d->keys[d->nkeys], err) != 0)
		goto done;
	d->nkeys++;
	rc = 0;
done:
	free(sel);
	free(path);
	free(spath);
	free(shown);
	return rc;
}

/* Haraka's `private` first, then the others by name. */
static int
cmp_keyfile(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	if (strcmp(x, "private") == 0 || strcmp(y, "private") == 0)
		return strcmp(x, "private") == 0 ? -1 : 1;
	return strcmp(x, y);
}

/* One config/dkim/<name>/ directory: `private` first, then the others. */
static int
load_domain(const char *top, const char *name, struct dkim_domain *d,
    char **err)
{
	char *dir = xasprintf("%s/%s", top, name);
	char **files = NULL;
	size_t nfiles = 0;
	struct dirent *de;
	DIR *dp;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	for (char *p = d->name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((dp = opendir(dir)) == NULL) {
		err_first(err, "config/dkim/%s: %s", name, strerror(errno));
		goto done;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 7 ||
		    strcmp(de->d_name + n - 7, "private") != 0 ||
		    (n > 7 && de->d_name[n - 8] != '.'))
			continue;
		files = xreallocarray(files, nfiles + 1, sizeof(*files));
		files[nfiles++] = xstrdup(de->d_name);
	}
	closedir(dp);
	qsort(files, nfiles, sizeof(*files), cmp_keyfile);
	for (size_t i = 0; i < nfiles; i++)
		if (add_dir_key(d, dir, name, files[i], err) != 0)
			goto done;
	rc = 0;
done:
	strv_free(files, nfiles);
	free(dir);
	return rc;
}

static int
load_dirs(struct dkim_config *c, const char *config_dir, char **err)
{
	char *top = xasprintf("%s/dkim", config_dir);
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int rc = 0;

	if ((dp = opendir(top)) == NULL) {
		free(top);
		if (errno == ENOENT)
			return 0;
		err_first(err, "config/dkim: %s", strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(dp)) != NULL) {
		char *path;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", top, de->d_name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			c->domains = xreallocarray(c->domains, c->ndomains + 1,
			    sizeof(*c->domains));
			rc = load_domain(top, de->d_name,
			    &c->domains[c->ndomains], err);
			c->ndomains++;
		}
		free(path);
	}
	closedir(dp);
	free(top);
	qsort(c->domains, c->ndomains, sizeof(*c->domains), cmp_domain);
	for (size_t i = 1; rc == 0 && i < c->ndomains; i++)
		if (strcmp(c->domains[i].name, c->domains[i - 1].name) == 0) {
			err_first(err, "config/dkim/%s: two directories for "
			    "one domain", c->domains[i].name);
			rc = -1;
		}
	return rc;
}

/* [sign] domain and selector: config/dkim.private.key (Haraka's single
 * domain key), else that domain's directory. */
static int
load_fallback(struct dkim_config *c, const char *config_dir,
    const struct ini *ini, char **err)
{
	const char *dom = ini_get(ini, "sign", "domain");
	const char *sel = ini_get(ini, "sign", "selector");
	char *path = xasprintf("%s/dkim.private.key", config_dir);
	struct stat st;
	struct dkim_domain *d;
	int rc = -1;

	if (dom == NULL || *dom == '\0') {
		free(path);
		return 0;
	}
	if (stat(path, &st) == 0) {
		if (sel == NULL || !valid_selector(sel)) {
			err_first(err, "config/dkim.ini:%u: selector: needed "
			    "for config/dkim.private.key (a DNS label)",
			    ini_line(ini, "sign", "selector"));
			goto done;
		}
		d = xcalloc(1, sizeof(*d));
		d->name = xstrdup(dom);
		for (char *p = d->name; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		d->keys = xcalloc(1, sizeof(*d->keys));
		c->fallback = d;
		if (load_key(path, "config/dkim.private.key", d->name, sel,
		    &d->keys[0], err) != 0)
			goto done;
		d->nkeys = 1;
	} else if ((c->fallback = (struct dkim_domain *)dkim_config_find(c,
	    dom)) == NULL) {
		/* As Haraka: no default key, no fallback signature. */
		c->warning = xasprintf("config/dkim.ini:%u: domain: no key for "
		    "%s (neither config/dkim.private.key nor config/dkim/%s/): "
		    "mail of other domains is not signed", ini_line(ini, "sign",
		    "domain"), dom, dom);
	}
	rc = 0;
done:
	free(path);
	return rc;
}

static int
load_canon(const struct ini *ini, const char *key, enum dkim_canon *out,
    char **err)
{
	const char *v = ini_get(ini, "canon", key);

	*out = DKIM_RELAXED;
	if (v != NULL && dkim_canon_parse(v, out) != 0) {
		err_first(err, "config/dkim.ini:%u: %s: '%s' is neither simple "
		    "nor relaxed", ini_line(ini, "canon", key), key, v);
		return -1;
	}
	return 0;
}

static void
load_names(struct dkim_config *c, const struct ini *ini)
{
	const char *h = ini_get(ini, "sign", "headers");
	const char *o = ini_get(ini, "sign", "oversign");

	if (h == NULL)
		h = ini_get(ini, "sign", "headers_to_sign");
	name_list("from", &c->headers, &c->nheaders);	/* required */
	name_list(h != NULL ? h : DEFAULT_HEADERS, &c->headers, &c->nheaders);
	name_list(o != NULL ? o : DEFAULT_OVERSIGN, &c->oversign,
	    &c->noversign);
	for (size_t i = 0; i < c->noversign; i++)
		if (!has_name(c->headers, c->nheaders, c->oversign[i])) {
			c->headers = xreallocarray(c->headers, c->nheaders + 1,
			    sizeof(*c->headers));
			c->headers[c->nheaders++] = xstrdup(c->oversign[i]);
		}
}

static int
load_also(struct dkim_config *c, const struct ini *ini, char **err)
{
	char **names = NULL;
	size_t n = 0;
	const char *v = ini_get(ini, "sign", "additional_domains");
	int rc = 0;

	if (v != NULL)
		name_list(v, &names, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct dkim_domain *d = dkim_config_find(c, names[i]);

		if (d == NULL || strcmp(d->name, names[i]) != 0) {
			err_first(err, "config/dkim.ini:%u: additional_domains: "
			    "no directory config/dkim/%s/", ini_line(ini,
			    "sign", "additional_domains"), names[i]);
			rc = -1;
			break;
		}
		c->also = xreallocarray(c->also, c->nalso + 1,
		    sizeof(*c->also));
		c->also[c->nalso++] = (struct dkim_domain *)d;
	}
	strv_free(names, n);
	return rc;
}

struct dkim_config *
dkim_config_load(const char *config_dir, char **err)
{
	char *path = xasprintf("%s/dkim.ini", config_dir);
	struct dkim_config *c = xcalloc(1, sizeof(*c));
	struct ini *ini;
	int exists;

	c->refs = 1;
	*err = NULL;
	ini = ini_load(path, "dkim.ini", &exists, ini_warn_first, err);
	free(path);
	if (ini == NULL) {
		err_first(err, "config/dkim.ini: %s", strerror(errno));
		goto fail;
	}
	if (*err != NULL)
		goto fail;
	/* Listing the plugin turns signing on; enabled=false turns it off. */
	c->enabled = ini_bool(ini, "sign", "enabled", 1);
	load_names(c, ini);
	if (load_canon(ini, "header", &c->hcanon, err) != 0 ||
	    load_canon(ini, "body", &c->bcanon, err) != 0 ||
	    load_dirs(c, config_dir, err) != 0 ||
	    load_fallback(c, config_dir, ini, err) != 0 ||
	    load_also(c, ini, err) != 0)
		goto fail;
	ini_free(ini);
	return c;
fail:
	ini_free(ini);
	dkim_config_unref(c);
	return NULL;
}

/* --- public keys ----------------------------------------------------------------- */

void
dkim_key_txt(const struct dkim_key *k, struct buf *out)
{
	unsigned char *der = NULL, raw[64];
	size_t rawlen = sizeof(raw);
	int n;

	if (k->alg == DKIM_ED25519_SHA256) {
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1)
			rawlen = 0;
		buf_adds(out, "v=DKIM1; k=ed25519; p=");
		base64_encode(out, raw, rawlen);
		return;
	}
	buf_adds(out, "v=DKIM1; k=rsa; p=");
	if ((n = i2d_PUBKEY(k->pkey, &der)) > 0)
		base64_encode(out, der, (size_t)n);
	OPENSSL_free(der);
}
