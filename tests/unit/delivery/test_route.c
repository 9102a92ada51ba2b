/* Unit tests: route.c, get_mx's structured answer (op_next_mx) as
 * delivery's MX list. */
#include "unit.h"

#include "core/config.h"
#include "core/shaping.h"
#include "plugins/plugin.h"
#include "builtins/builtin.h"
#include "delivery/mx.h"
#include "delivery/route.h"

static void
test_from_plugin(void **state)
{
	const struct op_mx in[] = {
		{ .exchange = "MX1.Example.COM", .priority = 10, .port = 2525,
		  .bind = "", .auth_user = "u", .auth_pass = "p",
		  .auth_type = "PLAIN", .route = "vmta1" },
		{ .exchange = "", .path = "" },		/* skipped */
		{ .path = "/run/lmtp.sock", .using_lmtp = 1,
		  .bind_helo = "me" },
	};
	struct mx *mxs;
	size_t n;

	(void)state;
	n = route_from_plugin(in, 3, &mxs);
	assert_int_equal(n, 2);
	assert_string_equal(mxs[0].exchange, "mx1.example.com");
	assert_null(mxs[0].path);
	assert_int_equal(mxs[0].priority, 10);
	assert_int_equal(mxs[0].port, 2525);
	assert_null(mxs[0].bind);
	assert_string_equal(mxs[0].auth_user, "u");
	assert_string_equal(mxs[0].auth_pass, "p");
	assert_string_equal(mxs[0].auth_type, "PLAIN");
	assert_string_equal(mxs[0].route, "vmta1");
	assert_null(mxs[0].from_dns);
	assert_null(mxs[1].exchange);
	assert_string_equal(mxs[1].path, "/run/lmtp.sock");
	assert_int_equal(mxs[1].using_lmtp, 1);
	assert_string_equal(mxs[1].bind_helo, "me");
	mx_list_free(mxs, n);

	n = route_from_plugin(NULL, 0, &mxs);
	assert_int_equal(n, 0);
	assert_non_null(mxs);
	mx_list_free(mxs, n);
}

/* A plugin answering every hook with op_next_mx. */
static void
answer_mx(struct op_call *c, void *data)
{
	const struct op_mx mx = { .exchange = "Relay.Example", .port = 25 };

	(void)data;
	op_next_mx(c, &mx, 1);
}

static int
mx_init(struct op_env *env, void **data)
{
	(void)data;
	assert_int_equal(op_register_hook(env, OP_HOOK_GET_MX, answer_mx, 0),
	    0);
	assert_int_equal(op_register_hook(env, OP_HOOK_SEND_EMAIL, answer_mx,
	    0), 0);
	return 0;
}

static const struct op_plugin mx_plugin = {
	OUTPOST_PLUGIN_ABI, "mx", mx_init, NULL
};

static int verdict;

static void
done(void *arg, int code, const char *msg)
{
	(void)arg;
	(void)msg;
	verdict = code;
}

static void
test_op_next_mx(void **state)
{
	struct outbound_call oc;
	struct config cfg;
	char *err = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&oc, 0, sizeof(oc));
	assert_int_equal(plugins_load(&cfg, NULL, builtin_plugins, &err), 0);
	assert_int_equal(plugins_add(&mx_plugin, "/cfg", 0, &err), 0);

	/* get_mx: the answer lands in the argument block, replacing one. */
	oc.mxs = xcalloc(1, sizeof(*oc.mxs));
	oc.mxs[0].exchange = xstrdup("old.example");
	oc.nmx = 1;
	hook_run(OP_HOOK_GET_MX, &oc, done, NULL);
	assert_int_equal(verdict, OP_OK);
	assert_int_equal(oc.nmx, 1);
	assert_string_equal(oc.mxs[0].exchange, "relay.example");
	assert_int_equal(oc.mxs[0].port, 25);
	mx_list_free(oc.mxs, oc.nmx);
	memset(&oc, 0, sizeof(oc));

	/* Another hook: OK, and nothing written. */
	verdict = 0;
	hook_run(OP_HOOK_SEND_EMAIL, &oc, done, NULL);
	assert_int_equal(verdict, OP_OK);
	assert_int_equal(oc.nmx, 0);
	assert_null(oc.mxs);
	plugins_unload();
}

/* A route with limits of its own is one budget per host and port, with
 * shaping.ini's limits for that host under its own. */
static void
test_route_shaping(void **state)
{
	char *err = NULL, key[SHAPING_KEY_MAX];
	struct shaping *sh = shaping_parse("max_connections=20\n"
	    "[mx:smart.test]\nmax_messages_per_connection=7\n", NULL, &err);
	struct mx m;
	struct shaping_limits lim;

	(void)state;
	assert_non_null(sh);
	memset(&m, 0, sizeof(m));
	m.exchange = "192.0.2.7";
	m.from_dns = "smart.test";
	m.port = 2525;
	assert_int_equal(route_shaping(&m, 1, sh, key, &lim), 0);
	assert_int_equal(route_shaping(NULL, 0, sh, key, &lim), 0);
	m.max_connections = 3;
	m.one_per_rcpt = 1;
	assert_int_equal(route_shaping(&m, 1, sh, key, &lim), 1);
	assert_string_equal(key, "forward:smart.test:2525");
	assert_int_equal(lim.max_connections, 3);
	assert_int_equal(lim.max_recipients_per_message, 1);
	assert_int_equal(lim.max_messages_per_connection, 7);
	assert_int_equal(lim.connect_timeout, 0);
	m.connect_timeout = 9;
	m.max_connections = 0;
	m.from_dns = NULL;
	m.port = 0;
	assert_int_equal(route_shaping(&m, 1, sh, key, &lim), 1);
	assert_string_equal(key, "forward:192.0.2.7:25");
	assert_int_equal(lim.connect_timeout, 9);
	assert_int_equal(lim.max_connections, 20);
	assert_int_equal(mx_tls_choice(MX_TLS_DEFAULT, 1), 1);
	assert_int_equal(mx_tls_choice(MX_TLS_DEFAULT, 0), 0);
	assert_int_equal(mx_tls_choice(MX_TLS_OFF, 1), 0);
	assert_int_equal(mx_tls_choice(MX_TLS_ON, 0), 1);
	shaping_unref(sh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_shaping),
		cmocka_unit_test(test_from_plugin),
		cmocka_unit_test(test_op_next_mx),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
