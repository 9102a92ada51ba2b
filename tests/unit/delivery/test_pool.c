/* Unit tests: pool.c — the destination key, the no-TLS marks (logged
 * once, per address), and connections that cannot be kept (closed at
 * once, never handed out). No network: sessions here never connect. */
#include "unit.h"

#include <event2/event.h>

#include "delivery/mta_session.h"
#include "delivery/pool.h"

static void
test_key(void **state)
{
	struct mta_conf c;
	char *k;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.ip = "192.0.2.1";
	c.port = 25;
	c.helo = "me.test";
	c.tls = MTA_TLS_TRY;
	k = pool_key(&c);
	assert_string_equal(k, "192.0.2.1||25||me.test|0|1||");
	free(k);

	c.ip = NULL;
	c.path = "/run/lmtp.sock";
	c.port = 24;
	c.bind = "198.51.100.2";
	c.lmtp = 1;
	c.tls = MTA_TLS_NONE;
	c.auth_user = "u";
	c.auth_pass = "p";
	k = pool_key(&c);
	assert_string_equal(k, "|/run/lmtp.sock|24|198.51.100.2|me.test|1|0|u|p");
	free(k);

	/* A verified connection is keyed by the name it was verified for
	 * (MTA-STS, force_tls_hosts): never shared with another name, nor
	 * with unverified use. */
	c.ip = "192.0.2.1";
	c.path = NULL;
	c.port = 25;
	c.bind = NULL;
	c.lmtp = 0;
	c.auth_user = c.auth_pass = NULL;
	c.tls = MTA_TLS_MUST;
	c.tls_name = "mx1.example";
	k = pool_key(&c);
	assert_string_equal(k, "192.0.2.1||25||me.test|0|2=mx1.example||");
	free(k);
	c.tls = MTA_TLS_TRY;
	k = pool_key(&c);
	assert_string_equal(k, "192.0.2.1||25||me.test|0|1||");
	free(k);
}

static void
test_no_tls(void **state)
{
	struct event_base *base = event_base_new();
	struct pool *p = pool_new(base);
	FILE *cap;
	char *log;

	(void)state;
	assert_false(pool_no_tls_marked(p, "192.0.2.1"));
	log_set_level(LOG_NOTICE);
	cap = capture_start();
	pool_no_tls_mark(p, "192.0.2.1", "u1");
	pool_no_tls_mark(p, "192.0.2.1", "u2");	/* already marked */
	pool_no_tls_mark(p, "192.0.2.2", "u3");
	log = capture_end(cap);
	log_set_level(LOG_WARN);
	assert_non_null(strstr(log, "TLS connection failed. Marking "
	    "192.0.2.1 as non-TLS for 3600 seconds"));
	assert_null(strstr(log, "u2"));
	assert_non_null(strstr(log, "192.0.2.2"));
	free(log);
	assert_true(pool_no_tls_marked(p, "192.0.2.1"));
	assert_true(pool_no_tls_marked(p, "192.0.2.2"));
	assert_false(pool_no_tls_marked(p, "192.0.2.3"));
	pool_free(p);		/* frees the marks */
	pool_free(NULL);
	event_base_free(base);
}

static void
test_not_kept(void **state)
{
	struct event_base *base = event_base_new();
	struct pool *p = pool_new(base);
	struct mta_conf c;
	struct mta_session *s;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.ip = "192.0.2.1";
	c.port = 25;
	c.helo = "me.test";
	c.timeouts.connect = 1;
	assert_null(pool_take(p, "k"));
	/* Never connected, so not idle: closed, not kept. */
	s = mta_session_new(base, &c);
	assert_false(mta_session_idle(s));
	pool_put(p, "k", s, 0);
	assert_null(pool_take(p, "k"));
	pool_drain(p);
	s = mta_session_new(base, &c);
	pool_put(p, "k", s, 0);		/* draining: closed */
	assert_null(pool_take(p, "k"));
	pool_free(p);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_no_tls),
		cmocka_unit_test(test_not_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
