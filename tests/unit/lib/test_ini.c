/* Unit tests: ini, flat and list file parsing with Haraka's quirks. */
#include "unit.h"

#include "lib/ini.h"

static int nwarn;
static char lastwarn[256];

static void
warn(void *arg, const char *name, unsigned lineno, const char *msg)
{
	(void)arg;
	(void)name;
	(void)lineno;
	nwarn++;
	snprintf(lastwarn, sizeof(lastwarn), "%s", msg);
}

static struct ini *
parse(const char *text)
{
	nwarn = 0;
	lastwarn[0] = '\0';
	return ini_parse("t.ini", text, strlen(text), warn, NULL);
}

static void
test_sections_and_main(void **state)
{
	struct ini *ini = parse(
	    "top=1\n"
	    "[main]\n"
	    "also=2\n"
	    "[a]\n"
	    "k = v with spaces  \n"
	    "[b]\n"
	    "k=other\n"
	    "[a]\n"
	    "k2=merged\n");

	(void)state;
	assert_string_equal(ini_get(ini, "main", "top"), "1");
	assert_string_equal(ini_get(ini, "main", "also"), "2");
	assert_string_equal(ini_get(ini, "a", "k"), "v with spaces");
	assert_string_equal(ini_get(ini, "a", "k2"), "merged");
	assert_string_equal(ini_get(ini, "b", "k"), "other");
	assert_null(ini_get(ini, "b", "k2"));
	assert_null(ini_get(ini, "nosuch", "k"));
	assert_int_equal(ini_nsections(ini), 3);
	assert_string_equal(ini_section_name(ini, 1), "a");
	assert_int_equal(ini_nkeys(ini, "a"), 2);
	assert_string_equal(ini_key_name(ini, "a", 1), "k2");
	assert_int_equal(ini_line(ini, "a", "k2"), 9);
	assert_int_equal(nwarn, 0);
	ini_free(ini);
}

static void
test_comments_and_blanks(void **state)
{
	struct ini *ini = parse(
	    "; a comment\n"
	    "  # another\n"
	    "\n"
	    "   \t\n"
	    "k=v ; not a comment\n"
	    "h=#kept\n");

	(void)state;
	/* Only whole-line comments exist: inline text stays in the value. */
	assert_string_equal(ini_get(ini, "main", "k"), "v ; not a comment");
	assert_string_equal(ini_get(ini, "main", "h"), "#kept");
	assert_int_equal(ini_nkeys(ini, "main"), 2);
	assert_int_equal(nwarn, 0);
	ini_free(ini);
}

static void
test_bare_and_empty(void **state)
{
	struct ini *ini = parse("[hosts]\nexample.com\nempty=\n");

	(void)state;
	assert_true(ini_has(ini, "hosts", "example.com"));
	assert_null(ini_get(ini, "hosts", "example.com"));
	assert_string_equal(ini_get(ini, "hosts", "empty"), "");
	/* A bare key read as a boolean is false (Haraka: undefined). */
	assert_false(ini_bool(ini, "hosts", "example.com", 1));
	ini_free(ini);
}

static void
test_arrays(void **state)
{
	const char *const *v;
	struct ini *ini = parse(
	    "hosts[]=a\n"
	    "hosts[] = b\n"
	    "hosts[]=\n"
	    "one=x\n"
	    "one[]=y\n"
	    "two[]=p\n"
	    "two=q\n");

	(void)state;
	assert_int_equal(ini_array(ini, "main", "hosts", &v), 3);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_string_equal(v[2], "");
	assert_null(ini_get(ini, "main", "hosts"));
	/* A scalar then an array: the array replaces it, and vice versa. */
	assert_int_equal(ini_array(ini, "main", "one", &v), 1);
	assert_string_equal(v[0], "y");
	assert_string_equal(ini_get(ini, "main", "two"), "q");
	assert_int_equal(ini_array(ini, "main", "two", &v), 1);
	assert_int_equal(ini_array(ini, "main", "none", &v), 0);
	ini_free(ini);
}

static void
test_continuation(void **state)
{
	struct ini *ini = parse(
	    "list=a,\\\n"
	    "b,\\  \t\n"
	    "; a comment inside is skipped\n"
	    "c\n"
	    "last=x\\\n");

	(void)state;
	assert_string_equal(ini_get(ini, "main", "list"), "a,b,c");
	/* A continuation on the last line still ends the entry. */
	assert_string_equal(ini_get(ini, "main", "last"), "x");
	ini_free(ini);
}

static void
test_line_endings(void **state)
{
	struct ini *ini = parse("a=1\r\nb=2\rc=3\n[s]\r\nd=4");

	(void)state;
	assert_string_equal(ini_get(ini, "main", "a"), "1");
	assert_string_equal(ini_get(ini, "main", "b"), "2");
	assert_string_equal(ini_get(ini, "main", "c"), "3");
	assert_string_equal(ini_get(ini, "s", "d"), "4");
	ini_free(ini);
}

static void
test_invalid_lines(void **state)
{
	struct ini *ini = parse("good=1\nbad key=2\n[unclosed\n=novalue\nok=3\n");

	(void)state;
	assert_int_equal(nwarn, 2);
	assert_string_equal(lastwarn,
	    "Invalid line in config file 't.ini': =novalue");
	assert_string_equal(ini_get(ini, "main", "ok"), "3");
	assert_false(ini_has(ini, "main", "bad"));
	/* An unclosed header is not a section; Haraka's key pattern allows
	 * brackets, so it is a bare key and later keys stay in [main]. */
	assert_int_equal(ini_nsections(ini), 1);
	assert_true(ini_has(ini, "main", "[unclosed"));
	ini_free(ini);
}

static void
test_key_characters(void **state)
{
	struct ini *ini = parse("a.b-c_d@e:f/g+h=1\n[sect.with-dots]\nk=v\n[]\n"
	    "inempty=1\n");

	(void)state;
	assert_string_equal(ini_get(ini, "main", "a.b-c_d@e:f/g+h"), "1");
	assert_string_equal(ini_get(ini, "sect.with-dots", "k"), "v");
	assert_string_equal(ini_get(ini, "", "inempty"), "1");
	ini_free(ini);
	/* A NUL is no key character: not a key "a" (found by fuzz_ini). */
	nwarn = 0;
	ini = ini_parse("t.ini", "a\0b=1\nc=2\n", 10, warn, NULL);
	assert_false(ini_has(ini, "main", "a"));
	assert_string_equal(ini_get(ini, "main", "c"), "2");
	assert_int_equal(nwarn, 1);
	ini_free(ini);
}

static void
test_booleans(void **state)
{
	static const struct { const char *v; int truth; } cases[] = {
		{ "true", 1 }, { "TRUE", 1 }, { "yes", 1 }, { "Ok", 1 },
		{ "enabled", 1 }, { "on", 1 }, { "1", 1 },
		{ "false", 0 }, { "0", 0 }, { "no", 0 }, { "", 0 },
		{ "2", 0 }, { "truex", 0 }, { "t rue", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("k=%s\n", cases[i].v);
		struct ini *ini = parse(text);

		assert_int_equal(ini_bool(ini, "main", "k", !cases[i].truth),
		    cases[i].truth);
		ini_free(ini);
		free(text);
	}
	/* Absent keys take the declared default. */
	{
		struct ini *ini = parse("");

		assert_true(ini_bool(ini, "main", "k", 1));
		assert_false(ini_bool(ini, "main", "k", 0));
		ini_free(ini);
	}
}

static void
test_numbers(void **state)
{
	struct ini *ini = parse("i=42\nn=-7\nf=1.5\nbad=1e5\nhex=0x10\n"
	    "half=.5\ntext=abc\nhuge=99999999999999999999999\n");
	long long v;
	double d;

	(void)state;
	assert_int_equal(ini_int(ini, "main", "i", &v), INI_OK);
	assert_int_equal(v, 42);
	assert_int_equal(ini_int(ini, "main", "n", &v), INI_OK);
	assert_int_equal(v, -7);
	assert_int_equal(ini_int(ini, "main", "f", &v), INI_BAD);
	assert_int_equal(ini_num(ini, "main", "f", &d), INI_OK);
	assert_true(d == 1.5);
	assert_int_equal(ini_num(ini, "main", "i", &d), INI_OK);
	assert_true(d == 42);
	/* Haraka types only -?\d+ and -?\d+\.\d+ as numbers. */
	assert_int_equal(ini_num(ini, "main", "bad", &d), INI_BAD);
	assert_int_equal(ini_num(ini, "main", "hex", &d), INI_BAD);
	assert_int_equal(ini_num(ini, "main", "half", &d), INI_BAD);
	assert_int_equal(ini_int(ini, "main", "text", &v), INI_BAD);
	assert_int_equal(ini_int(ini, "main", "huge", &v), INI_BAD);
	assert_int_equal(ini_int(ini, "main", "absent", &v), INI_ABSENT);
	ini_free(ini);
}

static void
test_flat_files(void **state)
{
	static const char data[] = "# comment\n\n  first value  \nsecond\n";
	char *v = flat_value_parse(data, strlen(data)), **l, *dir, *path;
	size_t n;

	(void)state;
	assert_string_equal(v, "first value");
	free(v);
	assert_null(flat_value_parse("; only\n#comments\n", 17));
	l = flat_list_parse(data, strlen(data), &n);
	assert_int_equal(n, 2);
	assert_string_equal(l[0], "first value");
	assert_string_equal(l[1], "second");
	assert_null(l[2]);
	flat_list_free(l);

	dir = tmpdir_new();
	write_file(dir, "plugins", "a\r\n# b\nc/d\n");
	path = xasprintf("%s/plugins", dir);
	assert_int_equal(flat_list(path, &l, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[1], "c/d");
	flat_list_free(l);
	free(path);
	path = xasprintf("%s/missing", dir);
	assert_int_equal(flat_value(path, &v), 0);
	assert_null(v);
	assert_int_equal(flat_list(path, &l, &n), 0);
	assert_int_equal(n, 0);
	flat_list_free(l);
	free(path);
	tmpdir_rm(dir);
}

static void
test_load_missing(void **state)
{
	int exists = 1;
	struct ini *ini = ini_load("/nonexistent/x.ini", "x.ini", &exists,
	    NULL, NULL);

	(void)state;
	assert_non_null(ini);
	assert_int_equal(exists, 0);
	assert_int_equal(ini_nkeys(ini, "main"), 0);
	ini_free(ini);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections_and_main),
		cmocka_unit_test(test_comments_and_blanks),
		cmocka_unit_test(test_bare_and_empty),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_invalid_lines),
		cmocka_unit_test(test_key_characters),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_flat_files),
		cmocka_unit_test(test_load_missing),
	};

	return cmocka_run_group_tests_name("ini", tests, NULL, NULL);
}
