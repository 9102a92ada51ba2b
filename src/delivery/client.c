/*
 * client: the SMTP/LMTP client's state machine (contract in mta_session.h):
 * enter() sends the command of a new state, on_reply() reads its reply and
 * picks the next. Drives client_session.c over client_conn.c/client_tls.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "proto/reply.h"
#include "core/log.h"
#include "delivery/client_auth.h"
#include "delivery/client_conn.h"
#include "delivery/client_session.h"
#include "delivery/client_tls.h"
#include "delivery/dane.h"

/*
 * Under PIPELINING the send side runs ahead (MAIL, every RCPT and DATA in
 * one write) and the receive side walks the same states in order.
 */

#define SRC		"outbound"

/* EHLO capabilities. */
#define CAP_PIPELINING	0x01
#define CAP_SIZE	0x02
#define CAP_8BITMIME	0x04
#define CAP_SMTPUTF8	0x08
#define CAP_STARTTLS	0x10
#define CAP_AUTH	0x20
#define CAP_ENHANCED	0x40

static void	 enter(struct mta_session *, enum client_state);

/* A reply that ends the transaction (MTA_REPLY): QUIT and close. */
static void
fail_reply(struct mta_session *s, struct reply *r, enum mta_step step)
{
	client_session_finish(s, MTA_REPLY, step, r, NULL, 1);
}

static void
fail_io(struct mta_session *s, enum mta_step step, char *error)
{
	client_session_finish(s, MTA_IO, step, NULL, error, 0);
}

/* The deadline of the current state passed: no more waiting, whatever
 * was trickling in. */
static void
fail_timeout(struct mta_session *s)
{
	s->res.timed_out = 1;
	s->res.deadline = s->conn.deadline_s;
	fail_io(s, client_session_step(s), xasprintf("conversation with %s "
	    "timed out after %g s waiting for %s", s->peer,
	    s->conn.deadline_s, client_session_waiting(s)));
}

/* --- TLS --------------------------------------------------------------------- */

/* After 220 to STARTTLS: stack the OpenSSL filter and shake hands. */
static void
tls_start(struct mta_session *s)
{
	char *err = client_tls_wrap(&s->conn, s->tls_ctx, s->tls_name, s->ip,
	    s->verify, s->dane);

	if (err != NULL) {
		fail_io(s, MTA_TLS_HANDSHAKE, err);
		return;
	}
	s->state = ST_HANDSHAKE;
	client_tls_start(&s->conn);
	client_session_arm(s);
}

static void
tls_established(struct mta_session *s)
{
	char *err = client_tls_check(&s->conn, s->verify, s->dane);

	if (err != NULL) {
		client_session_finish(s, MTA_TLS_UNVERIFIED, MTA_TLS_HANDSHAKE,
		    NULL, err, 0);
		return;
	}
	s->secured = 1;
	s->caps = s->mechs = 0;		/* RFC 3207 4.2: ask again */
	s->size_max = 0;
	enter(s, ST_EHLO);
}

static void
tls_failed(struct mta_session *s, int err)
{
	int unverified;
	char *why = client_tls_failure(&s->conn, s->verify, err, s->dane,
	    &unverified);

	if (unverified)
		client_session_finish(s, MTA_TLS_UNVERIFIED, MTA_TLS_HANDSHAKE,
		    NULL, why, 0);
	else
		fail_io(s, MTA_TLS_HANDSHAKE, why);
}

/* --- AUTH -------------------------------------------------------------------- */

/* auth_type when it is offered, else the first offered we know. */
static unsigned
pick_mech(struct mta_session *s)
{
	int missing;
	unsigned mech = client_auth_pick(s->mechs, s->auth_type, &missing);

	if (missing)
		log_warn(SRC, s->uuid, "AUTH type %s configured but not "
		    "offered by %s; trying another", s->auth_type, s->peer);
	return mech;
}

static void
auth_command(struct mta_session *s)
{
	struct buf line = BUF_INIT;
	const char *shown;

	s->auth_round = 0;
	shown = client_auth_command(s->mech, s->auth_user, s->auth_pass,
	    &line);
	client_conn_cmd(&s->conn, shown, "%s", buf_cstr(&line));
	buf_free(&line);
}

/* Answers a 334; -1 when the exchange cannot go on. */
static int
auth_answer(struct mta_session *s, const struct reply *r)
{
	struct buf line = BUF_INIT;
	int rv;

	s->auth_round++;
	rv = client_auth_answer(s->mech, s->auth_round,
	    r->nlines > 0 ? r->lines[r->nlines - 1] : "", s->auth_user,
	    s->auth_pass, &line);
	if (rv == 0) {
		client_conn_cmd(&s->conn, "****", "%s", buf_cstr(&line));
		client_conn_flush(&s->conn);
	}
	buf_free(&line);
	return rv;
}

/* --- sending ----------------------------------------------------------------- */

static void
mail_command(struct mta_session *s)
{
	struct buf line = BUF_INIT;

	buf_printf(&line, "MAIL FROM:<%s>", s->mail_from);
	if (s->caps & CAP_SIZE)
		buf_printf(&line, " SIZE=%zu", s->body.len);
	if (s->eightbit && (s->caps & CAP_8BITMIME))
		buf_adds(&line, " BODY=8BITMIME");
	/* Not offered: start_mail() downgraded the envelope or failed. */
	if (s->smtputf8 && (s->caps & CAP_SMTPUTF8))
		buf_adds(&line, " SMTPUTF8");
	client_conn_cmd(&s->conn, NULL, "%s", buf_cstr(&line));
	buf_free(&line);
}

/* Sends what the new state asks for. */
static void
enter(struct mta_session *s, enum client_state st)
{
	struct client_conn *c = &s->conn;
	int pipelining = (s->caps & CAP_PIPELINING) != 0;

	s->state = st;
	switch (st) {
	case ST_EHLO:
		client_conn_cmd(c, NULL, "%s %s", s->lmtp ? "LHLO" : "EHLO",
		    s->helo);
		break;
	case ST_HELO:
		client_conn_cmd(c, NULL, "HELO %s", s->helo);
		break;
	case ST_STARTTLS:
		client_conn_cmd(c, NULL, "STARTTLS");
		break;
	case ST_AUTH:
		auth_command(s);
		break;
	case ST_RSET:
		client_conn_cmd(c, NULL, "RSET");
		break;
	case ST_MAIL:
		s->count++;
		s->rcpt_i = s->nok = s->lmtp_i = 0;
		mail_command(s);
		if (pipelining) {
			/* RFC 2920: the whole group in one write. */
			for (size_t i = 0; i < s->nrcpts; i++)
				client_conn_cmd(c, NULL, "RCPT TO:<%s>",
				    s->rcpts[i]);
			client_conn_cmd(c, NULL, "DATA");
		}
		break;
	case ST_RCPT:
		if (!pipelining)
			client_conn_cmd(c, NULL, "RCPT TO:<%s>",
			    s->rcpts[s->rcpt_i]);
		break;
	case ST_DATA:
		if (!pipelining)
			client_conn_cmd(c, NULL, "DATA");
		break;
	case ST_DOT:
		/* Its blocks, then the reply, have their own deadlines. */
		client_conn_send_body(c, &s->body, s->t.data_block,
		    s->t.dot);
		break;
	case ST_DOT_IGNORED:
		/* RFC 2920 3.1: DATA was accepted with no recipient; end it. */
		client_conn_cmd(c, NULL, ".");
		break;
	default:
		break;
	}
	client_conn_flush(c);
	client_session_arm(s);
}

/* After the last RCPT reply (or the next RCPT). */
static void
next_rcpt(struct mta_session *s)
{
	if (s->rcpt_i < s->nrcpts)
		enter(s, ST_RCPT);
	else if (s->caps & CAP_PIPELINING)
		s->state = ST_DATA;		/* DATA went with MAIL */
	else if (s->nok > 0)
		enter(s, ST_DATA);
	else
		client_session_finish(s, MTA_OK, MTA_RCPT, NULL, NULL, 0);
}

static void
start_mail(struct mta_session *s)
{
	/* RFC 6531 3.4: never UTF-8 to a server that did not offer it. */
	if (s->smtputf8 && !(s->caps & CAP_SMTPUTF8) &&
	    client_session_downgrade(s) != 0) {
		client_session_finish(s, MTA_NO_SMTPUTF8, MTA_MAIL, NULL,
		    xasprintf("SMTPUTF8 is required, but was not offered by "
		    "host %s", s->peer), 1);
		return;
	}
	enter(s, ST_MAIL);
}

/* EHLO done: STARTTLS, then AUTH, then MAIL. */
static void
after_ehlo(struct mta_session *s)
{
	if (!s->secured && s->tls != MTA_TLS_NONE) {
		int offered = (s->caps & CAP_STARTTLS) && s->tls_ctx != NULL;

		if (offered) {
			enter(s, ST_STARTTLS);
			return;
		}
		if (s->tls == MTA_TLS_MUST) {
			if (s->dane != NULL && s->tls_ctx != NULL)
				dane_count(s->dane->domain,
				    "starttls-not-supported", s->uuid);
			client_session_finish(s, MTA_TLS_UNAVAILABLE, MTA_EHLO,
			    NULL, s->tls_ctx == NULL ? xasprintf("TLS required "
			    "for %s but no TLS client context", s->peer) :
			    xasprintf("TLS required%s but %s does not offer "
			    "STARTTLS", s->dane != NULL ? " by DANE" : "",
			    s->peer), 1);
			return;
		}
	}
	if (s->auth_user != NULL && s->auth_pass != NULL &&
	    !s->authenticated) {
		if (!(s->caps & CAP_AUTH))
			log_warn(SRC, s->uuid, "AUTH configured but host %s "
			    "did not advertise AUTH capability", s->peer);
		else if ((s->mech = pick_mech(s)) == 0)
			log_warn(SRC, s->uuid, "AUTH configured but host %s "
			    "did not offer any compatible types", s->peer);
		else {
			enter(s, ST_AUTH);
			return;
		}
	}
	start_mail(s);
}

static void
read_caps(struct mta_session *s, const struct reply *r)
{
	const char *arg;

	s->caps = s->mechs = 0;
	s->size_max = 0;
	if (reply_has_keyword(r, "PIPELINING", NULL))
		s->caps |= CAP_PIPELINING;
	if (reply_has_keyword(r, "SIZE", &arg)) {
		s->caps |= CAP_SIZE;
		s->size_max = strtoul(arg, NULL, 10);
	}
	if (reply_has_keyword(r, "8BITMIME", NULL))
		s->caps |= CAP_8BITMIME;
	if (reply_has_keyword(r, "SMTPUTF8", NULL))
		s->caps |= CAP_SMTPUTF8;
	if (reply_has_keyword(r, "STARTTLS", NULL))
		s->caps |= CAP_STARTTLS;
	if (reply_has_keyword(r, "ENHANCEDSTATUSCODES", NULL))
		s->caps |= CAP_ENHANCED;
	if (reply_has_keyword(r, "AUTH", &arg)) {
		s->caps |= CAP_AUTH;
		s->mechs |= client_auth_offered(arg);
	}
}

/* --- receiving --------------------------------------------------------------- */

static void
on_reply(struct mta_session *s, struct reply *r)
{
	int c = r->code / 100;

	/* 3xx means "go on" only to DATA and AUTH. */
	if (c == 3 && s->state != ST_DATA && s->state != ST_AUTH &&
	    s->state != ST_RSET && s->state != ST_DOT_IGNORED &&
	    s->state != ST_IDLE) {
		fail_reply(s, r, client_session_step(s));
		return;
	}
	switch (s->state) {
	case ST_GREETING:
		if (c == 2)
			enter(s, ST_EHLO);
		else
			fail_reply(s, r, MTA_GREETING);
		break;
	case ST_EHLO:
		if (c == 2) {
			read_caps(s, r);
			after_ehlo(s);
		} else if (c == 5 && !s->lmtp && s->tls == MTA_TLS_MUST &&
		    !s->secured) {
			/* HELO cannot do STARTTLS. */
			char *why = reply_reason(r);

			client_session_finish(s, MTA_TLS_UNAVAILABLE, MTA_EHLO,
			    NULL, xasprintf("TLS required but %s refused "
			    "EHLO: %s", s->peer, why), 1);
			free(why);
		} else if (c == 5 && !s->lmtp)
			enter(s, ST_HELO);
		else
			fail_reply(s, r, MTA_EHLO);
		break;
	case ST_HELO:
		if (c != 2) {
			fail_reply(s, r, MTA_HELO);
			break;
		}
		s->caps = s->mechs = 0;
		if (s->auth_user != NULL && s->auth_pass != NULL &&
		    !s->authenticated)
			log_warn(SRC, s->uuid, "AUTH configured but host %s "
			    "did not advertise AUTH capability", s->peer);
		start_mail(s);
		break;
	case ST_STARTTLS:
		if (c == 2)
			tls_start(s);
		else
			fail_reply(s, r, MTA_STARTTLS);
		break;
	case ST_AUTH:
		if (c == 2) {
			s->authenticated = 1;
			log_info(SRC, s->uuid, "authenticated to %s as %s",
			    s->peer, s->auth_user);
			start_mail(s);
		} else if (c != 3 || auth_answer(s, r) == -1)
			fail_reply(s, r, MTA_AUTH);
		break;
	case ST_RSET:
		if (c == 2)
			start_mail(s);
		else {
			char *why = reply_reason(r);

			client_session_finish(s, MTA_IO, MTA_RSET, r,
			    xasprintf("RSET refused by %s: %s", s->peer, why),
			    1);
			free(why);
		}
		break;
	case ST_MAIL:
		if (c == 2)
			next_rcpt(s);
		else	/* pipelined RCPT and DATA replies will be 503s */
			fail_reply(s, r, MTA_MAIL);
		break;
	case ST_RCPT:
		client_session_rcpt_reply(s, r);
		next_rcpt(s);
		break;
	case ST_DATA:
		if (c == 3 && s->nok == 0 && s->lmtp) {
			/* RFC 2033 4.2 forbids this, and no reply would
			 * follow the dot: give up the connection. */
			client_session_drop(s, 0);
			client_session_finish(s, MTA_OK, MTA_DATA, NULL, NULL,
			    0);
		} else if (c == 3)
			enter(s, s->nok > 0 ? ST_DOT : ST_DOT_IGNORED);
		else if (s->nok == 0 && c >= 4)
			client_session_finish(s, MTA_OK, MTA_DATA, NULL, NULL,
			    0);
		else
			fail_reply(s, r, MTA_DATA);
		break;
	case ST_DOT:
		if (!s->lmtp) {
			if (c == 2)
				client_session_finish(s, MTA_OK, MTA_DONE, r,
				    NULL, 0);
			else
				fail_reply(s, r, MTA_DOT);
			break;
		}
		if (client_session_lmtp_reply(s, r))
			client_session_finish(s, MTA_OK, MTA_DONE, NULL, NULL,
			    0);
		break;
	case ST_DOT_IGNORED:
		client_session_finish(s, MTA_OK, MTA_DATA, NULL, NULL, 0);
		break;
	case ST_IDLE:
		/* Typically 421 before a close: this connection is done. */
		log_debug(SRC, s->uuid, "%s spoke while idle; closing",
		    s->peer);
		client_session_drop(s, 0);
		break;
	default:
		break;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;

	s->refs++;
	/* After the message's source failed, nothing the server says
	 * matters: the failure is reported from the loop (on_event). */
	while (s->conn.bev == bev && s->state != ST_DEAD &&
	    !s->conn.body_failed) {
		struct reply r;
		char *bad;
		int rv = client_conn_reply(&s->conn, &r, &bad);

		if (rv == 0)
			break;
		if (rv == -1) {
			/* Never a verdict on the mail: mta_error.c makes it
			 * a temporary failure of this server. */
			if (s->state == ST_IDLE) {
				client_session_drop(s, 0);
				free(bad);
			} else
				client_session_finish(s, MTA_BAD_REPLY,
				    client_session_step(s), NULL, bad, 0);
			break;
		}
		on_reply(s, &r);
		reply_clear(&r);
		/* A deadline per reply: the next one's starts now. */
		if (s->conn.bev == bev && s->state != ST_DEAD)
			client_session_arm(s);
	}
	client_session_unref(s);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session *s = arg;
	int err = errno;
	const char *name = client_session_state_name(s);

	(void)bev;
	s->refs++;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == ST_HANDSHAKE)
			tls_established(s);
		else {
			s->state = ST_GREETING;
			client_conn_connected(&s->conn);
			client_session_arm(s);
		}
	} else if (s->conn.body_failed) {
		/* Our side failed, whatever the socket saw meanwhile: no
		 * final dot, and the connection closed without QUIT so the
		 * server drops the partial message. */
		fail_io(s, MTA_DOT, xstrdup("cannot read the queued message"));
	} else if (s->state == ST_IDLE) {
		log_debug(SRC, s->uuid, "%s closed the idle connection",
		    s->peer);
		client_session_drop(s, 0);
	} else if (s->state == ST_DOT_IGNORED) {
		/* The answer did not matter; not idle. */
		client_session_drop(s, 0);
		client_session_finish(s, MTA_OK, MTA_DATA, NULL, NULL, 0);
	} else if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == ST_CONNECT)
			fail_io(s, MTA_CONNECT, xasprintf("connection timed "
			    "out to %s", s->peer));
		else
			fail_timeout(s);
	} else if (s->state == ST_CONNECT)
		fail_io(s, MTA_CONNECT, xasprintf("connect to %s: %s",
		    s->peer, strerror(err)));
	else if (s->state == ST_HANDSHAKE)
		tls_failed(s, (what & BEV_EVENT_ERROR) ? err : 0);
	else if (what & BEV_EVENT_EOF)
		fail_io(s, client_session_step(s), xasprintf("remote end "
		    "closed connection while waiting on %s", name));
	else {
		char *why = s->secured ? client_tls_errors(&s->conn, err) :
		    xstrdup(strerror(err));

		fail_io(s, client_session_step(s), xasprintf("connection to "
		    "%s failed waiting on %s: %s", s->peer, name, why));
		free(why);
	}
	client_session_unref(s);
}

/* --- API (the rest is in client_session.c) ----------------------------------- */

struct mta_session *
mta_session_new(struct event_base *base, const struct mta_conf *conf)
{
	return client_session_new(base, conf, on_read, on_event);
}

void
mta_session_send(struct mta_session *s, const struct mta_msg *msg,
    mta_done_fn done, void *arg)
{
	char *err;

	client_session_begin(s, msg, done, arg);
	switch (s->state) {
	case ST_NEW:
		/* The state the connect's events find. */
		s->state = ST_CONNECT;
		if ((err = client_conn_connect(&s->conn, s->ip, s->path,
		    s->port, s->bind, s->t.connect)) != NULL) {
			s->state = ST_DEAD;
			client_session_defer_fail(s, MTA_IO, MTA_CONNECT, err);
		}
		break;
	case ST_IDLE:
		enter(s, ST_RSET);
		break;
	default:
		client_session_defer_fail(s, MTA_IO, MTA_RSET,
		    xasprintf("connection to %s is closed", s->peer));
		break;
	}
}
