/* Unit tests: the plugin registry and the hook runner. */
#include "unit.h"

#include <event2/event.h>

#include "core/config.h"
#include "plugins/plugin.h"
#include "builtins/builtin.h"

static struct event_base *base;
static char trace[512];

static void
note(const char *s)
{
	strncat(trace, s, sizeof(trace) - strlen(trace) - 1);
}

/* Each test plugin's data is its answer: a code, or 0 to answer later. */
struct answer {
	const char	*name;
	int		 code;
	const char	*msg;
	struct op_call	*pending;
};

static struct answer answers[] = {
	{ "A", OP_CONT, NULL, NULL },
	{ "B", OP_DENY, "no thanks", NULL },
	{ "C", OP_OK, NULL, NULL },
	{ "L", 0, NULL, NULL },		/* answers later, or never */
};
#define LATE (&answers[3])

static void
hook_answer(struct op_call *c, void *data)
{
	struct answer *a = data;

	note(a->name);
	if (a->code == 0) {
		a->pending = c;
		return;
	}
	op_next(c, a->code, a->msg);
}

static int
plugin_init(struct op_env *env, void **data)
{
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if (strcmp(op_plugin_name(env), answers[i].name) == 0)
			*data = &answers[i];
	assert_int_equal(op_register_hook(env, OP_HOOK_BOUNCE, hook_answer,
	    0), 0);
	assert_int_equal(op_register_hook(env, (enum op_hook)99, hook_answer,
	    0), -1);
	assert_int_equal(op_register_hook(env, OP_HOOK_BOUNCE, hook_answer,
	    0x80), -1);
	/* Only delivered, deferred and bounce can be observed. */
	assert_int_equal(op_register_hook(env, OP_HOOK_GET_MX, hook_answer,
	    OP_HOOK_OBSERVE), -1);
	assert_string_equal(op_config_dir(env), "/cfg");
	assert_ptr_equal(op_event_base(env), base);
	return 0;
}

static void
plugin_shutdown(void *data)
{
	struct answer *a = data;

	note("~");
	note(a->name);
}

#define PLUGIN(n) { OUTPOST_PLUGIN_ABI, n, plugin_init, plugin_shutdown }
static const struct op_plugin pA = PLUGIN("A"), pB = PLUGIN("B"),
    pC = PLUGIN("C"), pL = PLUGIN("L");

static int verdict;
static char verdict_msg[64];

static void
done(void *arg, int code, const char *msg)
{
	(void)arg;
	verdict = code;
	snprintf(verdict_msg, sizeof(verdict_msg), "%s", msg ? msg : "");
	note("!");
}

static void
load(const struct op_plugin *const *ps, unsigned timeout)
{
	struct config cfg;
	char *err = NULL;

	memset(&cfg, 0, sizeof(cfg));
	trace[0] = '\0';
	verdict = 0;
	verdict_msg[0] = '\0';
	LATE->pending = NULL;
	assert_int_equal(plugins_load(&cfg, base, builtin_plugins, &err), 0);
	for (size_t i = 0; ps[i] != NULL; i++)
		if (plugins_add(ps[i], "/cfg", timeout, &err) != 0)
			fail_msg("%s", err);
}

static int
setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	event_base_free(base);
	return 0;
}

static void
test_chain_order_and_verdict(void **state)
{
	const struct op_plugin *ps[] = { &pA, &pB, &pC, NULL };

	(void)state;
	load(ps, 30);
	assert_int_equal(plugins_count(), 3);
	assert_string_equal(plugins_name(1), "B");
	assert_int_equal(hook_count(OP_HOOK_BOUNCE), 3);
	assert_int_equal(hook_count(OP_HOOK_DEFERRED), 0);
	hook_run(OP_HOOK_BOUNCE, NULL, done, NULL);
	/* A passes (CONT), B answers DENY: C is never asked. */
	assert_string_equal(trace, "AB!");
	assert_int_equal(verdict, OP_DENY);
	assert_string_equal(verdict_msg, "no thanks");
	/* An empty chain answers CONT at once. */
	trace[0] = '\0';
	hook_run(OP_HOOK_DEFERRED, NULL, done, NULL);
	assert_string_equal(trace, "!");
	assert_int_equal(verdict, OP_CONT);
	plugins_unload();
	/* shutdown runs in reverse order */
	assert_string_equal(trace, "!~C~B~A");
}

static void
answer_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	note("+");
	op_next(LATE->pending, 0, NULL);	/* no code counts as CONT */
}

static void
test_async_answer(void **state)
{
	const struct op_plugin *ps[] = { &pL, &pC, NULL };
	struct timeval tv = { 0, 10000 };

	(void)state;
	load(ps, 30);
	hook_run(OP_HOOK_BOUNCE, NULL, done, NULL);
	assert_string_equal(trace, "L");	/* waiting for L */
	assert_int_equal(verdict, 0);
	event_base_once(base, -1, EV_TIMEOUT, answer_later, NULL, &tv);
	event_base_dispatch(base);
	assert_string_equal(trace, "L+C!");
	assert_int_equal(verdict, OP_OK);
	plugins_unload();
}

static void
test_timeout(void **state)
{
	const struct op_plugin *ps[] = { &pL, &pC, NULL };
	struct op_call *late;
	FILE *cap;
	char *out;

	(void)state;
	load(ps, 1);
	cap = capture_start();
	log_set_level(LOG_INFO);
	hook_run(OP_HOOK_BOUNCE, NULL, done, NULL);
	event_base_dispatch(base);	/* ends when the timer fired */
	out = capture_end(cap);
	assert_string_equal(trace, "L!");
	assert_int_equal(verdict, OP_DENYSOFT);
	assert_string_equal(verdict_msg, "plugin timeout");
	assert_non_null(strstr(out, "[CRIT] [-] [core] Plugin L timed out on "
	    "hook bounce"));
	free(out);
	/* A late answer is ignored: no second verdict, nothing leaks. */
	late = LATE->pending;
	verdict = 0;
	op_next(late, OP_OK, "too late");
	assert_int_equal(verdict, 0);
	assert_string_equal(trace, "L!");

	/* A call that never answers is released at unload. */
	hook_run(OP_HOOK_BOUNCE, NULL, done, NULL);
	event_base_dispatch(base);
	plugins_unload();
}

/* Observers: each plugin observes bounce and is also in its chain. */
static int
observe_init(struct op_env *env, void **data)
{
	plugin_init(env, data);
	return op_register_hook(env, OP_HOOK_BOUNCE, hook_answer,
	    OP_HOOK_OBSERVE);
}

#define OBSERVER(n) { OUTPOST_PLUGIN_ABI, n, observe_init, plugin_shutdown }

static void
test_observers(void **state)
{
	static const struct op_plugin oC = OBSERVER("C"), oB = OBSERVER("B"),
	    oL = OBSERVER("L");
	const struct op_plugin *ps[] = { &oC, &oB, &oL, NULL };
	struct timeval tv = { 0, 10000 };

	(void)state;
	load(ps, 30);
	assert_int_equal(hook_count(OP_HOOK_BOUNCE), 3);
	assert_int_equal(hook_observers(OP_HOOK_BOUNCE), 3);
	assert_int_equal(hook_observers(OP_HOOK_DEFERRED), 0);
	/* The chain stops at C's OK ... */
	hook_run(OP_HOOK_BOUNCE, NULL, done, NULL);
	assert_string_equal(trace, "C!");
	/* ... but every observer is called, whatever it answers, and the
	 * event ends only when the late one (L) answered. */
	trace[0] = '\0';
	verdict = 0;
	hook_observe(OP_HOOK_BOUNCE, NULL, done, NULL);
	assert_string_equal(trace, "CBL");
	assert_int_equal(verdict, 0);
	event_base_once(base, -1, EV_TIMEOUT, answer_later, NULL, &tv);
	event_base_dispatch(base);
	assert_string_equal(trace, "CBL+!");
	assert_int_equal(verdict, OP_CONT);
	/* No observer: done at once. */
	trace[0] = '\0';
	hook_observe(OP_HOOK_DEFERRED, NULL, done, NULL);
	assert_string_equal(trace, "!");
	/* An event whose observer never answers is released at unload,
	 * without telling anybody. */
	trace[0] = '\0';
	hook_observe(OP_HOOK_BOUNCE, NULL, done, NULL);
	plugins_unload();
	assert_string_equal(trace, "CBL~L~B~C");
}

static void
test_observer_timeout(void **state)
{
	static const struct op_plugin oL = OBSERVER("L");
	const struct op_plugin *ps[] = { &oL, NULL };
	FILE *cap;
	char *out;

	(void)state;
	load(ps, 1);
	cap = capture_start();
	log_set_level(LOG_INFO);
	hook_observe(OP_HOOK_BOUNCE, NULL, done, NULL);
	event_base_dispatch(base);
	out = capture_end(cap);
	assert_string_equal(trace, "L!");
	assert_int_equal(verdict, OP_CONT);
	assert_non_null(strstr(out, "[CRIT] [-] [core] Plugin L timed out "
	    "observing hook bounce"));
	free(out);
	op_next(LATE->pending, OP_OK, NULL);	/* late: only freed */
	assert_string_equal(trace, "L!");
	plugins_unload();
}

static int
log_init(struct op_env *env, void **data);

static void
log_hook(struct op_call *c, void *data)
{
	const struct op_log_record *r = op_call_log(c);

	(void)data;
	assert_non_null(r);
	note(r->level_name);
	note(":");
	note(r->message);
	note(":");
	note(r->line);
	note(";");
	op_next(c, strcmp(r->message, "secret") == 0 ? OP_OK : OP_CONT, NULL);
}

static void
log_hook_silent(struct op_call *c, void *data)
{
	(void)c;
	(void)data;
	note("?");		/* never answers: counts as CONT */
}

static int
log_init(struct op_env *env, void **data)
{
	(void)data;
	op_register_hook(env, OP_HOOK_LOG, log_hook_silent, 0);
	return op_register_hook(env, OP_HOOK_LOG, log_hook, 0);
}

static void
test_log_hook(void **state)
{
	static const struct op_plugin plog = { OUTPOST_PLUGIN_ABI, "logger",
	    log_init, NULL };
	const struct op_plugin *ps[] = { &plog, NULL };
	FILE *cap;
	char *out;

	(void)state;
	load(ps, 30);
	plugins_attach_log();
	cap = capture_start();
	log_set_level(LOG_INFO);
	log_set_format(LOG_FMT_DEFAULT);
	log_info("core", NULL, "public");
	op_log(OP_LOG_WARN, "logger", "u1", "secret");
	out = capture_end(cap);
	assert_string_equal(trace, "?INFO:public:[INFO] [-] [core] public;"
	    "?WARN:secret:[WARN] [u1] [logger] secret;");
	/* OK from a log plugin suppresses the built-in output. */
	assert_string_equal(out, "[INFO] [-] [core] public\n");
	free(out);
	plugins_unload();
}

static int
failing_init(struct op_env *env, void **data)
{
	(void)env;
	(void)data;
	return -1;
}

static void
test_load_errors(void **state)
{
	static const struct op_plugin old = { OUTPOST_PLUGIN_ABI + 1, "old",
	    NULL, NULL };
	static const struct op_plugin bad = { OUTPOST_PLUGIN_ABI, "bad",
	    failing_init, NULL };
	static const struct {
		const char *name, *want;
	} cases[] = {
		{ "nosuch", "config/plugins: unknown plugin 'nosuch' (not built "
		  "in, and no /tmp/outpost-root/plugins/nosuch.so)" },
		{ "../escape", "config/plugins: invalid plugin name '../escape'" },
		{ "/abs", "config/plugins: invalid plugin name '/abs'" },
		{ "a//b", "config/plugins: invalid plugin name 'a//b'" },
		{ "dir/", "config/plugins: invalid plugin name 'dir/'" },
	};
	struct config cfg;
	char *err = NULL, *names[2] = { NULL, NULL };

	(void)state;
	assert_int_equal(plugins_add(&old, "/cfg", 0, &err), -1);
	assert_string_equal(err, "plugin old: built for plugin ABI 2, this "
	    "Outpost has ABI 1");
	free(err);
	assert_int_equal(plugins_add(&bad, "/cfg", 0, &err), -1);
	assert_string_equal(err, "plugin bad: initialisation failed");
	free(err);
	plugins_unload();

	memset(&cfg, 0, sizeof(cfg));
	cfg.root = "/tmp/outpost-root";
	cfg.config_dir = "/tmp/outpost-root/config";
	cfg.plugins = names;
	cfg.nplugins = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		names[0] = (char *)cases[i].name;
		assert_int_equal(plugins_load(&cfg, base, builtin_plugins, &err), -1);
		assert_string_equal(err, cases[i].want);
		free(err);
		assert_int_equal(plugins_count(), 0);
	}
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(code_name(OP_DENYSOFT), "DENYSOFT");
	assert_string_equal(code_name(42), "UNKNOWN");
	assert_string_equal(hook_name(OP_HOOK_GET_MX), "get_mx");
	assert_string_equal(hook_name(OP_HOOK_DELIVERED), "delivered");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_order_and_verdict),
		cmocka_unit_test(test_async_answer),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_observers),
		cmocka_unit_test(test_observer_timeout),
		cmocka_unit_test(test_log_hook),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("plugin", tests, setup, teardown);
}
