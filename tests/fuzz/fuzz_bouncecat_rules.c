/*
 * libFuzzer target: the config/bounce_categories rules file
 * (records/bouncecat.c). Input: a rules file; its last line, when it
 * starts with '?', is a failure to classify ("?code<TAB>status<TAB>text").
 *
 * The module is compiled into this file (white box) so that one set of
 * built-in rules serves every input (bouncecat_new compiles ~100 regexes,
 * too slow per input) and each line's parse can be checked. Oracles:
 * every line is a comment or blank, a rule, or one warning naming its line
 * number; a rule has a category and at least one valid matcher, and
 * written back without its regex it parses to the same matchers; a rule
 * without its regex matches a status and code built from its own
 * pattern; the file's rules come first, in file order, then the built-in
 * ones.
 */
#include "../../src/records/bouncecat.c"

#include "fuzz.h"

/*
 * glibc's regex engine is not under test, and its repetitions expand the
 * pattern: nested ones (/(a+)+.../, /a{99}{99}/) take gigabytes to
 * compile. So lines over RULE_TEXT_MAX end the input, every '{' becomes
 * '.', and so does every '+', '*' and '?' after the first QUANT_MAX.
 */
#define RULE_TEXT_MAX	200
#define QUANT_MAX	4

static struct bouncecat *bc;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	bc = bouncecat_new();
	return 0;
}

/* The numbers of the lines that are not valid rules, in order: those
 * found by parsing each line here, then those the warnings name. */
struct lines {
	size_t	*v;
	size_t	 n;
};

static void
lines_add(struct lines *l, size_t line)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = line;
}

static void
on_warn(void *arg, const char *msg)
{
	const char *p = msg + strlen("fuzz:");
	char *end;
	unsigned long line;

	check(strncmp(msg, "fuzz:", 5) == 0);
	line = strtoul(p, &end, 10);
	check(end != p && strncmp(end, ": ", 2) == 0 && end[2] != '\0');
	lines_add(arg, line);
}

/* A status pattern written back: "5.1.1", "*.7", "4.2". */
static void
put_status(struct buf *b, const int st[3])
{
	if (st[0] == ANY)
		buf_addc(b, '*');
	else
		buf_printf(b, "%d", st[0]);
	buf_printf(b, ".%d", st[1]);
	if (st[2] != ANY)
		buf_printf(b, ".%d", st[2]);
}

/* One rule as parsed: well formed, and it round-trips. */
static void
check_rule(const struct rule *r)
{
	struct buf text = BUF_INIT;
	struct rule r2, bare = *r;
	char *why = NULL;
	int st[3];

	check((int)r->cat >= 0 && r->cat < BC_COUNT);
	check(r->has_status || r->code != 0 || r->re != NULL);
	check(r->code == 0 || (r->code >= 200 && r->code <= 599));
	if (r->has_status) {
		check(r->st[0] == ANY || (r->st[0] >= 0 && r->st[0] <= 9));
		check(r->st[1] >= 0 && r->st[1] <= 999);
		check(r->st[2] == ANY || (r->st[2] >= 0 && r->st[2] <= 999));
	}
	if (!r->has_status && r->code == 0)
		return;
	/* Written back without the regex. */
	buf_adds(&text, bouncecat_name(r->cat));
	if (r->has_status) {
		buf_adds(&text, " status ");
		put_status(&text, r->st);
	}
	if (r->code != 0)
		buf_printf(&text, " code %d", r->code);
	check(rule_parse(buf_cstr(&text), &r2, &why) == 1 && why == NULL);
	check(r2.cat == r->cat && r2.has_status == r->has_status &&
	    r2.code == r->code && r2.re == NULL);
	if (r->has_status)
		check(memcmp(r2.st, r->st, sizeof(st)) == 0);
	/* What it describes matches it, and another code does not. */
	bare.re = NULL;
	st[0] = r->has_status && r->st[0] != ANY ? r->st[0] : 5;
	st[1] = r->has_status ? r->st[1] : 1;
	st[2] = r->has_status && r->st[2] != ANY ? r->st[2] : 7;
	check(rule_match(&bare, r->code ? r->code : 550, st, ""));
	if (r->code != 0)
		check(!rule_match(&bare, r->code == 550 ? 551 : 550, st, ""));
	if (r->has_status) {
		check(!rule_match(&bare, r->code ? r->code : 550, NULL, ""));
		st[1] = r->st[1] == 999 ? 0 : r->st[1] + 1;
		check(!rule_match(&bare, r->code ? r->code : 550, st, ""));
	}
	buf_free(&text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size), *query = NULL;
	struct lines bad = { NULL, 0 }, warned = { NULL, 0 };
	size_t nlines = 0, rules = 0;
	enum bounce_cat before, after, want;
	char *f[3], *p;
	int code = 0, added, quants = 0;

	if (text == NULL)
		abort();
	/* The query: the last line, when it starts with '?'. */
	if ((p = strrchr(text, '\n')) != NULL && p[1] == '?') {
		*p = '\0';
		query = p + 2;
	} else if (text[0] == '?') {
		query = text + 1;
		text[0] = '\0';
	}
	for (char *q = text; *q; q++)
		if (*q == '{' || (strchr("+*?", *q) != NULL && quants++ >=
		    QUANT_MAX))
			*q = '.';
	/* Each line alone: a rule, nothing, or an error. */
	for (char *line = text, *next; line != NULL; line = next) {
		struct rule r;
		char *why = NULL;
		size_t len = strcspn(line, "\n");
		int rv;

		next = line[len] == '\n' ? line + len + 1 : NULL;
		if (len == 0 && next == NULL && line != text)
			break;		/* after the last LF: no line */
		nlines++;
		if (len > RULE_TEXT_MAX)
			goto done;
		line = strndup(line, len);
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		rv = rule_parse(line, &r, &why);
		check(rv >= -1 && rv <= 1);
		check((rv == -1) == (why != NULL));
		if (rv == 1) {
			check_rule(&r);
			rule_free(&r);
			rules++;
		} else if (rv == -1)
			lines_add(&bad, nlines);
		free(why);
		free(line);
	}

	f[0] = f[1] = f[2] = NULL;
	if (query != NULL) {
		p = query;
		for (int i = 0; i < 3; i++)
			f[i] = p != NULL ? strsep(&p, i < 2 ? "\t" : "") : NULL;
		code = f[0] != NULL ? atoi(f[0]) : 0;
	}
	before = bouncecat_classify(bc, code, f[1], f[2]);
	added = bouncecat_load_text(bc, "fuzz", text, on_warn, &warned);
	check(added >= 0 && (size_t)added == rules);
	check((size_t)added == bc->user.n);
	check(warned.n == bad.n && (bad.n == 0 ||
	    memcmp(warned.v, bad.v, bad.n * sizeof(*bad.v)) == 0));
	after = bouncecat_classify(bc, code, f[1], f[2]);
	/* The file's first matching rule, else what the built-in say. */
	want = before;
	{
		int st[3], *stp = NULL;

		if (f[1] != NULL && status_parse(f[1], 0, st) == 0)
			stp = st;
		for (size_t i = 0; i < bc->user.n; i++)
			if (rule_match(&bc->user.v[i], code, stp,
			    f[2] != NULL ? f[2] : "")) {
				want = bc->user.v[i].cat;
				break;
			}
	}
	check(after == want);
done:
	free(bad.v);
	free(warned.v);
	rules_free(&bc->user);
	memset(&bc->user, 0, sizeof(bc->user));
	free(text);
	return 0;
}
