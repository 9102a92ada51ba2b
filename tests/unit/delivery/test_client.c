/* Unit tests: the SMTP/LMTP client (client*.c behind mta_session.h) against
 * a scripted server on a Unix socket in the same event loop: PIPELINING
 * with a refused recipient, reuse with RSET, LMTP's per-recipient replies,
 * a refused MAIL, SMTPUTF8 (asked for, downgraded, refused before MAIL),
 * a malformed greeting, a failed connect, deadlines per
 * stage (a dripped reply, a slow and a missing answer to the dot), and the
 * message pulled from a source (struct mta_body): the bytes on the wire
 * whatever the source's pieces, a source that fails, and bounded output
 * for a large one. */
#include "unit.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "lib/buf.h"
#include "delivery/client_session.h"	/* white box: the conn's output */
#include "delivery/mta_session.h"

/* The server's script: each line the client sends must start with
 * expect; reply (CRLF-terminated, possibly several replies) is sent back.
 * The first step (expect NULL) is the greeting. After a 354 the body is
 * read byte by byte up to its end (<CRLF>.<CRLF>, or "." first), whose
 * "." line the next step expects. */
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
	/* The last body as received (dot-stuffed, with its end), from the
	 * 354: its bytes (unless no_raw), count and FNV-1a hash. */
	struct buf		 raw;
	int			 no_raw;
	size_t			 body_bytes;
	uint64_t		 body_hash, tail;
	int			 bodies;	/* ends of data seen */
	void			(*on_body)(void *);	/* after each read */
	void			*on_body_arg;
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
	int			 timed_out, dot_sent, body_failed;
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
	if (strncmp(st->reply != NULL ? st->reply : "", "354", 3) == 0) {
		sv->in_body = 1;
		buf_reset(&sv->raw);
		sv->body_bytes = 0;
		sv->body_hash = 14695981039346656037ULL;
		sv->tail = 0;
	}
}

static void
sv_line(struct server *sv, const char *line)
{
	buf_printf(&sv->got, "%s\n", line);
	if (sv->i >= sv->n || strncmp(line, sv->script[sv->i].expect,
	    strlen(sv->script[sv->i].expect)) != 0)
		sv->mismatch = 1;
	answer(sv);
}

/* The body's bytes in the input, up to its end: 1 when it came. */
static int
sv_body(struct server *sv, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in), i;
	const unsigned char *p;
	int end = 0;

	if (n == 0)
		return 0;
	p = evbuffer_pullup(in, -1);
	for (i = 0; i < n && !end; i++) {
		sv->tail = sv->tail << 8 | p[i];
		sv->body_hash = (sv->body_hash ^ p[i]) * 1099511628211ULL;
		sv->body_bytes++;
		end = (sv->body_bytes == 3 &&
		    (sv->tail & 0xffffff) == 0x2e0d0a) ||
		    (sv->body_bytes >= 5 &&
		    (sv->tail & 0xffffffffffULL) == 0x0d0a2e0d0aULL);
	}
	if (!sv->no_raw)
		buf_add(&sv->raw, p, i);
	evbuffer_drain(in, i);
	if (sv->on_body != NULL)
		sv->on_body(sv->on_body_arg);
	if (!end)
		return 0;
	sv->in_body = 0;
	sv->bodies++;
	/* Its lines (the end's "." aside) for the transcript. */
	for (size_t at = 0; !sv->no_raw && at < sv->raw.len - 3; ) {
		const char *l = sv->raw.p + at;
		const char *crlf = memmem(l, sv->raw.len - 3 - at, "\r\n", 2);

		buf_printf(&sv->got, "| %.*s\n", (int)(crlf - l), l);
		at += (size_t)(crlf - l) + 2;
	}
	sv_line(sv, ".");
	return 1;
}

static void
sv_read(struct bufferevent *bev, void *arg)
{
	struct server *sv = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	for (;;) {
		if (sv->in_body) {
			if (!sv_body(sv, in))
				break;
			continue;
		}
		if ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) ==
		    NULL)
			break;
		sv_line(sv, line);
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
	buf_free(&sv->raw);
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
	o->body_failed = r->body_failed;
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
run_msg(struct event_base *base, struct mta_session *s,
    const struct mta_msg *msg, struct outcome *o)
{
	struct timeval tv = { 5, 0 };
	int calls = o->calls;

	o->in_send = 1;
	mta_session_send(s, msg, on_done, o);
	o->in_send = 0;
	event_base_loopexit(base, &tv);
	while (o->calls == calls && !event_base_got_exit(base))
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(o->calls, calls + 1);
}

static void
run(struct event_base *base, struct mta_session *s, const char **rcpts,
    size_t n, struct outcome *o)
{
	static const char body[] = "Subject: t\r\n\r\n.hi\r\n";
	struct mta_msg msg = { .mail_from = "a@example.com", .rcpts = rcpts,
	    .nrcpts = n, .data = body, .len = sizeof(body) - 1 };

	run_msg(base, s, &msg, o);
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

/* SMTPUTF8 (RFC 6531): asked for when offered; to a server without it,
 * the ASCII envelope when there is one, else MTA_NO_SMTPUTF8 before MAIL
 * (the connection is not reused: QUIT). */
static void
run_utf8(struct fixture *f, struct mta_session *s, const char **ascii)
{
	static const char body[] = "Subject: t\r\n\r\nhi\r\n";
	const char *rcpts[] = { "ok@b\xc3\xbc" "cher.test" };
	struct mta_msg msg = { .mail_from = "a@example.com", .rcpts = rcpts,
	    .nrcpts = 1, .data = body, .len = sizeof(body) - 1,
	    .smtputf8 = 1, .ascii_from = ascii ? "a@example.com" : NULL,
	    .ascii_rcpts = ascii };

	run_msg(f->base, s, &msg, &f->o);
}

static void
test_smtputf8(void **state)
{
	static const struct step offered[] = {
		{ NULL, "220 sink\r\n" },
		{ "EHLO", "250-sink\r\n250 SMTPUTF8\r\n" },
		{ "MAIL FROM:<a@example.com> SMTPUTF8", "250 ok\r\n" },
		{ "RCPT TO:<ok@b\xc3\xbc" "cher.test>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued\r\n" },
		{ "QUIT", "221 bye\r\n" },
	};
	static const struct step downgraded[] = {
		{ NULL, "220 sink\r\n" },
		{ "EHLO", "250-sink\r\n250 8BITMIME\r\n" },
		{ "MAIL FROM:<a@example.com>", "250 ok\r\n" },
		{ "RCPT TO:<ok@xn--bcher-kva.test>", "250 ok\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued\r\n" },
		{ "QUIT", "221 bye\r\n" },
	};
	static const struct step refused[] = {
		{ NULL, "220 sink\r\n" },
		{ "EHLO", "250-sink\r\n250 8BITMIME\r\n" },
		{ "QUIT", "221 bye\r\n" },
	};
	const char *ascii[] = { "ok@xn--bcher-kva.test" };
	struct fixture *f;
	struct mta_session *s;

	(void)state;
	f = fixture_new(offered, NSTEPS(offered), 0);
	s = mta_session_new(f->base, &f->conf);
	run_utf8(f, s, ascii);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(f->o.rcpt[0], 250);
	mta_session_close(s);
	while (f->sv.i < f->sv.n && event_base_loop(f->base, EVLOOP_ONCE) == 0
	    && !event_base_got_exit(f->base))
		;
	assert_false(f->sv.mismatch);
	assert_non_null(strstr(buf_cstr(&f->sv.got),
	    "MAIL FROM:<a@example.com> SMTPUTF8\n"));
	fixture_free(f);

	f = fixture_new(downgraded, NSTEPS(downgraded), 0);
	s = mta_session_new(f->base, &f->conf);
	run_utf8(f, s, ascii);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(f->o.rcpt[0], 250);
	mta_session_close(s);
	while (f->sv.i < f->sv.n && event_base_loop(f->base, EVLOOP_ONCE) == 0
	    && !event_base_got_exit(f->base))
		;
	assert_false(f->sv.mismatch);
	assert_non_null(strstr(buf_cstr(&f->sv.got),
	    "MAIL FROM:<a@example.com>\nRCPT TO:<ok@xn--bcher-kva.test>\n"));
	fixture_free(f);

	f = fixture_new(refused, NSTEPS(refused), 0);
	s = mta_session_new(f->base, &f->conf);
	run_utf8(f, s, NULL);
	assert_int_equal(f->o.outcome, MTA_NO_SMTPUTF8);
	assert_int_equal(f->o.step, MTA_MAIL);
	assert_non_null(f->o.error);
	assert_non_null(strstr(f->o.error, "SMTPUTF8 is required"));
	assert_false(mta_session_idle(s));
	mta_session_close(s);
	while (f->sv.i < f->sv.n && event_base_loop(f->base, EVLOOP_ONCE) == 0
	    && !event_base_got_exit(f->base))
		;
	assert_false(f->sv.mismatch);
	assert_string_equal(buf_cstr(&f->sv.got), "EHLO client.test\nQUIT\n");
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

/* --- the message from a source ------------------------------------------- */

static const struct step plain_script[] = {
	{ NULL, "220 sink\r\n" },
	{ "EHLO client.test", "250 sink\r\n" },
	{ "MAIL FROM:<a@example.com>", "250 ok\r\n" },
	{ "RCPT TO:<ok@example.com>", "250 ok\r\n" },
	{ "DATA", "354 go\r\n" },
	{ ".", "250 2.0.0 queued\r\n" },
	{ "QUIT", "221 bye\r\n" },
};

/* The message dot-stuffed and ended as RFC 5321 wants, the reference:
 * a '.' doubled at the start of a line, CRLF added unless it ends in
 * one, then ".\r\n". */
static void
reference(struct buf *b, const char *m, size_t len)
{
	int bol = 1;

	buf_reset(b);
	for (size_t i = 0; i < len; i++) {
		if (bol && m[i] == '.')
			buf_addc(b, '.');
		buf_addc(b, m[i]);
		bol = m[i] == '\n';
	}
	if (len > 0 && (len < 2 || m[len - 2] != '\r' || m[len - 1] != '\n'))
		buf_add(b, "\r\n", 2);
	buf_add(b, ".\r\n", 3);
}

/* A source over `have` bytes at p (the length it declares may differ):
 * at most `piece` bytes per read (0: what is asked), -1 once `fail_at`
 * bytes were read. */
struct source {
	const char	*p;
	size_t		 have, off, piece, fail_at;
	size_t		 reads;
};

static ssize_t
source_read(void *arg, char *buf, size_t n)
{
	struct source *src = arg;

	src->reads++;
	if (src->off >= src->fail_at)
		return -1;
	if (src->piece > 0 && n > src->piece)
		n = src->piece;
	if (n > src->have - src->off)
		n = src->have - src->off;
	if (n > src->fail_at - src->off)
		n = src->fail_at - src->off;
	memcpy(buf, src->p + src->off, n);
	src->off += n;
	return (ssize_t)n;
}

/* One transaction with msg to a fresh server, the session closed and the
 * server done with it (it read the QUIT or saw the close). */
static struct fixture *
deliver(const struct mta_msg *msg)
{
	struct fixture *f = fixture_new(plain_script, NSTEPS(plain_script), 0);
	struct mta_session *s = mta_session_new(f->base, &f->conf);
	struct timeval tv = { 5, 0 };

	run_msg(f->base, s, msg, &f->o);
	mta_session_close(s);
	event_base_loopexit(f->base, &tv);
	while (f->sv.bev != NULL && f->sv.i < f->sv.n &&
	    !event_base_got_exit(f->base))
		event_base_loop(f->base, EVLOOP_ONCE);
	return f;
}

/* A message of `len` bytes of 'a' with lines that cross the blocks the
 * client pulls (CLIENT_CONN_BLOCK): a '.' starting a block after an LF
 * ending the previous one, a CRLF split between blocks, a '.' ending one. */
static char *
across_blocks(size_t len)
{
	const size_t B = CLIENT_CONN_BLOCK;
	char *m = xmalloc(len);

	memset(m, 'a', len);
	for (size_t i = 100; i + 3 < len; i += 997)
		memcpy(m + i, "\r\n.", 3);
	memcpy(m + B - 2, "\r\n.", 3);		/* LF | '.' */
	memcpy(m + 2 * B - 1, "\r\n.", 3);	/* CR | LF '.' */
	memcpy(m + 3 * B - 3, "\r\n.", 3);	/* '.' | … */
	memcpy(m + 3 * B, ".\r\n", 3);		/* … '.' CRLF */
	return m;
}

/* Whatever pieces the source hands over, the server gets the bytes of
 * the reference, as from a message in memory: stuffing across reads and
 * blocks, the CRLF added or not, the empty message. */
static void
test_body_pieces(void **state)
{
	static const struct {
		const char	*m;
		size_t		 len;	/* 0: strlen, unless m is "" */
	} cases[] = {
		{ "", 0 },
		{ ".", 0 },
		{ "a", 0 },
		{ ".\r\n", 0 },
		{ "..\r\n", 0 },
		{ "\r\n.", 0 },
		{ "\n.", 0 },
		{ "a\r\n.\r\n.b\r\n", 0 },
		{ "Subject: t\r\n\r\n.hi\r\n.\r\n..\r\n", 0 },
		{ "no final CRLF\r\n.x", 0 },
		{ "bare LF at the end\n", 0 },
		{ "bare CR at the end\r", 0 },
		{ "a\n.b\r.c\r\n\n.\n", 0 },
	};
	const size_t pieces[] = { 0, 1, 2, 3, 7, 4097, 65535, 65537 };
	const size_t B = CLIENT_CONN_BLOCK;
	/* Built: across the blocks; ending in a CRLF split by the block
	 * boundary, and exactly on it. */
	const size_t built[] = { 3 * B + 500, B + 1, B };
	const char *rcpts[] = { "ok@example.com" };
	struct buf want = BUF_INIT;
	size_t ncases = NSTEPS(cases) + NSTEPS(built);

	(void)state;
	for (size_t c = 0; c < ncases; c++) {
		char *m = NULL;
		const char *msg_p;
		size_t len;

		if (c < NSTEPS(cases)) {
			msg_p = cases[c].m;
			len = strlen(msg_p);
		} else {
			len = built[c - NSTEPS(cases)];
			msg_p = m = across_blocks(len < 3 * B + 3 ? 3 * B + 3 :
			    len);
			if (len <= B + 1)
				memcpy(m + len - 2, "\r\n", 2);
		}
		reference(&want, msg_p, len);
		/* In memory, then from a source in pieces of each size. */
		for (size_t k = 0; k <= NSTEPS(pieces); k++) {
			struct source src = { msg_p, len, 0, 0, SIZE_MAX, 0 };
			struct mta_body body = { len, source_read, &src };
			struct mta_msg msg = { .mail_from = "a@example.com",
			    .rcpts = rcpts, .nrcpts = 1 };
			struct fixture *f;

			if (k == 0) {
				msg.data = msg_p;
				msg.len = len;
			} else {
				src.piece = pieces[k - 1];
				msg.body = &body;
			}
			f = deliver(&msg);
			if (f->o.outcome != MTA_OK || f->sv.raw.len != want.len
			    || memcmp(f->sv.raw.p, want.p, want.len) != 0)
				fail_msg("case %zu (%zu bytes), pieces %zu: "
				    "outcome %d, %zu bytes received, %zu "
				    "expected", c, len, k ? pieces[k - 1] : 0,
				    f->o.outcome, f->sv.raw.len, want.len);
			assert_false(f->o.body_failed);
			assert_int_equal(f->sv.bodies, 1);
			assert_false(f->sv.mismatch);
			fixture_free(f);
		}
		free(m);
	}
	buf_free(&want);
}

/* A source that fails, ends early or goes on past its length: the
 * transaction is abandoned without the final dot, MTA_IO with
 * body_failed, and the connection closed (not idle, no QUIT). */
static void
test_body_fails(void **state)
{
	const size_t B = CLIENT_CONN_BLOCK;
	const size_t len = 5 * B + 123;
	const struct {
		size_t	 have, fail_at, declared;
	} cases[] = {
		{ len, 0, len },		/* the first read fails */
		{ len, 3 * B + 7, len },	/* mid-body */
		{ len, len, len },		/* at the end, instead of 0 */
		{ len - 1, SIZE_MAX, len },	/* ends one byte early */
		{ len, SIZE_MAX, len - 1 },	/* one byte too many */
		{ 10, SIZE_MAX, 0 },		/* "empty", but is not */
	};
	const char *rcpts[] = { "ok@example.com" };
	char *m = across_blocks(len);
	struct buf want = BUF_INIT;

	(void)state;
	for (size_t c = 0; c < NSTEPS(cases); c++) {
		struct source src = { m, cases[c].have, 0, 0, cases[c].fail_at,
		    0 };
		struct mta_body body = { cases[c].declared, source_read, &src };
		struct mta_msg msg = { .mail_from = "a@example.com",
		    .rcpts = rcpts, .nrcpts = 1, .body = &body };
		struct fixture *f = fixture_new(plain_script,
		    NSTEPS(plain_script), 0);
		struct mta_session *s = mta_session_new(f->base, &f->conf);
		struct timeval tv = { 5, 0 };
		FILE *log = capture_start();
		char *logged;

		run_msg(f->base, s, &msg, &f->o);
		logged = capture_end(log);
		assert_non_null(strstr(logged, "cannot read the queued message "
		    "after "));
		free(logged);
		assert_int_equal(f->o.outcome, MTA_IO);
		assert_int_equal(f->o.step, MTA_DOT);
		assert_true(f->o.body_failed);
		assert_false(f->o.dot_sent);
		assert_false(f->o.timed_out);
		assert_string_equal(f->o.error,
		    "cannot read the queued message");
		assert_false(mta_session_idle(s));
		mta_session_close(s);
		/* The server sees the close, never the end of the data. */
		event_base_loopexit(f->base, &tv);
		while (f->sv.bev != NULL && !event_base_got_exit(f->base))
			event_base_loop(f->base, EVLOOP_ONCE);
		assert_null(f->sv.bev);
		assert_int_equal(f->sv.bodies, 0);
		assert_false(f->sv.mismatch);
		assert_null(strstr(buf_cstr(&f->sv.got), "QUIT"));
		/* What it got is a beginning of the message. */
		reference(&want, m, len);
		assert_true(f->sv.raw.len < want.len - 3);
		assert_memory_equal(f->sv.raw.p, want.p, f->sv.raw.len);
		fixture_free(f);
	}
	buf_free(&want);
	free(m);
}

/*
 * A large generated message: the server gets every byte (count and hash
 * of the reference), while the client never holds more than two blocks
 * of output, reads its source only once its output has gone to the
 * kernel, and never reads it further ahead of the server than those two
 * blocks and the socket's buffer.
 */
#define BIG_LEN		(20u * 1024 * 1024 + 11)

static const char big_template[] = "..starts with a dot\r\n.\r\nplain line "
    "of text that goes on for a while\r\nx\n.bare LF then a dot\r\n"
    "a\r.b\r\n";

struct big {
	size_t			 off, max_ahead, max_out, reads;
	int			 read_unhanded;	/* read with output waiting */
	struct mta_session	*s;
	struct server		*sv;
};

static size_t
conn_output(const struct mta_session *s)
{
	struct bufferevent *under;

	if (s->conn.bev == NULL)
		return 0;
	under = bufferevent_get_underlying(s->conn.bev);
	return evbuffer_get_length(bufferevent_get_output(s->conn.bev)) +
	    (under != NULL ?
	    evbuffer_get_length(bufferevent_get_output(under)) : 0);
}

static ssize_t
big_read(void *arg, char *buf, size_t n)
{
	struct big *g = arg;
	const size_t tl = sizeof(big_template) - 1;

	g->reads++;
	if (conn_output(g->s) > 0)
		g->read_unhanded = 1;
	if (n > BIG_LEN - g->off)
		n = BIG_LEN - g->off;
	for (size_t i = 0; i < n; i++)
		buf[i] = big_template[(g->off + i) % tl];
	g->off += n;
	/* The server counts stuffed bytes: a little more than the source's
	 * (which keeps this an upper bound on how far ahead we read). */
	if (g->off > g->sv->body_bytes && g->off - g->sv->body_bytes >
	    g->max_ahead)
		g->max_ahead = g->off - g->sv->body_bytes;
	return (ssize_t)n;
}

static void
big_sample(void *arg)
{
	struct big *g = arg;
	size_t out = conn_output(g->s);

	if (out > g->max_out)
		g->max_out = out;
}

static void
test_body_bounded(void **state)
{
	const char *rcpts[] = { "ok@example.com" };
	const size_t tl = sizeof(big_template) - 1;
	struct fixture *f = fixture_new(plain_script, NSTEPS(plain_script), 0);
	struct big g = { 0 };
	struct mta_body body = { BIG_LEN, big_read, &g };
	struct mta_msg msg = { .mail_from = "a@example.com", .rcpts = rcpts,
	    .nrcpts = 1, .body = &body };
	uint64_t hash = 14695981039346656037ULL;
	size_t bytes = 0;
	int bol = 1, sndbuf = 0;
	socklen_t sl = sizeof(sndbuf);

	(void)state;
	f->sv.no_raw = 1;
	f->sv.on_body = big_sample;
	f->sv.on_body_arg = &g;
	g.sv = &f->sv;
	g.s = mta_session_new(f->base, &f->conf);
	run_msg(f->base, g.s, &msg, &f->o);
	assert_int_equal(f->o.outcome, MTA_OK);
	assert_int_equal(f->o.code, 250);
	assert_false(f->o.body_failed);
	assert_true(mta_session_idle(g.s));
	assert_int_equal(getsockopt(bufferevent_getfd(g.s->conn.bev),
	    SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl), 0);
	mta_session_close(g.s);

	/* Every byte, stuffed as the reference stuffs it. */
	for (size_t i = 0; i < BIG_LEN; i++) {
		unsigned char ch = (unsigned char)big_template[i % tl];

		if (bol && ch == '.') {
			hash = (hash ^ '.') * 1099511628211ULL;
			bytes++;
		}
		hash = (hash ^ ch) * 1099511628211ULL;
		bytes++;
		bol = ch == '\n';
	}
	for (const char *p = big_template[(BIG_LEN - 2) % tl] == '\r' &&
	    big_template[(BIG_LEN - 1) % tl] == '\n' ? ".\r\n" : "\r\n.\r\n";
	    *p != '\0'; p++) {
		hash = (hash ^ (unsigned char)*p) * 1099511628211ULL;
		bytes++;
	}
	assert_int_equal(f->sv.body_bytes, bytes);
	assert_true(f->sv.body_hash == hash);
	assert_int_equal(g.off, BIG_LEN);
	/* Bounded whatever the size. */
	assert_false(g.read_unhanded);
	assert_true(g.max_out <= 2 * CLIENT_CONN_BLOCK + 5);
	assert_true(g.max_ahead <= 2 * CLIENT_CONN_BLOCK + (size_t)sndbuf);
	print_message("20 MB: %zu reads, at most %zu bytes of output, read "
	    "%zu ahead of the server (socket buffer %d)\n", g.reads,
	    g.max_out, g.max_ahead, sndbuf);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelining_and_reuse),
		cmocka_unit_test(test_lmtp),
		cmocka_unit_test(test_mail_refused),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_bad_greeting),
		cmocka_unit_test(test_connect_fails),
		cmocka_unit_test(test_dripped_reply),
		cmocka_unit_test(test_dot_deadline),
		cmocka_unit_test(test_endless_reply),
		cmocka_unit_test(test_body_pieces),
		cmocka_unit_test(test_body_fails),
		cmocka_unit_test(test_body_bounded),
	};

	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
