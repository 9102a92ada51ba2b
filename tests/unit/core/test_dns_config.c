/* Unit tests: core/dns_config.c, net-utils.ini [dns] read into a struct
 * dns_config (moved from test_mx.c with the loader). */
#include "unit.h"

#include "core/dns_config.h"

static char *
dns_err(const char *dir, const char *text)
{
	struct dns_config cfg;
	char *err = NULL;

	write_file(dir, "net-utils.ini", text);
	if (dns_config_load(dir, &cfg, &err) != -1)
		fail_msg("'%s' accepted", text);
	assert_null(cfg.servers);
	assert_non_null(err);
	return err;
}

static void
test_dns_config(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	struct dns_config cfg;

	(void)state;
	/* No file: every default: Haraka's net-utils timeout and tries
	 * (25000 ms, 1), not resolv.conf's. */
	assert_int_equal(dns_config_load(dir, &cfg, &err), 0);
	assert_null(err);
	assert_null(cfg.servers);
	assert_int_equal(cfg.timeout_ms, 25000);
	assert_int_equal(cfg.tries, 1);
	dns_config_clear(&cfg);

	/* The shipped file is all comments: defaults too. */
	write_file(dir, "net-utils.ini", "[dns]\n;timeout=5\n;tries=4\n"
	    ";servers=\n");
	assert_int_equal(dns_config_load(dir, &cfg, &err), 0);
	assert_null(cfg.servers);
	assert_int_equal(cfg.timeout_ms, 25000);
	dns_config_clear(&cfg);

	/* Empty values count as unset. */
	write_file(dir, "net-utils.ini", "[dns]\ntimeout=\ntries=\nservers=\n");
	assert_int_equal(dns_config_load(dir, &cfg, &err), 0);
	assert_null(cfg.servers);
	assert_int_equal(cfg.timeout_ms, 25000);
	assert_int_equal(cfg.tries, 1);
	dns_config_clear(&cfg);

	write_file(dir, "net-utils.ini", "[dns]\ntimeout=3000\ntries=2\n"
	    "servers = 127.0.0.1:5353, 192.0.2.53,[::1]:5300 ,[2001:db8::1],"
	    "2001:db8::2\n");
	assert_int_equal(dns_config_load(dir, &cfg, &err), 0);
	assert_int_equal(cfg.timeout_ms, 3000);
	assert_int_equal(cfg.tries, 2);
	assert_non_null(cfg.servers);
	assert_string_equal(cfg.servers[0], "127.0.0.1:5353");
	assert_string_equal(cfg.servers[1], "192.0.2.53");
	assert_string_equal(cfg.servers[2], "[::1]:5300");
	assert_string_equal(cfg.servers[3], "[2001:db8::1]:53");
	assert_string_equal(cfg.servers[4], "[2001:db8::2]:53");
	assert_null(cfg.servers[5]);
	dns_config_clear(&cfg);
	assert_null(cfg.servers);

	/* Empty items are skipped, like smtp.ini's listen. */
	write_file(dir, "net-utils.ini", "[dns]\nservers=127.0.0.1,,::1,\n");
	assert_int_equal(dns_config_load(dir, &cfg, &err), 0);
	assert_string_equal(cfg.servers[0], "127.0.0.1");
	assert_string_equal(cfg.servers[1], "[::1]:53");
	assert_null(cfg.servers[2]);
	dns_config_clear(&cfg);

	/* Other sections are not ours. */
	write_file(dir, "net-utils.ini", "timeout=x\n[other]\ntries=0\n");
	assert_int_equal(dns_config_load(dir, &cfg, &err), 0);
	dns_config_clear(&cfg);
	tmpdir_rm(dir);
}

static void
test_dns_config_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*err;
	} bad[] = {
		{ "[dns]\ntimeout=5\n", "config/net-utils.ini:2: [dns] timeout: "
		    "expected milliseconds (Haraka's unit) from 100 to 300000, got "
		    "'5'" },
		{ "[dns]\ntimeout=0\n", "config/net-utils.ini:2: [dns] timeout: "
		    "expected milliseconds (Haraka's unit) from 100 to 300000, got '0'" },
		{ "[dns]\n\ntimeout=2.5\n", "config/net-utils.ini:3: [dns] "
		    "timeout: expected milliseconds (Haraka's unit) from 100 to 300000, got '2.5'" },
		{ "[dns]\ntimeout=-1\n", "config/net-utils.ini:2: [dns] timeout: "
		    "expected milliseconds (Haraka's unit) from 100 to 300000, got '-1'" },
		{ "[dns]\ntimeout=300001\n", "config/net-utils.ini:2: [dns] "
		    "timeout: expected milliseconds (Haraka's unit) from 100 to 300000, got '300001'" },
		{ "[dns]\ntimeout=5000ms\n", "config/net-utils.ini:2: [dns] timeout: "
		    "expected milliseconds (Haraka's unit) from 100 to 300000, got '5000ms'" },
		{ "[dns]\ntimeout\n", "config/net-utils.ini:2: [dns] timeout: "
		    "expected milliseconds (Haraka's unit) from 100 to 300000, got ''" },
		{ "[dns]\ntries=0\n", "config/net-utils.ini:2: [dns] tries: "
		    "expected a whole number from 1 to 20, got '0'" },
		{ "[dns]\ntries=many\n", "config/net-utils.ini:2: [dns] tries: "
		    "expected a whole number from 1 to 20, got 'many'" },
		{ "[dns]\nservers=dns.example\n", "config/net-utils.ini:2: "
		    "[dns] servers: 'dns.example' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=127.0.0.1:0\n", "config/net-utils.ini:2: "
		    "[dns] servers: '127.0.0.1:0' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=127.0.0.1:65536\n", "config/net-utils.ini:2: "
		    "[dns] servers: '127.0.0.1:65536' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=127.0.0.1:53x\n", "config/net-utils.ini:2: "
		    "[dns] servers: '127.0.0.1:53x' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=[::1\n", "config/net-utils.ini:2: [dns] "
		    "servers: '[::1' is not an address (ip, ip:port, "
		    "[ipv6]:port)" },
		{ "[dns]\nservers=[127.0.0.1]:53\n", "config/net-utils.ini:2: "
		    "[dns] servers: '[127.0.0.1]:53' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=300.1.1.1\n", "config/net-utils.ini:2: [dns] "
		    "servers: '300.1.1.1' is not an address (ip, ip:port, "
		    "[ipv6]:port)" },
		{ "[dns]\nservers=fe80::1%eth0\n", "config/net-utils.ini:2: "
		    "[dns] servers: 'fe80::1%eth0' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=1.2.3.4, 1.2.3.4 5\n", "config/net-utils.ini:2: "
		    "[dns] servers: '1.2.3.4 5' is not an address (ip, "
		    "ip:port, [ipv6]:port)" },
		{ "[dns]\nservers=,\n", "config/net-utils.ini:2: [dns] servers: "
		    "no address in ','" },
	};
	char *dir = tmpdir_new();

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = dns_err(dir, bad[i].text);

		if (strcmp(err, bad[i].err) != 0)
			fail_msg("'%s':\n got  %s\n want %s", bad[i].text, err,
			    bad[i].err);
		free(err);
	}
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_config),
		cmocka_unit_test(test_dns_config_errors),
	};

	return cmocka_run_group_tests_name("dns_config", tests, NULL, NULL);
}
