/*
 * smtp_parse: RFC 5321/6531 command, path and parameter parsing.
 * Every function reads a slice and writes only into its out arguments.
 */
#include "proto/smtp_parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include "lib/json.h"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "VRFY", SMTP_VRFY },
	{ "HELP", SMTP_HELP }, { "STARTTLS", SMTP_STARTTLS },
	{ "AUTH", SMTP_AUTH }, { "EXPN", SMTP_EXPN }, { "BDAT", SMTP_BDAT },
	{ "LHLO", SMTP_LHLO },
};

void
smtp_parse_command(struct slice line, struct smtp_cmd *cmd)
{
	size_t i = 0;

	while (i < line.len && line.p[i] != ' ')
		i++;
	cmd->name = slice_of(line.p, i);
	cmd->verb = SMTP_UNKNOWN;
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (slice_caseeq(cmd->name, verbs[v].name))
			cmd->verb = verbs[v].verb;
	while (i < line.len && line.p[i] == ' ')
		i++;
	cmd->arg = slice_trim(slice_of(line.p + i, line.len - i));
}

/* A cursor over the argument being parsed. */
struct cur {
	const unsigned char	*p;
	const unsigned char	*end;
};

static int
at_end(const struct cur *c)
{
	return c->p >= c->end;
}

static int
peek(const struct cur *c)
{
	return at_end(c) ? -1 : *c->p;
}

static int
is_atext(int ch)
{
	return ch >= 0 && (isalnum(ch) || strchr("!#$%&'*+-/=?^_`{|}~", ch)) &&
	    ch != '\0';
}

/* Consumes one UTF-8 character (non-ASCII); 0 when invalid. */
static int
utf8_char(struct cur *c)
{
	size_t n = utf8_len(c->p, (size_t)(c->end - c->p));

	if (n < 2)
		return 0;
	c->p += n;
	return 1;
}

/* Dot-string: Atom *("." Atom). */
static enum smtp_perr
dot_string(struct cur *c, int allow_utf8, int *utf8)
{
	int atom = 0;

	for (;;) {
		int ch = peek(c);

		if (is_atext(ch)) {
			c->p++;
			atom++;
		} else if (ch >= 0x80) {
			if (!allow_utf8)
				return SMTP_P_UTF8;
			if (!utf8_char(c))
				return SMTP_P_SYNTAX;
			*utf8 = 1;
			atom++;
		} else if (ch == '.' && atom) {
			c->p++;
			atom = 0;
			if (!is_atext(peek(c)) && peek(c) < 0x80)
				return SMTP_P_SYNTAX;
		} else
			return atom ? SMTP_P_OK : SMTP_P_SYNTAX;
	}
}

/* Quoted-string: DQUOTE *(qtextSMTP / "\" %d32-126) DQUOTE. */
static enum smtp_perr
quoted_string(struct cur *c, int allow_utf8, int *utf8)
{
	c->p++;
	for (;;) {
		int ch = peek(c);

		if (ch == '"') {
			c->p++;
			return SMTP_P_OK;
		}
		if (ch == '\\') {
			c->p++;
			ch = peek(c);
			if (ch < 32 || ch > 126)
				return SMTP_P_SYNTAX;
			c->p++;
		} else if (ch >= 32 && ch <= 126)
			c->p++;
		else if (ch >= 0x80) {
			if (!allow_utf8)
				return SMTP_P_UTF8;
			if (!utf8_char(c))
				return SMTP_P_SYNTAX;
			*utf8 = 1;
		} else
			return SMTP_P_SYNTAX;
	}
}

static int
valid_literal(struct slice s)
{
	char tmp[64];
	unsigned char addr[16];

	/* inet_pton stops at a NUL: one inside would hide what follows. */
	if (s.len < 3 || s.len > sizeof(tmp) || s.p[s.len - 1] != ']' ||
	    memchr(s.p, '\0', s.len) != NULL)
		return 0;
	if (s.len > 7 && strncasecmp(s.p + 1, "IPv6:", 5) == 0) {
		memcpy(tmp, s.p + 6, s.len - 7);
		tmp[s.len - 7] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	memcpy(tmp, s.p + 1, s.len - 2);
	tmp[s.len - 2] = '\0';
	return inet_pton(AF_INET, tmp, addr) == 1;
}

int
smtp_valid_domain(struct slice s, int allow_utf8)
{
	struct cur c = { (const unsigned char *)s.p,
	    (const unsigned char *)s.p + s.len };
	size_t label = 0;
	int last = 0;

	if (s.len == 0 || s.len > SMTP_DOMAIN_MAX)
		return 0;
	if (s.p[0] == '[')
		return valid_literal(s);
	while (!at_end(&c)) {
		int ch = peek(&c);

		if (isalnum(ch))
			c.p++;
		else if (ch == '-' && label > 0)
			c.p++;
		else if (ch == '.' && label > 0 && last != '-') {
			c.p++;
			label = 0;
			last = ch;
			continue;
		} else if (ch >= 0x80 && allow_utf8 && utf8_char(&c))
			;
		else
			return 0;
		last = ch;
		if (++label > 63)
			return 0;
	}
	return label > 0 && last != '-';
}

/* Mailbox inside the brackets: Local-part "@" Domain. */
static enum smtp_perr
mailbox(struct slice s, int allow_utf8, int rcpt, struct smtp_addr *a,
    const char **why)
{
	struct cur c = { (const unsigned char *)s.p,
	    (const unsigned char *)s.p + s.len };
	struct slice local, domain;
	enum smtp_perr e;
	int nonascii = 0;

	e = peek(&c) == '"' ? quoted_string(&c, allow_utf8, &a->utf8) :
	    dot_string(&c, allow_utf8, &a->utf8);
	if (e != SMTP_P_OK) {
		*why = e == SMTP_P_UTF8 ? "non-ASCII address without SMTPUTF8" :
		    "bad local part";
		return e;
	}
	local = slice_of(s.p, (size_t)((const char *)c.p - s.p));
	if (at_end(&c) && rcpt && slice_caseeq(local, "postmaster")) {
		memcpy(a->local, local.p, local.len);
		a->local[local.len] = '\0';
		return SMTP_P_OK;	/* RFC 5321 4.1.1.3 */
	}
	if (peek(&c) != '@') {
		*why = "address has no domain";
		return SMTP_P_SYNTAX;
	}
	c.p++;
	domain = slice_of((const char *)c.p, (size_t)(c.end - c.p));
	if (local.len > SMTP_LOCAL_MAX || domain.len > SMTP_DOMAIN_MAX) {
		*why = local.len > SMTP_LOCAL_MAX ? "local part too long" :
		    "domain too long";
		return SMTP_P_TOO_LONG;
	}
	for (size_t i = 0; i < domain.len; i++)
		if ((unsigned char)domain.p[i] >= 0x80)
			nonascii = 1;
	if (nonascii && !allow_utf8) {
		*why = "non-ASCII address without SMTPUTF8";
		return SMTP_P_UTF8;
	}
	if (!smtp_valid_domain(domain, allow_utf8)) {
		*why = "bad domain";
		return SMTP_P_SYNTAX;
	}
	a->utf8 |= nonascii;
	memcpy(a->local, local.p, local.len);
	a->local[local.len] = '\0';
	for (size_t i = 0; i < domain.len; i++)
		a->domain[i] = domain.p[0] == '[' ? domain.p[i] :
		    (char)tolower((unsigned char)domain.p[i]);
	a->domain[domain.len] = '\0';
	return SMTP_P_OK;
}

/* The end of a bracketed path: the '>' not inside a quoted string. */
static const char *
path_end(struct slice s)
{
	int quoted = 0;

	for (size_t i = 1; i < s.len; i++) {
		if (quoted && s.p[i] == '\\' && i + 1 < s.len)
			i++;
		else if (s.p[i] == '"')
			quoted = !quoted;
		else if (s.p[i] == '>' && !quoted)
			return s.p + i;
	}
	return NULL;
}

enum smtp_perr
smtp_parse_mail_rcpt(struct slice arg, const char *kw, int allow_utf8,
    struct smtp_addr *a, struct slice *params, const char **why)
{
	size_t kwlen = strlen(kw), i;
	int rcpt = kw[0] == 'T' || kw[0] == 't';
	struct slice path, box;
	const char *end;

	memset(a, 0, sizeof(*a));
	*params = slice_of(arg.p + arg.len, 0);
	if (arg.len <= kwlen || strncasecmp(arg.p, kw, kwlen) != 0 ||
	    arg.p[kwlen] != ':') {
		*why = rcpt ? "expected TO:<address>" :
		    "expected FROM:<address>";
		return SMTP_P_SYNTAX;
	}
	for (i = kwlen + 1; i < arg.len && arg.p[i] == ' '; i++)
		;
	path = slice_of(arg.p + i, arg.len - i);
	if (path.len && path.p[0] == '<') {
		if ((end = path_end(path)) == NULL) {
			*why = "unterminated <address>";
			return SMTP_P_SYNTAX;
		}
		box = slice_of(path.p + 1, (size_t)(end - path.p - 1));
		path.len = (size_t)(end - path.p + 1);
	} else {
		/* A bare address, as broken clients send (Haraka and
		 * Postfix accept it too): up to the first blank. */
		size_t n = 0;

		while (n < path.len && path.p[n] != ' ')
			n++;
		box = path = slice_of(path.p, n);
		if (n == 0) {
			*why = "no address given";
			return SMTP_P_SYNTAX;
		}
	}
	if (path.len > SMTP_PATH_MAX) {
		*why = "address too long";
		return SMTP_P_TOO_LONG;
	}
	/* Tail: end, or a blank and parameters. */
	{
		const char *t = path.p + path.len, *aend = arg.p + arg.len;

		if (t < aend && *t != ' ') {
			*why = "junk after the address";
			return SMTP_P_SYNTAX;
		}
		while (t < aend && *t == ' ')
			t++;
		*params = slice_of(t, (size_t)(aend - t));
	}
	if (box.len == 0) {
		if (rcpt) {
			*why = "empty recipient";
			return SMTP_P_SYNTAX;
		}
		a->null = 1;
		return SMTP_P_OK;
	}
	/* An obsolete source route (@a,@b:) is ignored (RFC 5321 C). */
	if (box.p[0] == '@') {
		const char *colon = memchr(box.p, ':', box.len);

		if (colon == NULL) {
			*why = "bad source route";
			return SMTP_P_SYNTAX;
		}
		box = slice_of(colon + 1, box.len - (size_t)(colon + 1 - box.p));
	}
	return mailbox(box, allow_utf8, rcpt, a, why);
}

enum smtp_perr
smtp_parse_params(struct slice s, int allow_utf8, struct smtp_param *out,
    size_t *n, const char **why)
{
	size_t i = 0;

	*n = 0;
	while (i < s.len) {
		struct smtp_param p = { { s.p + i, 0 }, { NULL, 0 } };

		if (!isalnum((unsigned char)s.p[i])) {
			*why = "bad parameter name";
			return SMTP_P_SYNTAX;
		}
		while (i < s.len && (isalnum((unsigned char)s.p[i]) ||
		    s.p[i] == '-'))
			i++;
		p.key.len = (size_t)(s.p + i - p.key.p);
		if (i < s.len && s.p[i] == '=') {
			p.value.p = s.p + ++i;
			while (i < s.len && s.p[i] != ' ') {
				unsigned char ch = (unsigned char)s.p[i];

				if (ch >= 0x80) {
					size_t u = utf8_len((const unsigned char *)s.p + i,
					    s.len - i);

					if (!allow_utf8 || u < 2) {
						*why = "non-ASCII parameter value";
						return SMTP_P_SYNTAX;
					}
					i += u;
					continue;
				}
				if (ch < 33 || ch == '=' || ch == 127) {
					*why = "bad parameter value";
					return SMTP_P_SYNTAX;
				}
				i++;
			}
			p.value.len = (size_t)(s.p + i - p.value.p);
			if (p.value.len == 0) {
				*why = "empty parameter value";
				return SMTP_P_SYNTAX;
			}
		}
		if (i < s.len && s.p[i] != ' ') {
			*why = "bad parameter";
			return SMTP_P_SYNTAX;
		}
		if (*n == SMTP_PARAMS_MAX) {
			*why = "too many parameters";
			return SMTP_P_TOO_MANY;
		}
		out[(*n)++] = p;
		while (i < s.len && s.p[i] == ' ')
			i++;
	}
	return SMTP_P_OK;
}

void
smtp_addr_format(const struct smtp_addr *a, struct buf *b)
{
	if (a->null)
		return;
	buf_adds(b, a->local);
	if (a->domain[0] != '\0') {
		buf_addc(b, '@');
		buf_adds(b, a->domain);
	}
}
