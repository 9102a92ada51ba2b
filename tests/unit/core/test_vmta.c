/* Unit tests: core/vmta — pools.ini parsing (pools, weights, [main],
 * [domains]), bad lines with their file:line, the sender-domain rule and
 * the smooth weighted round-robin; the shipped file defines no pool. */
#include "unit.h"

#include <string.h>

#include "core/vmta.h"
#include "lib/ini.h"

static struct vmta *
parse_ok(const char *text)
{
	char *err = NULL;
	struct vmta *v = vmta_parse(text, &err);

	if (v == NULL)
		fail_msg("unexpected error: %s", err);
	return v;
}

static void
bad(const char *text, const char *want)
{
	char *err = NULL;
	struct vmta *v = vmta_parse(text, &err);

	if (v != NULL)
		fail_msg("accepted: %s", text);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' does not hold '%s'", err, want);
	free(err);
}

static const char FULL[] =
    "[main]\n"
    "default=bulk\n"
    "[pool:bulk]\n"
    "addresses=127.0.0.20, 127.0.0.21*3\n"
    "helo=bulk.example.com\n"
    "[pool:Six]\n"
    "addresses = ::1\n"
    "[domains]\n"
    "Example.COM=six\n"
    "sub.other.org=bulk\n";

static void
test_parse(void **state)
{
	struct vmta *v = parse_ok(FULL), *none = parse_ok(NULL);
	struct vmta_pick p;

	(void)state;
	assert_int_equal(vmta_count(v), 2);
	assert_string_equal(vmta_header(v), "X-Outpost-Pool");
	assert_string_equal(vmta_find(v, "SIX"), "Six");
	assert_null(vmta_find(v, "nope"));
	assert_string_equal(vmta_for_sender(v, "a@example.com"), "Six");
	assert_string_equal(vmta_for_sender(v, "a@x.EXAMPLE.com"), "Six");
	assert_string_equal(vmta_for_sender(v, "a@sub.other.org"), "bulk");
	assert_string_equal(vmta_for_sender(v, "a@other.org"), "bulk");
	assert_string_equal(vmta_for_sender(v, ""), "bulk");
	assert_int_equal(vmta_pick(v, "six", &p), 0);
	assert_string_equal(p.addr, "::1");
	assert_null(p.helo);
	assert_int_equal(vmta_pick(v, "bulk", &p), 0);
	assert_string_equal(p.pool, "bulk");
	assert_string_equal(p.helo, "bulk.example.com");
	assert_int_equal(vmta_pick(v, "x", &p), -1);
	/* No file: no pools, no header, no default. */
	assert_int_equal(vmta_count(none), 0);
	assert_null(vmta_header(none));
	assert_null(vmta_for_sender(none, "a@example.com"));
	vmta_unref(v);
	vmta_unref(none);
	v = parse_ok("[main]\nheader=\n[pool:a]\naddresses=10.0.0.1\n");
	assert_null(vmta_header(v));
	assert_null(vmta_for_sender(v, "a@b.c"));
	vmta_unref(v);
	v = parse_ok("[main]\nheader=X-VMTA\n[pool:a]\naddresses=10.0.0.1\n");
	assert_string_equal(vmta_header(v), "X-VMTA");
	vmta_unref(v);
}

static void
test_bad(void **state)
{
	(void)state;
	bad("[pool:a]\naddresses=10.0.0.1\nthis is not\n",
	    "config/pools.ini:3: not a [section]");
	bad("[main]\nfoo=1\n", "config/pools.ini:2: unknown key 'foo' in [main]");
	bad("\n[other]\n", "config/pools.ini:2: unknown section [other]");
	bad("[pool:a]\naddresses=10.0.0.1, 10.0.0.300\n",
	    "config/pools.ini:2: [pool:a] addresses: '10.0.0.300' is not");
	bad("[pool:a]\n\naddresses=10.0.0.1*0\n",
	    "config/pools.ini:3: [pool:a] addresses: bad weight '0'");
	bad("[pool:a]\naddresses=10.0.0.1*1001\n", "pools.ini:2: ");
	bad("[pool:a]\naddresses=10.0.0.1*x\n", "pools.ini:2: ");
	bad("[pool:a]\naddresses=\n", "pools.ini:2: ");
	bad("[pool:a]\nhelo=x.y\n", "config/pools.ini:1: [pool:a] has no "
	    "addresses=");
	bad("[pool:a]\naddresses=10.0.0.1\nhelo=bad name\n",
	    "config/pools.ini:3: [pool:a] helo");
	bad("[pool:a]\naddresses=10.0.0.1\nport=1\n",
	    "config/pools.ini:3: unknown key 'port' in [pool:a]");
	bad("[pool:a b]\naddresses=10.0.0.1\n", "config/pools.ini:1: ");
	bad("[main]\ndefault=b\n[pool:a]\naddresses=10.0.0.1\n",
	    "config/pools.ini:2: default: no [pool:b]");
	bad("[pool:a]\naddresses=10.0.0.1\n[domains]\nx.org=b\n",
	    "config/pools.ini:4: [domains] x.org: no [pool:b]");
	bad("[pool:a]\naddresses=10.0.0.1\n[domains]\nx..org=a\n",
	    "config/pools.ini:4: [domains]: 'x..org' is not a domain");
	bad("[main]\nheader=X:Y\n", "config/pools.ini:2: header");
}

/* Weights 1 and 3 over 8 picks: 2 and 6, never the light one twice in a
 * row; weights 1, 1: alternate. */
static void
test_round_robin(void **state)
{
	struct vmta *v = parse_ok("[pool:p]\naddresses=10.0.0.1, 10.0.0.2*3\n"
	    "[pool:q]\naddresses=10.0.0.3, 10.0.0.4\n");
	struct vmta_pick p;
	unsigned light = 0, heavy = 0;
	int last_light = 0;
	const char *prev = NULL;

	(void)state;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(vmta_pick(v, "p", &p), 0);
		if (strcmp(p.addr, "10.0.0.1") == 0) {
			light++;
			assert_false(last_light);
			last_light = 1;
		} else {
			heavy++;
			last_light = 0;
		}
	}
	assert_int_equal(light, 2);
	assert_int_equal(heavy, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(vmta_pick(v, "q", &p), 0);
		if (prev != NULL)
			assert_string_not_equal(prev, p.addr);
		prev = p.addr;
	}
	vmta_unref(v);
}

static void
test_default_file(void **state)
{
	char *data = NULL, *err = NULL;
	size_t len;
	struct vmta *v;

	(void)state;
	if (read_file("config/pools.ini", &data, &len) == -1)
		fail_msg("cannot read config/pools.ini (run from the project "
		    "root)");
	v = vmta_parse(data, &err);
	if (v == NULL)
		fail_msg("config/pools.ini: %s", err);
	assert_int_equal(vmta_count(v), 0);
	assert_null(vmta_header(v));
	vmta_unref(v);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_default_file),
	};

	return cmocka_run_group_tests_name("core_vmta", tests, NULL, NULL);
}
