/* Unit tests: core/shaping and core/shaping_rules — the defaults,
 * sections and inheritance, the lookup (domain, mx groups, [main]), bad
 * lines and values with their file:line, the rules language, the
 * built-in rules and the shipped default files. */
#include "unit.h"

#include "core/shaping.h"
#include "lib/ini.h"

static struct shaping *
parse_ok(const char *ini, const char *rules)
{
	char *err = NULL;
	struct shaping *sh = shaping_parse(ini, rules, &err);

	if (sh == NULL)
		fail_msg("unexpected error: %s", err);
	return sh;
}

static void
test_defaults(void **state)
{
	struct shaping *sh = parse_ok(NULL, NULL);
	const struct shaping_limits *l = shaping_defaults(sh);
	char key[SHAPING_KEY_MAX];

	(void)state;
	assert_int_equal(l->max_connections, 20);
	assert_int_equal(l->max_messages_per_connection, 0);
	assert_int_equal(l->max_recipients_per_message, 0);
	assert_true(rate_unlimited(&l->max_message_rate));
	assert_true(rate_unlimited(&l->max_connection_rate));
	assert_int_equal(l->connect_timeout, 0);
	assert_int_equal(l->idle_timeout, 0);
	assert_int_equal(l->backoff_connections, 1);
	assert_int_equal(l->backoff_interval, 60);
	assert_int_equal(l->backoff_recover, 20);
	/* Any domain: [main], keyed by the domain. */
	assert_ptr_equal(shaping_lookup(sh, "Example.COM.", NULL, 0, key), l);
	assert_string_equal(key, "example.com");
	/* The built-in rules. */
	assert_int_equal(shaping_match(sh, 421, "", "Service not available",
	    1).action, SHAPING_BACKOFF);
	shaping_unref(sh);
}

static const char ini_text[] =
    "; a comment\n"
    "max_connections=8\n"				/* 2 */
    "max_message_rate=100/m\n"
    "[main]\n"
    "backoff_interval=2m\n"				/* 5 */
    "[gmail.com]\n"
    "max_connections=3\n"
    "max_message_rate=\n"				/* 8: unlimited */
    "[mx:*.google.com]\n"
    "max_connections=40\n"
    "max_connection_rate=10/s\n"
    "[Yahoo.COM]\n"
    "connect_timeout=30s\n"
    "[mx:mx1.example.net, *.example.org]\n"
    "idle_timeout=15\n"
    "[mx:*.com]\n"
    "max_recipients_per_message=50\n";

static void
test_sections(void **state)
{
	struct shaping *sh = parse_ok(ini_text, NULL);
	const struct shaping_limits *l, *main = shaping_defaults(sh);
	const char *gmx[] = { "alt1.gmail-smtp-in.l.google.com",
	    "gmail-smtp-in.l.google.com" };
	const char *other[] = { "mx.nowhere.test", "MX1.Example.NET." };
	const char *both[] = { "a.example.org", "b.google.com" };
	char key[SHAPING_KEY_MAX];

	(void)state;
	/* Keys before any section are [main]'s; [main] continues them. */
	assert_int_equal(main->max_connections, 8);
	assert_int_equal(main->max_message_rate.n, 100);
	assert_int_equal(main->backoff_interval, 120);
	/* A domain section: its own key, inherits the rest. */
	l = shaping_lookup(sh, "GMAIL.com", gmx, 2, key);
	assert_string_equal(key, "gmail.com");
	assert_int_equal(l->max_connections, 3);
	assert_true(rate_unlimited(&l->max_message_rate));
	assert_int_equal(l->backoff_interval, 120);
	/* An mx section: every domain whose MX matches shares its key. */
	l = shaping_lookup(sh, "googlemail.com", gmx, 2, key);
	assert_string_equal(key, "mx:*.google.com");
	assert_int_equal(l->max_connections, 40);
	assert_int_equal(l->max_connection_rate.n, 10);
	assert_int_equal(l->max_message_rate.n, 100);	/* from [main] */
	assert_ptr_equal(shaping_lookup(sh, "custom.example", gmx + 1, 1, key),
	    l);
	assert_string_equal(key, "mx:*.google.com");
	/* Case-insensitive domain sections. */
	l = shaping_lookup(sh, "yahoo.com", NULL, 0, key);
	assert_string_equal(key, "yahoo.com");
	assert_int_equal(l->connect_timeout, 30);
	assert_int_equal(l->max_connections, 8);
	/* Lists of patterns; any MX host; names fold case and a dot. */
	l = shaping_lookup(sh, "x.test", other, 2, key);
	assert_string_equal(key, "mx:mx1.example.net, *.example.org");
	assert_int_equal(l->idle_timeout, 15);
	/* The first section in file order wins, whichever host matched. */
	shaping_lookup(sh, "y.test", both, 2, key);
	assert_string_equal(key, "mx:*.google.com");
	/* *.com matches names below com only: [main]. */
	l = shaping_lookup(sh, "z.test", (const char *[]){ "com" }, 1, key);
	assert_ptr_equal(l, main);
	assert_string_equal(key, "z.test");
	l = shaping_lookup(sh, "z.test", (const char *[]){ "mx.z.com" }, 1,
	    key);
	assert_string_equal(key, "mx:*.com");
	assert_int_equal(l->max_recipients_per_message, 50);
	shaping_unref(sh);
}

static void
test_bad_ini(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "max_connections=-1\n", "config/shaping.ini:1: "
		  "max_connections: expected a whole number from 0 to 100000, "
		  "got '-1'" },
		{ "\n[a.com]\nmax_connections=100001\n", "config/shaping.ini:3: "
		  "max_connections: expected a whole number from 0 to 100000, "
		  "got '100001'" },
		{ "backoff_connections=0\n", "config/shaping.ini:1: "
		  "backoff_connections: expected a whole number from 1 to "
		  "100000, got '0'" },
		{ "max_message_rate=10/x\n", "config/shaping.ini:1: "
		  "max_message_rate: not a rate: expected N/s, N/m, N/h or "
		  "N/d, got '10/x'" },
		{ "max_connection_rate=0/s\n", "config/shaping.ini:1: "
		  "max_connection_rate: zero: leave the value empty for no "
		  "limit, got '0/s'" },
		{ "connect_timeout=2h\n", "config/shaping.ini:1: "
		  "connect_timeout: expected seconds (90, 90s, 10m, 1h) from 0 "
		  "to 3600, got '2h'" },
		{ "backoff_interval=1w\n", "config/shaping.ini:1: "
		  "backoff_interval: expected seconds (90, 90s, 10m, 1h) from 0 "
		  "to 86400, got '1w'" },
		{ "[b.com]\n\nmax_conns=1\n",
		  "config/shaping.ini:3: unknown key 'max_conns' in [b.com]" },
		{ "max_connections\n",
		  "config/shaping.ini:1: max_connections: expected "
		  "max_connections=<value>" },
		{ "a=1\n", "config/shaping.ini:1: unknown key 'a' in [main]" },
		{ "# x\n= 3\n",
		  "config/shaping.ini:2: not a [section] or key=value line" },
		{ "[main]\n [bad name]\n", "config/shaping.ini:2: [bad name]: not "
		  "a domain name (nor main, nor mx:<pattern>)" },
		{ "[*.example.com]\n", "config/shaping.ini:1: [*.example.com]: a "
		  "domain section names one domain; group domains by MX with "
		  "[mx:*.example.com]" },
		{ "[mx:]\n", "config/shaping.ini:1: [mx:]: '' is not a host name "
		  "or a *.domain pattern" },
		{ "\n\n[mx:*.a.com,,b.com]\n", "config/shaping.ini:3: "
		  "[mx:*.a.com,,b.com]: '' is not a host name or a *.domain "
		  "pattern" },
		{ "[mx:a..b]\n", "config/shaping.ini:1: [mx:a..b]: 'a..b' is not "
		  "a host name or a *.domain pattern" },
		{ "[a.com]\n[A.com]\n", "config/shaping.ini: [a.com] appears "
		  "twice (names are case-insensitive)" },
		{ "[a.com]\n[a.com.]\n", "config/shaping.ini: [a.com] appears "
		  "twice (names are case-insensitive)" },
	};
	char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		assert_null(shaping_parse(cases[i].text, NULL, &err));
		assert_non_null(err);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err,
			    cases[i].err);
		free(err);
	}
}

static void
test_bad_rules(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "# ok\nbackoff code 421\nfrobnicate code 421\n",
		  "config/shaping_rules:3: unknown action 'frobnicate' "
		  "(backoff, suspend DURATION, bounce or none)" },
		{ "backoff\n", "config/shaping_rules:1: no matcher (code, "
		  "status, greeting or /regex/)" },
		{ "suspend\n", "config/shaping_rules:1: suspend needs a "
		  "duration (30s, 10m, 1h)" },
		{ "suspend 10x code 421\n", "config/shaping_rules:1: bad "
		  "duration '10x' (30s, 10m, 1h; 1s to 7d)" },
		{ "suspend 0s code 421\n", "config/shaping_rules:1: bad "
		  "duration '0s' (30s, 10m, 1h; 1s to 7d)" },
		{ "suspend 8d code 421\n", "config/shaping_rules:1: bad "
		  "duration '8d' (30s, 10m, 1h; 1s to 7d)" },
		{ "\r\n\r\nbackoff code 4211\r\n", "config/shaping_rules:3: bad "
		  "code '4211' (421, 4xx)" },
		{ "backoff code 621\n", "config/shaping_rules:1: bad code '621' "
		  "(421, 4xx)" },
		{ "backoff status 4.7.x\n", "config/shaping_rules:1: bad status "
		  "'4.7.x' (4.7.1, 4.7, *.7.1)" },
		{ "backoff status 44.7\n", "config/shaping_rules:1: bad status "
		  "'44.7' (4.7.1, 4.7, *.7.1)" },
		{ "backoff status\n", "config/shaping_rules:1: bad status '' "
		  "(4.7.1, 4.7, *.7.1)" },
		{ "backoff /rate limit\n", "config/shaping_rules:1: unterminated "
		  "regex '/rate limit'" },
		{ "backoff /a(/\n", "config/shaping_rules:1: bad regex /a(/: " },
		{ "backoff /a/ /b/\n", "config/shaping_rules:1: more than one "
		  "regex" },
		{ "backoff code 421 code 451\n", "config/shaping_rules:1: more "
		  "than one code" },
		{ "backoff status 4.7 status 4.2\n", "config/shaping_rules:1: "
		  "more than one status" },
		{ "bounce code 550 please\n", "config/shaping_rules:1: unexpected "
		  "'please'" },
	};
	char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		assert_null(shaping_parse(NULL, cases[i].text, &err));
		assert_non_null(err);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err,
			    cases[i].err);
		free(err);
	}
}

static void
test_rules(void **state)
{
	static const char rules[] =
	    "# comment\n"
	    "\n"
	    "none code 4xx /greylist/\n"			/* 3 */
	    "suspend 10m code 45x /daily (sending )?quota/\n"	/* 4 */
	    "bounce status *.7.1 /blocked using/\n"		/* 5 */
	    "backoff code 421 greeting\n"			/* 6 */
	    "backoff status 4.7\n"				/* 7 */
	    "  SUSPEND 1h   /it\\/them +too fast/  \n"		/* 8 */
	    "backoff /dropped/\n";				/* 9 */
	static const struct {
		int		 code;
		const char	*st, *text;
		int		 greeting;
		enum shaping_action action;
		unsigned	 seconds;
		const char	*rule;
	} cases[] = {
		{ 451, "4.7.1", "Greylisted, come back", 0, SHAPING_NONE, 0,
		  "config/shaping_rules:3" },
		{ 452, "4.3.0", "Daily sending QUOTA exceeded", 0,
		  SHAPING_SUSPEND, 600, "config/shaping_rules:4" },
		{ 552, "5.3.0", "daily quota", 0, SHAPING_NONE, 0, NULL },
		{ 554, "5.7.1", "Service unavailable; blocked using zen", 0,
		  SHAPING_BOUNCE, 0, "config/shaping_rules:5" },
		{ 451, "4.7.1", "Blocked using zen", 0, SHAPING_BOUNCE, 0,
		  "config/shaping_rules:5" },
		{ 421, "", "Too busy", 1, SHAPING_BACKOFF, 0,
		  "config/shaping_rules:6" },
		{ 421, "", "Too busy", 0, SHAPING_NONE, 0, NULL },
		{ 450, "4.7.26", "x", 0, SHAPING_BACKOFF, 0,
		  "config/shaping_rules:7" },
		{ 450, "4.7", "x", 0, SHAPING_NONE, 0, NULL },	/* not a status */
		{ 450, "5.7.0", "x", 0, SHAPING_NONE, 0, NULL },
		{ 451, NULL, "you send it/them too fast", 0, SHAPING_SUSPEND,
		  3600, "config/shaping_rules:8" },
		/* Successes never match; Outpost's own failures (code 0) do. */
		{ 250, "2.0.0", "dropped", 0, SHAPING_NONE, 0, NULL },
		{ 0, NULL, "Lost connection: dropped", 0, SHAPING_BACKOFF, 0,
		  "config/shaping_rules:9" },
		{ 0, NULL, NULL, 1, SHAPING_NONE, 0, NULL },
	};
	struct shaping *sh = parse_ok(NULL, rules);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shaping_hit h = shaping_match(sh, cases[i].code,
		    cases[i].st, cases[i].text, cases[i].greeting);

		if (h.action != cases[i].action ||
		    h.seconds != cases[i].seconds || (h.rule == NULL) !=
		    (cases[i].rule == NULL) || (h.rule != NULL &&
		    strcmp(h.rule, cases[i].rule) != 0))
			fail_msg("case %zu: got %d %u %s", i, h.action,
			    h.seconds, h.rule ? h.rule : "(none)");
	}
	shaping_unref(sh);
	/* An empty file: no rules at all, not the built-in ones. */
	sh = parse_ok(NULL, "# nothing\n");
	assert_int_equal(shaping_match(sh, 421, "4.7.0", "x", 1).action,
	    SHAPING_NONE);
	shaping_unref(sh);
}

static void
test_builtin_rules(void **state)
{
	static const struct {
		int		 code;
		const char	*st, *text;
		int		 greeting;
		enum shaping_action action;
	} cases[] = {
		{ 421, "", "mx.example.com Service not available", 1,
		  SHAPING_BACKOFF },
		{ 421, "4.7.0", "Try again later, closing connection.", 0,
		  SHAPING_BACKOFF },
		{ 421, "4.7.0", "[TSS04] Messages from 192.0.2.1 temporarily "
		  "deferred due to unexpected volume", 0, SHAPING_BACKOFF },
		{ 451, "4.7.650", "The mail server has been temporarily rate "
		  "limited due to IP reputation.", 0, SHAPING_BACKOFF },
		{ 450, "", "Too many connections from your IP", 0,
		  SHAPING_BACKOFF },
		{ 452, "4.3.2", "Connection rate limit exceeded", 0,
		  SHAPING_BACKOFF },
		{ 451, "", "Please try again later", 0, SHAPING_BACKOFF },
		/* Greylisting and mailbox statuses: not the destination. */
		{ 451, "4.7.1", "Greylisting in action, please come back "
		  "later", 0, SHAPING_NONE },
		{ 450, "4.2.0", "Recipient address rejected: Greylisted", 0,
		  SHAPING_NONE },
		{ 452, "4.2.2", "Mailbox full, try again later", 0,
		  SHAPING_NONE },
		{ 450, "4.2.1", "The user you are trying to contact is "
		  "receiving mail at a rate that prevents additional messages",
		  0, SHAPING_NONE },
		{ 450, "4.1.1", "Try again later", 0, SHAPING_NONE },
		/* Permanent failures, ordinary temporary ones. */
		{ 550, "5.7.1", "Rate limit: too many messages", 0,
		  SHAPING_NONE },
		{ 550, "5.1.1", "No such user", 0, SHAPING_NONE },
		{ 451, "4.3.0", "Temporary local problem", 0, SHAPING_NONE },
		{ 0, NULL, "Connection refused", 0, SHAPING_NONE },
	};
	struct shaping_rules *rs = shaping_rules_builtin();

	(void)state;
	assert_int_equal(shaping_rules_count(rs), 6);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shaping_hit h = shaping_rules_match(rs, cases[i].code,
		    cases[i].st, cases[i].text, cases[i].greeting);

		if (h.action != cases[i].action)
			fail_msg("case %zu (%d %s %s): got %d", i,
			    cases[i].code, cases[i].st ? cases[i].st : "",
			    cases[i].text, h.action);
	}
	assert_string_equal(shaping_rules_match(rs, 421, NULL, "x", 1).rule,
	    "built-in rule 1");
	shaping_rules_free(rs);
}

/* The whole of a file (malloc'd). */
static char *
slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	if (read_file(path, &data, &len) == -1)
		fail_msg("cannot read %s (run from the project root)", path);
	return data;
}

/* The shipped files parse; shaping.ini sets nothing, and shaping_rules
 * holds exactly the built-in rules, in order. */
static void
test_default_files(void **state)
{
	char *ini = slurp("config/shaping.ini");
	char *rules = slurp("config/shaping_rules");
	struct shaping *sh = parse_ok(ini, rules), *def = parse_ok(NULL, NULL);
	const char *const *lines;
	size_t n, k = 0;
	char *save = NULL, *copy = xstrdup(rules);

	(void)state;
	assert_memory_equal(shaping_defaults(sh), shaping_defaults(def),
	    sizeof(struct shaping_limits));
	lines = shaping_rules_builtin_lines(&n);
	for (char *l = strtok_r(copy, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save)) {
		if (*l == '#' || *l == '\0')
			continue;
		assert_true(k < n);
		assert_string_equal(l, lines[k++]);
	}
	assert_int_equal(k, n);
	free(copy);
	shaping_unref(sh);
	shaping_unref(def);
	free(ini);
	free(rules);
}

static void
test_load(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	struct shaping *sh;
	char key[SHAPING_KEY_MAX];

	(void)state;
	/* Both absent: the defaults. */
	sh = shaping_load(dir, &err);
	assert_non_null(sh);
	assert_null(err);
	assert_int_equal(shaping_defaults(sh)->max_connections, 20);
	shaping_unref(sh);
	write_file(dir, "shaping.ini", "[x.org]\nmax_connections=2\n");
	write_file(dir, "shaping_rules", "bounce code 4xx /x/\n");
	sh = shaping_load(dir, &err);
	assert_non_null(sh);
	assert_int_equal(shaping_lookup(sh, "x.org", NULL, 0,
	    key)->max_connections, 2);
	assert_int_equal(shaping_match(sh, 421, NULL, "x", 1).action,
	    SHAPING_BOUNCE);
	/* References. */
	assert_ptr_equal(shaping_ref(sh), sh);
	shaping_unref(sh);
	shaping_unref(sh);
	write_file(dir, "shaping_rules", "\nbackoff code 421\nbackof code 4\n");
	assert_null(shaping_load(dir, &err));
	assert_string_equal(err, "config/shaping_rules:3: unknown action "
	    "'backof' (backoff, suspend DURATION, bounce or none)");
	free(err);
	tmpdir_rm(dir);
}

static void
test_duration(void **state)
{
	(void)state;
	assert_int_equal(shaping_duration("0", 10), 0);
	assert_int_equal(shaping_duration("90", 100), 90);
	assert_int_equal(shaping_duration("90s", 100), 90);
	assert_int_equal(shaping_duration("10m", 600), 600);
	assert_int_equal(shaping_duration("10m", 599), -1);
	assert_int_equal(shaping_duration("2h", 86400), 7200);
	assert_int_equal(shaping_duration("7d", SHAPING_SUSPEND_MAX), 604800);
	assert_int_equal(shaping_duration("", 10), -1);
	assert_int_equal(shaping_duration("m", 10), -1);
	assert_int_equal(shaping_duration("1ms", 10), -1);
	assert_int_equal(shaping_duration("-1", 10), -1);
	assert_int_equal(shaping_duration("1.5", 10), -1);
	assert_int_equal(shaping_duration("99999999999999999999", 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_bad_ini),
		cmocka_unit_test(test_bad_rules),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_builtin_rules),
		cmocka_unit_test(test_default_files),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests_name("core_shaping", tests, NULL, NULL);
}
