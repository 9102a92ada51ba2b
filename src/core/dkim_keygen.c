/*
 * dkim_keygen: outpost --dkim-keygen — a new RSA or Ed25519 key for a
 * domain and selector, written where Haraka's dkim_key_gen.sh writes it
 * (config/dkim/<domain>/: private 0600, public, selector, dns). Never
 * overwrites: every file must be new.
 */
#include "core/dkim_keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"

static int
valid_name(const char *s, int dots_ok)
{
	if (*s == '\0' || *s == '.' || *s == '-' || strlen(s) > 253 ||
	    strstr(s, "..") != NULL)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    !(dots_ok && *s == '.'))
			return 0;
	return 1;
}

/* Creates path (O_EXCL) with the bytes of b. */
static int
write_new(const char *path, mode_t mode, const struct buf *b, char **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd == -1 || write_full(fd, b->p, b->len) != 0 || fsync(fd) != 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		if (fd != -1) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	if (close(fd) != 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static EVP_PKEY *
generate(enum dkim_alg alg, unsigned bits)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;

	ctx = EVP_PKEY_CTX_new_id(alg == DKIM_RSA_SHA256 ? EVP_PKEY_RSA :
	    EVP_PKEY_ED25519, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    (alg == DKIM_RSA_SHA256 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1) ||
	    EVP_PKEY_keygen(ctx, &pk) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static void
bio_to_buf(BIO *bio, struct buf *out)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	if (n > 0)
		buf_add(out, p, (size_t)n);
}

/* "<sel>._domainkey.<domain>. IN TXT "..." "..."": 255-byte strings. */
static void
txt_line(const char *domain, const char *selector, const struct buf *txt,
    struct buf *out)
{
	buf_printf(out, "%s._domainkey.%s. IN TXT", selector, domain);
	for (size_t i = 0; i < txt->len; i += 255)
		buf_printf(out, " \"%.*s\"", (int)(txt->len - i < 255 ?
		    txt->len - i : 255), txt->p + i);
	buf_addc(out, '\n');
}

int
dkim_keygen(const char *config_dir, const char *domain, const char *selector,
    enum dkim_alg alg, unsigned bits, struct buf *out, char **err)
{
	static const char *const names[] = { "private", "public", "selector",
	    "dns" };
	const char *pfx = alg == DKIM_ED25519_SHA256 ? "ed25519." : "";
	struct buf data[4] = { BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
	struct buf txt = BUF_INIT;
	struct dkim_key k = { 0 };
	char *dir, *paths[4] = { NULL };
	size_t done = 0;
	struct stat st;
	BIO *bio;
	int rc = -1;

	*err = NULL;
	if (!valid_name(domain, 1) || strchr(domain, '.') == NULL) {
		*err = xasprintf("'%s' is not a domain name", domain);
		return -1;
	}
	if (!valid_name(selector, 1)) {
		*err = xasprintf("'%s' is not a selector (a DNS label)",
		    selector);
		return -1;
	}
	if (alg == DKIM_RSA_SHA256 && (bits < 1024 || bits > 8192)) {
		*err = xasprintf("--bits %u: RSA keys for DKIM have 1024 to "
		    "8192 bits", bits);
		return -1;
	}
	dir = xasprintf("%s/dkim/%s", config_dir, domain);
	for (size_t i = 0; i < 4; i++) {
		paths[i] = xasprintf("%s/%s%s", dir, pfx, names[i]);
		if (lstat(paths[i], &st) == 0 && *err == NULL)
			*err = xasprintf("%s exists: a key is never "
			    "overwritten", paths[i]);
	}
	if (*err != NULL)
		goto done;
	if ((k.pkey = generate(alg, bits)) == NULL) {
		*err = xasprintf("key generation failed");
		goto done;
	}
	k.alg = alg;
	dkim_key_txt(&k, &txt);
	/* private (PKCS#8 PEM), public (SubjectPublicKeyInfo PEM). */
	for (int i = 0; i < 2; i++) {
		bio = BIO_new(BIO_s_mem());
		if (bio == NULL || (i == 0 ? PEM_write_bio_PrivateKey(bio,
		    k.pkey, NULL, NULL, 0, NULL, NULL) :
		    PEM_write_bio_PUBKEY(bio, k.pkey)) != 1) {
			BIO_free(bio);
			*err = xasprintf("cannot encode the key");
			goto done;
		}
		bio_to_buf(bio, &data[i]);
		BIO_free(bio);
	}
	buf_printf(&data[2], "%s\n", selector);
	txt_line(domain, selector, &txt, &data[3]);
	buf_printf(&data[3], "\nAdd this TXT record to the %s zone "
	    "(%s-sha256, %s).\n", domain, alg == DKIM_RSA_SHA256 ? "rsa" :
	    "ed25519", alg == DKIM_RSA_SHA256 ? "RSA" : "RFC 8463");
	if (mkdirs(dir, 0755) != 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		goto done;
	}
	for (done = 0; done < 4; done++)
		if (write_new(paths[done], done == 0 ? 0600 : 0644,
		    &data[done], err) != 0)
			goto done;
	txt_line(domain, selector, &txt, out);
	rc = 0;
done:
	if (rc != 0)
		while (done > 0)
			unlink(paths[--done]);
	for (size_t i = 0; i < 4; i++) {
		free(paths[i]);
		buf_free(&data[i]);
	}
	buf_free(&txt);
	EVP_PKEY_free(k.pkey);
	free(dir);
	return rc;
}
