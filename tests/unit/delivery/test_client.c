/* Unit tests: the SMTP/LMTP client (client*.c behind mta_session.h) against
 * a scripted server on a Unix socket in the same event loop: PIPELINING
 * with a refused recipient, reuse with RSET, LMTP's per-recipient replies,
 * a refused MAIL, a malformed greeting, a failed connect, deadlines per
 * stage (a dripped reply, a slow and a missing answer to the dot). */
#include "unit.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "lib/buf.h"
#include "delivery/mta_session.h"

/* The server's script: each line the client sends must start with
 * expect; reply (CRLF-terminated, possibly several replies) is sent back.
 * The first step (expect NULL) is the greeting. After a 354 the body is
 * read up to its "." line, which the next step expects. */
struct step {
	const char	*expect;
	const char	*reply;
};

struct server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct bufferevent	*bev;
	const struct step	*script;
	size_t			 i, n;
	int			 in_body;
	struct buf		 got;		/* lines, '\n' after each; the
						 * body's after "| " */
	int			 mismatch;
	/* Slowness: every reply dripped one byte per `drip` s; the reply
	 * of step `late` (an index, 0: none) held back `late_s` s. */
	double			 drip, late_s;
	size_t			 late;
	struct evbuffer		*pending;	/* what is still to drip */
	struct event		*timer;
};

struct outcome {
	int			 calls;
	enum mta_outcome	 outcome;
	enum mta_step		 step;
	int			 timed_out, dot_sent;
	int			 code;
	char			*error;
	int			 rcpt[4], lmtp[4];
	int			 in_send;	/* set while mta_session_send runs */
};

static struct timeval
tv_of(double s)
{
	struct timeval tv = { (time_t)s, (suseconds_t)((s - (time_t)s) * 1e6) };

	return tv;
}

/* The next byte of a dripped reply, or the held-back reply. */
static void
sv_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *sv = arg;
	struct timeval tv = tv_of(sv->drip);
	char ch;

	(void)fd;
	(void)what;
	if (sv->bev == NULL)
		return;
	if (sv->drip <= 0) {
		bufferevent_write_buffer(sv->bev, sv->pending);
		return;
	}
	if (evbuffer_remove(sv->pending, &ch, 1) == 1) {
		bufferevent_write(sv->bev, &ch, 1);
		evtimer_add(sv->timer, &tv);
	}
}

static void
answer(struct server *sv)
{
	const struct step *st;

	if (sv->i >= sv->n) {
		sv->mismatch = 1;
		return;
	}
	st = &sv->script[sv->i++];
	if (st->reply != NULL && (sv->drip > 0 ||
	    (sv->late != 0 && sv->late == sv->i - 1))) {
		struct timeval tv = tv_of(sv->drip > 0 ? sv->drip :
		    sv->late_s);

		evbuffer_add(sv->pending, st->reply, strlen(st->reply));
		evtimer_add(sv->timer, &tv);
	} else if (st->reply != NULL)
		bufferevent_write(sv->bev, st->reply, strlen(st->reply));
	if (strncmp(st->reply != NULL ? st->reply : "", "354", 3) == 0)
		sv->in_body = 1;
}

static void
sv_read(struct bufferevent *bev, void *arg)
{
	struct server *sv = arg;
	char *line;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), NULL,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		if (sv->in_body && strcmp(line, ".") != 0) {
			buf_printf(&sv->got, "| %s\n", line);
			free(line);
			continue;
		}
		sv->in_body = 0;
		buf_printf(&sv->got, "%s\n", line);
		if (sv->i >= sv->n || strncmp(line, sv->script[sv->i].expect,
		    strlen(sv->script[sv->i].expect)) != 0)
			sv->mismatch = 1;
		answer(sv);
		free(line);
	}
}

static void
sv_event(struct bufferevent *bev, short what, void *arg)
{
	struct server *sv = arg;

	(void)what;
	bufferevent_free(bev);
	sv->bev = NULL;
}

static void
sv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct server *sv = arg;

	(void)l;
	(void)sa;
	(void)len;
	sv->bev = bufferevent_socket_new(sv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(sv->bev, sv_read, NULL, sv_event, sv);
	bufferevent_enable(sv->bev, EV_READ | EV_WRITE);
	answer(sv);		/* the greeting */
}

static void
server_start(struct server *sv, struct event_base *base, const char *path,
    const struct step *script, size_t n)
{
	struct sockaddr_un sun;

	memset(sv, 0, sizeof(*sv));
	sv->base = base;
	sv->script = script;
	sv->n = n;
	sv->pending = evbuffer_new();
	sv->timer = evtimer_new(base, sv_tick, sv);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	sv->listener = evconnlistener_new_bind(base, sv_accept, sv,
	    LEV_OPT_CLOSE_ON_FREE, 8, (struct sockaddr *)&sun, sizeof(sun));
	assert_non_null(sv->listener);
}

static void
server_stop(struct server *sv)
{
	if (sv->bev != NULL)
		bufferevent_free(sv->bev);
	evconnlistener_free(sv->listener);
	evbuffer_free(sv->pending);
	event_free(sv->timer);
	buf_free(&sv->got);
}

static void
on_done(void *arg, const struct mta_result *r)
{
	struct outcome *o = arg;

	assert_false(o->in_send);
	o->calls++;
	o->outcome = r->outcome;
	o->step = r->step;
	o->timed_out = r->timed_out;
	o->dot_sent = r->dot_sent;
	o->code = r->reply.code;
	free(o->error);
	o->error = r->error != NULL ? xstrdup(r->error) : NULL;
	for (size_t i = 0; i < r->nrcpts && i < 4; i++) {
		o->rcpt[i] = r->rcpts[i].reply.code;
		o->lmtp[i] = r->rcpts[i].lmtp.code;
	}
}

/* Runs one transaction to its end (or 5 s). */
static void
run(struct event_base *base, struct mta_session *s, const char **rcpts,
    size_t n, struct outcome *o)
{
	static const char body[] = "Subject: t\r\n\r\n.hi\r\n";
	struct mta_msg msg = { "a@example.com", rcpts, n, body,
	    sizeof(body) - 1, 0, 0 };
	struct timeval tv = { 5, 0 };
	int calls = o->calls;

	o->in_send = 1;
	mta_session_send(s, &msg, on_done, o);
	o->in_send = 0;
	event_base_loopexit(base, &tv);
	while (o->calls == calls && !event_base_got_exit(base))
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(o->calls, calls + 1);
}

struct fixture {
	char			*dir, *path;
	struct event_base	*base;
	struct server		 sv;
	struct outcome		 o;
	struct mta_conf		 conf;
};

static struct fixture *
fixture_new(const struct step *script, size_t n, int lmtp)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->dir = tmpdir_new();
	f->path = xasprintf("%s/sock", f->dir);
	f->base = event_base_new();
	server_start(&f->sv, f->base, f->path, script, n);
	f->conf.path = f->path;
	f->conf.helo = "client.test";
	f->conf.lmtp = lmtp;
	f->conf.timeouts.connect = 5;
	return f;
}

static void
fixture_free(struct fixture *f)
{
	server_stop(&f->sv);
	event_base_free(f->base);
	free(f->o.error);
	free(f->path);
	tmpdir_rm(f->dir);
	free(f);
}

#define NSTEPS(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_pipelining_and_reuse(void **state)
{
	static const struct step script[] = {
		{ NULL, "220 sink ESMTP\r\n" },
		{ "EHLO client.test", "250-sink\r\n250-PIPELINING\r\n"
		    "250 SIZE 1000\r\n" },
		{ "MAIL FROM:<a@example.com> SIZE=19", "250 ok\r\n" },
		{ "RCPT TO:<ok@example.com>", "250 ok\r\n" },
		{ "RCPT TO:<no@example.com>", "550 5.1.1 no such user\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued\r\n" },
		{ "RSET", "250 reset\r\n" },
		{ "MAIL FROM:<a@example.com> SIZE=19", "250 ok\r\n" },
		{ "RCPT TO:<ok@example.com>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued again\r\n" },
		{ "QUIT", "221 bye\r\n" },
	};
	const char *rcpts[] = { "ok@example.com", "no@example.com" };
	struct fixture *f = fixture_new(script, NSTEPS(script), 0);
	struct mta_session *s = mta_session_new(f->base, &f->conf);

	(void)state;
	run(f->base, s, rcpts, 2, &f->o);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(f->o.step, MTA_DONE);
	assert_int_equal(f->o.code, 250);
	assert_int_equal(f->o.rcpt[0], 250);
	assert_int_equal(f->o.rcpt[1], 550);
	assert_true(mta_session_idle(s));
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(mta_session_count(s), 2);
	mta_session_close(s);
	while (f->sv.i < f->sv.n && event_base_loop(f->base, EVLOOP_ONCE) == 0
	    && !event_base_got_exit(f->base))
		;
	assert_false(f->sv.mismatch);
	assert_string_equal(buf_cstr(&f->sv.got), "EHLO client.test\n"
	    "MAIL FROM:<a@example.com> SIZE=19\nRCPT TO:<ok@example.com>\n"
	    "RCPT TO:<no@example.com>\nDATA\n| Subject: t\n| \n| ..hi\n.\n"
	    "RSET\nMAIL FROM:<a@example.com> SIZE=19\n"
	    "RCPT TO:<ok@example.com>\nDATA\n| Subject: t\n| \n| ..hi\n.\n"
	    "QUIT\n");
	fixture_free(f);
}

static void
test_lmtp(void **state)
{
	static const struct step script[] = {
		{ NULL, "220 lmtp\r\n" },
		{ "LHLO client.test", "250 lmtp\r\n" },
		{ "MAIL FROM:<a@example.com>", "250 ok\r\n" },
		{ "RCPT TO:<a@example.com>", "250 ok\r\n" },
		{ "RCPT TO:<b@example.com>", "550 no\r\n" },
		{ "RCPT TO:<c@example.com>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 a delivered\r\n452 4.2.2 c over quota\r\n" },
	};
	const char *rcpts[] = { "a@example.com", "b@example.com",
	    "c@example.com" };
	struct fixture *f = fixture_new(script, NSTEPS(script), 1);
	struct mta_session *s = mta_session_new(f->base, &f->conf);

	(void)state;
	run(f->base, s, rcpts, 3, &f->o);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(f->o.step, MTA_DONE);
	assert_int_equal(f->o.rcpt[1], 550);
	assert_int_equal(f->o.lmtp[0], 250);
	assert_int_equal(f->o.lmtp[1], 0);
	assert_int_equal(f->o.lmtp[2], 452);
	assert_false(f->sv.mismatch);
	mta_session_close(s);
	fixture_free(f);
}

static void
test_mail_refused(void **state)
{
	static const struct step script[] = {
		{ NULL, "220 sink\r\n" },
		{ "EHLO", "250 sink\r\n" },
		{ "MAIL FROM:<a@example.com>", "550 5.7.1 go away\r\n" },
		{ "QUIT", "221 bye\r\n" },
	};
	const char *rcpts[] = { "ok@example.com" };
	struct fixture *f = fixture_new(script, NSTEPS(script), 0);
	struct mta_session *s = mta_session_new(f->base, &f->conf);

	(void)state;
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_REPLY);
	assert_int_equal(f->o.step, MTA_MAIL);
	assert_int_equal(f->o.code, 550);
	assert_false(mta_session_idle(s));
	mta_session_close(s);
	fixture_free(f);
}

static void
test_bad_greeting(void **state)
{
	static const struct step script[] = {
		{ NULL, "hello\r\n" },
	};
	const char *rcpts[] = { "ok@example.com" };
	struct fixture *f = fixture_new(script, NSTEPS(script), 0);
	struct mta_session *s = mta_session_new(f->base, &f->conf);

	(void)state;
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_BAD_REPLY);
	assert_int_equal(f->o.step, MTA_GREETING);
	assert_string_equal(f->o.error, "no valid reply code: hello");
	mta_session_close(s);
	fixture_free(f);
}

static void
test_connect_fails(void **state)
{
	const char *rcpts[] = { "ok@example.com" };
	struct fixture *f = fixture_new(NULL, 0, 0);
	struct mta_session *s;
	char *want;

	(void)state;
	f->conf.path = "/nonexistent/outpost-unit.sock";
	s = mta_session_new(f->base, &f->conf);
	run(f->base, s, rcpts, 1, &f->o);	/* done is not run inside send */
	assert_int_equal(f->o.outcome, MTA_IO);
	assert_int_equal(f->o.step, MTA_CONNECT);
	want = xasprintf("connect to %s: %s", f->conf.path, strerror(ENOENT));
	assert_string_equal(f->o.error, want);
	free(want);
	mta_session_close(s);
	fixture_free(f);
}

/* Seconds since t0. */
static double
since(const struct timeval *t0)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_usec - t0->tv_usec) / 1e6;
}

/* A reply dripped one byte at a time never completes inside the
 * deadline: the deadline is the whole reply's, not an idle timer. */
static void
test_dripped_reply(void **state)
{
	static const struct step script[] = {
		{ NULL, "220 slow sink ESMTP here\r\n" },
	};
	const char *rcpts[] = { "ok@example.com" };
	struct fixture *f = fixture_new(script, NSTEPS(script), 0);
	struct mta_session *s;
	struct timeval t0;

	(void)state;
	f->sv.drip = 0.05;		/* 27 bytes: 1.35 s */
	f->conf.timeouts.greeting = 0.4;
	s = mta_session_new(f->base, &f->conf);
	gettimeofday(&t0, NULL);
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_IO);
	assert_int_equal(f->o.step, MTA_GREETING);
	assert_true(f->o.timed_out);
	assert_false(f->o.dot_sent);
	assert_true(since(&t0) < 1.0);
	assert_non_null(strstr(f->o.error, "timed out after 0.4 s waiting for "
	    "the greeting"));
	mta_session_close(s);
	fixture_free(f);
}

/* The final dot has the longest deadline: a reply slower than every
 * other stage's is still taken; none at all is a timeout after the dot
 * reached the server. */
static void
test_dot_deadline(void **state)
{
	static const struct step script[] = {
		{ NULL, "220 sink\r\n" },
		{ "EHLO", "250 sink\r\n" },
		{ "MAIL FROM:<a@example.com>", "250 ok\r\n" },
		{ "RCPT TO:<ok@example.com>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued\r\n" },
	};
	const char *rcpts[] = { "ok@example.com" };
	struct fixture *f;
	struct mta_session *s;
	struct smtp_timeouts short_ = { .greeting = 0.3, .ehlo = 0.3,
	    .mail = 0.3, .rcpt = 0.3, .data = 0.3, .data_block = 0.3,
	    .dot = 1.5 };

	(void)state;
	f = fixture_new(script, NSTEPS(script), 0);
	f->sv.late = 5;
	f->sv.late_s = 0.8;
	f->conf.timeouts = short_;
	s = mta_session_new(f->base, &f->conf);
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(f->o.code, 250);
	mta_session_close(s);
	fixture_free(f);

	/* No answer to the dot: reported as sent, timed out. */
	f = fixture_new(script, NSTEPS(script), 0);
	f->sv.late = 5;
	f->sv.late_s = 30;
	short_.dot = 0.5;
	f->conf.timeouts = short_;
	s = mta_session_new(f->base, &f->conf);
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_IO);
	assert_int_equal(f->o.step, MTA_DOT);
	assert_true(f->o.timed_out);
	assert_true(f->o.dot_sent);
	assert_non_null(strstr(f->o.error, "waiting for the reply to the "
	    "final dot"));
	mta_session_close(s);
	fixture_free(f);
}

/* Endless continuation lines: refused at the bound, not read forever. */
static void
test_endless_reply(void **state)
{
	static struct step script[] = {
		{ NULL, NULL },
	};
	const char *rcpts[] = { "ok@example.com" };
	struct buf many = BUF_INIT;
	struct fixture *f;
	struct mta_session *s;

	(void)state;
	for (int i = 0; i < 2 * REPLY_LINES_MAX; i++)
		buf_printf(&many, "220-line %d\r\n", i);
	script[0].reply = buf_cstr(&many);
	f = fixture_new(script, NSTEPS(script), 0);
	s = mta_session_new(f->base, &f->conf);
	run(f->base, s, rcpts, 1, &f->o);
	assert_int_equal(f->o.outcome, MTA_BAD_REPLY);
	assert_int_equal(f->o.step, MTA_GREETING);
	assert_string_equal(f->o.error, "reply of more than 100 lines: "
	    "220-line 100");
	mta_session_close(s);
	fixture_free(f);
	buf_free(&many);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelining_and_reuse),
		cmocka_unit_test(test_lmtp),
		cmocka_unit_test(test_mail_refused),
		cmocka_unit_test(test_bad_greeting),
		cmocka_unit_test(test_connect_fails),
		cmocka_unit_test(test_dripped_reply),
		cmocka_unit_test(test_dot_deadline),
		cmocka_unit_test(test_endless_reply),
	};

	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
