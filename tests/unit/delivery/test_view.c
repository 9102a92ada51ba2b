/* Unit tests: view.c — the seconds in a hook's DELAY / DENYSOFT answer,
 * and what each event's hook sees of an attempt (recipients of its class,
 * minus those the deferred chain dropped; the server; its own fields). */
#include "unit.h"

#include "delivery/attempt_priv.h"
#include "delivery/mta_error.h"
#include "delivery/mx.h"
#include "delivery/view.h"
#include "queue/entry.h"

static void
test_seconds(void **state)
{
	static const struct {
		const char *in;
		int rc;
		long v;
	} rows[] = {
		{ "0", 0, 0 }, { "60", 0, 60 }, { "60  ", 0, 60 },
		{ "31536000", 0, 31536000 }, { "31536001", -1, 0 },
		{ "-1", -1, 0 }, { "", -1, 0 }, { "abc", -1, 0 },
		{ "10s", -1, 0 }, { "10 s", -1, 0 }, { " 5", 0, 5 },
		{ "99999999999999999999", -1, 0 }, { NULL, -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long v = -7;

		assert_int_equal(view_seconds(rows[i].in, &v), rows[i].rc);
		assert_int_equal(v, rows[i].rc == 0 ? rows[i].v : -7);
	}
}

/* An attempt with three recipients: delivered, deferred, bounced. */
struct fixture {
	struct qentry	 e;
	struct attempt	 a;
	const char	*addrs[4];
	struct outcome	 out[4];
	struct op_rcpt	 hrcpts[4];
	char		*reasons[4];
	unsigned char	 dropped[4];
	struct mx	 mx;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->e.id = "q1";
	f->e.domain = "d.test";
	f->e.mail_from = "s@src.test";
	f->e.queue_time = 1000;
	f->e.attempts = 2;
	f->addrs[0] = "ok@d.test";
	f->addrs[1] = "soft@d.test";
	f->addrs[2] = "hard@d.test";
	outcome_local(&f->out[0], FAIL_NONE, 250, "2.0.0", "Queued");
	outcome_local(&f->out[1], FAIL_TEMP, 450, "4.2.0", "Busy");
	outcome_local(&f->out[2], FAIL_PERM, 550, "5.1.1", "No such user");
	f->a.e = &f->e;
	f->a.msg = "Subject: x\r\n\r\nbody\r\n";
	f->a.len = strlen(f->a.msg);
	f->a.addrs = f->addrs;
	f->a.n = 3;
	f->a.out = f->out;
	f->a.hrcpts = f->hrcpts;
	f->a.reasons = f->reasons;
	f->a.dropped = f->dropped;
	f->a.response = "250 ok";
	f->a.age = 1.5;
	f->a.delay = 600;
	f->a.temp_err = "Busy";
	f->a.err = "No such user";
}

static void
fixture_clear(struct fixture *f)
{
	for (size_t i = 0; i < 4; i++) {
		outcome_clear(&f->out[i]);
		free(f->reasons[i]);
	}
}

static void
test_events(void **state)
{
	struct fixture f;
	const struct op_outbound *p = &f.a.call.pub;

	(void)state;
	fixture_init(&f);

	view_event(&f.a, OP_HOOK_DELIVERED);
	assert_int_equal(p->size, sizeof(*p));
	assert_string_equal(p->id, "q1");
	assert_int_equal(p->attempts, 2);
	assert_int_equal(p->nrcpts, 1);
	assert_string_equal(p->rcpts[0].address, "ok@d.test");
	assert_string_equal(p->rcpts[0].action, "delivered");
	assert_string_equal(p->rcpts[0].reason, "250 2.0.0 Queued");
	assert_string_equal(p->response, "250 ok");
	assert_true(p->delay == 1.5);
	assert_null(p->error);
	assert_null(p->host);		/* no server yet */

	view_event(&f.a, OP_HOOK_DEFERRED);
	assert_int_equal(p->nrcpts, 1);
	assert_string_equal(p->rcpts[0].address, "soft@d.test");
	assert_string_equal(p->rcpts[0].action, "delayed");
	assert_string_equal(p->error, "Busy");
	assert_true(p->delay == 600);
	assert_null(p->response);

	view_event(&f.a, OP_HOOK_BOUNCE);
	assert_int_equal(p->nrcpts, 1);
	assert_string_equal(p->rcpts[0].address, "hard@d.test");
	assert_string_equal(p->rcpts[0].status, "5.1.1");
	assert_int_equal(p->rcpts[0].code, 550);
	assert_string_equal(p->error, "No such user");

	/* What the deferred chain dropped is in no view. */
	f.dropped[1] = 1;
	view_event(&f.a, OP_HOOK_DEFERRED);
	assert_int_equal(p->nrcpts, 0);
	view_rcpts(&f.a, -1);
	assert_int_equal(p->nrcpts, 2);
	assert_string_equal(p->rcpts[1].address, "hard@d.test");
	fixture_clear(&f);
}

static void
test_server(void **state)
{
	struct fixture f;
	const struct op_outbound *p = &f.a.call.pub;

	(void)state;
	fixture_init(&f);
	f.mx.exchange = "192.0.2.7";
	f.mx.route = "vmta1";
	f.a.mx = &f.mx;
	f.a.host = "mx.d.test";
	snprintf(f.a.ip, sizeof(f.a.ip), "192.0.2.7");
	f.a.port = 25;
	f.a.secured = 1;
	view_event(&f.a, OP_HOOK_BOUNCE);
	assert_string_equal(p->host, "mx.d.test");
	assert_string_equal(p->ip, "192.0.2.7");
	assert_int_equal(p->port, 25);
	assert_null(p->local_ip);
	assert_string_equal(p->mode, "SMTP");
	assert_int_equal(p->secured, 1);
	assert_int_equal(p->authenticated, 0);
	assert_string_equal(p->route, "vmta1");

	/* LMTP over a Unix socket: the path stands for the address. */
	f.mx.exchange = NULL;
	f.mx.path = "/run/lmtp.sock";
	f.mx.using_lmtp = 1;
	f.a.ip[0] = '\0';
	snprintf(f.a.local_ip, sizeof(f.a.local_ip), "127.0.0.1");
	view_event(&f.a, OP_HOOK_DELIVERED);
	assert_string_equal(p->ip, "/run/lmtp.sock");
	assert_string_equal(p->local_ip, "127.0.0.1");
	assert_string_equal(p->mode, "LMTP");

	/* The reset forgets the server. */
	view_reset(&f.a);
	assert_null(p->host);
	assert_int_equal(p->nrcpts, 0);
	fixture_clear(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
