/*
 * mta_error: failure classification (see mta_error.h). Pure: no I/O.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "delivery/mta_error.h"

void
outcome_clear(struct outcome *o)
{
	free(o->msg);
	free(o->host);
	free(o->ip);
	memset(o, 0, sizeof(*o));
}


void
outcome_copy(struct outcome *dst, const struct outcome *src)
{
	outcome_clear(dst);
	*dst = *src;
	dst->msg = xstrdup_null(src->msg);
	dst->host = xstrdup_null(src->host);
	dst->ip = xstrdup_null(src->ip);
}

void
outcome_local(struct outcome *o, enum fail_class class, int code,
    const char *status, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	outcome_clear(o);
	o->class = class;
	o->code = code;
	snprintf(o->status, sizeof(o->status), "%s", status);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	o->msg = buf_release(&b);
}

void
outcome_reply(struct outcome *o, const struct reply *r, const char *host,
    const char *ip)
{
	int c = r->code / 100;

	outcome_clear(o);
	o->class = c == 2 ? FAIL_NONE : c == 5 ? FAIL_PERM : FAIL_TEMP;
	o->code = r->code;
	snprintf(o->sent, sizeof(o->sent), "%s", r->extc);
	if (r->extc[0] != '\0')
		snprintf(o->status, sizeof(o->status), "%s", r->extc);
	else	/* the server sent none: the class's generic status */
		snprintf(o->status, sizeof(o->status), "%d.0.0",
		    c == 3 ? 4 : c);
	o->msg = xstrdup(r->text != NULL ? r->text : "");
	o->remote = 1;
	o->host = xstrdup_null(host);
	o->ip = xstrdup_null(ip);
}

char *
outcome_reason(const struct outcome *o)
{
	return xasprintf("%d %s %s", o->code, o->status,
	    o->msg != NULL ? o->msg : "");
}

char *
outcome_words(const struct outcome *o)
{
	if (!o->remote)
		return outcome_reason(o);
	return xasprintf("%d%s%s%s%s", o->code, o->sent[0] != '\0' ? " " : "",
	    o->sent, o->msg != NULL && o->msg[0] != '\0' ? " " : "",
	    o->msg != NULL ? o->msg : "");
}

void
outcome_make_final(struct outcome *o)
{
	if (o->class != FAIL_TEMP)
		return;
	o->class = FAIL_PERM;
	if (o->status[0] == '4')
		o->status[0] = '5';
}

const char *
outcome_action(const struct outcome *o)
{
	switch (o->class) {
	case FAIL_NONE:
		return "delivered";
	case FAIL_TEMP:
		return "delayed";
	default:
		return "failed";
	}
}

void
mta_error_dns(const struct dns_answer *a, const char *domain,
    struct outcome *o)
{
	switch (a->status) {
	case DNS_NULL_MX:
		outcome_local(o, FAIL_PERM, 550, "5.1.2",
		    "Domain %s sends and receives no email (NULL MX)", domain);
		break;
	case DNS_NXDOMAIN:
		outcome_local(o, FAIL_PERM, 550, "5.1.2",
		    "No Such Domain: %s", domain);
		break;
	case DNS_TEMP:
		outcome_local(o, FAIL_TEMP, 450, "4.1.0",
		    "DNS lookup failure: %s (%s)", domain,
		    a->error != NULL ? a->error : "unknown error");
		break;
	case DNS_NOWHERE:
	case DNS_OK:		/* an empty list */
		outcome_local(o, FAIL_PERM, 550, "5.1.2",
		    "Nowhere to deliver mail to for domain: %s", domain);
		break;
	}
}

void
mta_error_lost(const char *why, struct outcome *o)
{
	outcome_local(o, FAIL_PERM, 554, "5.3.0", "Queue entry corrupt: %s",
	    why);
}

/* The server named in texts: "mx1.example.com [192.0.2.1]" (malloc'd). */
static char *
server_name(const struct mta_result *r, const char *host)
{
	const char *ip = r->remote_ip;

	if (host == NULL || *host == '\0')
		return xstrdup(*ip ? ip : "the server");
	if (*ip == '\0' || strcmp(host, ip) == 0)
		return xstrdup(host);
	return xasprintf("%s [%s]", host, ip);
}

static void
set_server(struct outcome *o, const struct mta_result *r, const char *host)
{
	free(o->host);
	o->host = xstrdup_null(host);
	free(o->ip);
	o->ip = r->remote_ip[0] ? xstrdup(r->remote_ip) : NULL;
}

/*
 * The server broke the protocol (a malformed or oversized reply) or did
 * not answer within the stage's deadline: Postfix's choice, not Haraka's
 * 5.5.1 bounce, since nothing says the mail or the address is at fault.
 * X.5.0 (other protocol status) for a reply that is not SMTP, X.4.2 (bad
 * connection: "time-out, or inadequate connection quality") for a
 * timeout or a lost connection, as Postfix's smtp_stream_except().
 * Before the final dot reached the server: this server failed (next MX,
 * then defer). After it: the server may have taken the message, so no
 * other MX gets it now; deferred, and said so, and the retry may repeat
 * it (RFC 5321 §6.1's accepted duplicate; the long final-dot deadline
 * keeps it rare).
 */
static enum verdict
server_fault(const struct mta_result *r, const char *host,
    struct outcome *mail)
{
	const char *waiting = r->waiting != NULL ? r->waiting : "a reply";
	const char *maybe = r->dot_sent ?
	    "; the message may have been delivered" : "";
	char *name = server_name(r, host);

	if (r->outcome == MTA_BAD_REPLY)
		outcome_local(mail, FAIL_TEMP, 421, "4.5.0", "Malformed reply "
		    "from %s while waiting for %s%s: %s", name, waiting, maybe,
		    r->error != NULL ? r->error : "unknown");
	else if (r->timed_out)
		outcome_local(mail, FAIL_TEMP, 421, "4.4.2", "Conversation "
		    "with %s timed out while waiting for %s (%g s)%s", name,
		    waiting, r->deadline, maybe);
	else
		outcome_local(mail, FAIL_TEMP, 421, "4.4.2", "Lost connection "
		    "with %s while waiting for %s%s", name, waiting, maybe);
	free(name);
	set_server(mail, r, host);
	return r->dot_sent ? V_RCPTS : V_NEXT_MX;
}

enum verdict
mta_error_classify(const struct mta_result *r, const char *host,
    struct outcome *mail)
{
	switch (r->outcome) {
	case MTA_IO:
		/* A reused connection gone stale: a fresh one, same host. */
		if (r->step == MTA_RSET)
			return V_RETRY_HOST;
		if (r->dot_sent || r->timed_out)
			return server_fault(r, host, mail);
		/* Refused, reset, closed: the next MX, "Tried all MXs". */
		return V_NEXT_MX;
	case MTA_BAD_REPLY:
		return server_fault(r, host, mail);
	case MTA_TLS_UNAVAILABLE:
		outcome_local(mail, FAIL_TEMP, 450, "4.7.10",
		    "No TLS available but required by configuration.");
		break;
	case MTA_TLS_UNVERIFIED:
		outcome_local(mail, FAIL_TEMP, 450, "4.7.5",
		    "Host failed TLS verification required by configuration."
		    "%s%s", r->error != NULL ? " " : "",
		    r->error != NULL ? r->error : "");
		break;
	case MTA_NO_SMTPUTF8:
		/* Postfix's answer: the mail cannot go there as it is. */
		outcome_local(mail, FAIL_PERM, 550, "5.6.7", "SMTPUTF8 is "
		    "required, but was not offered by host %s%s%s%s",
		    host != NULL ? host : r->remote_ip,
		    host != NULL && r->remote_ip[0] ? "[" : "",
		    host != NULL ? r->remote_ip : "",
		    host != NULL && r->remote_ip[0] ? "]" : "");
		break;
	case MTA_REPLY:
		outcome_reply(mail, &r->reply, host, r->remote_ip);
		if (mail->class == FAIL_NONE)	/* cannot happen: defensive */
			outcome_local(mail, FAIL_TEMP, 451, "4.5.0",
			    "Unexpected reply at the end of the transaction");
		/* A 3xx/4xx/5xx greeting is a failure of this server, not
		 * of the message (Postfix smtp_skip_[45]xx_greeting): the
		 * next MX; the reply kept to record once every MX failed. */
		if (r->step == MTA_GREETING) {
			if (mail->remote == 0)
				set_server(mail, r, host);
			return V_NEXT_MX;
		}
		/* A refusal of the message itself: the recipients the
		 * server refused at RCPT keep their own reply. */
		if (r->step == MTA_DATA || r->step == MTA_DOT)
			return V_RCPTS;
		break;
	case MTA_OK:
		return V_RCPTS;
	}
	if (mail->remote == 0 && host != NULL && r->outcome != MTA_TLS_UNAVAILABLE) {
		free(mail->host);
		mail->host = xstrdup(host);
		free(mail->ip);
		mail->ip = r->remote_ip[0] ? xstrdup(r->remote_ip) : NULL;
	}
	return V_MAIL;
}

void
mta_error_rcpt(const struct mta_result *r, size_t i,
    const struct outcome *mail, const char *host, struct outcome *o)
{
	const struct mta_rcpt *rc = &r->rcpts[i];
	int rcpt_class = rc->reply.code / 100;

	if (rc->reply.code != 0 && rcpt_class != 2) {
		outcome_reply(o, &rc->reply, host, r->remote_ip);
		return;
	}
	if (rc->reply.code == 0) {	/* never reached RCPT */
		if (mail != NULL && mail->class != FAIL_NONE)
			outcome_copy(o, mail);
		else
			outcome_local(o, FAIL_TEMP, 451, "4.4.2",
			    "Connection ended before the recipient was sent");
		return;
	}
	/* Accepted at RCPT (2xx, 251 and 252 included); an LMTP server's
	 * own answer for it stands whatever happened next. */
	if (rc->lmtp.code != 0) {
		outcome_reply(o, &rc->lmtp, host, r->remote_ip);
		return;
	}
	if (mail != NULL && mail->class != FAIL_NONE) {
		outcome_copy(o, mail);
		return;
	}
	if (r->reply.code / 100 == 2) {
		outcome_reply(o, &r->reply, host, r->remote_ip);
		return;
	}
	outcome_local(o, FAIL_TEMP, 451, "4.4.2",
	    "No reply to the end of data");
}
