/*
 * libFuzzer target: SMTP command lines, paths and parameters. Oracles:
 * a path that parses, written back as <local@domain>, parses to the same
 * address (source routes dropped, the domain already lower-cased), and
 * its domain is a valid one; parameters written back as KEY[=VALUE] parse
 * to the same list; <> is never a recipient; the verb ignores case.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "proto/smtp_parse.h"

static void
same_addr(const struct smtp_addr *a, const struct smtp_addr *b)
{
	check(a->null == b->null && a->utf8 == b->utf8);
	check(strcmp(a->local, b->local) == 0);
	check(strcmp(a->domain, b->domain) == 0);
}

/* The address written back and read again. */
static void
round_trip(const struct smtp_addr *a, const char *kw, int utf8)
{
	struct buf b = BUF_INIT;
	struct smtp_addr again;
	struct slice params;
	const char *why;

	check(strlen(a->local) <= SMTP_LOCAL_MAX);
	if (a->domain[0] != '\0')
		check(smtp_valid_domain(slice_of(a->domain,
		    strlen(a->domain)), utf8));
	buf_printf(&b, "%s:<", kw);
	smtp_addr_format(a, &b);
	buf_adds(&b, ">");
	check(smtp_parse_mail_rcpt(slice_of(b.p, b.len), kw, utf8, &again,
	    &params, &why) == SMTP_P_OK);
	same_addr(a, &again);
	check(params.len == 0);
	buf_free(&b);
}

static void
params_round_trip(struct slice params, int utf8)
{
	struct smtp_param p[SMTP_PARAMS_MAX], q[SMTP_PARAMS_MAX];
	struct buf b = BUF_INIT;
	const char *why;
	size_t n, m;

	if (smtp_parse_params(params, utf8, p, &n, &why) != SMTP_P_OK)
		return;
	check(n <= SMTP_PARAMS_MAX);
	for (size_t i = 0; i < n; i++) {
		check(p[i].key.len > 0);
		buf_printf(&b, "%s%.*s", i ? " " : "", (int)p[i].key.len,
		    p[i].key.p);
		if (p[i].value.p != NULL)
			buf_printf(&b, "=%.*s", (int)p[i].value.len,
			    p[i].value.p);
	}
	check(smtp_parse_params(slice_of(b.p != NULL ? b.p : "", b.len),
	    utf8, q, &m, &why) == SMTP_P_OK && m == n);
	for (size_t i = 0; i < n; i++) {
		check(q[i].key.len == p[i].key.len &&
		    memcmp(q[i].key.p, p[i].key.p, p[i].key.len) == 0);
		check((q[i].value.p == NULL) == (p[i].value.p == NULL));
		if (p[i].value.p != NULL)
			check(q[i].value.len == p[i].value.len &&
			    memcmp(q[i].value.p, p[i].value.p,
			    p[i].value.len) == 0);
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice line = slice_of((const char *)data, size), params;
	struct smtp_cmd cmd, flipped;
	struct smtp_addr a;
	const char *why;
	char *copy;

	smtp_parse_command(line, &cmd);
	/* The verb in the other case: the same verb and argument. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	for (size_t i = 0; i < size; i++) {
		unsigned char c = data[i];

		copy[i] = (char)(i < cmd.name.len ? (isupper(c) ? tolower(c) :
		    toupper(c)) : c);
	}
	smtp_parse_command(slice_of(copy, size), &flipped);
	check(flipped.verb == cmd.verb && flipped.arg.len == cmd.arg.len);
	free(copy);

	for (int utf8 = 0; utf8 < 2; utf8++) {
		if (smtp_parse_mail_rcpt(cmd.arg, "FROM", utf8, &a, &params,
		    &why) == SMTP_P_OK) {
			round_trip(&a, "FROM", utf8);
			params_round_trip(params, utf8);
		}
		if (smtp_parse_mail_rcpt(cmd.arg, "TO", utf8, &a, &params,
		    &why) == SMTP_P_OK) {
			check(!a.null);		/* <> is never a recipient */
			round_trip(&a, "TO", utf8);
			params_round_trip(params, utf8);
		}
		smtp_valid_domain(line, utf8);
	}
	return 0;
}
