/* Unit tests: core/config_keys.c — the tables of keys Outpost honours,
 * Haraka keys it ignores, unknown keys — and the start-up warnings: one
 * per key, naming file, line, section and key, none for used keys. */
#include "unit.h"

#include "core/config_keys.h"

static const struct key_case {
	const char	*file, *sect, *key;
	enum key_use	 use;
} key_cases[] = {
	{ "outbound.ini", "main", "concurrency_max", KEY_USED },
	{ "outbound.ini", "main", "load_pid_queue", KEY_IGNORED },
	{ "outbound.ini", "main", "concurency_max", KEY_UNKNOWN },
	{ "outbound.ini", "other", "concurrency_max", KEY_UNKNOWN },
	{ "smtp.ini", "main", "listen", KEY_USED },
	{ "smtp.ini", "main", "nodes", KEY_USED },
	{ "smtp.ini", "main", "daemonize", KEY_IGNORED },
	{ "connection.ini", "max", "data_line_length", KEY_USED },
	{ "connection.ini", "max", "mime_parts", KEY_IGNORED },
	{ "connection.ini", "haproxy", "hosts[]", KEY_IGNORED },
	{ "connection.ini", "uuid", "banner_chars", KEY_IGNORED },
	{ "net-utils.ini", "dns", "servers", KEY_USED },
	{ "smtp_forward.ini", "main", "using_lmtp", KEY_USED },
	{ "smtp_forward.ini", "main", "enable_outbound", KEY_USED },
	{ "smtp_forward.ini", "main", "domain_selector", KEY_USED },
	{ "smtp_forward.ini", "main", "one_message_per_rcpt", KEY_USED },
	{ "smtp_forward.ini", "main", "max_connections", KEY_USED },
	{ "smtp_forward.ini", "main", "enable_tls", KEY_USED },
	{ "smtp_forward.ini", "main", "idle_timeout", KEY_IGNORED },
	{ "smtp_forward.ini", "example.com", "host", KEY_USED },
	{ "smtp_forward.ini", "example.com", "connect_timeout", KEY_USED },
	{ "smtp_forward.ini", "example.com", "queue", KEY_IGNORED },
	{ "smtp_forward.ini", "example.com", "domain_selector", KEY_UNKNOWN },
	{ "smtp_forward.ini", "tls", "rejectUnauthorized", KEY_USED },
	{ "smtp_forward.ini", "tls", "no_tls_hosts", KEY_USED },
	{ "smtp_forward.ini", "tls", "ciphers", KEY_IGNORED },
	{ "tls.ini", "main", "rejectUnauthorized", KEY_USED },
	{ "tls.ini", "outbound", "rejectUnauthorized", KEY_USED },
	{ "tls.ini", "outbound", "no_tls_hosts[]", KEY_USED },
	{ "tls.ini", "main", "dhparam", KEY_IGNORED },
	{ "tls.ini", "no_tls_hosts", "10.0.0.0/8", KEY_USED },
	{ "tls.ini", "redis", "disable_for_failed_hosts", KEY_IGNORED },
	{ "tls.ini", "main", "bogus", KEY_UNKNOWN },
	{ "accounting_files.ini", "main", "anything", KEY_USED },
};

static void
test_key_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		const char *why;
		enum key_use u = config_key_use(c->file, c->sect, c->key, &why);

		if (u != c->use)
			fail_msg("%s [%s] %s: %d, want %d", c->file, c->sect,
			    c->key, u, c->use);
		if ((u == KEY_IGNORED) != (why != NULL))
			fail_msg("%s [%s] %s: reason '%s'", c->file, c->sect,
			    c->key, why ? why : "(none)");
	}
}

static void
test_key_warnings(void **state)
{
	char *dir = tmpdir_new(), *out;
	FILE *cap;
	unsigned n;

	(void)state;
	write_file(dir, "outbound.ini", "concurrency_max=5\n"
	    "load_pid_queue=1\nconcurency_max=7\n");
	write_file(dir, "smtp_forward.ini", "host=a\nusing_lmtp=true\n"
	    "one_message_per_rcpt=true\n[example.com]\nhost=b\n"
	    "max_connections=3\nqueue=lmtp\n[tls]\nrejectUnauthorized=false\n"
	    "ciphers=HIGH\n");
	write_file(dir, "connection.ini", "[max]\nbytes=10\n");
	cap = capture_start();
	log_set_level(LOG_INFO);
	n = config_warn_keys(dir);
	out = capture_end(cap);
	assert_int_equal(n, 4);
	assert_non_null(strstr(out, "[WARN] [-] [core] config/outbound.ini:2: "
	    "[main] load_pid_queue: a Haraka setting Outpost ignores: "));
	assert_non_null(strstr(out, "[WARN] [-] [core] config/outbound.ini:3: "
	    "[main] concurency_max: unknown key, ignored"));
	assert_non_null(strstr(out, "config/smtp_forward.ini:7: [example.com] "
	    "queue: a Haraka setting Outpost ignores: "));
	assert_non_null(strstr(out, "config/smtp_forward.ini:10: [tls] "
	    "ciphers: a Haraka setting Outpost ignores: "));
	assert_null(strstr(out, "one_message_per_rcpt"));
	assert_null(strstr(out, "max_connections"));
	assert_null(strstr(out, "rejectUnauthorized"));
	assert_null(strstr(out, "concurrency_max:"));
	assert_null(strstr(out, "using_lmtp"));
	assert_null(strstr(out, "connection.ini"));
	free(out);
	tmpdir_rm(dir);
}

static void
test_bad_booleans(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;

	(void)state;
	/* Haraka's spellings, any case, and a bare key pass. */
	write_file(dir, "tls.ini", "rejectUnauthorized=OFF\nhonorCipherOrder\n"
	    "[outbound]\nrejectUnauthorized=Yes\ndane=0\nmta_sts=enabled\n"
	    "ciphers=maybe\n");
	write_file(dir, "outbound.ini", "enable_tls=ok\nlocal_mx_ok=disabled\n"
	    "always_split=No\ndisabled=1\n");
	assert_int_equal(config_check_values(dir, &err), 0);
	assert_null(err);
	write_file(dir, "tls.ini", "[outbound]\nrejectUnauthorized=maybe\n");
	assert_int_equal(config_check_values(dir, &err), -1);
	assert_string_equal(err, "config/tls.ini:2: [outbound] "
	    "rejectUnauthorized: expected a boolean (true/false, yes/no, "
	    "on/off, 1/0), got 'maybe'");
	free(err);
	err = NULL;
	write_file(dir, "tls.ini", "");
	write_file(dir, "smtp_forward.ini", "[example.com]\nhost=a\n"
	    "enable_tls=2\n");
	assert_int_equal(config_check_values(dir, &err), -1);
	assert_non_null(strstr(err, "config/smtp_forward.ini:3: [example.com] "
	    "enable_tls: expected a boolean"));
	free(err);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_tables),
		cmocka_unit_test(test_key_warnings),
		cmocka_unit_test(test_bad_booleans),
	};

	return cmocka_run_group_tests_name("config_keys", tests, NULL, NULL);
}
