/* Unit tests: delivery/cluster_conf — cluster.ini's keys, defaults and
 * errors (file and line named), durations, Redis key names, and a node's
 * share of the limits while Redis is unreachable. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/cluster_conf.h"

static void
test_absent_is_off(void **state)
{
	struct cluster_conf c;
	char *err = NULL;

	(void)state;
	assert_int_equal(cluster_conf_parse(NULL, &c, &err), 0);
	assert_null(err);
	assert_false(c.enabled);
	assert_string_equal(c.prefix, "outpost");
	assert_int_equal(c.port, 6379);
	assert_int_equal(c.nodes, 1);
	assert_int_equal(c.timeout_ms, 1000);
	assert_int_equal(c.lease_ttl_ms, 30000);
	cluster_conf_clear(&c);
	/* Every line commented out, as shipped: off too. */
	assert_int_equal(cluster_conf_parse("[main]\n;host=127.0.0.1\n", &c,
	    &err), 0);
	assert_false(c.enabled);
	cluster_conf_clear(&c);
}

static void
test_keys(void **state)
{
	struct cluster_conf c;
	char *err = NULL;

	(void)state;
	assert_int_equal(cluster_conf_parse("[main]\nhost=127.0.0.1\n"
	    "port=6380\npassword=s3cret\ndb=2\nprefix=mta\nnode=n1\n"
	    "nodes=3\nconnect_timeout=500ms\ntimeout=2\nlease_ttl=1m\n"
	    "reconnect_max=10s\nmax_wait=0\n", &c, &err), 0);
	assert_null(err);
	assert_true(c.enabled);
	assert_string_equal(c.host, "127.0.0.1");
	assert_null(c.socket);
	assert_int_equal(c.port, 6380);
	assert_string_equal(c.password, "s3cret");
	assert_int_equal(c.db, 2);
	assert_string_equal(c.prefix, "mta");
	assert_string_equal(c.node, "n1");
	assert_int_equal(c.nodes, 3);
	assert_int_equal(c.connect_timeout_ms, 500);
	assert_int_equal(c.timeout_ms, 2000);
	assert_int_equal(c.lease_ttl_ms, 60000);
	assert_int_equal(c.reconnect_max_ms, 10000);
	assert_int_equal(c.max_wait_ms, 0);
	cluster_conf_clear(&c);
	assert_int_equal(cluster_conf_parse("socket=/run/r.sock\nhost=\n", &c,
	    &err), 0);
	assert_true(c.enabled);
	assert_string_equal(c.socket, "/run/r.sock");
	assert_null(c.host);
	cluster_conf_clear(&c);
	assert_int_equal(cluster_conf_parse("host=::1\n", &c, &err), 0);
	assert_true(c.enabled);
	cluster_conf_clear(&c);
}

static void
expect_error(const char *text, const char *want)
{
	struct cluster_conf c;
	char *err = NULL;

	assert_int_equal(cluster_conf_parse(text, &c, &err), -1);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("'%s' does not hold '%s'", err, want);
	free(err);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("[main]\nhost=redis.example\n",
	    "config/cluster.ini:2: host: expected an IP address");
	expect_error("host=127.0.0.1\nsocket=/x\n",
	    "config/cluster.ini:2: socket: set host or socket");
	expect_error("[main]\n\nport=0\n", "config/cluster.ini:3: port:");
	expect_error("port=65536\n", "cluster.ini:1: port:");
	expect_error("nodes=two\n", "cluster.ini:1: nodes: expected a whole");
	expect_error("nodes=\n", "cluster.ini:1: nodes:");
	expect_error("timeout=1h\n", "cluster.ini:1: timeout: expected a "
	    "duration");
	expect_error("lease_ttl=1s\n", "cluster.ini:1: lease_ttl:");
	expect_error("hosts=127.0.0.1\n", "cluster.ini:1: unknown key 'hosts'");
	expect_error("[redis]\nhost=127.0.0.1\n",
	    "cluster.ini:1: unknown section [redis]");
	expect_error("prefix=a{b}\n", "cluster.ini:1: prefix:");
	expect_error("prefix=\n", "cluster.ini:1: prefix:");
	expect_error("node=a b\n", "cluster.ini:1: node:");
	expect_error("this is not ini\n", "cluster.ini:1:");
}

static void
test_durations(void **state)
{
	(void)state;
	assert_int_equal(cluster_ms_parse("250ms", 100000), 250);
	assert_int_equal(cluster_ms_parse("2s", 100000), 2000);
	assert_int_equal(cluster_ms_parse("3", 100000), 3000);
	assert_int_equal(cluster_ms_parse("1m", 100000), 60000);
	assert_int_equal(cluster_ms_parse("0", 100000), 0);
	assert_int_equal(cluster_ms_parse("2m", 100000), -1);
	assert_int_equal(cluster_ms_parse("", 100000), -1);
	assert_int_equal(cluster_ms_parse("1h", 10000000), -1);
	assert_int_equal(cluster_ms_parse("-1", 100000), -1);
	assert_int_equal(cluster_ms_parse("1.5s", 100000), -1);
	assert_int_equal(cluster_ms_parse("99999999999", 100000), -1);
	assert_int_equal(cluster_ms_parse(NULL, 100000), -1);
}

static void
test_key_names(void **state)
{
	char *k;

	(void)state;
	k = cluster_key("outpost", "gmail.com", "lease");
	assert_string_equal(k, "outpost:{gmail.com}:lease");
	free(k);
	k = cluster_key("p", "127.0.0.2/mx:*.google.com", "msg");
	assert_string_equal(k, "p:{127.0.0.2/mx:*.google.com}:msg");
	free(k);
	/* A brace would end the hash tag early. */
	k = cluster_key("p", "a{b}c", "conn");
	assert_string_equal(k, "p:{a_b_c}:conn");
	free(k);
}

static void
test_shares(void **state)
{
	struct rate r, s;
	const char *why;

	(void)state;
	assert_int_equal(cluster_share(10, 3), 3);
	assert_int_equal(cluster_share(2, 3), 1);
	assert_int_equal(cluster_share(1, 5), 1);
	assert_int_equal(cluster_share(0, 3), 0);	/* no limit */
	assert_int_equal(cluster_share(7, 1), 7);
	assert_int_equal(rate_parse("10/s", &r, &why), 0);
	cluster_rate_share(&r, 3, &s);
	assert_int_equal(s.n, 10);
	assert_int_equal(s.period, 3);
	assert_int_equal(cluster_rate_interval_us(&r), 100000);
	assert_int_equal(cluster_rate_interval_us(&s), 300000);
	/* 3 nodes, each at its share: at most 10 in a second between them. */
	assert_int_equal(rate_take(&s, 1000), 0);
	assert_int_equal(rate_take(&s, 1100), 200);
	assert_int_equal(rate_take(&s, 1300), 0);
	assert_int_equal(rate_parse("", &r, &why), 0);
	cluster_rate_share(&r, 3, &s);
	assert_true(rate_unlimited(&s));
	assert_int_equal(cluster_rate_interval_us(&s), 0);
	assert_int_equal(rate_parse("7/m", &r, &why), 0);
	assert_int_equal(cluster_rate_interval_us(&r), 8571429);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent_is_off),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_shares),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
