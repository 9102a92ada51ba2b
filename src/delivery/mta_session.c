/*
 * mta_session: the outbound SMTP/LMTP client (contract in mta_session.h).
 * A state machine over one libevent bufferevent (an OpenSSL filter is
 * stacked on it at STARTTLS): enter() sends the command of a new state,
 * on_reply() reads its reply and picks the next state. Under PIPELINING
 * the send side runs ahead (MAIL, every RCPT and DATA in one write) and
 * the receive side walks the same states in order.
 *
 * Ownership: the caller holds one reference until mta_session_close();
 * every callback holds one while it runs, so done() may close the session.
 * Configuration strings and the envelope are copied; the message body is
 * borrowed (evbuffer references) until done runs. A connection being
 * closed with QUIT lingers (briefly, on a list owned here) for the answer.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "delivery/mta_session.h"

#define SRC		"outbound"
/* More unparsed input than the longest valid reply: malformed. */
#define LINGER_MAX	5	/* s: waiting for the answer to QUIT */
#define INPUT_MAX	((size_t)(REPLY_LINE_MAX + 2) * REPLY_LINES_MAX)

enum state {
	ST_NEW,			/* not connected yet */
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,		/* or LHLO */
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_AUTH,
	ST_RSET,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_DOT,			/* body and "." sent, end-of-data reply(s) */
	ST_DOT_IGNORED,		/* every RCPT failed but DATA got 354 */
	ST_IDLE,		/* between transactions */
	ST_DEAD			/* the connection is gone */
};

/* Per state: what a timeout waits on, and the step reported. */
static const struct {
	const char	*name;
	enum mta_step	 step;
} states[] = {
	[ST_NEW] =		{ "nothing",		MTA_CONNECT },
	[ST_CONNECT] =		{ "connect",		MTA_CONNECT },
	[ST_GREETING] =		{ "greeting",		MTA_GREETING },
	[ST_EHLO] =		{ "ehlo",		MTA_EHLO },
	[ST_HELO] =		{ "helo",		MTA_HELO },
	[ST_STARTTLS] =		{ "starttls",		MTA_STARTTLS },
	[ST_HANDSHAKE] =	{ "tls handshake",	MTA_TLS_HANDSHAKE },
	[ST_AUTH] =		{ "auth",		MTA_AUTH },
	[ST_RSET] =		{ "rset",		MTA_RSET },
	[ST_MAIL] =		{ "mail",		MTA_MAIL },
	[ST_RCPT] =		{ "rcpt",		MTA_RCPT },
	[ST_DATA] =		{ "data",		MTA_DATA },
	[ST_DOT] =		{ "dot",		MTA_DOT },
	[ST_DOT_IGNORED] =	{ "dot",		MTA_DOT },
	[ST_IDLE] =		{ "nothing",		MTA_DONE },
	[ST_DEAD] =		{ "nothing",		MTA_DONE },
};

/* EHLO capabilities. */
#define CAP_PIPELINING	0x01
#define CAP_SIZE	0x02
#define CAP_8BITMIME	0x04
#define CAP_SMTPUTF8	0x08
#define CAP_STARTTLS	0x10
#define CAP_AUTH	0x20
#define CAP_ENHANCED	0x40

/* AUTH mechanisms, in our order of preference. */
#define MECH_CRAM	0x01
#define MECH_PLAIN	0x02
#define MECH_LOGIN	0x04

static const struct {
	const char	*name;
	unsigned	 bit;
} mechs[] = {
	{ "CRAM-MD5", MECH_CRAM }, { "PLAIN", MECH_PLAIN },
	{ "LOGIN", MECH_LOGIN },
};

struct mta_session {
	int		 refs;
	struct event_base *base;

	/* configuration, copied */
	char		*ip, *path, *bind, *helo, *tls_name;
	char		*auth_user, *auth_pass, *auth_type, *uuid;
	char		*peer;		/* "ip:port", "[v6]:port" or the path */
	unsigned	 port;
	int		 lmtp;
	enum mta_tls	 tls;
	SSL_CTX		*tls_ctx;
	struct timeval	 timeout;

	/* the connection */
	struct bufferevent *bev;	/* top of the stack (TLS filter) */
	struct event	*defer;		/* finish() outside mta_session_send */
	enum state	 state;
	unsigned	 caps, mechs;
	size_t		 size_max;
	int		 secured, authenticated, closed;
	unsigned	 count;
	char		 local_ip[46], remote_ip[46];
	struct buf	 out;		/* the commands of one write */

	/* the transaction */
	mta_done_fn	 done;
	void		*arg;
	char		*mail_from;
	char		**rcpts;
	size_t		 nrcpts;
	const char	*data;		/* borrowed until done */
	size_t		 len;
	int		 smtputf8, eightbit;
	struct mta_result res;
	size_t		 rcpt_i, nok, lmtp_i;
	unsigned	 mech;
	int		 auth_round;
	int		 body_queued;
	size_t		 pending;	/* output left at the last timeout */
	struct evbuffer	*drain_buf;	/* the socket's output, watched */
	struct evbuffer_cb_entry *drain_cb;

	/* a failure found inside mta_session_send, reported by on_defer */
	enum mta_outcome d_outcome;
	enum mta_step	 d_step;
	char		*d_error;
};

static void	 on_read(struct bufferevent *, void *);
static void	 on_event(struct bufferevent *, short, void *);
static void	 enter(struct mta_session *, enum state);

/* --- plumbing ---------------------------------------------------------------- */

static const char *
state_name(const struct mta_session *s)
{
	return s->state == ST_EHLO && s->lmtp ? "lhlo" : states[s->state].name;
}


static void
tx_clear(struct mta_session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->data = NULL;
	s->len = 0;
	s->body_queued = 0;
}

static void
result_clear(struct mta_result *r)
{
	reply_clear(&r->reply);
	free(r->error);
	for (size_t i = 0; i < r->nrcpts; i++) {
		reply_clear(&r->rcpts[i].reply);
		reply_clear(&r->rcpts[i].lmtp);
	}
	free(r->rcpts);
	memset(r, 0, sizeof(*r));
}

static void
unref(struct mta_session *s)
{
	if (--s->refs > 0)
		return;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	event_free(s->defer);
	tx_clear(s);
	result_clear(&s->res);
	free(s->d_error);
	buf_free(&s->out);
	if (s->tls_ctx != NULL)
		SSL_CTX_free(s->tls_ctx);
	free(s->ip);
	free(s->path);
	free(s->bind);
	free(s->helo);
	free(s->tls_name);
	free(s->auth_user);
	free(s->auth_pass);
	free(s->auth_type);
	free(s->uuid);
	free(s->peer);
	free(s);
}

/* Queues a command line; `shown` replaces it in the log (secrets). */
static void __attribute__((format(printf, 3, 4)))
cmd(struct mta_session *s, const char *shown, const char *fmt, ...)
{
	size_t start = s->out.len;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (log_would(LOG_PROTOCOL)) {
		if (shown != NULL)
			log_protocol(SRC, s->uuid, "C: %s", shown);
		else
			log_protocol(SRC, s->uuid, "C: %s", s->out.p + start);
	}
	buf_add(&s->out, "\r\n", 2);
}

/* The queued commands leave in one write. */
static void
flush(struct mta_session *s)
{
	if (s->out.len == 0)
		return;
	bufferevent_write(s->bev, s->out.p, s->out.len);
	buf_reset(&s->out);
}

static void
set_timeouts(struct mta_session *s, int on)
{
	bufferevent_set_timeouts(s->bev, on ? &s->timeout : NULL,
	    on ? &s->timeout : NULL);
}

/* Bytes written but not yet taken by the server: in the TLS filter, the
 * socket's output buffer and the kernel's send queue. */
static size_t
output_pending(const struct mta_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));
	int q = 0;

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
#ifdef SIOCOUTQ
	if (ioctl(bufferevent_getfd(under != NULL ? under : s->bev), SIOCOUTQ,
	    &q) == 0 && q > 0)
		n += (size_t)q;
#endif
	return n;
}

/* The message has left the socket's buffer: from now on, a whole
 * window for the answer (see on_event for the kernel's queue). */
static void
on_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct mta_session *s = arg;

	if (info->n_deleted == 0 || evbuffer_get_length(buf) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;
	s->pending = output_pending(s);
	set_timeouts(s, 1);
}

static void
watch_drain(struct mta_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);

	s->drain_buf = bufferevent_get_output(under != NULL ? under : s->bev);
	s->drain_cb = evbuffer_add_cb(s->drain_buf, on_drained, s);
}

static void
unwatch_drain(struct mta_session *s)
{
	if (s->drain_cb != NULL)
		evbuffer_remove_cb_entry(s->drain_buf, s->drain_cb);
	s->drain_cb = NULL;
	s->drain_buf = NULL;
}

/* --- closing ------------------------------------------------------------------ */

/*
 * A closed connection waiting for the answer to QUIT (or the server's
 * close, or LINGER_MAX), so that the server reads QUIT before our FIN.
 * Lingering connections are owned by this module and listed here; any
 * left when the event loop stops are simply abandoned at exit.
 */
struct mta_linger {
	struct bufferevent	*bev;
	struct mta_linger	*prev, *next;
};

static struct mta_linger *lingering;

static void
linger_end(struct mta_linger *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		lingering = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	bufferevent_free(l->bev);
	free(l);
}

static void
linger_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	/* Answers to what was pipelined, then 221 to QUIT. */
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
		int bye = strncmp(line, "221", 3) == 0 && line[3] != '-';

		free(line);
		if (bye) {
			linger_end(arg);
			return;
		}
	}
	if (evbuffer_get_length(in) > INPUT_MAX)
		linger_end(arg);
}

static void
linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	linger_end(arg);
}

/*
 * Closes the connection: with QUIT, handed to a linger, when quit is set
 * and the output holds no reference to the caller's message; at once
 * otherwise.
 */
static void
drop(struct mta_session *s, int quit)
{
	struct bufferevent *bev = s->bev;
	struct timeval tv = s->timeout;
	struct mta_linger *l;

	s->state = ST_DEAD;
	unwatch_drain(s);
	if (bev == NULL)
		return;
	s->bev = NULL;
	buf_reset(&s->out);
	if (!quit || (s->body_queued &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)) {
		bufferevent_free(bev);
		return;
	}
	log_protocol(SRC, s->uuid, "C: QUIT");
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	if (tv.tv_sec >= LINGER_MAX) {
		tv.tv_sec = LINGER_MAX;
		tv.tv_usec = 0;
	}
	l = xcalloc(1, sizeof(*l));
	l->bev = bev;
	if ((l->next = lingering) != NULL)
		lingering->prev = l;
	lingering = l;
	bufferevent_setcb(bev, linger_read, NULL, linger_event, l);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	bufferevent_write(bev, "QUIT\r\n", 6);
}

/* The transaction is over: report it (done may close the session). */
static void
finish(struct mta_session *s, enum mta_outcome outcome, enum mta_step step,
    struct reply *r, char *error, int quit)
{
	struct mta_result res = s->res;
	mta_done_fn done = s->done;
	void *arg = s->arg;
	const char *at = state_name(s);

	memset(&s->res, 0, sizeof(s->res));
	s->done = NULL;
	unwatch_drain(s);
	res.outcome = outcome;
	res.step = step;
	res.error = error;
	if (r != NULL) {
		res.reply = *r;
		memset(r, 0, sizeof(*r));
	}
	res.secured = s->secured;
	res.authenticated = s->authenticated;
	memcpy(res.local_ip, s->local_ip, sizeof(res.local_ip));
	memcpy(res.remote_ip, s->remote_ip, sizeof(res.remote_ip));
	res.port = s->port;
	if (outcome == MTA_OK && s->bev != NULL && s->state != ST_DEAD &&
	    !(s->body_queued &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)) {
		/* Idle: no timeouts, but an EOF or error is noticed. */
		s->state = ST_IDLE;
		set_timeouts(s, 0);
		bufferevent_enable(s->bev, EV_READ);
	} else
		drop(s, quit);
	tx_clear(s);
	if (outcome != MTA_OK)
		log_debug(SRC, s->uuid, "%s: transaction failed at %s: %s",
		    s->peer, at, error ? error : "reply");
	if (done != NULL) {
		s->refs++;
		done(arg, &res);
		unref(s);	/* s may be gone from here */
	}
	result_clear(&res);
}

/* A reply that ends the transaction (MTA_REPLY): QUIT and close. */
static void
fail_reply(struct mta_session *s, struct reply *r, enum mta_step step)
{
	finish(s, MTA_REPLY, step, r, NULL, 1);
}

static void
fail_io(struct mta_session *s, enum mta_step step, char *error)
{
	finish(s, MTA_IO, step, NULL, error, 0);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct mta_session *s = arg;
	char *error = s->d_error;

	(void)fd;
	(void)what;
	s->d_error = NULL;
	s->refs++;
	finish(s, s->d_outcome, s->d_step, NULL, error, 0);
	unref(s);
}

/* A failure inside mta_session_send: reported from the loop. */
static void
defer_fail(struct mta_session *s, enum mta_outcome outcome,
    enum mta_step step, char *error)
{
	s->d_outcome = outcome;
	s->d_step = step;
	free(s->d_error);
	s->d_error = error;
	event_active(s->defer, EV_TIMEOUT, 1);
}

/* --- connecting ---------------------------------------------------------------- */

static void
fill_addresses(struct mta_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = bufferevent_getfd(s->bev);

	s->local_ip[0] = s->remote_ip[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family != AF_UNIX)
		getnameinfo((struct sockaddr *)&ss, len, s->local_ip,
		    sizeof(s->local_ip), NULL, 0, NI_NUMERICHOST);
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family != AF_UNIX)
		getnameinfo((struct sockaddr *)&ss, len, s->remote_ip,
		    sizeof(s->remote_ip), NULL, 0, NI_NUMERICHOST);
}

static int
numeric_addr(const char *host, int family, struct addrinfo **ai)
{
	struct addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	return getaddrinfo(host, "0", &hints, ai);
}

/* Starts a non-blocking connect; NULL or the error. */
static char *
connect_start(struct mta_session *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	struct addrinfo *ai = NULL, *bai = NULL;
	socklen_t sslen;
	char *err = NULL;
	int fd = -1, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (s->path != NULL) {
		if (strlen(s->path) >= sizeof(sun->sun_path)) {
			err = xasprintf("connect to %s: path too long", s->peer);
			goto fail;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s->path, strlen(s->path) + 1);
		sslen = sizeof(*sun);
	} else {
		if (s->ip == NULL || numeric_addr(s->ip, AF_UNSPEC, &ai) != 0) {
			err = xasprintf("connect to %s: not an IP address",
			    s->peer);
			goto fail;
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sslen = ai->ai_addrlen;
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)s->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)s->port);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		err = xasprintf("connect to %s: %s", s->peer, strerror(errno));
		goto fail;
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->bind != NULL && ss.ss_family != AF_UNIX) {
		if (numeric_addr(s->bind, ss.ss_family, &bai) != 0) {
			err = xasprintf("bind to %s: not an address of the "
			    "family of %s", s->bind, s->peer);
			goto fail;
		}
		if (bind(fd, bai->ai_addr, bai->ai_addrlen) == -1) {
			err = xasprintf("bind to %s: %s", s->bind,
			    strerror(errno));
			goto fail;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, sslen) == -1 &&
	    errno != EINPROGRESS) {
		err = xasprintf("connect to %s: %s", s->peer, strerror(errno));
		goto fail;
	}
	if ((s->bev = bufferevent_socket_new(s->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		err = xasprintf("connect to %s: cannot make a bufferevent",
		    s->peer);
		goto fail;
	}
	fd = -1;
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	set_timeouts(s, 1);	/* the write timeout covers the connect */
	s->state = ST_CONNECT;
	/* Already connecting: libevent waits for it to finish. */
	if (bufferevent_socket_connect(s->bev, NULL, 0) == -1) {
		err = xasprintf("connect to %s: %s", s->peer, strerror(errno));
		bufferevent_free(s->bev);
		s->bev = NULL;
		goto fail;
	}
	log_debug(SRC, s->uuid, "connecting to %s", s->peer);
fail:
	if (fd != -1)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (bai != NULL)
		freeaddrinfo(bai);
	if (err != NULL)
		s->state = ST_DEAD;
	return err;
}

/* --- TLS ------------------------------------------------------------------------ */

static int
is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static char *
tls_errors(struct bufferevent *bev, int err)
{
	struct buf b = BUF_INIT;
	unsigned long e;
	char one[256];

	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue;	/* libevent's own bookkeeping */
		ERR_error_string_n(e, one, sizeof(one));
		buf_printf(&b, "%s%s", b.len ? "; " : "", one);
	}
	if (b.len == 0)
		buf_adds(&b, err != 0 ? strerror(err) :
		    "connection closed during the handshake");
	return buf_release(&b);
}

/* After 220 to STARTTLS: stack the OpenSSL filter and shake hands. */
static void
tls_start(struct mta_session *s)
{
	const char *name = s->tls_name;
	struct bufferevent *tls;
	SSL *ssl;

	/* RFC 3207 4.2: nothing the server sent before the handshake counts. */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	if ((ssl = SSL_new(s->tls_ctx)) == NULL) {
		ERR_clear_error();
		fail_io(s, MTA_TLS_HANDSHAKE, xasprintf("TLS with %s: cannot "
		    "create a TLS session", s->peer));
		return;
	}
	if (name != NULL && !is_ip(name))
		SSL_set_tlsext_host_name(ssl, name);
	if (s->tls == MTA_TLS_MUST) {
		/* Without a name, the address must be in the certificate. */
		if (name == NULL)
			name = s->ip;
		if (name != NULL && is_ip(name))
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
		else if (name != NULL)
			SSL_set1_host(ssl, name);
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	/* Timeouts belong to the top of the stack only: one firing below
	 * would disable reading where enabling the filter cannot undo it. */
	set_timeouts(s, 0);
	tls = bufferevent_openssl_filter_new(s->base, s->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		/* The filter freed the SSL; the plain connection stays ours. */
		fail_io(s, MTA_TLS_HANDSHAKE, xasprintf("TLS with %s: cannot "
		    "create a TLS stream", s->peer));
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	s->state = ST_HANDSHAKE;
	bufferevent_setcb(tls, on_read, NULL, on_event, s);
	set_timeouts(s, 1);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void
tls_established(struct mta_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	X509 *cert = SSL_get_peer_certificate(ssl);
	long v = SSL_get_verify_result(ssl);

	if (s->tls == MTA_TLS_MUST && (cert == NULL || v != X509_V_OK)) {
		X509_free(cert);
		finish(s, MTA_TLS_UNVERIFIED, MTA_TLS_HANDSHAKE, NULL,
		    xasprintf("TLS certificate of %s failed verification: %s",
		    s->peer, cert == NULL ? "no certificate" :
		    X509_verify_cert_error_string(v)), 0);
		return;
	}
	X509_free(cert);
	log_info(SRC, s->uuid, "secured: %s %s verified=%s to %s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl),
	    v == X509_V_OK ? "yes" : "no", s->peer);
	s->secured = 1;
	s->caps = s->mechs = 0;		/* RFC 3207 4.2: ask again */
	s->size_max = 0;
	enter(s, ST_EHLO);
}

static void
tls_failed(struct mta_session *s, int err)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char *why;

	if (s->tls == MTA_TLS_MUST && v != X509_V_OK) {
		while (bufferevent_get_openssl_error(s->bev) != 0)
			;
		finish(s, MTA_TLS_UNVERIFIED, MTA_TLS_HANDSHAKE, NULL,
		    xasprintf("TLS certificate of %s failed verification: %s",
		    s->peer, X509_verify_cert_error_string(v)), 0);
		return;
	}
	why = tls_errors(s->bev, err);
	fail_io(s, MTA_TLS_HANDSHAKE, xasprintf("TLS handshake with %s "
	    "failed: %s", s->peer, why));
	free(why);
}

/* --- AUTH ----------------------------------------------------------------------- */

static void
read_mechs(struct mta_session *s, const char *arg)
{
	while (*arg) {
		size_t n = strcspn(arg, " \t");

		for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
			if (strlen(mechs[i].name) == n &&
			    strncasecmp(arg, mechs[i].name, n) == 0)
				s->mechs |= mechs[i].bit;
		arg += n;
		arg += strspn(arg, " \t");
	}
}

/* auth_type when it is offered, else the first offered we know. */
static unsigned
pick_mech(struct mta_session *s)
{
	size_t i, n = sizeof(mechs) / sizeof(mechs[0]);

	if (s->auth_type != NULL) {
		for (i = 0; i < n; i++)
			if (strcasecmp(s->auth_type, mechs[i].name) == 0 &&
			    (s->mechs & mechs[i].bit))
				return mechs[i].bit;
		log_warn(SRC, s->uuid, "AUTH type %s configured but not "
		    "offered by %s; trying another", s->auth_type, s->peer);
	}
	for (i = 0; i < n; i++)
		if (s->mechs & mechs[i].bit)
			return mechs[i].bit;
	return 0;
}

static void
send_b64(struct mta_session *s, const char *shown, const void *p, size_t len)
{
	struct buf b = BUF_INIT;

	base64_encode(&b, p, len);
	cmd(s, shown, "%s", buf_cstr(&b));
	buf_free(&b);
}

static void
send_plain(struct mta_session *s, const char *prefix)
{
	struct buf raw = BUF_INIT, b = BUF_INIT;

	buf_addc(&raw, '\0');
	buf_adds(&raw, s->auth_user);
	buf_addc(&raw, '\0');
	buf_adds(&raw, s->auth_pass);
	base64_encode(&b, raw.p, raw.len);
	if (prefix != NULL)
		cmd(s, "AUTH PLAIN ****", "%s%s", prefix, buf_cstr(&b));
	else
		cmd(s, "****", "%s", buf_cstr(&b));
	OPENSSL_cleanse(raw.p, raw.len);
	buf_free(&raw);
	buf_free(&b);
}

/* The challenge of a 334, decoded; -1 when it is not base64. */
static int
challenge(const struct reply *r, struct buf *out)
{
	const char *t = r->nlines > 0 ? r->lines[r->nlines - 1] : "";
	size_t len = strlen(t);

	while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	if (base64_decode(out, t, len) == -1)
		return -1;
	buf_addc(out, '\0');
	out->len--;
	return 0;
}

/* Answers a 334; -1 when the exchange cannot go on. */
static int
auth_answer(struct mta_session *s, const struct reply *r)
{
	struct buf ch = BUF_INIT, b = BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rv = -1;

	s->auth_round++;
	if (challenge(r, &ch) == -1)
		goto done;
	switch (s->mech) {
	case MECH_PLAIN:
		/* The server ignored the initial response: once more. */
		if (s->auth_round > 1)
			goto done;
		send_plain(s, NULL);
		break;
	case MECH_LOGIN:
		if (s->auth_round > 2)
			goto done;
		if (strcasecmp(ch.p, "Username:") == 0 ||
		    (strcasecmp(ch.p, "Password:") != 0 && s->auth_round == 1))
			send_b64(s, "****", s->auth_user, strlen(s->auth_user));
		else
			send_b64(s, "****", s->auth_pass, strlen(s->auth_pass));
		break;
	case MECH_CRAM:
		if (s->auth_round > 1 ||
		    HMAC(EVP_md5(), s->auth_pass, (int)strlen(s->auth_pass),
		    (const unsigned char *)ch.p, ch.len, md, &mdlen) == NULL)
			goto done;
		buf_printf(&b, "%s ", s->auth_user);
		for (unsigned i = 0; i < mdlen; i++)
			buf_printf(&b, "%02x", md[i]);
		send_b64(s, "****", b.p, b.len);
		break;
	}
	flush(s);
	rv = 0;
done:
	buf_free(&ch);
	buf_free(&b);
	return rv;
}

/* --- the conversation ------------------------------------------------------------ */

/* The body, dot-stuffed, and the final dot: one addition to the output,
 * the message itself by reference. */
static void
send_body(struct mta_session *s)
{
	struct evbuffer *eb = evbuffer_new();
	const char *p = s->data, *end = s->data + s->len, *dot;

	if (s->len > 0 && p[0] == '.')
		evbuffer_add(eb, ".", 1);
	while ((dot = memmem(p, (size_t)(end - p), "\n.", 2)) != NULL) {
		evbuffer_add_reference(eb, p, (size_t)(dot + 1 - p), NULL, NULL);
		evbuffer_add(eb, ".", 1);
		p = dot + 1;
	}
	if (end > p)
		evbuffer_add_reference(eb, p, (size_t)(end - p), NULL, NULL);
	if (s->len > 0 && (s->len < 2 || end[-2] != '\r' || end[-1] != '\n'))
		evbuffer_add(eb, "\r\n", 2);
	evbuffer_add(eb, ".\r\n", 3);
	log_protocol(SRC, s->uuid, "C: (message, %zu bytes)", s->len);
	log_protocol(SRC, s->uuid, "C: .");
	s->body_queued = 1;
	s->pending = SIZE_MAX;
	watch_drain(s);
	evbuffer_add_buffer(bufferevent_get_output(s->bev), eb);
	evbuffer_free(eb);
}

/* Sends what the new state asks for. */
static void
enter(struct mta_session *s, enum state st)
{
	int pipelining = (s->caps & CAP_PIPELINING) != 0;

	s->state = st;
	switch (st) {
	case ST_EHLO:
		cmd(s, NULL, "%s %s", s->lmtp ? "LHLO" : "EHLO", s->helo);
		break;
	case ST_HELO:
		cmd(s, NULL, "HELO %s", s->helo);
		break;
	case ST_STARTTLS:
		cmd(s, NULL, "STARTTLS");
		break;
	case ST_AUTH:
		s->auth_round = 0;
		if (s->mech == MECH_PLAIN)
			send_plain(s, "AUTH PLAIN ");
		else
			cmd(s, NULL, "AUTH %s", s->mech == MECH_CRAM ?
			    "CRAM-MD5" : "LOGIN");
		break;
	case ST_RSET:
		set_timeouts(s, 1);
		cmd(s, NULL, "RSET");
		break;
	case ST_MAIL:
		s->count++;
		s->rcpt_i = s->nok = s->lmtp_i = 0;
		s->pending = 0;
		buf_printf(&s->out, "MAIL FROM:<%s>", s->mail_from);
		if (s->caps & CAP_SIZE)
			buf_printf(&s->out, " SIZE=%zu", s->len);
		if (s->eightbit && (s->caps & CAP_8BITMIME))
			buf_adds(&s->out, " BODY=8BITMIME");
		/* Not offered: sent without, and the server may refuse;
		 * downgrading the message is the caller's concern. */
		if (s->smtputf8 && (s->caps & CAP_SMTPUTF8))
			buf_adds(&s->out, " SMTPUTF8");
		log_protocol(SRC, s->uuid, "C: %s", s->out.p);
		buf_add(&s->out, "\r\n", 2);
		if (pipelining) {
			/* RFC 2920: the whole group in one write. */
			for (size_t i = 0; i < s->nrcpts; i++)
				cmd(s, NULL, "RCPT TO:<%s>", s->rcpts[i]);
			cmd(s, NULL, "DATA");
		}
		break;
	case ST_RCPT:
		if (!pipelining)
			cmd(s, NULL, "RCPT TO:<%s>", s->rcpts[s->rcpt_i]);
		break;
	case ST_DATA:
		if (!pipelining)
			cmd(s, NULL, "DATA");
		break;
	case ST_DOT:
		send_body(s);
		break;
	case ST_DOT_IGNORED:
		/* RFC 2920 3.1: DATA was accepted with no recipient; end it. */
		cmd(s, NULL, ".");
		break;
	default:
		break;
	}
	flush(s);
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
		finish(s, MTA_OK, MTA_RCPT, NULL, NULL, 0);
}

static void
start_mail(struct mta_session *s)
{
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
			finish(s, MTA_TLS_UNAVAILABLE, MTA_EHLO, NULL,
			    s->tls_ctx == NULL ? xasprintf("TLS required for "
			    "%s but no TLS client context", s->peer) :
			    xasprintf("TLS required but %s does not offer "
			    "STARTTLS", s->peer), 1);
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
		read_mechs(s, arg);
	}
}

/* The next recipient the LMTP server answers for (one whose RCPT was
 * accepted), from lmtp_i; nrcpts when none is left. */
static size_t
next_lmtp(const struct mta_session *s, size_t i)
{
	while (i < s->res.nrcpts && s->res.rcpts[i].reply.code / 100 != 2)
		i++;
	return i;
}

static void
on_reply(struct mta_session *s, struct reply *r)
{
	int c = r->code / 100;
	size_t i;

	/* 3xx means "go on" only to DATA and AUTH. */
	if (c == 3 && s->state != ST_DATA && s->state != ST_AUTH &&
	    s->state != ST_RSET && s->state != ST_DOT_IGNORED &&
	    s->state != ST_IDLE) {
		fail_reply(s, r, states[s->state].step);
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

			finish(s, MTA_TLS_UNAVAILABLE, MTA_EHLO, NULL,
			    xasprintf("TLS required but %s refused EHLO: %s",
			    s->peer, why), 1);
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

			finish(s, MTA_IO, MTA_RSET, r, xasprintf("RSET "
			    "refused by %s: %s", s->peer, why), 1);
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
		i = s->rcpt_i++;
		if (c == 2)
			s->nok++;
		s->res.rcpts[i].reply = *r;
		memset(r, 0, sizeof(*r));
		next_rcpt(s);
		break;
	case ST_DATA:
		if (c == 3 && s->nok == 0 && s->lmtp) {
			/* RFC 2033 4.2 forbids this, and no reply would
			 * follow the dot: give up the connection. */
			drop(s, 0);
			finish(s, MTA_OK, MTA_DATA, NULL, NULL, 0);
		} else if (c == 3)
			enter(s, s->nok > 0 ? ST_DOT : ST_DOT_IGNORED);
		else if (s->nok == 0 && c >= 4)
			finish(s, MTA_OK, MTA_DATA, NULL, NULL, 0);
		else
			fail_reply(s, r, MTA_DATA);
		break;
	case ST_DOT:
		if (!s->lmtp) {
			if (c == 2)
				finish(s, MTA_OK, MTA_DONE, r, NULL, 0);
			else
				fail_reply(s, r, MTA_DOT);
			break;
		}
		i = next_lmtp(s, s->lmtp_i);
		if (i < s->res.nrcpts) {
			s->res.rcpts[i].lmtp = *r;
			memset(r, 0, sizeof(*r));
			s->lmtp_i = i + 1;
		}
		if (next_lmtp(s, s->lmtp_i) >= s->res.nrcpts)
			finish(s, MTA_OK, MTA_DONE, NULL, NULL, 0);
		break;
	case ST_DOT_IGNORED:
		finish(s, MTA_OK, MTA_DATA, NULL, NULL, 0);
		break;
	case ST_IDLE:
		/* Typically 421 before a close: this connection is done. */
		log_debug(SRC, s->uuid, "%s spoke while idle; closing",
		    s->peer);
		drop(s, 0);
		break;
	default:
		break;
	}
}

static void
log_lines(struct mta_session *s, const char *p, size_t len)
{
	const char *end = p + len, *nl;

	if (!log_would(LOG_PROTOCOL))
		return;
	for (; p < end; p = nl + 1) {
		size_t n;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		log_protocol(SRC, s->uuid, "S: %.*s", (int)n, p);
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;

	s->refs++;
	while (s->bev == bev && s->state != ST_DEAD) {
		struct evbuffer *in = bufferevent_get_input(bev);
		size_t len = evbuffer_get_length(in), used = 0;
		struct reply r;
		char *bad = NULL;
		const char *p;
		int rv;

		if (len == 0)
			break;
		memset(&r, 0, sizeof(r));
		p = (const char *)evbuffer_pullup(in, -1);
		rv = reply_parse(p, len, &r, &used, &bad);
		if (rv == 0 && len > INPUT_MAX) {
			bad = xstrndup(p, 200);
			rv = -1;
		}
		if (rv == 0)
			break;
		if (rv == -1) {
			log_protocol(SRC, s->uuid, "S: %s", bad ? bad : "");
			if (s->state == ST_IDLE)
				drop(s, 0);
			else
				finish(s, MTA_BAD_REPLY, states[s->state].step,
				    NULL, xasprintf("Unrecognized response "
				    "from upstream server: %s", bad ? bad : ""),
				    0);
			free(bad);
			break;
		}
		log_lines(s, p, used);
		evbuffer_drain(in, used);
		on_reply(s, &r);
		reply_clear(&r);
	}
	unref(s);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session *s = arg;
	int err = errno;
	const char *name = state_name(s);

	(void)bev;
	s->refs++;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == ST_HANDSHAKE)
			tls_established(s);
		else {
			fill_addresses(s);
			log_debug(SRC, s->uuid, "connected to %s from %s",
			    s->peer, s->local_ip);
			s->state = ST_GREETING;
			bufferevent_enable(s->bev, EV_READ);
		}
	} else if (s->state == ST_IDLE) {
		log_debug(SRC, s->uuid, "%s closed the idle connection",
		    s->peer);
		drop(s, 0);
	} else if (s->state == ST_DOT_IGNORED) {
		drop(s, 0);	/* the answer did not matter; not idle */
		finish(s, MTA_OK, MTA_DATA, NULL, NULL, 0);
	} else if (what & BEV_EVENT_TIMEOUT) {
		size_t pending = output_pending(s);

		if (s->state == ST_CONNECT)
			fail_io(s, MTA_CONNECT, xasprintf("connection timed "
			    "out to %s", s->peer));
		else if (pending > 0 && pending < s->pending) {
			/* The message is still leaving: not idle. */
			s->pending = pending;
			bufferevent_enable(s->bev, (what & BEV_EVENT_READING) ?
			    EV_READ : EV_WRITE);
			set_timeouts(s, 1);	/* both windows start again */
		} else
			fail_io(s, states[s->state].step, xasprintf("socket "
			    "timeout waiting on %s", name));
	} else if (s->state == ST_CONNECT)
		fail_io(s, MTA_CONNECT, xasprintf("connect to %s: %s",
		    s->peer, strerror(err)));
	else if (s->state == ST_HANDSHAKE)
		tls_failed(s, (what & BEV_EVENT_ERROR) ? err : 0);
	else if (what & BEV_EVENT_EOF)
		fail_io(s, states[s->state].step, xasprintf("remote end "
		    "closed connection while waiting on %s", name));
	else {
		char *why = s->secured ? tls_errors(s->bev, err) :
		    xstrdup(strerror(err));

		fail_io(s, states[s->state].step, xasprintf("connection to "
		    "%s failed waiting on %s: %s", s->peer, name, why));
		free(why);
	}
	unref(s);
}

/* --- API ---------------------------------------------------------------------- */

struct mta_session *
mta_session_new(struct event_base *base, const struct mta_conf *conf)
{
	struct mta_session *s = xcalloc(1, sizeof(*s));
	double t = conf->timeout > 0 ? conf->timeout : 30;

	s->refs = 1;
	s->base = base;
	s->ip = xstrdup_null(conf->ip);
	s->path = xstrdup_null(conf->path);
	s->bind = conf->bind != NULL && *conf->bind ? xstrdup(conf->bind) :
	    NULL;
	s->helo = xstrdup(conf->helo != NULL ? conf->helo : "localhost");
	s->tls_name = conf->tls_name != NULL && *conf->tls_name ?
	    xstrdup(conf->tls_name) : NULL;
	if (conf->auth_user != NULL && conf->auth_pass != NULL) {
		s->auth_user = xstrdup(conf->auth_user);
		s->auth_pass = xstrdup(conf->auth_pass);
	}
	s->auth_type = conf->auth_type != NULL && *conf->auth_type ?
	    xstrdup(conf->auth_type) : NULL;
	s->uuid = xstrdup_null(conf->log_uuid);
	s->port = conf->port;
	s->lmtp = conf->lmtp;
	s->tls = conf->tls;
	if ((s->tls_ctx = conf->tls_ctx) != NULL)
		SSL_CTX_up_ref(s->tls_ctx);
	s->timeout.tv_sec = (time_t)t;
	s->timeout.tv_usec = (suseconds_t)((t - (double)(time_t)t) * 1e6);
	if (s->path != NULL)
		s->peer = xstrdup(s->path);
	else if (s->ip != NULL && strchr(s->ip, ':') != NULL)
		s->peer = xasprintf("[%s]:%u", s->ip, s->port);
	else
		s->peer = xasprintf("%s:%u", s->ip ? s->ip : "?", s->port);
	s->defer = evtimer_new(base, on_defer, s);
	s->state = ST_NEW;
	return s;
}

void
mta_session_send(struct mta_session *s, const struct mta_msg *msg,
    mta_done_fn done, void *arg)
{
	char *err;

	if (s->done != NULL || s->closed) {
		log_crit(SRC, s->uuid, "mta_session_send: %s", s->closed ?
		    "session closed" : "a transaction is running");
		abort();
	}
	s->done = done;
	s->arg = arg;
	s->mail_from = xstrdup(msg->mail_from != NULL ? msg->mail_from : "");
	s->nrcpts = msg->nrcpts;
	s->rcpts = xcalloc(msg->nrcpts ? msg->nrcpts : 1, sizeof(*s->rcpts));
	for (size_t i = 0; i < msg->nrcpts; i++)
		s->rcpts[i] = xstrdup(msg->rcpts[i]);
	s->data = msg->data != NULL ? msg->data : "";
	s->len = msg->data != NULL ? msg->len : 0;
	s->smtputf8 = msg->smtputf8;
	s->eightbit = msg->eightbit;
	s->res.rcpts = xcalloc(msg->nrcpts ? msg->nrcpts : 1,
	    sizeof(*s->res.rcpts));
	s->res.nrcpts = msg->nrcpts;
	switch (s->state) {
	case ST_NEW:
		if ((err = connect_start(s)) != NULL)
			defer_fail(s, MTA_IO, MTA_CONNECT, err);
		break;
	case ST_IDLE:
		enter(s, ST_RSET);
		break;
	default:
		defer_fail(s, MTA_IO, MTA_RSET, xasprintf("connection to %s "
		    "is closed", s->peer));
		break;
	}
}

int
mta_session_idle(const struct mta_session *s)
{
	return s->state == ST_IDLE && s->bev != NULL && !s->closed;
}

unsigned
mta_session_count(const struct mta_session *s)
{
	return s->count;
}

void
mta_session_close(struct mta_session *s)
{
	if (s->closed)
		return;
	s->closed = 1;
	if (s->done != NULL) {
		/* Misuse (see the header): the transaction is abandoned. */
		s->done = NULL;
		event_del(s->defer);
		drop(s, 0);
	} else
		drop(s, s->state == ST_IDLE);
	unref(s);
}
