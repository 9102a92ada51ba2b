/*
 * smtp/auth: AUTH (RFC 4954) — PLAIN, LOGIN, CRAM-MD5, checked by the
 * back-end of smtp/policy.h. A failure is answered 535 5.7.8 after [auth]
 * failure_delay and counted, per connection (too many close) and per
 * client address in the client table the workers share (lib/anvil.h:
 * too many lock the address out of AUTH for a while: 454 4.7.0,
 * credentials unchecked); success makes it relay.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lib/anvil.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "smtp/auth.h"
#include "smtp/conn.h"
#include "smtp/policy.h"

int
auth_offered(const struct smtp_session *s, unsigned method)
{
	const struct auth_backend *a = reception_get()->auth;

	if (a == NULL || s->auth_user != NULL)
		return 0;
	/* Any of the methods asked for. */
	for (unsigned m = AUTH_PLAIN; m <= AUTH_CRAM_MD5; m <<= 1)
		if ((method & m) && auth_method_allowed(a->methods, m, s->tls,
		    s->loopback))
			return 1;
	return 0;
}

static void
auth_clear(struct smtp_session *s)
{
	s->sasl = SASL_NONE;
	free(s->sasl_user);
	s->sasl_user = NULL;
	free(s->challenge);
	s->challenge = NULL;
}

void
auth_abort(struct smtp_session *s)
{
	auth_clear(s);
	conn_enter(s, S_IDLE);
}

static void
auth_success(struct smtp_session *s, const char *user)
{
	s->auth_user = xstrdup(user);
	s->relaying = 1;
	log_info("core", s->uuid, "AUTH succeeded user=%s ip=%s", user, s->ip);
	auth_clear(s);
	conn_enter(s, S_IDLE);
	conn_reply(s, "235 2.7.0 Authentication successful");
}

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether the client's address is locked out of AUTH now ([auth]
 * max_failures_per_ip). */
static int
auth_locked(const struct smtp_session *s)
{
	return anvil_auth_locked(s->table, s->client_key,
	    now_monotonic()) > 0;
}

/*
 * AUTH from an address locked out: RFC 4954's 454 4.7.0 (temporary: the
 * client may try again later), without a look at the credentials, so that
 * the right password is refused too. Counts towards the connection's
 * [max] auth_failures, which closes a client that keeps trying.
 */
static void
auth_refuse(struct smtp_session *s)
{
	auth_clear(s);
	conn_enter(s, S_IDLE);
	s->auth_failures++;
	log_debug("core", s->uuid, "AUTH refused ip=%s: %s is locked out "
	    "(connection.ini [auth] max_failures_per_ip)", s->ip,
	    s->client_key);
	conn_reply(s, "454 4.7.0 Temporary authentication failure: too many "
	    "failed authentications from your address, try again later");
	if (s->auth_failures >= conn_core(s)->max_auth_failures) {
		conn_reply(s, "421 4.7.0 %s Too many failed authentications, "
		    "closing connection", conn_core(s)->me);
		conn_close(s);
	}
}

static void
on_auth_delay(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)fd;
	(void)what;
	event_free(s->delay);
	s->delay = NULL;
	conn_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (auth_locked(s)) {
		/* This failure, or another from the address, locked it out:
		 * nothing more to try here. */
		conn_reply(s, "421 4.7.0 %s Too many failed authentications "
		    "from your address, closing connection", conn_core(s)->me);
		conn_close(s);
		return;
	}
	if (s->auth_failures >= conn_core(s)->max_auth_failures) {
		conn_reply(s, "421 4.7.0 %s Too many failed authentications, "
		    "closing connection", conn_core(s)->me);
		conn_close(s);
		return;
	}
	conn_resume(s, S_IDLE);
}

/* A failed attempt (counted for the address: n failures; started: that
 * began a lockout): answered after a delay. */
static void
auth_failure(struct smtp_session *s, const char *user, unsigned n,
    int started)
{
	const struct config_core *c = conn_core(s);
	struct timeval tv = { (time_t)c->auth_failure_delay, 0 };

	s->auth_failures++;
	log_notice("core", s->uuid, "AUTH failed user=%s ip=%s (%u)",
	    user ? user : "", s->ip, s->auth_failures);
	if (started)
		log_warn("core", s->uuid, "AUTH lockout ip=%s: %u failed "
		    "authentications from %s (connection.ini [auth] "
		    "max_failures_per_ip=%u per failure_window=%us); AUTH "
		    "refused for %us", s->ip, n, s->client_key,
		    c->auth_max_failures_per_ip, c->auth_failure_window,
		    c->auth_lockout);
	auth_clear(s);
	conn_wait(s);
	s->delay = evtimer_new(s->base, on_auth_delay, s);
	evtimer_add(s->delay, &tv);
}

/* The final response of an exchange, checked under the client table's
 * lock (anvil_auth_check): user gets whose credentials they are. */
struct attempt {
	struct smtp_session	*s;
	const struct buf	*b;
	char			*user;		/* malloc'd */
	const char		*malformed;	/* the 501 */
};

static int
check_plain(struct attempt *t)
{
	const struct auth_backend *a = reception_get()->auth;
	const struct buf *b = t->b;
	const char *authz = b->p, *user, *pass, *end = b->p + b->len;

	/* authzid NUL authcid NUL passwd */
	user = memchr(authz, '\0', b->len);
	pass = user ? memchr(user + 1, '\0', (size_t)(end - user - 1)) : NULL;
	if (pass == NULL || memchr(pass + 1, '\0', (size_t)(end - pass - 1))) {
		t->malformed = "501 5.5.2 Malformed PLAIN response";
		return ANVIL_AUTH_NONE;
	}
	user++;
	pass++;
	t->user = xstrdup(user);
	if (*authz && strcmp(authz, user) != 0)
		return ANVIL_AUTH_FAILED;
	return a->check_plain(a->data, user, pass) ? ANVIL_AUTH_OK :
	    ANVIL_AUTH_FAILED;
}

static int
check_cram(struct attempt *t)
{
	const struct auth_backend *a = reception_get()->auth;
	const struct buf *b = t->b;
	char *sp = strrchr(b->p, ' ');

	if (sp == NULL || strlen(b->p) != b->len) {
		t->malformed = "501 5.5.2 Malformed CRAM-MD5 response";
		return ANVIL_AUTH_NONE;
	}
	t->user = xstrndup(b->p, (size_t)(sp - b->p));
	return a->check_cram(a->data, t->user, t->s->challenge, sp + 1) ?
	    ANVIL_AUTH_OK : ANVIL_AUTH_FAILED;
}

static int
check_attempt(void *arg)
{
	struct attempt *t = arg;
	struct smtp_session *s = t->s;
	const struct auth_backend *a = reception_get()->auth;

	switch (s->sasl) {
	case SASL_PLAIN:
		return check_plain(t);
	case SASL_LOGIN_PASS:
		t->user = xstrdup(s->sasl_user);
		return strlen(t->b->p) == t->b->len &&
		    a->check_plain(a->data, s->sasl_user, t->b->p) ?
		    ANVIL_AUTH_OK : ANVIL_AUTH_FAILED;
	case SASL_CRAM:
		return check_cram(t);
	default:
		return ANVIL_AUTH_NONE;
	}
}

/* One client line during the SASL exchange. */
void
auth_response(struct smtp_session *s, struct slice line)
{
	struct attempt t = { NULL, NULL, NULL, NULL };
	struct buf b = BUF_INIT;
	unsigned n;
	int started;

	if (line.len == 1 && line.p[0] == '*') {
		auth_abort(s);
		conn_reply(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	if (base64_decode(&b, line.p, line.len) == -1) {
		auth_abort(s);
		conn_reply(s, "501 5.5.2 Cannot decode the response");
		goto done;
	}
	buf_addc(&b, '\0');	/* an empty response decodes to "" */
	b.len--;
	if (s->sasl == SASL_NONE)
		goto done;
	if (s->sasl == SASL_LOGIN_USER) {
		if (strlen(b.p) != b.len) {
			auth_abort(s);
			conn_reply(s, "501 5.5.2 Malformed user name");
			goto done;
		}
		s->sasl_user = xstrdup(b.p);
		s->sasl = SASL_LOGIN_PASS;
		conn_reply(s, "334 UGFzc3dvcmQ6");
		goto done;
	}
	t.s = s;
	t.b = &b;
	switch (anvil_auth_check(s->table, s->client_key, now_monotonic(),
	    check_attempt, &t, &n, &started)) {
	case ANVIL_AUTH_LOCKED:
		/* Locked out since the exchange began: nothing is checked. */
		auth_refuse(s);
		break;
	case ANVIL_AUTH_OK:
		auth_success(s, t.user);
		break;
	case ANVIL_AUTH_FAILED:
		auth_failure(s, t.user, n, started);
		break;
	default:
		auth_abort(s);
		if (t.malformed != NULL)
			conn_reply(s, "%s", t.malformed);
		break;
	}
	free(t.user);
done:
	buf_free(&b);
}

void
auth_command(struct smtp_session *s, struct slice arg)
{
	struct slice mech = slice_trim(arg), initial = { NULL, 0 };
	const char *sp = memchr(mech.p, ' ', mech.len);
	unsigned method;

	if (sp != NULL) {
		initial = slice_trim(slice_of(sp + 1,
		    (size_t)(mech.p + mech.len - sp - 1)));
		mech.len = (size_t)(sp - mech.p);
	}
	if (s->auth_user != NULL) {
		conn_reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (slice_caseeq(mech, "PLAIN"))
		method = AUTH_PLAIN;
	else if (slice_caseeq(mech, "LOGIN"))
		method = AUTH_LOGIN;
	else if (slice_caseeq(mech, "CRAM-MD5"))
		method = AUTH_CRAM_MD5;
	else
		method = 0;
	if (reception_get()->auth == NULL || !s->esmtp) {
		conn_reply(s, "503 5.5.1 AUTH not available");
		return;
	}
	if (method == 0 || !(reception_get()->auth->methods & method)) {
		conn_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (!auth_offered(s, method)) {
		conn_reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (auth_locked(s)) {
		auth_refuse(s);
		return;
	}
	conn_enter(s, S_AUTH);
	switch (method) {
	case AUTH_PLAIN:
		s->sasl = SASL_PLAIN;
		if (initial.len)
			auth_response(s, initial);
		else
			conn_reply(s, "334 ");
		break;
	case AUTH_LOGIN:
		s->sasl = SASL_LOGIN_USER;
		if (initial.len)
			auth_response(s, initial);
		else
			conn_reply(s, "334 VXNlcm5hbWU6");
		break;
	default: {
		struct buf b = BUF_INIT;
		char r[UUID_LEN + 1];

		if (initial.len) {
			auth_abort(s);
			conn_reply(s, "501 5.5.2 CRAM-MD5 takes no initial response");
			return;
		}
		uuid_v4(r);
		s->challenge = xasprintf("<%.8s.%lld@%s>", r,
		    (long long)time(NULL), conn_core(s)->me);
		s->sasl = SASL_CRAM;
		base64_encode(&b, s->challenge, strlen(s->challenge));
		conn_reply(s, "334 %s", b.p);
		buf_free(&b);
		break;
	}
	}
}

