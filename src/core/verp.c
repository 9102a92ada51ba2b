/*
 * verp: the VERP token (encode, verify, decode) and the process-wide
 * choice of which mail gets a VERP return path (core/verp.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/verp.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "lib/util.h"

#define MAC_BYTES	8
#define MAC_CHARS	13		/* base32 of 8 bytes, unpadded */
#define UUID_CHARS	36

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char hexd[] = "0123456789abcdef";

static void
base32(const unsigned char *p, size_t n, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			buf_addc(out, b32[(acc >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits > 0)
		buf_addc(out, b32[(acc << (5 - bits)) & 31]);
}

/* n chars of base32 into out (n*5/8 bytes); -1 on a bad char. */
static int
unbase32(const char *s, size_t n, unsigned char *out, size_t outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		const char *c = strchr(b32, s[i]);

		if (s[i] == '\0' || c == NULL)
			return -1;
		acc = (acc << 5) | (uint32_t)(c - b32);
		bits += 5;
		if (bits >= 8) {
			if (o == outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return o == outlen ? 0 : -1;
}

static void
mac(const unsigned char *key, size_t keylen, const char *id,
    const char *rcpt, struct buf *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct buf in;

	in = (struct buf)BUF_INIT;
	buf_add(&in, "verp1", 6);		/* with its NUL */
	buf_add(&in, id, strlen(id) + 1);
	if (rcpt != NULL)
		buf_add(&in, rcpt, strlen(rcpt));
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)in.p,
	    in.len, md, &mdlen);
	base32(md, MAC_BYTES, out);
	buf_free(&in);
}

/* Outpost's job ids: an upper-case UUID, then ".<digits>" parts. */
static int
uuid_id(const char *id, unsigned char bytes[16])
{
	size_t n = 0;

	for (size_t i = 0; i < UUID_CHARS; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (id[i] != '-')
				return 0;
			continue;
		}
		if (!isdigit((unsigned char)id[i]) &&
		    !(id[i] >= 'A' && id[i] <= 'F'))
			return 0;
		hi = hex_value(id[i]);
		if (!isdigit((unsigned char)id[i + 1]) &&
		    !(id[i + 1] >= 'A' && id[i + 1] <= 'F'))
			return 0;
		lo = hex_value(id[++i]);
		bytes[n++] = (unsigned char)(hi << 4 | lo);
	}
	for (const char *p = id + UUID_CHARS; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return 0;
	return 1;
}

static void
enc_id(const char *id, struct buf *out)
{
	unsigned char u[16];

	if (strlen(id) >= UUID_CHARS && uuid_id(id, u)) {
		buf_addc(out, 'u');
		base32(u, sizeof(u), out);
		buf_adds(out, id + UUID_CHARS);
		return;
	}
	buf_addc(out, 'x');
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		buf_addc(out, hexd[*p >> 4]);
		buf_addc(out, hexd[*p & 15]);
	}
}

/* The id field (n chars of lower-case token); NULL when malformed. */
static char *
dec_id(const char *s, size_t n)
{
	struct buf out;

	out = (struct buf)BUF_INIT;
	if (n > 0 && s[0] == 'u' && n >= 27) {
		unsigned char u[16];

		if (unbase32(s + 1, 26, u, sizeof(u)) != 0)
			goto bad;
		for (size_t i = 0; i < 16; i++) {
			if (i == 4 || i == 6 || i == 8 || i == 10)
				buf_addc(&out, '-');
			buf_addc(&out, "0123456789ABCDEF"[u[i] >> 4]);
			buf_addc(&out, "0123456789ABCDEF"[u[i] & 15]);
		}
		for (size_t i = 27; i < n; i++) {
			if (!isdigit((unsigned char)s[i]) && s[i] != '.')
				goto bad;
			buf_addc(&out, s[i]);
		}
	} else if (n > 1 && s[0] == 'x' && (n - 1) % 2 == 0) {
		for (size_t i = 1; i < n; i += 2) {
			int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			buf_addc(&out, (char)(hi << 4 | lo));
		}
	} else
		goto bad;
	return buf_release(&out);
bad:
	buf_free(&out);
	return NULL;
}

static void
enc_rcpt(const char *rcpt, struct buf *out)
{
	size_t n = strlen(rcpt);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)rcpt[i];

		if ((c >= 'a' && c <= 'z') || isdigit(c) || c == '_' ||
		    c == '-')
			buf_addc(out, (char)c);
		else if (c == '@')
			buf_addc(out, '=');
		else if (c == '.' && i > 0 && i + 1 < n && rcpt[i - 1] != '.'
		    && rcpt[i + 1] != '.' && rcpt[i - 1] != '@' &&
		    rcpt[i + 1] != '@')
			buf_addc(out, '.');
		else {
			buf_addc(out, '%');
			buf_addc(out, hexd[c >> 4]);
			buf_addc(out, hexd[c & 15]);
		}
	}
}

static char *
dec_rcpt(const char *s)
{
	struct buf out;

	out = (struct buf)BUF_INIT;
	for (; *s; s++) {
		if (*s == '=')
			buf_addc(&out, '@');
		else if (*s == '%') {
			int hi = hex_value(s[1]), lo = hi < 0 ? -1 : hex_value(s[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				buf_free(&out);
				return NULL;
			}
			buf_addc(&out, (char)(hi << 4 | lo));
			s += 2;
		} else
			buf_addc(&out, *s);
	}
	return buf_release(&out);
}

char *
verp_encode(const char *prefix, const char *domain, const unsigned char *key,
    size_t keylen, const char *id, const char *rcpt)
{
	struct buf out;

	out = (struct buf)BUF_INIT;
	buf_adds(&out, prefix);
	buf_addc(&out, '+');
	mac(key, keylen, id, rcpt, &out);
	buf_addc(&out, '-');
	enc_id(id, &out);
	if (rcpt != NULL) {
		buf_addc(&out, '-');
		enc_rcpt(rcpt, &out);
	}
	buf_addc(&out, '@');
	buf_adds(&out, domain);
	return buf_release(&out);
}

enum verp_result
verp_decode(const char *prefix, const unsigned char *key, size_t keylen,
    const char *local_part, char **id, char **rcpt)
{
	size_t plen = strlen(prefix);
	char *t, *dash, *i = NULL, *r = NULL;
	struct buf want;
	enum verp_result res = VERP_BAD;

	*id = *rcpt = NULL;
	if (strncasecmp(local_part, prefix, plen) != 0 ||
	    local_part[plen] != '+')
		return VERP_NONE;
	t = xstrdup(local_part + plen + 1);
	for (char *p = t; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	want = (struct buf)BUF_INIT;
	if (strlen(t) < MAC_CHARS + 2 || t[MAC_CHARS] != '-')
		goto done;
	dash = strchr(t + MAC_CHARS + 1, '-');
	if ((i = dec_id(t + MAC_CHARS + 1, dash != NULL ?
	    (size_t)(dash - t) - MAC_CHARS - 1 : strlen(t + MAC_CHARS + 1)))
	    == NULL)
		goto done;
	if (dash != NULL && (r = dec_rcpt(dash + 1)) == NULL)
		goto done;
	mac(key, keylen, i, r, &want);
	if (want.len != MAC_CHARS || CRYPTO_memcmp(want.p, t,
	    MAC_CHARS) != 0)
		goto done;
	*id = i;
	*rcpt = r;
	i = r = NULL;
	res = VERP_OK;
done:
	free(i);
	free(r);
	free(t);
	buf_free(&want);
	return res;
}

static struct verp_conf *current;

void
verp_conf_free(struct verp_conf *c)
{
	if (c == NULL)
		return;
	free(c->prefix);
	free(c->domain);
	for (size_t i = 0; i < c->nsender_domains; i++)
		free(c->sender_domains[i]);
	free(c->sender_domains);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}

void
verp_set(struct verp_conf *c)
{
	verp_conf_free(current);
	current = c;
}

const struct verp_conf *
verp_get(void)
{
	return current;
}

char *
verp_return_path(const char *mail_from, const char *id, const char *rcpt)
{
	const struct verp_conf *c = current;
	const char *at;

	if (c == NULL || mail_from == NULL || *mail_from == '\0')
		return NULL;
	if (!c->all) {
		size_t i;

		if ((at = strrchr(mail_from, '@')) == NULL)
			return NULL;
		for (i = 0; i < c->nsender_domains; i++)
			if (strcasecmp(at + 1, c->sender_domains[i]) == 0)
				break;
		if (i == c->nsender_domains)
			return NULL;
	}
	return verp_encode(c->prefix, c->domain, c->key, c->keylen, id, rcpt);
}
