/*
 * smtp/commands: the command table commands[] — each verb with what it
 * needs (NEED_HELO, NEED_NO_TX, NEED_MAIL, NEED_RCPT), checked before it
 * runs — and the cmd_* handlers; they reply and move state through conn.c.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "core/log.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "queue/space.h"
#include "queue/submit.h"
#include "smtp/auth.h"
#include "smtp/commands.h"
#include "smtp/conn.h"
#include "smtp/data.h"
#include "smtp/policy.h"

/* RFC 3207 4.2 / 5321 4.1.4: forget what the client said. */
static void
forget_client(struct smtp_session *s)
{
	conn_tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
}

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
		conn_reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" :
		    "HELO");
		return;
	}
	forget_client(s);
	s->helo = xstrndup(name.p, name.len);
	s->esmtp = esmtp;
	conn_enter(s, S_IDLE);
	if (!esmtp) {
		conn_reply(s, "250 %s Hello %s [%s]", conn_core(s)->me, s->helo, s->ip);
		return;
	}
	buf_printf(&b, "250-%s Hello %s [%s]\r\n", conn_core(s)->me, s->helo,
	    s->ip);
	buf_adds(&b, "250-PIPELINING\r\n250-8BITMIME\r\n");
	if (conn_core(s)->smtputf8)
		buf_adds(&b, "250-SMTPUTF8\r\n");
	buf_printf(&b, "250-SIZE %zu\r\n", conn_core(s)->max_bytes);
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
	conn_reply(s, "%s", b.p);
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
		conn_reply(s, "%s", perr_reply(e, sender));
		return -1;
	}
	if ((e = smtp_parse_params(params, utf8, p, n, &why)) != SMTP_P_OK) {
		conn_reply(s, "%s", e == SMTP_P_TOO_MANY ?
		    perr_reply(e, sender) : "501 5.5.4 Bad parameter syntax");
		return -1;
	}
	return 0;
}

/* A recipient domain taken from any client (rcpt_to.in_host_list). */
static int
local_domain(const char *domain)
{
	const struct reception *r = reception_get();
	char *d;
	int yes;

	if (r->local_domain == NULL)
		return 0;
	d = xstrdup(domain);
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	yes = r->local_domain(d, r->local_domain_data);
	free(d);
	return yes;
}

/* The sender check's answer (mail_from.is_resolvable). */
static void
mail_checked(void *cookie, const char *reply)
{
	struct smtp_session *s = cookie;

	if (s->ended) {
		conn_tx_reset(s);
		conn_unref(s);
		return;
	}
	if (reply == NULL) {
		conn_reply(s, "250 2.1.0 Sender <%s> OK", tx_mail_from(s->tx));
		conn_resume(s, S_MAIL);
	} else {
		log_info("core", s->uuid, "sender <%s> refused: %s",
		    tx_mail_from(s->tx), reply);
		conn_reply(s, "%s", reply);
		conn_tx_reset(s);
		conn_resume(s, S_IDLE);
	}
	conn_unref(s);
}

static void
cmd_mail(struct smtp_session *s, struct slice arg)
{
	struct smtp_param p[SMTP_PARAMS_MAX];
	struct smtp_addr a;
	unsigned flags = 0;
	size_t n, size = 0;

	if (parse_path(s, arg, 1, s->esmtp && conn_core(s)->smtputf8, &a,
	    p, &n) != 0)
		return;
	if (n > 0 && !s->esmtp) {
		conn_reply(s, "555 5.5.4 Parameters need EHLO");
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
		    conn_core(s)->smtputf8) {
			flags |= QE_SMTPUTF8;
		} else if (slice_caseeq(p[i].key, "AUTH") && v.p != NULL) {
			/* RFC 4954 5: accepted, not relied upon. */
		} else {
			conn_reply(s, "555 5.5.4 Unsupported parameter %.*s",
			    (int)p[i].key.len, p[i].key.p);
			return;
		}
	}
	if (a.utf8 && !(flags & QE_SMTPUTF8)) {
		conn_reply(s, "%s", perr_reply(SMTP_P_UTF8, 1));
		return;
	}
	if (conn_core(s)->max_bytes && size > conn_core(s)->max_bytes) {
		conn_reply(s, "552 5.3.4 Message size exceeds fixed maximum message "
		    "size (%zu bytes)", conn_core(s)->max_bytes);
		return;
	}
	/* Postfix's queue_minfree answer, before the client sends a body. */
	if (!qspace_room(queue_space(s->queue), size)) {
		conn_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	if (!s->relaying && reception_get()->anti_spoof && a.domain[0] != '\0'
	    && local_domain(a.domain)) {
		log_info("core", s->uuid, "sender <%s@%s> refused: its domain is "
		    "in host_list and the client does not relay", a.local,
		    a.domain);
		conn_reply(s, "550 5.7.1 Mail from domain '%s' is not allowed "
		    "from your host", a.domain);
		return;
	}
	s->tx = tx_new(s->uuid, ++s->txns, &a, flags);
	if (reception_get()->mail_check != NULL && a.domain[0] != '\0') {
		const struct reception *r = reception_get();
		char *domain = xstrdup(a.domain);

		for (char *d = domain; *d; d++)
			if (*d >= 'A' && *d <= 'Z')
				*d = (char)(*d - 'A' + 'a');
		conn_wait(s);
		s->refs++;	/* released by mail_checked */
		r->mail_check(domain, s->uuid, mail_checked, s,
		    r->mail_check_data);
		free(domain);
		return;
	}
	conn_enter(s, S_MAIL);
	conn_reply(s, "250 2.1.0 Sender <%s> OK", tx_mail_from(s->tx));
}

static void
cmd_rcpt(struct smtp_session *s, struct slice arg)
{
	struct smtp_param p[SMTP_PARAMS_MAX];
	struct smtp_addr a;
	size_t n;
	int fb;

	if (parse_path(s, arg, 0, tx_flags(s->tx) & QE_SMTPUTF8, &a, p,
	    &n) != 0)
		return;
	if (n > 0) {
		conn_reply(s, "555 5.5.4 Unsupported parameter %.*s",
		    (int)p[0].key.len, p[0].key.p);
		return;
	}
	if (a.domain[0] == '\0') {
		conn_reply(s, "550 5.1.3 <%s>: a recipient needs a domain", a.local);
		return;
	}
	/* Feedback (bounces, complaints) is taken from anyone, alone. */
	fb = reception_feedback_rcpt(a.domain);
	if (tx_rcpt_count(s->tx) > 0 &&
	    fb != reception_feedback_rcpt(tx_rcpt(s->tx, 0))) {
		conn_reply(s, "452 4.5.3 Feedback recipients go in a "
		    "transaction of their own");
		return;
	}
	if (!s->relaying && !fb && !local_domain(a.domain)) {
		log_info("core", s->uuid, "relaying denied ip=%s rcpt=%s@%s",
		    s->ip, a.local, a.domain);
		conn_reply(s, "550 5.7.1 Relaying denied");
		return;
	}
	if (tx_rcpt_count(s->tx) >= conn_core(s)->max_recipients) {
		conn_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	/* Taken from a client that does not relay: a domain Outpost takes
	 * mail for (queue/smtp_forward forwards it as Haraka's queue hook
	 * does). */
	if (!s->relaying && tx_rcpt_count(s->tx) == 0)
		tx_add_note(s->tx, "inbound", "1");
	tx_add_rcpt(s->tx, &a);
	conn_enter(s, S_RCPT);
	conn_reply(s, "250 2.1.5 Recipient <%s@%s> OK", a.local, a.domain);
}

static void
cmd_data(struct smtp_session *s, struct slice arg)
{
	if (arg.len) {
		conn_reply(s, "501 5.5.4 DATA takes no parameters");
		return;
	}
	data_begin(&s->data, conn_core(s)->max_bytes,
	    conn_core(s)->max_data_line_length);
	conn_enter(s, S_DATA);
	conn_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_starttls(struct smtp_session *s, struct slice arg)
{
	SSL_CTX *ctx = reception_get()->tls;
	struct bufferevent *tls;
	SSL *ssl;

	if (ctx == NULL || s->tls) {
		conn_reply(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (arg.len) {
		conn_reply(s, "501 5.5.4 STARTTLS takes no parameters");
		return;
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		conn_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	conn_reply(s, "220 2.0.0 Ready to start TLS");
	bufferevent_enable(s->bev, EV_WRITE);	/* the filter writes from now */
	/* RFC 3207 5: nothing the client sent behind STARTTLS counts. */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	tls = bufferevent_openssl_filter_new(s->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		conn_close(s);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	conn_set_io(s);
	forget_client(s);
	free(s->auth_user);
	s->auth_user = NULL;
	s->relaying = s->acl_relay;
	s->refs++;	/* released by the handshake's outcome */
	conn_enter(s, S_TLS);
}

static void
cmd_rset(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	conn_tx_reset(s);
	conn_enter(s, s->helo != NULL ? S_IDLE : S_HELO);
	conn_reply(s, "250 2.0.0 Reset state");
}

static void
cmd_noop(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	conn_reply(s, "250 2.0.0 OK");
}

static void
cmd_quit(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	conn_reply(s, "221 2.0.0 %s closing connection", conn_core(s)->me);
	conn_close(s);
}

static void
cmd_vrfy(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	conn_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

static void
cmd_help(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	conn_reply(s, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT\r\n"
	    "214-2.0.0 VRFY HELP STARTTLS AUTH\r\n"
	    "214 2.0.0 End of HELP info");
}

static void
cmd_unimplemented(struct smtp_session *s, struct slice arg)
{
	(void)arg;
	conn_reply(s, "502 5.5.1 Command not implemented");
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
	unsigned max = conn_core(s)->max_unrecognized;

	if (max && ++s->unknown > max) {
		conn_reply(s, "421 4.7.0 %s Too many unrecognized commands, closing "
		    "connection", conn_core(s)->me);
		conn_close(s);
		return;
	}
	conn_reply(s, "%s", text);
}

void
commands_dispatch(struct smtp_session *s, struct slice line)
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
		conn_reply(s, "503 5.5.1 Send EHLO/HELO first");
	else if ((cmd->need & NEED_NO_TX) && s->tx != NULL)
		conn_reply(s, "503 5.5.1 Not allowed during a mail transaction");
	else if ((cmd->need & NEED_MAIL) && s->tx == NULL)
		conn_reply(s, "503 5.5.1 Need MAIL command");
	else if ((cmd->need & NEED_RCPT) && tx_rcpt_count(s->tx) == 0)
		conn_reply(s, "503 5.5.1 Need RCPT command (no valid recipients)");
	else
		cmd->run(s, c.arg);
}

