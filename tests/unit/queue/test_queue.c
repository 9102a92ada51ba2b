/* Unit tests: queue/queue.c on a real directory and event loop: a commit
 * writes the message once (msg.<first id>) and one entry per domain; the
 * body goes with the last entry removed, or aside with the last set
 * aside; at open, the entries found (version 1 ones migrated) count for
 * their bodies, and bodies no entry refers to are swept. */
#include "unit.h"
#include "queue/qfiles.h"

#include <errno.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "queue/body.h"
#include "queue/entry.h"
#include "queue/queue.h"
#include "queue/scan.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const char MSG[] = "Subject: x\r\n\r\nhello\r\n";

/* An entry for domain with one pending recipient. */
static void
mk(struct qentry *e, const char *id, const char *domain)
{
	memset(e, 0, sizeof(*e));
	e->id = xstrdup(id);
	e->domain = xstrdup(domain);
	e->mail_from = xstrdup("s@example.org");
	e->helo = xstrdup("h");
	e->client_ip = xstrdup("192.0.2.1");
	e->rcpts = xcalloc(1, sizeof(*e->rcpts));
	e->rcpts[0].addr = xasprintf("r@%s", domain);
	e->nrcpts = 1;
	e->queue_time = e->next_attempt = 1;
}

/* What the sink was given. */
struct sink {
	struct qentry	*e[8];
	struct qmsg	*m[8];
	size_t		 n;
};

static void
on_sink(void *arg, struct qentry *e, struct qmsg *m)
{
	struct sink *s = arg;

	assert_true(s->n < NELEM(s->e));
	s->e[s->n] = e;
	s->m[s->n++] = m;
}

static void
sink_clear(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++) {
		qentry_clear(s->e[i]);
		free(s->e[i]);
		qmsg_unref(s->m[i]);
	}
	s->n = 0;
}

static void
on_done(void *arg, int err)
{
	*(int *)arg = err;
}

/* Runs the loop until every job handed over has reported. */
static void
wait_jobs(struct event_base *base, struct queue *q)
{
	while (queue_busy(q) > 0)
		assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
}

static void
expect_names(const char *dir, const char *want)
{
	char *got = names(dir);

	assert_string_equal(got, want);
	free(got);
}

/* The names in dir become want within 3 s: a removed message's body goes
 * with the next directory fsync, or within BODY_LINGER (1 s). */
static void
expect_names_soon(const char *dir, const char *want)
{
	for (int i = 0; i < 300; i++) {
		char *got = names(dir);
		int same = strcmp(got, want) == 0;

		free(got);
		if (same)
			return;
		usleep(10000);
	}
	expect_names(dir, want);
}

/* Commits the entries ids[0..n) (domains d0, d1, ...) of MSG. */
static int
commit(struct event_base *base, struct queue *q, const char *const *ids,
    size_t n)
{
	struct qentry *v = xcalloc(n, sizeof(*v));
	int err = -1;

	for (size_t i = 0; i < n; i++) {
		char *d = xasprintf("d%zu.example", i);

		mk(&v[i], ids[i], d);
		free(d);
	}
	queue_commit(q, v, n, xstrdup(MSG), sizeof(MSG) - 1, on_done, &err);
	/* The contents are the queue's now. */
	for (size_t i = 0; i < n; i++)
		assert_null(v[i].id);
	free(v);
	wait_jobs(base, q);
	return err;
}

static void
test_commit_and_remove(void **state)
{
	static const char *const ids[] = { "C.1.1", "C.1.2", "C.1.3" };
	struct event_base *base = event_base_new();
	char *dir = tmpdir_new(), *err = NULL, *m;
	struct sink s = { { NULL }, { NULL }, 0 };
	struct qentry e, copy;
	const char *why;
	struct queue *q;
	int rc, errnum;
	FILE *cap = capture_start();

	(void)state;
	assert_non_null(q = queue_open(base, dir, &err));
	queue_set_sink(q, on_sink, &s);
	assert_int_equal(commit(base, q, ids, 3), 0);

	/* One body, named by the first entry, and three entries. */
	expect_names(dir, "C.1.1\nC.1.2\nC.1.3\nmsg.C.1.1\n");
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(qfs_read_entry(dir, ids[i], &e, &why,
		    &errnum), 0);
		assert_string_equal(e.body, "C.1.1");
		assert_int_equal(e.msg_len, sizeof(MSG) - 1);
		qentry_clear(&e);
	}
	{
		struct qbody *qb;
		char buf[64];

		assert_int_equal(qbody_open(dir, "C.1.1", sizeof(MSG) - 1, &qb,
		    &why, &errnum), 0);
		assert_int_equal(qbody_read(qb, buf, sizeof(buf)),
		    sizeof(MSG) - 1);
		assert_memory_equal(buf, MSG, sizeof(MSG) - 1);
		assert_int_equal(qbody_read(qb, buf, sizeof(buf)), 0);
		qbody_close(qb);
	}
	/* The sink has them, sharing one message in memory. */
	assert_int_equal(s.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(s.e[i]->id, ids[i]);
		assert_string_equal(s.e[i]->body, "C.1.1");
		assert_int_equal(s.e[i]->msg_len, sizeof(MSG) - 1);
		assert_ptr_equal(s.m[i], s.m[0]);
	}
	assert_int_equal(s.m[0]->refs, 3);
	assert_int_equal(s.m[0]->len, sizeof(MSG) - 1);
	assert_string_equal(s.m[0]->data, MSG);
	assert_int_equal(queue_count(q), 3);
	assert_int_equal(queue_bodies(q), 1);

	/* A rewrite: the entry's new state, the same body. */
	qentry_copy(&copy, s.e[0]);
	copy.attempts = 4;
	rc = -1;
	queue_rewrite(q, &copy, on_done, &rc);
	qentry_clear(&copy);
	wait_jobs(base, q);
	assert_int_equal(rc, 0);
	assert_int_equal(qfs_read_entry(dir, "C.1.1", &e, &why, &errnum), 0);
	assert_int_equal(e.attempts, 4);
	assert_string_equal(e.body, "C.1.1");
	qentry_clear(&e);
	expect_names(dir, "C.1.1\nC.1.2\nC.1.3\nmsg.C.1.1\n");

	/* Removed: the body stays while an entry refers to it, and goes
	 * with the last (whichever that is). */
	rc = -1;
	queue_remove(q, s.e[0], on_done, &rc);
	wait_jobs(base, q);
	assert_int_equal(rc, 0);
	expect_names(dir, "C.1.2\nC.1.3\nmsg.C.1.1\n");
	assert_int_equal(queue_bodies(q), 1);
	queue_remove(q, s.e[2], NULL, NULL);
	wait_jobs(base, q);
	expect_names(dir, "C.1.2\nmsg.C.1.1\n");
	assert_int_equal(queue_count(q), 1);
	rc = -1;
	queue_remove(q, s.e[1], on_done, &rc);
	wait_jobs(base, q);
	assert_int_equal(rc, 0);
	expect_names_soon(dir, "");
	assert_int_equal(queue_count(q), 0);
	assert_int_equal(queue_bodies(q), 0);
	/* The message in memory outlives the files: it is the sink's. */
	m = s.m[0]->data;
	assert_string_equal(m, MSG);

	sink_clear(&s);
	queue_close(q);
	free(capture_end(cap));
	event_base_free(base);
	tmpdir_rm(dir);
}

static void
test_set_aside(void **state)
{
	static const char *const ids[] = { "S.1.1", "S.1.2" };
	struct event_base *base = event_base_new();
	char *dir = tmpdir_new(), *err = NULL, *log;
	struct sink s = { { NULL }, { NULL }, 0 };
	struct queue *q;
	int rc = -1;
	FILE *cap = capture_start();

	(void)state;
	assert_non_null(q = queue_open(base, dir, &err));
	queue_set_sink(q, on_sink, &s);
	assert_int_equal(commit(base, q, ids, 2), 0);
	expect_names(dir, "S.1.1\nS.1.2\nmsg.S.1.1\n");
	/* Not the last: the entry alone. */
	queue_set_aside(q, s.e[0], "checksum mismatch", on_done, &rc);
	wait_jobs(base, q);
	assert_int_equal(rc, 0);
	expect_names(dir, "S.1.2\nerror.S.1.1\nmsg.S.1.1\n");
	assert_int_equal(queue_bodies(q), 1);
	/* The last: its body goes aside too. */
	queue_set_aside(q, s.e[1], "bad end marker", NULL, NULL);
	wait_jobs(base, q);
	expect_names(dir, "error.S.1.1\nerror.S.1.2\nerror.msg.S.1.1\n");
	assert_int_equal(queue_bodies(q), 0);
	assert_int_equal(queue_count(q), 0);
	sink_clear(&s);
	queue_close(q);
	log = capture_end(cap);
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: S.1.1: checksum "
	    "mismatch; moved aside to error.S.1.1\n"));
	assert_non_null(strstr(log, "[ERROR] [-] [core] queue: S.1.2: bad end "
	    "marker; moved aside to error.S.1.2\n"));
	free(log);
	event_base_free(base);
	tmpdir_rm(dir);
}

/* A commit that fails leaves none of its files: no entry, no body. */
static void
test_commit_fails(void **state)
{
	static const char *const ids[] = { "F.1.1", "F.1.2" };
	struct event_base *base = event_base_new();
	char *dir = tmpdir_new(), *err = NULL;
	struct sink s = { { NULL }, { NULL }, 0 };
	struct queue *q;
	FILE *cap = capture_start();

	(void)state;
	assert_non_null(q = queue_open(base, dir, &err));
	queue_set_sink(q, on_sink, &s);
	/* In the way of the second entry: its temp file (O_EXCL) when
	 * entries are written under temporary names, its own name (the
	 * link of an unnamed file) when they are not. The first entry, in
	 * place by then in the second case, is taken back. */
	put_file(dir, "tmp.F.1.2", "x", 1);
	put_file(dir, "F.1.2", "y", 1);
	assert_int_equal(commit(base, q, ids, 2), EEXIST);
	expect_names(dir, "F.1.2\ntmp.F.1.2\n");
	assert_int_equal(s.n, 0);
	assert_int_equal(queue_count(q), 0);
	assert_int_equal(queue_bodies(q), 0);
	queue_close(q);
	free(capture_end(cap));
	event_base_free(base);
	tmpdir_rm(dir);
}

struct lost {
	struct qentry	*e;
	char		*why;
};

static void
on_lost(void *arg, struct qentry *e, const char *why)
{
	struct lost *l = arg;

	assert_null(l->e);
	l->e = e;
	l->why = xstrdup(why);
}

/*
 * At open: a version 1 entry is migrated, entries sharing a body count
 * for it, a body no entry refers to is swept, an entry whose body is
 * missing is lost. Each body then goes with its last entry.
 */
static void
test_open(void **state)
{
	static const char v1[] = "OUTPOST-QUEUE 1\nid V.1.1\n"
	    "domain example.com\nmail_from a@b.c\nflags 0\nqueue_time 1\n"
	    "next_attempt 1\nattempts 0\nhelo h\nclient_ip 192.0.2.1\n"
	    "rcpt pending v@example.com\nmessage 3\nv\r\n\n";
	static const char *const a[] = { "A.1.1", "A.1.2", "L.1.1" };
	struct event_base *base = event_base_new();
	char *dir = tmpdir_new(), *err = NULL, *log;
	struct sink s = { { NULL }, { NULL }, 0 };
	struct lost l = { NULL, NULL };
	struct buf b = BUF_INIT;
	struct qentry e;
	struct queue *q;
	FILE *cap;

	(void)state;
	buf_adds(&b, v1);
	buf_printf(&b, "END %08X\n", crc32c(0, b.p, b.len));
	put_file(dir, "V.1.1", b.p, b.len);
	for (size_t i = 0; i < NELEM(a); i++) {
		buf_reset(&b);
		mk(&e, a[i], "example.com");
		e.body = xstrdup(i < 2 ? "A.1.1" : "L.1.1");
		e.msg_len = 3;
		qfs_encode(&e, &b);
		qentry_clear(&e);
		put_file(dir, a[i], b.p, b.len);
	}
	buf_reset(&b);
	qfs_body_head(3, &b);
	buf_adds(&b, "a\r\n");
	qfs_body_tail(crc32c(0, b.p, b.len), &b);
	put_file(dir, "msg.A.1.1", b.p, b.len);
	put_file(dir, "msg.O.1.1", b.p, b.len);		/* no entry's */

	cap = capture_start();
	log_set_level(LOG_INFO);
	assert_non_null(q = queue_open(base, dir, &err));
	log = capture_end(cap);
	assert_non_null(strstr(log, "queue: removed 1 message body no entry "
	    "refers to"));
	assert_non_null(strstr(log, "queue: 3 entries loaded from"));
	free(log);
	expect_names(dir, "A.1.1\nA.1.2\nL.1.1\nV.1.1\nmsg.A.1.1\n"
	    "msg.V.1.1\n");
	/* The lost one counts until set aside; its body (missing) too. */
	assert_int_equal(queue_count(q), 4);
	assert_int_equal(queue_bodies(q), 3);
	queue_take_lost(q, on_lost, &l);
	assert_non_null(l.e);
	assert_string_equal(l.e->id, "L.1.1");
	assert_string_equal(l.why, "message file missing");
	/* Loaded entries wait for the sink; they come without a message
	 * in memory. */
	queue_set_sink(q, on_sink, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.e[0]->id, "A.1.1");
	assert_string_equal(s.e[2]->id, "V.1.1");
	assert_string_equal(s.e[2]->body, "V.1.1");
	for (size_t i = 0; i < 3; i++)
		assert_null(s.m[i]);

	cap = capture_start();
	queue_set_aside(q, l.e, l.why, NULL, NULL);
	queue_remove(q, s.e[0], NULL, NULL);
	wait_jobs(base, q);
	expect_names(dir, "A.1.2\nV.1.1\nerror.L.1.1\nmsg.A.1.1\n"
	    "msg.V.1.1\n");
	queue_remove(q, s.e[2], NULL, NULL);
	queue_remove(q, s.e[1], NULL, NULL);
	wait_jobs(base, q);
	expect_names_soon(dir, "error.L.1.1\n");
	assert_int_equal(queue_count(q), 0);
	assert_int_equal(queue_bodies(q), 0);
	free(capture_end(cap));

	qentry_clear(l.e);
	free(l.e);
	free(l.why);
	sink_clear(&s);
	queue_close(q);
	buf_free(&b);
	event_base_free(base);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_and_remove),
		cmocka_unit_test(test_set_aside),
		cmocka_unit_test(test_commit_fails),
		cmocka_unit_test(test_open),
	};

	alarm(60);		/* a job that never reports */
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
