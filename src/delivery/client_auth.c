/*
 * client_auth: SASL PLAIN, LOGIN and CRAM-MD5 for the client (contract in
 * client_auth.h). Pure: strings in, base64 lines out; the secrets it copies
 * into scratch buffers are wiped where the session code wiped them.
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "delivery/client_auth.h"

static const struct {
	const char	*name;
	unsigned	 bit;
} mechs[] = {
	{ "CRAM-MD5", CLIENT_AUTH_CRAM }, { "PLAIN", CLIENT_AUTH_PLAIN },
	{ "LOGIN", CLIENT_AUTH_LOGIN },
};

#define NMECHS	(sizeof(mechs) / sizeof(mechs[0]))

unsigned
client_auth_offered(const char *arg)
{
	unsigned bits = 0;

	while (*arg) {
		size_t n = strcspn(arg, " \t");

		for (size_t i = 0; i < NMECHS; i++)
			if (strlen(mechs[i].name) == n &&
			    strncasecmp(arg, mechs[i].name, n) == 0)
				bits |= mechs[i].bit;
		arg += n;
		arg += strspn(arg, " \t");
	}
	return bits;
}

unsigned
client_auth_pick(unsigned offered, const char *type, int *missing)
{
	size_t i;

	*missing = 0;
	if (type != NULL) {
		for (i = 0; i < NMECHS; i++)
			if (strcasecmp(type, mechs[i].name) == 0 &&
			    (offered & mechs[i].bit))
				return mechs[i].bit;
		*missing = 1;
	}
	for (i = 0; i < NMECHS; i++)
		if (offered & mechs[i].bit)
			return mechs[i].bit;
	return 0;
}

/* prefix and the base64 of "\0user\0pass". */
static void
plain(struct buf *line, const char *prefix, const char *user,
    const char *pass)
{
	struct buf raw = BUF_INIT;

	buf_adds(line, prefix);
	buf_addc(&raw, '\0');
	buf_adds(&raw, user);
	buf_addc(&raw, '\0');
	buf_adds(&raw, pass);
	base64_encode(line, raw.p, raw.len);
	OPENSSL_cleanse(raw.p, raw.len);
	buf_free(&raw);
}

const char *
client_auth_command(unsigned mech, const char *user, const char *pass,
    struct buf *line)
{
	if (mech == CLIENT_AUTH_PLAIN) {
		plain(line, "AUTH PLAIN ", user, pass);
		return "AUTH PLAIN ****";
	}
	buf_printf(line, "AUTH %s", mech == CLIENT_AUTH_CRAM ? "CRAM-MD5" :
	    "LOGIN");
	return NULL;
}

/* The challenge of a 334, decoded; -1 when it is not base64. */
static int
decode(const char *t, struct buf *out)
{
	size_t len = strlen(t);

	while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	if (base64_decode(out, t, len) == -1)
		return -1;
	buf_addc(out, '\0');
	out->len--;
	return 0;
}

int
client_auth_answer(unsigned mech, int round, const char *challenge,
    const char *user, const char *pass, struct buf *line)
{
	struct buf ch = BUF_INIT, b = BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rv = -1;

	if (decode(challenge, &ch) == -1)
		goto done;
	switch (mech) {
	case CLIENT_AUTH_PLAIN:
		/* The server ignored the initial response: once more. */
		if (round > 1)
			goto done;
		plain(line, "", user, pass);
		break;
	case CLIENT_AUTH_LOGIN:
		if (round > 2)
			goto done;
		if (strcasecmp(ch.p, "Username:") == 0 ||
		    (strcasecmp(ch.p, "Password:") != 0 && round == 1))
			base64_encode(line, user, strlen(user));
		else
			base64_encode(line, pass, strlen(pass));
		break;
	case CLIENT_AUTH_CRAM:
		if (round > 1 ||
		    HMAC(EVP_md5(), pass, (int)strlen(pass),
		    (const unsigned char *)ch.p, ch.len, md, &mdlen) == NULL)
			goto done;
		buf_printf(&b, "%s ", user);
		for (unsigned i = 0; i < mdlen; i++)
			buf_printf(&b, "%02x", md[i]);
		base64_encode(line, b.p, b.len);
		break;
	default:
		goto done;	/* not a mechanism of client_auth_pick */
	}
	rv = 0;
done:
	buf_free(&ch);
	buf_free(&b);
	return rv;
}
