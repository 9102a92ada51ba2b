/*
 * smtp_session: one inbound connection. A state machine over a libevent
 * bufferevent (an OpenSSL filter is stacked on it after STARTTLS): input
 * is consumed command by command, so pipelined groups are answered in
 * order and the replies of one read leave in one write. Work that waits
 * (the queue_outbound hook, the durable commit, an AUTH failure delay)
 * parks the session in S_WAIT with input paused, and resumes it.
 *
 * The transaction (struct smtp_tx, queue/submit.h: MAIL .. commit) is
 * separate from the connection facts; the DATA reader is smtp/data.c. The session is reference counted: the loop callbacks
 * and a pending hook each hold a reference, so it is never freed under a
 * caller (session_unref frees it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "plugins/plugin.h"
#include "queue/queue.h"
#include "queue/submit.h"
#include "proto/smtp_parse.h"
#include "smtp/session.h"
#include "smtp/session_priv.h"
#include "smtp/data.h"

#define OUT_HIGH	(256 * 1024)	/* stop reading while replies pile up */
#define AUTH_LINE_MAX	12288		/* RFC 4954 4 */

static const char *const state_names[] = {
	"helo", "idle", "mail", "rcpt", "data", "auth", "tls", "wait",
	"closing"
};

static void	 process(struct smtp_session *);
static void	 end(struct smtp_session *);
static void	 on_flush(evutil_socket_t, short, void *);
static void	 session_unref(struct smtp_session *);
static void	 set_callbacks(struct smtp_session *);

/* --- plumbing ---------------------------------------------------------------- */

void
session_enter(struct smtp_session *s, enum state new)
{
	if (s->state != new)
		log_protocol("core", s->uuid, "state %s -> %s",
		    state_names[s->state], state_names[new]);
	s->state = new;
}

/* A socket without TLS (no filter stacked on it). */
static int
plain(const struct smtp_session *s)
{
	return bufferevent_get_underlying(s->bev) == NULL;
}

void
session_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	if (log_would(LOG_PROTOCOL)) {
		va_list aq;
		char *line;

		va_copy(aq, ap);
		line = xvasprintf(fmt, aq);
		va_end(aq);
		log_protocol("core", s->uuid, "S: %s", line);
		free(line);
	}
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (plain(s))
		event_active(s->flush, EV_WRITE, 0);
}

/* Ends the session once the pending output is written. */
void
session_close(struct smtp_session *s)
{
	session_enter(s, S_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (plain(s))
		event_active(s->flush, EV_WRITE, 0);
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

/*
 * Plain sockets: the replies of one loop pass are written here, directly,
 * and EV_WRITE is enabled only while the kernel does not take them all —
 * no epoll_ctl per reply. Under TLS the OpenSSL filter writes.
 */
static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct evbuffer *out;

	(void)fd;
	(void)what;
	if (!plain(s))
		return;
	out = bufferevent_get_output(s->bev);
	if (evbuffer_get_length(out) > 0) {
		int n;

		/* A socket bufferevent keeps its output's start frozen
		 * except while it writes itself. */
		evbuffer_unfreeze(out, 1);
		errno = 0;
		n = evbuffer_write(out, bufferevent_getfd(s->bev));
		evbuffer_freeze(out, 1);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			end(s);		/* the peer is gone */
			return;
		}
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(s->bev, EV_WRITE);
	else if (s->state == S_CLOSING)
		end(s);
}

static void
end(struct smtp_session *s)
{
	if (s->ended)
		return;
	s->ended = 1;
	log_info("core", s->uuid, "disconnect ip=%s transactions=%u", s->ip,
	    s->txns);
	if (s->tx != NULL && !s->hook_pending) {
		tx_free(s->tx);
		s->tx = NULL;
	}
	data_clear(&s->data);
	if (s->delay != NULL) {
		event_free(s->delay);
		s->delay = NULL;
	}
	event_free(s->flush);
	bufferevent_free(s->bev);
	s->bev = NULL;
	s->ctx.ended(s->ctx.conn);
	session_unref(s);
}

static void
session_unref(struct smtp_session *s)
{
	if (--s->refs > 0)
		return;
	free(s->helo);
	free(s->auth_user);
	free(s->sasl_user);
	free(s->challenge);
	config_unref(s->ctx.cfg);
	free(s);
}

/* Parks the session: no input is read until session_resume(). */
void
session_wait(struct smtp_session *s)
{
	session_enter(s, S_WAIT);
	bufferevent_disable(s->bev, EV_READ);
}

void
session_resume(struct smtp_session *s, enum state st)
{
	if (s->ended)
		return;
	if (s->draining && st != S_CLOSING && st != S_TLS) {
		session_reply(s, "421 4.3.2 %s Service shutting down", session_core(s)->me);
		session_close(s);
		return;
	}
	session_enter(s, st);
	bufferevent_enable(s->bev, EV_READ);
	s->refs++;
	process(s);
	session_unref(s);
}

static void
tx_reset(struct smtp_session *s)
{
	if (s->tx != NULL) {
		tx_free(s->tx);
		s->tx = NULL;
	}
}

/* RFC 3207 4.2 / 5321 4.1.4: forget what the client said. */
static void
forget_client(struct smtp_session *s)
{
	tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
}

/* --- commands --------------------------------------------------------------- */

static void
cmd_helo(struct smtp_session *s, struct slice arg, int esmtp)
{
	struct slice name = slice_trim(arg);
	const struct reception *r = reception_get();
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < name.len; i++)
		if (name.p[i] == ' ' || name.p[i] == '\t')
			name.len = i;
	if (name.len == 0) {
		session_reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" :
		    "HELO");
		return;
	}
	forget_client(s);
	s->helo = xstrndup(name.p, name.len);
	s->esmtp = esmtp;
	session_enter(s, S_IDLE);
	if (!esmtp) {
		session_reply(s, "250 %s Hello %s [%s]", session_core(s)->me, s->helo, s->ip);
		return;
	}
	buf_printf(&b, "250-%s Hello %s [%s]\r\n", session_core(s)->me, s->helo,
	    s->ip);
	buf_adds(&b, "250-PIPELINING\r\n250-8BITMIME\r\n");
	if (session_core(s)->smtputf8)
		buf_adds(&b, "250-SMTPUTF8\r\n");
	buf_printf(&b, "250-SIZE %zu\r\n", session_core(s)->max_bytes);
	if (r->tls != NULL && !s->tls)
		buf_adds(&b, "250-STARTTLS\r\n");
	if (auth_offered(s, AUTH_PLAIN | AUTH_LOGIN | AUTH_CRAM_MD5)) {
		buf_adds(&b, "250-AUTH");
		if (auth_offered(s, AUTH_PLAIN))
			buf_adds(&b, " PLAIN");
		if (auth_offered(s, AUTH_LOGIN))
			buf_adds(&b, " LOGIN");
		if (auth_offered(s, AUTH_CRAM_MD5))
			buf_adds(&b, " CRAM-MD5");
		buf_adds(&b, "\r\n");
	}
	buf_adds(&b, "250 ENHANCEDSTATUSCODES");
	session_reply(s, "%s", b.p);
	buf_free(&b);
}

static const char *
perr_reply(enum smtp_perr e, int sender)
{
	switch (e) {
	case SMTP_P_TOO_LONG:
		return sender ? "501 5.1.7 Sender address too long" :
		    "501 5.1.3 Recipient address too long";
	case SMTP_P_UTF8:
		return "553 5.6.7 Non-ASCII address needs SMTPUTF8";
	case SMTP_P_TOO_MANY:
		return "501 5.5.4 Too many parameters";
	default:
		return sender ? "501 5.1.7 Bad sender address syntax" :
		    "501 5.1.3 Bad recipient address syntax";
	}
}

/* MAIL/RCPT: the path and its parameters; on a syntax error the reply is
 * sent and -1 returned. */
static int
parse_path(struct smtp_session *s, struct slice arg, int sender, int utf8,
    struct smtp_addr *a, struct smtp_param *p, size_t *n)
{
	struct slice params;
	const char *why;
	enum smtp_perr e;

	if ((e = smtp_parse_mail_rcpt(arg, sender ? "FROM" : "TO", utf8, a,
	    &params, &why)) != SMTP_P_OK) {
		session_reply(s, "%s", perr_reply(e, sender));
		return -1;
	}
	if ((e = smtp_parse_params(params, utf8, p, n, &why)) != SMTP_P_OK) {
		session_reply(s, "%s", e == SMTP_P_TOO_MANY ?
		    perr_reply(e, sender) : "501 5.5.4 Bad parameter syntax");
		return -1;
	}
	return 0;
}

static void
cmd_mail(struct smtp_session *s, struct slice arg)
{
	struct smtp_param p[SMTP_PARAMS_MAX];
	struct smtp_addr a;
	unsigned flags = 0;
	size_t n, size = 0;

	if (parse_path(s, arg, 1, s->esmtp && session_core(s)->smtputf8, &a,
	    p, &n) != 0)
		return;
	if (n > 0 && !s->esmtp) {
		session_reply(s, "555 5.5.4 Parameters need EHLO");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct slice v = p[i].value;

		if (slice_caseeq(p[i].key, "SIZE") && v.p != NULL &&
		    v.len > 0 && v.len < 19 &&
		    strspn(v.p, "0123456789") >= v.len) {
			size = strtoull(v.p, NULL, 10);
		} else if (slice_caseeq(p[i].key, "BODY") && v.p != NULL &&
		    (slice_caseeq(v, "7BIT") || slice_caseeq(v, "8BITMIME"))) {
			if (slice_caseeq(v, "8BITMIME"))
				flags |= QE_8BITMIME;
		} else if (slice_caseeq(p[i].key, "SMTPUTF8") && v.p == NULL &&
		    session_core(s)->smtputf8) {
			flags |= QE_SMTPUTF8;
		} else if (slice_caseeq(p[i].key, "AUTH") && v.p != NULL) {
			/* RFC 4954 5: accepted, not relied upon. */
		} else {
			session_reply(s, "555 5.5.4 Unsupported parameter %.*s",
			    (int)p[i].key.len, p[i].key.p);
			return;
		}
	}
	if (a.utf8 && !(flags & QE_SMTPUTF8)) {
		session_reply(s, "%s", perr_reply(SMTP_P_UTF8, 1));
		return;
	}
	if (session_core(s)->max_bytes && size > session_core(s)->max_bytes) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed maximum message "
		    "size (%zu bytes)", session_core(s)->max_bytes);
		return;
	}
	s->tx = tx_new(s->uuid, ++s->txns, &a, flags);
	session_enter(s, S_MAIL);
	session_reply(s, "250 2.1.0 Sender <%s> OK", tx_mail_from(s->tx));
}

static void
cmd_rcpt(struct smtp_session *s, struct slice arg)
{
	struct smtp_param p[SMTP_PARAMS_MAX];
	struct smtp_addr a;
	size_t n;

	if (parse_path(s, arg, 0, tx_flags(s->tx) & QE_SMTPUTF8, &a, p,
	    &n) != 0)
		return;
	if (n > 0) {
		session_reply(s, "555 5.5.4 Unsupported parameter %.*s",
		    (int)p[0].key.len, p[0].key.p);
		return;
	}
	if (a.domain[0] == '\0') {
		session_reply(s, "550 5.1.3 <%s>: a recipient needs a domain", a.local);
		return;
	}
	if (!s->relaying) {
		log_info("core", s->uuid, "relaying denied ip=%s rcpt=%s@%s",
		    s->ip, a.local, a.domain);
		session_reply(s, "550 5.7.1 Relaying denied");
		return;
	}
	if (tx_rcpt_count(s->tx) >= session_core(s)->max_recipients) {
		session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	tx_add_rcpt(s->tx, &a);
	session_enter(s, S_RCPT);
	session_reply(s, "250 2.1.5 Recipient <%s@%s> OK", a.local, a.domain);
}

static void
cmd_data(struct smtp_session *s, struct slice arg)
{
	if (arg.len) {
		session_reply(s, "501 5.5.4 DATA takes no parameters");
		return;
	}
	data_begin(&s->data, session_core(s)->max_bytes,
	    session_core(s)->max_data_line_length);
	session_enter(s, S_DATA);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_starttls(struct smtp_session *s, struct slice arg)
{
	SSL_CTX *ctx = reception_get()->tls;
	struct bufferevent *tls;
	SSL *ssl;

	if (ctx == NULL || s->tls) {
		session_reply(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (arg.len) {
		session_reply(s, "501 5.5.4 STARTTLS takes no parameters");
		return;
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		session_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	bufferevent_enable(s->bev, EV_WRITE);	/* the filter writes from now */
	/* RFC 3207 5: nothing the client sent behind STARTTLS counts. */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	tls = bufferevent_openssl_filter_new(s->ctx.base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		session_close(s);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	set_callbacks(s);
	forget_client(s);
	free(s->auth_user);
	s->auth_user = NULL;
	s->relaying = s->acl_relay;
	s->refs++;	/* released by the handshake's outcome */
	session_enter(s, S_TLS);
}

static void
cmd_rset(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	tx_reset(s);
	session_enter(s, s->helo != NULL ? S_IDLE : S_HELO);
	session_reply(s, "250 2.0.0 Reset state");
}

static void
cmd_noop(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	session_reply(s, "250 2.0.0 OK");
}

static void
cmd_quit(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	session_reply(s, "221 2.0.0 %s closing connection", session_core(s)->me);
	session_close(s);
}

static void
cmd_vrfy(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	session_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

static void
cmd_help(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	session_reply(s, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT\r\n"
	    "214-2.0.0 VRFY HELP STARTTLS AUTH\r\n"
	    "214 2.0.0 End of HELP info");
}

static void
cmd_unimplemented(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	session_reply(s, "502 5.5.1 Command not implemented");
}

/* What a command needs, checked before it runs. */
#define NEED_HELO	0x01	/* after EHLO/HELO */
#define NEED_NO_TX	0x02	/* outside a transaction */
#define NEED_MAIL	0x04	/* after MAIL */
#define NEED_RCPT	0x08	/* after a RCPT */

static const struct command {
	enum smtp_verb	 verb;
	unsigned	 need;
	void		(*run)(struct smtp_session *, struct slice);
} commands[] = {
	{ SMTP_MAIL, NEED_HELO | NEED_NO_TX, cmd_mail },
	{ SMTP_RCPT, NEED_MAIL, cmd_rcpt },
	{ SMTP_DATA, NEED_MAIL | NEED_RCPT, cmd_data },
	{ SMTP_RSET, 0, cmd_rset },
	{ SMTP_NOOP, 0, cmd_noop },
	{ SMTP_QUIT, 0, cmd_quit },
	{ SMTP_VRFY, 0, cmd_vrfy },
	{ SMTP_HELP, 0, cmd_help },
	{ SMTP_STARTTLS, NEED_HELO | NEED_NO_TX, cmd_starttls },
	{ SMTP_AUTH, NEED_HELO | NEED_NO_TX, auth_command },
	{ SMTP_EXPN, 0, cmd_unimplemented },
	{ SMTP_BDAT, 0, cmd_unimplemented },
};

static void
unrecognised(struct smtp_session *s, const char *text)
{
	unsigned max = session_core(s)->max_unrecognized;

	if (max && ++s->unknown > max) {
		session_reply(s, "421 4.7.0 %s Too many unrecognized commands, closing "
		    "connection", session_core(s)->me);
		session_close(s);
		return;
	}
	session_reply(s, "%s", text);
}

static void
command(struct smtp_session *s, struct slice line)
{
	struct smtp_cmd c;
	const struct command *cmd = NULL;

	if (memchr(line.p, '\r', line.len) || memchr(line.p, '\0', line.len)) {
		unrecognised(s, "500 5.5.2 Syntax error: bare CR or NUL in "
		    "command");
		return;
	}
	smtp_parse_command(line, &c);
	if (c.verb == SMTP_EHLO || c.verb == SMTP_HELO) {
		cmd_helo(s, c.arg, c.verb == SMTP_EHLO);
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == c.verb)
			cmd = &commands[i];
	if (cmd == NULL) {
		unrecognised(s, "500 5.5.1 Unrecognized command");
		return;
	}
	if ((cmd->need & NEED_HELO) && s->helo == NULL)
		session_reply(s, "503 5.5.1 Send EHLO/HELO first");
	else if ((cmd->need & NEED_NO_TX) && s->tx != NULL)
		session_reply(s, "503 5.5.1 Not allowed during a mail transaction");
	else if ((cmd->need & NEED_MAIL) && s->tx == NULL)
		session_reply(s, "503 5.5.1 Need MAIL command");
	else if ((cmd->need & NEED_RCPT) && tx_rcpt_count(s->tx) == 0)
		session_reply(s, "503 5.5.1 Need RCPT command (no valid recipients)");
	else
		cmd->run(s, c.arg);
}

/* --- end of data: queue_outbound hook, headers, durable commit --------------- */

static void
commit_done(void *arg, int err)
{
	struct smtp_session *s = arg;
	const char *uuid = tx_uuid(s->tx);

	tx_set_job(s->tx, NULL);
	if (err == 0) {
		log_info("core", s->uuid, "queued %s from=<%s> rcpts=%zu",
		    uuid, tx_mail_from(s->tx), tx_rcpt_count(s->tx));
		session_reply(s, "250 2.0.0 Message Queued (%s)", uuid);
	} else if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
		log_error("core", s->uuid, "queue: %s not queued: %s", uuid,
		    strerror(err));
		session_reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		log_error("core", s->uuid, "queue: %s not queued: %s", uuid,
		    strerror(err));
		session_reply(s, "451 4.3.0 Queue write error, try again later");
	}
	tx_reset(s);
	session_resume(s, S_IDLE);
}

static void
pre_send_done(void *arg, int code, const char *msg)
{
	struct smtp_session *s = arg;
	const struct config *cfg = s->ctx.cfg;
	struct qentry *entries;
	size_t n, len;
	char *m;

	/* Haraka ignores pre_send_trans_email's answer. */
	(void)code;
	(void)msg;
	s->hook_pending = 0;
	if (s->ended) {
		tx_reset(s);
		session_unref(s);
		return;
	}
	n = tx_entries(s->tx, cfg->outbound->always_split, s->helo, s->ip,
	    &entries);
	m = tx_take_message(s->tx, &len);
	tx_set_job(s->tx, queue_commit(s->ctx.queue, entries, n, m, len,
	    commit_done, s));
	free(entries);
	session_unref(s);
}

/* CONT from queue_outbound: into Outpost's own queue. */
static void
enqueue(struct smtp_session *s)
{
	const struct config *cfg = s->ctx.cfg;

	tx_add_queue_headers(s->tx, cfg->outbound->received_header,
	    cfg->core->me);
	tx_view(s->tx, &s->view, s->ip, s->helo);
	s->hook_pending = 1;
	s->refs++;	/* released by pre_send_done */
	hook_run(OP_HOOK_PRE_SEND_TRANS_EMAIL, &s->view, pre_send_done, s);
}

static void
queue_outbound_done(void *arg, int code, const char *msg)
{
	struct smtp_session *s = arg;

	s->hook_pending = 0;
	if (s->ended) {
		tx_reset(s);
		session_unref(s);
		return;
	}
	switch (code) {
	case OP_CONT:
		enqueue(s);
		break;
	case OP_OK:
		session_reply(s, "250 2.0.0 %s", msg ? msg : "Message Queued");
		log_info("core", s->uuid, "%s: taken by a queue_outbound "
		    "plugin", tx_uuid(s->tx));
		tx_reset(s);
		session_resume(s, S_IDLE);
		break;
	case OP_DENY:
	case OP_DENYDISCONNECT:
		session_reply(s, "550 5.7.1 %s", msg ? msg : "Message denied");
		tx_reset(s);
		if (code == OP_DENYDISCONNECT)
			session_close(s);
		else
			session_resume(s, S_IDLE);
		break;
	default:
		/* DENYSOFT, DENYSOFTDISCONNECT, and any other answer. */
		session_reply(s, "450 4.7.1 %s", msg ? msg :
		    "Message denied temporarily");
		tx_reset(s);
		if (code == OP_DENYSOFTDISCONNECT)
			session_close(s);
		else
			session_resume(s, S_IDLE);
		break;
	}
	session_unref(s);
}

static const char *
protocol_name(const struct smtp_session *s)
{
	static const char *const names[] = {
		"SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA",
		"UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA"
	};
	int i;

	if (!s->esmtp)
		return names[0];
	i = 1 + (s->tls ? 1 : 0) + (s->auth_user ? 2 : 0);
	if (tx_flags(s->tx) & QE_SMTPUTF8)
		i += 4;
	return names[i];
}

static void
data_end(struct smtp_session *s)
{
	struct trace_info ti;
	char cipher[160] = "";
	SSL *ssl;

	switch (data_result(&s->data)) {
	case DATA_OK:
		break;
	case DATA_BARE:
		log_notice("core", s->uuid, "refused: bare CR or LF in DATA "
		    "ip=%s", s->ip);
		session_reply(s, "550 5.6.0 Message contains a bare CR or LF; lines "
		    "must end with CRLF (RFC 5321 2.3.8)");
		goto refused;
	case DATA_LONG_LINE:
		session_reply(s, "550 5.6.0 Message has a line longer than %u "
		    "characters (RFC 5322 2.1.1)",
		    session_core(s)->max_data_line_length);
		goto refused;
	case DATA_TOO_BIG:
		session_reply(s, "552 5.3.4 Message size exceeds fixed maximum message "
		    "size (%zu bytes)", session_core(s)->max_bytes);
		goto refused;
	}
	if (s->tls && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		snprintf(cipher, sizeof(cipher), "using %s with cipher %s",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	ti.helo = s->helo;
	ti.ip = s->ip;
	ti.v6 = s->sa.ss_family == AF_INET6;
	ti.me = session_core(s)->me;
	ti.protocol = protocol_name(s);
	ti.tls = cipher[0] ? cipher : NULL;
	ti.id = tx_uuid(s->tx);
	ti.rcpt = tx_rcpt_count(s->tx) == 1 ? tx_rcpt(s->tx, 0) : NULL;
	data_add_trace(&s->data, &ti);
	tx_put_message(s->tx, &s->data.msg, s->data.trace_len);
	session_wait(s);
	tx_view(s->tx, &s->view, s->ip, s->helo);
	s->hook_pending = 1;
	s->refs++;	/* released by queue_outbound_done */
	hook_run(OP_HOOK_QUEUE_OUTBOUND, &s->view, queue_outbound_done, s);
	return;
refused:
	tx_reset(s);
	data_clear(&s->data);
	session_enter(s, S_IDLE);
	if (s->draining) {
		session_reply(s, "421 4.3.2 %s Service shutting down", session_core(s)->me);
		session_close(s);
	}
}

/* --- input -------------------------------------------------------------------- */

/* Reads one line (without its LF, CR kept) of at most max bytes. 1 with a
 * line in *line, 0 when more input is needed; a longer line sets *toolong
 * and is consumed up to its end. */
static int
read_line(struct smtp_session *s, struct evbuffer *in, size_t max,
    struct buf *line, int *toolong)
{
	struct evbuffer_ptr eol;
	size_t avail = evbuffer_get_length(in);

	*toolong = 0;
	eol = evbuffer_search(in, "\n", 1, NULL);
	if (eol.pos == -1) {
		if (avail > max) {
			/* Drop what we have; the line ends later. */
			evbuffer_drain(in, avail);
			s->discarding = 1;
		}
		return 0;
	}
	if (s->discarding || (size_t)eol.pos > max) {
		evbuffer_drain(in, (size_t)eol.pos + 1);
		s->discarding = 0;
		*toolong = 1;
		return 1;
	}
	buf_reset(line);
	buf_reserve(line, (size_t)eol.pos + 1);
	evbuffer_remove(in, line->p, (size_t)eol.pos + 1);
	line->len = (size_t)eol.pos;
	if (line->len > 0 && line->p[line->len - 1] == '\r')
		line->len--;
	line->p[line->len] = '\0';
	return 1;
}

static void
data_input(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v[8];
	int n, done = 0;

	while (!done && evbuffer_get_length(in) > 0) {
		size_t used = 0;

		n = evbuffer_peek(in, -1, NULL, v, 8);
		for (int i = 0; i < n && i < 8 && !done; i++) {
			size_t k = data_feed(&s->data, v[i].iov_base,
			    v[i].iov_len, &done);

			used += k;
			if (k < v[i].iov_len)
				break;
		}
		evbuffer_drain(in, used);
	}
	if (done)
		data_end(s);
}

static void
process(struct smtp_session *s)
{
	struct evbuffer *in;
	struct buf line = BUF_INIT;
	int toolong;

	while (!s->ended) {
		in = bufferevent_get_input(s->bev);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    OUT_HIGH) {
			/* The client is not reading its replies: wait. */
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_setwatermark(s->bev, EV_WRITE, OUT_HIGH / 2,
			    0);
			break;
		}
		if (s->state == S_DATA) {
			if (evbuffer_get_length(in) == 0)
				break;
			data_input(s, in);
			continue;
		}
		if (s->state != S_HELO && s->state != S_IDLE &&
		    s->state != S_MAIL && s->state != S_RCPT &&
		    s->state != S_AUTH)
			break;
		if (!read_line(s, in, s->state == S_AUTH ? AUTH_LINE_MAX :
		    session_core(s)->max_line_length - 2, &line, &toolong))
			break;
		if (toolong) {
			session_reply(s, "500 5.5.2 Line too long (limit %u octets)",
			    s->state == S_AUTH ? AUTH_LINE_MAX :
			    session_core(s)->max_line_length);
			if (s->state == S_AUTH)
				auth_abort(s);
			continue;
		}
		if (s->state == S_AUTH) {
			auth_response(s, slice_of(line.p, line.len));
			continue;
		}
		log_protocol("core", s->uuid, "C: %s", line.p);
		command(s, slice_of(line.p, line.len));
	}
	buf_free(&line);
}

/* --- events -------------------------------------------------------------------- */

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	s->refs++;
	process(s);
	session_unref(s);
}

/* Bytes not yet handed to the kernel: under TLS, the filter's output
 * moves to the socket bufferevent's before it is written. */
static size_t
output_pending(struct smtp_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void
on_close_check(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval tv = { 0, 20000 };

	(void)fd;
	(void)what;
	if (output_pending(s) > 0 && s->close_checks++ < 500) {
		evtimer_add(s->delay, &tv);
		return;
	}
	end(s);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == S_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
			return;
		if (output_pending(s) == 0) {
			end(s);
			return;
		}
		/* TLS: wait (bounded, 10 s) for the socket to take the rest. */
		if (s->delay == NULL) {
			s->delay = evtimer_new(s->ctx.base, on_close_check, s);
			on_close_check(-1, 0, s);
		}
		return;
	}
	if (plain(s) && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		bufferevent_disable(s->bev, EV_WRITE);
	/* Replies drained below the mark: read again. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (s->state != S_WAIT && s->state != S_TLS) {
		bufferevent_enable(s->bev, EV_READ);
		s->refs++;
		process(s);
		session_unref(s);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* The TLS handshake is done. */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		s->tls = 1;
		log_info("core", s->uuid, "TLS established: %s %s",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		session_resume(s, S_HELO);
		session_unref(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == S_CLOSING) {
			end(s);
			return;
		}
		log_info("core", s->uuid, "timeout ip=%s in state %s", s->ip,
		    state_names[s->state]);
		session_reply(s, "421 4.4.2 %s Timeout, closing connection",
		    session_core(s)->me);
		session_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->state == S_TLS) {
			log_info("core", s->uuid, "TLS handshake failed ip=%s",
			    s->ip);
			session_unref(s);
		}
		if (s->state == S_DATA)
			log_notice("core", s->uuid, "connection lost during "
			    "DATA ip=%s", s->ip);
		end(s);
	}
}

static void
set_callbacks(struct smtp_session *s)
{
	struct timeval tv = { (time_t)session_core(s)->inactivity_timeout, 0 };

	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
	if (plain(s))
		bufferevent_disable(s->bev, EV_WRITE);	/* on_flush writes */
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

/* --- life cycle ------------------------------------------------------------------ */

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
		    >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
		return IN6_IS_ADDR_LOOPBACK(a);
	}
	return 0;
}

struct smtp_session *
smtp_session_new(const struct session_ctx *ctx, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const struct reception *r = reception_get();
	int one = 1;

	s->refs = 1;
	s->ctx = *ctx;
	config_ref(s->ctx.cfg);
	uuid_v4(s->uuid);
	memcpy(&s->sa, sa, salen < sizeof(s->sa) ? salen : sizeof(s->sa));
	snprintf(s->ip, sizeof(s->ip), "%s", ctx->ip);
	s->loopback = is_loopback(sa);
	s->acl_relay = r->relay != NULL && r->relay(sa, r->relay_data);
	s->relaying = s->acl_relay;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->bev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		config_unref(s->ctx.cfg);
		free(s);
		return NULL;
	}
	s->flush = event_new(ctx->base, -1, 0, on_flush, s);
	set_callbacks(s);
	log_info("core", s->uuid, "connect ip=%s relaying=%s", s->ip,
	    s->relaying ? "yes" : "no");
	session_enter(s, S_HELO);
	session_reply(s, "220 %s ESMTP Outpost ready", session_core(s)->me);
	return s;
}

void
smtp_session_drain(struct smtp_session *s)
{
	if (s->ended || s->draining)
		return;
	s->draining = 1;
	switch (s->state) {
	case S_HELO:
	case S_IDLE:
	case S_MAIL:
	case S_RCPT:
	case S_AUTH:
		session_reply(s, "421 4.3.2 %s Service shutting down", session_core(s)->me);
		tx_reset(s);
		session_close(s);
		break;
	default:
		/* DATA, a commit, TLS: after it, in session_resume(). */
		break;
	}
}

void
smtp_session_kill(struct smtp_session *s)
{
	if (s->ended)
		return;
	if (s->state == S_TLS)
		session_unref(s);
	end(s);
}
