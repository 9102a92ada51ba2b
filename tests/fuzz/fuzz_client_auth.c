/*
 * libFuzzer target: what the delivery client reads of a server's SASL
 * (delivery/client_auth.c): the mechanisms of an EHLO AUTH line and the
 * base64 challenges of 334 replies. Input: [mech, round] then the text,
 * taken both as an AUTH line and as a challenge, and as raw bytes that are
 * base64-encoded into a challenge. Oracles: the mechanisms offered are
 * exactly the known names among the line's words, and the pick is one of
 * them; an answer is valid base64 of what the mechanism says —
 * "\0user\0pass" (PLAIN), the user or the password (LOGIN), "user
 * <hex HMAC-MD5(password, challenge)>" (CRAM-MD5, checked against
 * OpenSSL's HMAC over the raw bytes); and a challenge that is not base64
 * is refused.
 */
#include <strings.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "delivery/client_auth.h"
#include "lib/buf.h"
#include "lib/util.h"

#define USER	"fuzz@example.test"
#define PASS	"p\xc3\xa4ss word"

static const struct {
	const char	*name;
	unsigned	 bit;
} mechs[] = {
	{ "CRAM-MD5", CLIENT_AUTH_CRAM }, { "PLAIN", CLIENT_AUTH_PLAIN },
	{ "LOGIN", CLIENT_AUTH_LOGIN },
};

/* The known mechanisms among the blank-separated words of list. */
static unsigned
ref_offered(const char *list)
{
	unsigned bits = 0;

	for (const char *p = list; *p; ) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		for (size_t i = 0; i < 3; i++)
			if (n > 0 && n == strlen(mechs[i].name) &&
			    strncasecmp(p, mechs[i].name, n) == 0)
				bits |= mechs[i].bit;
		p += n;
	}
	return bits;
}

/* What an answer must decode to, given the raw challenge. */
static void
expected(unsigned mech, int round, const struct buf *raw, struct buf *want)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *text = raw->p != NULL ? raw->p : "";

	switch (mech) {
	case CLIENT_AUTH_PLAIN:
		buf_add(want, "\0" USER "\0" PASS, strlen(USER PASS) + 2);
		break;
	case CLIENT_AUTH_LOGIN:
		/* The prompt decides; without one, user first. */
		if (strcasecmp(text, "Username:") == 0 ||
		    (strcasecmp(text, "Password:") != 0 && round == 1))
			buf_adds(want, USER);
		else
			buf_adds(want, PASS);
		break;
	case CLIENT_AUTH_CRAM:
		check(HMAC(EVP_md5(), PASS, (int)strlen(PASS),
		    (const unsigned char *)text, raw->len, md, &mdlen) != NULL);
		buf_adds(want, USER " ");
		for (unsigned i = 0; i < mdlen; i++)
			buf_printf(want, "%02x", md[i]);
		break;
	}
}

static int
allowed(unsigned mech, int round)
{
	return round >= 1 && round <= (mech == CLIENT_AUTH_LOGIN ? 2 : 1);
}

/* The answer to challenge, whose raw bytes are raw (NULL: unknown). */
static void
answer(unsigned mech, int round, const char *challenge,
    const struct buf *raw)
{
	struct buf line = BUF_INIT, dec = BUF_INIT, want = BUF_INIT;
	int rv = client_auth_answer(mech, round, challenge, USER, PASS, &line);

	if (raw != NULL)
		check((rv == 0) == allowed(mech, round));
	if (rv == 0) {
		check(allowed(mech, round));
		check(base64_decode(&dec, line.p, line.len) == 0);
		if (raw != NULL) {
			expected(mech, round, raw, &want);
			check(dec.len == want.len &&
			    memcmp(dec.p, want.p, want.len) == 0);
		}
	}
	buf_free(&line);
	buf_free(&dec);
	buf_free(&want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf enc = BUF_INIT, raw = BUF_INIT, junk = BUF_INIT;
	unsigned offered, mech, picked;
	char *text;
	int round, missing;

	if (size < 2)
		return 0;
	mech = 1u << (data[0] % 3);
	round = 1 + data[1] % 3;	/* rounds count from 1 */
	if ((text = strndup((const char *)data + 2, size - 2)) == NULL)
		abort();

	offered = client_auth_offered(text);
	check(offered == ref_offered(text));
	picked = client_auth_pick(offered, NULL, &missing);
	check(missing == 0 && (offered == 0 ? picked == 0 :
	    (picked & offered) == picked && (picked & (picked - 1)) == 0));
	picked = client_auth_pick(offered, "login", &missing);
	check(missing == !(offered & CLIENT_AUTH_LOGIN));
	if (!missing)
		check(picked == CLIENT_AUTH_LOGIN);

	/* The text as a challenge: refused unless it is base64. */
	buf_adds(&junk, text);
	while (junk.len > 0 && (junk.p[junk.len - 1] == ' ' ||
	    junk.p[junk.len - 1] == '\t'))
		junk.len--;
	if (base64_decode(&raw, junk.p != NULL ? junk.p : "", junk.len) == 0)
		answer(mech, round, text, &raw);
	else
		check(client_auth_answer(mech, round, text, USER, PASS,
		    &enc) == -1);

	/* The raw bytes, as a server would encode them. */
	buf_reset(&raw);
	buf_reset(&enc);
	buf_add(&raw, data + 2, size - 2);
	base64_encode(&enc, raw.p, raw.len);
	buf_adds(&enc, " \t");		/* trailing blanks are dropped */
	answer(mech, round, buf_cstr(&enc), &raw);

	free(text);
	buf_free(&enc);
	buf_free(&raw);
	buf_free(&junk);
	return 0;
}
