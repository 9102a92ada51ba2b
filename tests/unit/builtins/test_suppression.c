/* Unit tests: builtins/suppression.c through the real hook runner and an
 * event loop — which bounce and feedback events add an entry (category,
 * class, type, action), with which scope, source, reason and expiry; the
 * events answered only once the entries are written; suppression.ini
 * enabled=false and a bad category. The feedback hook's events come from
 * the feedback reception; here they are built by hand. */
#include "unit.h"

#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "builtins/builtin.h"
#include "core/config.h"
#include "core/suppress_writer.h"
#include "plugins/plugin.h"

static struct event_base *base;
static int answered;

static void
done(void *arg, int code, const char *msg)
{
	(void)arg;
	(void)code;
	(void)msg;
	answered = 1;
	event_base_loopbreak(base);
}

static int
start(const char *root, const char *ini, char **err)
{
	char *cdir = xasprintf("%s/config", root);
	struct config cfg;
	int rc;

	mkdir(cdir, 0700);
	write_file(cdir, "suppression.ini", ini);
	memset(&cfg, 0, sizeof(cfg));
	cfg.root = root;
	cfg.config_dir = cdir;
	assert_int_equal(plugins_load(&cfg, base, builtin_plugins, err), 0);
	rc = suppression_start(&cfg, err);
	free(cdir);
	return rc;
}

static void
observe(enum op_hook h, const void *args)
{
	answered = 0;
	hook_observe(h, args, done, NULL);
	while (!answered)
		event_base_dispatch(base);
}

static int
found(const char *addr, const char *sender_domain,
    struct suppress_entry *e)
{
	return suppress_lookup(suppressor_store(suppress_running()), addr,
	    sender_domain, (int64_t)time(NULL), e);
}

static void
bounce(const char *from, const struct op_rcpt *r, unsigned n)
{
	struct outbound_call call;

	memset(&call, 0, sizeof(call));
	call.pub.size = sizeof(call.pub);
	call.pub.id = "ID.1.1";
	call.pub.domain = "dest.test";
	call.pub.mail_from = from;
	call.pub.rcpts = r;
	call.pub.nrcpts = n;
	observe(OP_HOOK_BOUNCE, &call);
}

static void
test_bounces(void **state)
{
	char *root = tmpdir_new(), *err = NULL;
	struct suppress_entry e;
	const struct op_rcpt r[] = {
		{ "u1@Dest.test", "failed", "5.1.1", 550, "No such user",
		    "550 5.1.1 No such user", 1 },
		{ "u2@dest.test", "failed", "5.2.2", 552, "Mailbox full",
		    "552 5.2.2 Mailbox full", 1 },			/* quota */
		{ "u3@dest.test", "failed", "5.4.7", 421, "Tried all MXs",
		    "421 5.4.7 Tried all MXs", 0 },		/* expired */
		{ "u4@dest.test", "failed", "5.1.2", 550,
		    "No Such Domain: dest.test", "550 5.1.2 No Such Domain", 0 },
	};

	(void)state;
	assert_int_equal(start(root, "[expiry]\nbounce=1h\n", &err), 0);
	bounce("Sender@Senders.TEST", r, 4);
	assert_int_equal(found("u1@dest.test", "senders.test", &e), 1);
	assert_string_equal(e.scope, "senders.test");
	assert_int_equal(e.source, SUP_BOUNCE);
	assert_string_equal(e.reason, "550 5.1.1 No such user");
	assert_true(e.expires > e.created + 3500 && e.expires <= e.created +
	    3600);
	assert_int_equal(found("u1@dest.test", "other.test", &e), 0);
	assert_int_equal(found("u2@dest.test", "senders.test", &e), 0);
	assert_int_equal(found("u3@dest.test", "senders.test", &e), 0);
	assert_int_equal(found("u4@dest.test", "senders.test", &e), 1);
	/* The null sender's bounce: no sender domain to keep it for. */
	bounce("", r, 1);
	assert_int_equal(found("u1@dest.test", "", &e), 0);
	plugins_unload();
	assert_null(suppress_running());
	tmpdir_rm(root);
}

static void
test_feedback(void **state)
{
	char *root = tmpdir_new(), *err = NULL;
	struct suppress_entry e;
	struct op_feedback f;

	(void)state;
	assert_int_equal(start(root, "[main]\ncategories=bad-mailbox\n",
	    &err), 0);
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.type = "complaint";
	f.recipient = "reader@isp.test";
	f.mail_from = "news@senders.test";
	f.feedback_type = "abuse";
	f.reporting_mta = "fbl.isp.test";
	f.category = "complaint";
	observe(OP_HOOK_FEEDBACK, &f);
	assert_int_equal(found("reader@isp.test", "senders.test", &e), 1);
	assert_int_equal(e.source, SUP_COMPLAINT);
	assert_int_equal(e.expires, 0);
	assert_string_equal(e.reason, "complaint (abuse) from fbl.isp.test");
	/* A remote bounce of a listed category; the original sender
	 * unknown: global. */
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.type = "remote_bounce";
	f.recipient = "gone@isp.test";
	f.action = "failed";
	f.status = "5.1.1";
	f.diagnostic = "smtp; 550 5.1.1 user unknown";
	f.category = "bad-mailbox";
	observe(OP_HOOK_FEEDBACK, &f);
	assert_int_equal(found("gone@isp.test", "any.test", &e), 1);
	assert_int_equal(e.source, SUP_REMOTE_BOUNCE);
	assert_string_equal(e.scope, "");
	assert_string_equal(e.reason, "5.1.1 smtp; 550 5.1.1 user unknown");
	assert_true(e.expires > e.created);		/* 30 days */
	/* Not listed: a delay, another category, a 4.x.y status. */
	f.recipient = "later@isp.test";
	f.action = "delayed";
	observe(OP_HOOK_FEEDBACK, &f);
	f.action = "failed";
	f.category = "bad-domain";			/* not in categories */
	observe(OP_HOOK_FEEDBACK, &f);
	f.category = "bad-mailbox";
	f.status = "4.2.0";
	observe(OP_HOOK_FEEDBACK, &f);
	f.recipient = "not an address";
	f.status = "5.1.1";
	observe(OP_HOOK_FEEDBACK, &f);
	assert_int_equal(found("later@isp.test", "any.test", &e), 0);
	plugins_unload();
	tmpdir_rm(root);
}

static void
test_off_and_bad(void **state)
{
	char *root = tmpdir_new(), *err = NULL;

	(void)state;
	assert_int_equal(start(root, "[main]\nenabled=false\n", &err), 0);
	assert_null(suppress_running());
	assert_int_equal(hook_observers(OP_HOOK_BOUNCE), 0);
	plugins_unload();
	assert_int_equal(start(root, "[main]\ncategories=nonsense\n", &err),
	    -1);
	assert_string_equal(err, "suppression.ini: categories: unknown bounce "
	    "category 'nonsense'");
	free(err);
	plugins_unload();
	tmpdir_rm(root);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounces),
		cmocka_unit_test(test_feedback),
		cmocka_unit_test(test_off_and_bad),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
