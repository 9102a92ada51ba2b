/*
 * dkim_sign: DKIM-Signature fields for one message — key choice, body
 * hash, header hash, RSA-SHA256 or Ed25519-SHA256 — on OpenSSL 3's EVP
 * interface. Reads the configuration and the message; owns nothing past
 * a call.
 */
#include "queue/dkim_sign.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "lib/util.h"
#include "lib/xmalloc.h"
#include "proto/dkim_canon.h"
#include "proto/message.h"

#define MAX_KEYS	16

static void
add_keys(const struct dkim_domain *d, const char *selector,
    const struct dkim_key **keys, size_t *n)
{
	for (size_t i = 0; d != NULL && i < d->nkeys && *n < MAX_KEYS; i++) {
		size_t j;

		if (selector != NULL && strcmp(d->keys[i].selector, selector))
			continue;
		for (j = 0; j < *n; j++)
			if (keys[j] == &d->keys[i])
				break;
		if (j == *n)
			keys[(*n)++] = &d->keys[i];
	}
}

/* Which keys sign: the plugin's choice, else the From domain's (or its
 * parent's), the envelope domain's, the fallback; then the others. */
static size_t
choose_keys(const struct dkim_config *c, const struct dkim_request *r,
    const struct dkim_key **keys)
{
	const struct dkim_domain *d = NULL;
	struct buf from = BUF_INIT;
	char dom[256];
	const char *at;
	size_t n = 0;

	if (r->domain != NULL && *r->domain != '\0') {
		d = dkim_config_find(c, r->domain);
		if (d == NULL && c->fallback != NULL &&
		    strcasecmp(c->fallback->name, r->domain) == 0)
			d = c->fallback;
		add_keys(d, r->selector, keys, &n);
		return n;
	}
	if (msg_header(r->msg, r->len, "From", &from) &&
	    dkim_from_domain(from.p, from.len, dom, sizeof(dom)))
		d = dkim_config_find(c, dom);
	else if ((at = strrchr(r->mail_from, '@')) != NULL)
		d = dkim_config_find(c, at + 1);
	buf_free(&from);
	if (d == NULL)
		d = c->fallback;
	add_keys(d, NULL, keys, &n);
	for (size_t i = 0; i < c->nalso; i++)
		add_keys(c->also[i], NULL, keys, &n);
	return n;
}

static void
hash_emit(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/* The body hash, base64, of the body canonicalised as c. */
static int
body_hash(enum dkim_canon c, const char *body, size_t len, struct buf *b64)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char h[SHA256_DIGEST_LENGTH];
	unsigned hl = 0;
	struct dkim_body *bc;
	int rc = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto done;
	bc = xcalloc(1, sizeof(*bc));
	dkim_body_init(bc, c, hash_emit, md);
	dkim_body_feed(bc, body, len);
	dkim_body_finish(bc);
	free(bc);
	if (EVP_DigestFinal_ex(md, h, &hl) != 1)
		goto done;
	base64_encode(b64, h, hl);
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

static int
name_is(const struct dkim_field *f, const char *name)
{
	return f->namelen == strlen(name) &&
	    strncasecmp(f->p, name, f->namelen) == 0;
}

/* h= (folded into value, lines under 78 columns) and the signed fields'
 * canonical form (into data): each name once per field, the last field
 * first; an oversigned name once more. */
static void
header_list(const struct dkim_config *c, const struct dkim_field *f,
    size_t nf, struct buf *value, size_t *col, struct buf *data)
{
	int first = 1;

	for (size_t i = 0; i < c->nheaders; i++) {
		const char *name = c->headers[i];
		size_t times = 0;
		int over = 0;

		for (size_t j = nf; j-- > 0;)
			if (name_is(&f[j], name)) {
				dkim_canon_header(c->hcanon, f[j].p, f[j].len,
				    data);
				times++;
			}
		for (size_t k = 0; k < c->noversign; k++)
			if (strcmp(c->oversign[k], name) == 0)
				over = 1;
		for (times += over; times > 0; times--) {
			size_t l = strlen(name) + 1;

			if (*col + l > 76) {
				buf_adds(value, "\r\n\t");
				*col = 1;
			}
			if (!first)
				buf_addc(value, ':');
			buf_adds(value, name);
			*col += l;
			first = 0;
		}
	}
	buf_addc(value, ';');
}

static int
sign_data(const struct dkim_key *k, const struct buf *data,
    struct buf *b64)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char h[SHA256_DIGEST_LENGTH], sig[1024];
	size_t siglen = sizeof(sig);
	int rc = -1;

	if (md == NULL)
		return -1;
	if (k->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463: Ed25519 over the SHA-256 of the data. */
		SHA256((const unsigned char *)data->p, data->len, h);
		if (EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) != 1 ||
		    EVP_DigestSign(md, sig, &siglen, h, sizeof(h)) != 1)
			goto done;
	} else if ((size_t)EVP_PKEY_get_size(k->pkey) > sizeof(sig) ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)data->p,
	    data->len) != 1)
		goto done;
	base64_encode(b64, sig, siglen);
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

/* One DKIM-Signature field for key k, appended to out. */
static int
sign_one(const struct dkim_config *c, const struct dkim_key *k,
    const struct dkim_request *r, const struct dkim_field *f, size_t nf,
    const struct buf *bh, struct buf *out)
{
	struct buf field = BUF_INIT, data = BUF_INIT, b = BUF_INIT;
	size_t col;
	int rc = -1;

	buf_printf(&field, "DKIM-Signature: v=1; a=%s; c=%s/%s; d=%s; s=%s;"
	    "\r\n\tt=%lld; h=", k->alg == DKIM_RSA_SHA256 ? "rsa-sha256" :
	    "ed25519-sha256", dkim_canon_name(c->hcanon),
	    dkim_canon_name(c->bcanon), k->domain, k->selector,
	    (long long)r->now);
	col = 1 + strlen("t=; h=") + (size_t)snprintf(NULL, 0, "%lld",
	    (long long)r->now);
	header_list(c, f, nf, &field, &col, &data);
	buf_printf(&field, "\r\n\tbh=%s;\r\n\tb=", bh->p);
	/* The field itself, b= empty, without its final CRLF. */
	dkim_canon_header(c->hcanon, field.p, field.len, &data);
	if (c->hcanon == DKIM_RELAXED)
		data.len -= 2;
	if (sign_data(k, &data, &b) != 0)
		goto done;
	/* b= folded: 69 characters after "\tb=", then 72 a line. */
	for (size_t i = 0, room = 69; i < b.len; room = 72) {
		size_t n = b.len - i < room ? b.len - i : room;

		if (i > 0)
			buf_adds(&field, "\r\n\t");
		buf_add(&field, b.p + i, n);
		i += n;
	}
	buf_adds(&field, "\r\n");
	buf_add(out, field.p, field.len);
	rc = 0;
done:
	buf_free(&field);
	buf_free(&data);
	buf_free(&b);
	return rc;
}

int
dkim_sign(const struct dkim_config *c, const struct dkim_request *r,
    struct buf *out, struct buf *info, char **err)
{
	const struct dkim_key *keys[MAX_KEYS];
	struct buf bh = BUF_INIT, sigs = BUF_INIT;
	struct dkim_field *f = NULL;
	size_t nk, hlen, nf;
	int rc = -1;

	if ((nk = choose_keys(c, r, keys)) == 0)
		return 0;
	hlen = msg_headers_len(r->msg, r->len);
	nf = dkim_fields(r->msg, hlen, NULL, 0);
	f = xcalloc(nf + 1, sizeof(*f));
	dkim_fields(r->msg, hlen, f, nf);
	if (body_hash(c->bcanon, r->msg + hlen, r->len - hlen, &bh) != 0) {
		*err = xasprintf("body hash: OpenSSL failed");
		goto done;
	}
	for (size_t i = 0; i < nk; i++) {
		if (sign_one(c, keys[i], r, f, nf, &bh, &sigs) != 0) {
			*err = xasprintf("signing with %s failed (OpenSSL)",
			    keys[i]->file);
			goto done;
		}
		buf_printf(info, "%sd=%s s=%s a=%s", i ? ", " : "",
		    keys[i]->domain, keys[i]->selector,
		    keys[i]->alg == DKIM_RSA_SHA256 ? "rsa-sha256" :
		    "ed25519-sha256");
	}
	buf_add(out, sigs.p, sigs.len);
	rc = (int)nk;
done:
	free(f);
	buf_free(&bh);
	buf_free(&sigs);
	return rc;
}
