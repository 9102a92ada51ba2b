/* Unit tests: bounce categories (bouncecat) — the corpus of real replies
 * in tests/data/bounces.tsv, the rules-file language, odd inputs. */
#include "unit.h"

#include <errno.h>

#include "records/bouncecat.h"
#include "lib/buf.h"

#define CORPUS		"tests/data/bounces.tsv"	/* run from the root */
#define CONFIG		"config/bounce_categories"

static const char *const all_names[BC_COUNT] = {
	"bad-mailbox", "inactive-mailbox", "quota-issues", "bad-domain",
	"no-answer-from-host", "routing-errors", "policy-related",
	"spam-related", "content-related", "virus-related", "protocol-errors",
	"relaying-issues", "invalid-sender", "bad-connection",
	"bad-configuration", "message-expired", "other"
};

/* Warnings collected one per line. */
static void
collect(void *arg, const char *msg)
{
	struct buf *b = arg;

	buf_adds(b, msg);
	buf_addc(b, '\n');
}

static const char *
cls(const struct bouncecat *bc, int code, const char *status,
    const char *text)
{
	return bouncecat_name(bouncecat_classify(bc, code, status, text));
}

/* The whole of a file (malloc'd). */
static char *
slurp(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		fail_msg("cannot open %s (run from the project root)", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_release(&b);
}

static void
test_names(void **state)
{
	(void)state;
	for (int i = 0; i < BC_COUNT; i++) {
		assert_string_equal(bouncecat_name((enum bounce_cat)i),
		    all_names[i]);
		assert_int_equal(bouncecat_parse(all_names[i]), i);
		assert_int_equal(bouncecat_parse(
		    bouncecat_name((enum bounce_cat)i)), i);
	}
	assert_int_equal(bouncecat_parse("Spam-Related"), BC_SPAM_RELATED);
	assert_int_equal(bouncecat_parse("spam"), -1);
	assert_int_equal(bouncecat_parse("spam-related "), -1);
	assert_int_equal(bouncecat_parse(""), -1);
	assert_int_equal(bouncecat_parse(NULL), -1);
	assert_string_equal(bouncecat_name(BC_COUNT), "other");
	assert_string_equal(bouncecat_name((enum bounce_cat)-1), "other");
}

/*
 * Every line of the corpus: "code status category source text". All
 * mismatches are printed before the test fails, so one run shows them.
 */
static void
test_corpus(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	char *data = slurp(CORPUS), *line, *next, *f[5];
	int seen[BC_COUNT] = { 0 }, n = 0, bad = 0, want;
	size_t lineno = 0;

	(void)state;
	for (line = data; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (++lineno == 1)
			continue;	/* the header */
		f[0] = line;
		for (int i = 1; i < 5; i++) {
			f[i] = f[i - 1] != NULL ? strchr(f[i - 1], '\t') : NULL;
			if (f[i] != NULL)
				*f[i]++ = '\0';
		}
		if (f[4] == NULL)
			fail_msg("%s:%zu: fewer than 5 fields", CORPUS, lineno);
		if ((want = bouncecat_parse(f[2])) == -1)
			fail_msg("%s:%zu: unknown category '%s'", CORPUS,
			    lineno, f[2]);
		seen[want]++;
		n++;
		if ((int)bouncecat_classify(bc, atoi(f[0]), f[1], f[4]) !=
		    want) {
			print_error("%s:%zu: %s %s \"%s\" (%s): got %s, want "
			    "%s\n", CORPUS, lineno, f[0], f[1], f[4], f[3],
			    cls(bc, atoi(f[0]), f[1], f[4]), f[2]);
			bad++;
		}
	}
	assert_true(n >= 80);
	for (int i = 0; i < BC_COUNT; i++)
		if (seen[i] == 0)
			fail_msg("no corpus case for %s", all_names[i]);
	if (bad > 0)
		fail_msg("%d of %d corpus lines misfiled", bad, n);
	free(data);
	bouncecat_free(bc);
}

/* The precedence cases the design turns on, spelled out. */
static void
test_precedence(void **state)
{
	struct bouncecat *bc = bouncecat_new();

	(void)state;
	/* 5.7.1: spam, relaying, DMARC, else policy. */
	assert_string_equal(cls(bc, 550, "5.7.1", "Our system has detected "
	    "that this message is likely unsolicited mail."), "spam-related");
	assert_string_equal(cls(bc, 550, "5.7.1", "Relaying denied"),
	    "relaying-issues");
	assert_string_equal(cls(bc, 550, "5.7.1", "Rejected per DMARC "
	    "policy"), "policy-related");
	assert_string_equal(cls(bc, 550, "5.7.1", "Go away"),
	    "policy-related");
	/* The text beats the status; a generic text leaves the status. */
	assert_string_equal(cls(bc, 550, "5.5.0", "Requested action not "
	    "taken: mailbox unavailable"), "bad-mailbox");
	assert_string_equal(cls(bc, 550, "5.1.1", "Go away"), "bad-mailbox");
	assert_string_equal(cls(bc, 550, "5.7.1", "No such user!"),
	    "bad-mailbox");
	/* The status beats the code; the code alone; nothing at all. */
	assert_string_equal(cls(bc, 550, "5.2.2", "Go away"), "quota-issues");
	assert_string_equal(cls(bc, 550, "5.0.0", "Go away"), "bad-mailbox");
	assert_string_equal(cls(bc, 452, "", "Go away"), "quota-issues");
	assert_string_equal(cls(bc, 451, "4.0.0", "Go away"), "other");
	/* Retries ran out: 4.x.y became 5.x.y, the code stayed. */
	assert_string_equal(cls(bc, 421, "5.4.1", "Go away"),
	    "no-answer-from-host");
	assert_string_equal(cls(bc, 451, "5.4.7", "Go away"),
	    "message-expired");
	assert_string_equal(cls(bc, 450, "5.1.0", "DNS lookup failure: "
	    "x.test (Server failure)"), "routing-errors");
	/* Status details the registry added after RFC 3463. */
	assert_string_equal(cls(bc, 550, "5.1.10", ""), "bad-domain");
	assert_string_equal(cls(bc, 550, "5.7.26", ""), "policy-related");
	assert_string_equal(cls(bc, 550, "5.7.27", ""), "invalid-sender");
	assert_string_equal(cls(bc, 535, "5.7.8", ""), "bad-configuration");
	/* A corrupt queue entry, whatever its reason says ("header"). */
	assert_string_equal(cls(bc, 554, "5.3.0", "Queue entry corrupt: "
	    "header too large"), "other");
	assert_string_equal(cls(bc, 554, "5.3.0", "Queue entry corrupt: bad "
	    "value for 'rcpt'"), "other");
	/* A suppressed recipient, whatever the reason quoted says. */
	assert_string_equal(cls(bc, 550, "5.7.1", "Recipient suppressed: 550 "
	    "5.1.1 User unknown (bounce, since 2026-01-01T00:00:00Z)"),
	    "policy-related");
	assert_string_equal(cls(bc, 550, "5.7.1", "Recipient suppressed: "
	    "complaint (abuse) from fbl.example (complaint, since x)"),
	    "policy-related");
	bouncecat_free(bc);
}

static void
test_rules_override(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	struct buf w = BUF_INIT;
	const char *gmail = "The email account that you tried to reach does "
	    "not exist.";

	(void)state;
	assert_string_equal(cls(bc, 550, "5.1.1", gmail), "bad-mailbox");
	assert_int_equal(bouncecat_load_text(bc, "t",
	    "# a comment\n"
	    "\n"
	    "   \t\n"
	    "  # an indented comment\n"
	    "spam-related status 5.1.1\r\n"
	    "inactive-mailbox /tried to reach does not exist/\n",
	    collect, &w), 2);
	assert_string_equal(buf_cstr(&w), "");
	/* A file rule beats the built-in phrase and status rules, and the
	 * first file rule beats the later one. */
	assert_string_equal(cls(bc, 550, "5.1.1", gmail), "spam-related");
	assert_string_equal(cls(bc, 550, "5.1.1", "x"), "spam-related");
	assert_string_equal(cls(bc, 550, "5.1.2", gmail), "inactive-mailbox");
	assert_string_equal(cls(bc, 550, "", gmail), "inactive-mailbox");
	/* Untouched cases keep the built-in answer. */
	assert_string_equal(cls(bc, 550, "5.1.2", "x"), "bad-domain");
	/* A later load goes after the earlier one, still before the
	 * built-in rules. */
	assert_int_equal(bouncecat_load_text(bc, "u",
	    "virus-related status 5.1.1\n"
	    "virus-related status 5.1.2\n", collect, &w), 2);
	assert_string_equal(cls(bc, 550, "5.1.1", "x"), "spam-related");
	assert_string_equal(cls(bc, 550, "5.1.2", "x"), "virus-related");
	buf_free(&w);
	bouncecat_free(bc);
}

/* All matchers of a rule must match. */
static void
test_rules_and(void **state)
{
	struct bouncecat *bc = bouncecat_new();

	(void)state;
	assert_int_equal(bouncecat_load_text(bc, "t",
	    "spam-related status 5.7.1 /blocked/\n"
	    "virus-related code 554 status *.3.0 /quarantin/\n", NULL, NULL),
	    2);
	assert_string_equal(cls(bc, 550, "5.7.1", "You are blocked"),
	    "spam-related");
	assert_string_equal(cls(bc, 550, "5.7.1", "Go away"),
	    "policy-related");
	assert_string_equal(cls(bc, 550, "5.7.2", "You are blocked"),
	    "policy-related");
	assert_string_equal(cls(bc, 550, "", "You are blocked"),
	    "bad-mailbox");
	assert_string_equal(cls(bc, 554, "4.3.0", "QUARANTINED"),
	    "virus-related");
	assert_string_equal(cls(bc, 550, "4.3.0", "quarantined"),
	    "bad-mailbox");
	assert_string_equal(cls(bc, 554, "4.3.1", "quarantined"),
	    "quota-issues");
	assert_string_equal(cls(bc, 554, "4.3.0", "held"), "other");
	bouncecat_free(bc);
}

static void
test_status_forms(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	static const struct {
		const char	*status;
		int		 hit;
	} cases[] = {
		/* status 5.1 (prefix) */
		{ "5.1.1", 1 }, { "5.1.0", 1 }, { "5.1.10", 1 },
		{ "5.1.999", 1 }, { "4.1.1", 0 }, { "5.10.1", 0 },
		{ "5.11.1", 0 },
		/* status *.2.2 */
		{ "4.2.2", 1 }, { "5.2.2", 1 }, { "2.2.2", 1 }, { "5.2.22", 0 },
		{ "5.2.3", 0 },
		/* status 5.7.1 (exact) */
		{ "5.7.1", 1 }, { "5.7.10", 0 }, { "5.7.100", 0 },
		{ "4.7.1", 0 },
		/* status *.4 */
		{ "4.4.7", 1 }, { "5.4.14", 1 },
		/* not statuses: never match a status rule */
		{ "5.1", 0 }, { "5", 0 }, { "*.1.1", 0 }, { "5.1.1 ", 0 },
		{ "5.1.1.1", 0 }, { "5..1", 0 }, { "5.1.", 0 }, { "55.1.1", 0 },
		{ "5.1234.1", 0 }, { "#5.1.1", 0 }, { "x", 0 }, { "", 0 },
	};

	(void)state;
	assert_int_equal(bouncecat_load_text(bc, "t",
	    "virus-related status 5.1\n"
	    "virus-related status *.2.2\n"
	    "virus-related status 5.7.1\n"
	    "virus-related status *.4\n", NULL, NULL), 4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = bouncecat_classify(bc, 0, cases[i].status, "x") ==
		    BC_VIRUS_RELATED;

		if (got != cases[i].hit)
			fail_msg("status '%s': matched %d, want %d",
			    cases[i].status, got, cases[i].hit);
	}
	bouncecat_free(bc);
}

static void
test_code_and_slash(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	struct buf w = BUF_INIT;

	(void)state;
	assert_int_equal(bouncecat_load_text(bc, "t",
	    "virus-related code 554\n"
	    "routing-errors /sent from\\/to [a-z]+\\.test/\n"
	    "other /^a\\/b\\/$/\n"
	    "spam-related /#[0-9]+ ?\\(x\\)/\n", collect, &w), 4);
	assert_string_equal(buf_cstr(&w), "");
	assert_string_equal(cls(bc, 554, "", "whatever"), "virus-related");
	assert_string_equal(cls(bc, 554, "5.1.1", "User unknown"),
	    "virus-related");
	assert_string_equal(cls(bc, 553, "", "whatever"), "bad-mailbox");
	assert_string_equal(cls(bc, 0, "", "Email is sent from/to ab.test."),
	    "routing-errors");
	assert_string_equal(cls(bc, 0, "", "sent from\\/to ab.test"), "other");
	assert_string_equal(cls(bc, 0, "", "sent from/to abXtest"), "other");
	assert_string_equal(cls(bc, 0, "", "a/b/"), "other");
	assert_string_equal(cls(bc, 0, "", "code #42 (x)"), "spam-related");
	buf_free(&w);
	bouncecat_free(bc);
}

/* Each kind of bad line is reported with its line number and skipped;
 * the good lines around it still count. */
static void
test_bad_lines(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	struct buf w = BUF_INIT;
	const char *text =
	    "# bad lines\n"				/* 1 */
	    "spam-releated /x/\n"			/* 2 */
	    "spam-related\n"				/* 3 */
	    "spam-related /a(/\n"			/* 4 */
	    "spam-related /abc\n"			/* 5 */
	    "spam-related status 5.x.1\n"		/* 6 */
	    "spam-related status\n"			/* 7 */
	    "spam-related code 99\n"			/* 8 */
	    "spam-related code 5500\n"			/* 9 */
	    "spam-related code 650\n"			/* 10 */
	    "spam-related /a/ /b/\n"			/* 11 */
	    "spam-related status 5.1.1 status 5.1.2\n"	/* 12 */
	    "spam-related code 550 code 551\n"		/* 13 */
	    "spam-related junk\n"			/* 14 */
	    "spam-related /x/ # trailing\n"		/* 15 */
	    "virus-related /zzgood/\n"			/* 16 */
	    "/x/ spam-related\n"			/* 17 */
	    "spam-related status *.1.1.1\n"		/* 18 */
	    "spam-related status 5\n"			/* 19 */
	    "virus-related status *.9\n";		/* 20 */
	const char *want =
	    "f:2: unknown category 'spam-releated'\n"
	    "f:3: no matcher (status, code or /regex/)\n"
	    "f:4: bad regex /a(/: ";
	char *got;

	(void)state;
	assert_int_equal(bouncecat_load_text(bc, "f", text, collect, &w), 2);
	got = buf_release(&w);
	/* regerror's wording is libc's: check the start of each line. */
	assert_memory_equal(got, want, strlen(want));
	for (int line = 2; line <= 19; line++) {
		char *pfx;

		if (line == 16)
			continue;
		pfx = xasprintf("\nf:%d: ", line);
		if (line > 2 && strstr(got, pfx) == NULL)
			fail_msg("line %d not reported:\n%s", line, got);
		free(pfx);
	}
	assert_non_null(strstr(got, "f:5: unterminated regex '/abc'\n"));
	assert_non_null(strstr(got, "f:6: bad status '5.x.1'\n"));
	assert_non_null(strstr(got, "f:7: bad status ''\n"));
	assert_non_null(strstr(got, "f:8: bad code '99'\n"));
	assert_non_null(strstr(got, "f:9: bad code '5500'\n"));
	assert_non_null(strstr(got, "f:10: bad code '650'\n"));
	assert_non_null(strstr(got, "f:11: more than one regex\n"));
	assert_non_null(strstr(got, "f:12: more than one status\n"));
	assert_non_null(strstr(got, "f:13: more than one code\n"));
	assert_non_null(strstr(got, "f:14: unexpected 'junk'\n"));
	assert_non_null(strstr(got, "f:15: unexpected '#'\n"));
	assert_non_null(strstr(got, "f:17: unknown category '/x/'\n"));
	assert_non_null(strstr(got, "f:18: bad status '*.1.1.1'\n"));
	assert_non_null(strstr(got, "f:19: bad status '5'\n"));
	assert_null(strstr(got, "f:16:"));
	assert_null(strstr(got, "f:20:"));
	free(got);
	/* The bad lines added nothing, the good ones work. */
	assert_string_equal(cls(bc, 550, "5.1.1", "x"), "bad-mailbox");
	assert_string_equal(cls(bc, 0, "", "zzgood"), "virus-related");
	assert_string_equal(cls(bc, 0, "4.9.9", "x"), "virus-related");
	/* No callback: still skipped quietly; NULL text adds nothing. */
	assert_int_equal(bouncecat_load_text(bc, NULL, "spam-related\n"
	    "other code 299\n", NULL, NULL), 1);
	assert_int_equal(bouncecat_load_text(bc, "n", NULL, NULL, NULL), 0);
	assert_int_equal(bouncecat_load_text(bc, "n", "", NULL, NULL), 0);
	assert_int_equal(bouncecat_load_text(NULL, "n", "other code 299",
	    NULL, NULL), -1);
	bouncecat_free(bc);
}

static void
test_load_files(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	struct buf w = BUF_INIT;
	char *dir = tmpdir_new(), *a, *b, *missing;

	(void)state;
	write_file(dir, "a", "# first file\n\nspam-related /foo/\n"
	    "bogus line\n");
	write_file(dir, "b", "virus-related /foo/\nvirus-related /bar/");
	a = xasprintf("%s/a", dir);
	b = xasprintf("%s/b", dir);
	missing = xasprintf("%s/none", dir);
	assert_int_equal(bouncecat_load(bc, missing, collect, &w), 0);
	assert_int_equal(bouncecat_load(bc, a, collect, &w), 1);
	assert_int_equal(bouncecat_load(bc, b, collect, &w), 2);
	assert_string_equal(cls(bc, 0, "", "foo"), "spam-related");
	assert_string_equal(cls(bc, 0, "", "bar"), "virus-related");
	{
		char *want = xasprintf("%s:4: unknown category 'bogus'\n", a);

		assert_string_equal(buf_cstr(&w), want);
		free(want);
	}
	/* A directory exists but cannot be read as a file. */
	errno = 0;
	assert_int_equal(bouncecat_load(bc, dir, collect, &w), -1);
	assert_int_not_equal(errno, 0);
	free(a);
	free(b);
	free(missing);
	tmpdir_rm(dir);
	buf_free(&w);
	bouncecat_free(bc);
}

/* The shipped file adds no rule, and each commented example in it is a
 * valid rule once uncommented. */
static void
test_shipped_config(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	struct buf w = BUF_INIT;
	char *data = slurp(CONFIG), *line, *next, *sp;
	int examples = 0;

	(void)state;
	assert_int_equal(bouncecat_load(bc, CONFIG, collect, &w), 0);
	assert_string_equal(buf_cstr(&w), "");
	for (line = data; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (line[0] != '#' || (sp = strchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		if (bouncecat_parse(line + 1) == -1)
			continue;
		*sp = ' ';
		assert_int_equal(bouncecat_load_text(bc, CONFIG, line + 1,
		    collect, &w), 1);
		examples++;
	}
	assert_string_equal(buf_cstr(&w), "");
	assert_true(examples >= 5);
	free(data);
	buf_free(&w);
	bouncecat_free(bc);
}

static void
test_odd_inputs(void **state)
{
	struct bouncecat *bc = bouncecat_new();
	static const char *const statuses[] = {
		NULL, "", "5", "5.", "5.1", "5.1.", "5.7.26", "5.7.260",
		"5.1.1.1", "garbage", "5..1", "..", "-5.1.1", "5.-1.1",
		"9.9.9", "0.0.0", "5.1.99999999999999999999", "\xff\xfe",
		"5.1.1\n", "*.1.1",
	};
	static const char *const texts[] = {
		NULL, "", " ", "\xff\xfe\x80 \x01\x7f", "\t\r\n", "/", "\\",
		"(((((((((([[[[[", "%s%s%n",
	};
	static const int codes[] = { 0, -1, 1, 99, 250, 421, 550, 554, 599,
	    600, 99999, -2147483647 };
	char *big = xmalloc(100001);

	(void)state;
	memset(big, 'a', 100000);
	big[100000] = '\0';
	for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++)
		for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
			for (size_t c = 0; c < sizeof(codes) /
			    sizeof(codes[0]); c++) {
				int cat = bouncecat_classify(bc, codes[c],
				    statuses[s], texts[t]);

				assert_true(cat >= 0 && cat < BC_COUNT);
			}
	assert_string_equal(cls(bc, 0, NULL, NULL), "other");
	assert_string_equal(cls(bc, 0, "garbage", ""), "other");
	assert_string_equal(cls(bc, 550, "5.1", NULL), "bad-mailbox");
	assert_string_equal(cls(bc, 0, "5.7.26", NULL), "policy-related");
	assert_string_equal(cls(bc, 550, "5.1.1", big), "bad-mailbox");
	assert_int_equal(bouncecat_classify(NULL, 550, "5.1.1", "x"),
	    BC_OTHER);
	bouncecat_free(NULL);
	free(big);
	bouncecat_free(bc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_rules_override),
		cmocka_unit_test(test_rules_and),
		cmocka_unit_test(test_status_forms),
		cmocka_unit_test(test_code_and_slash),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_odd_inputs),
	};

	return cmocka_run_group_tests_name("bouncecat", tests, NULL, NULL);
}
