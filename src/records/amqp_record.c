/*
 * amqp_record: the JSON messages of amqp_events (outbound events per
 * recipient, feedback reports), their event ids and routing keys.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "core/log.h"
#include "records/amqp_record.h"
#include "records/amqp_spool.h"
#include "records/record.h"

static void
key_str(struct buf *b, const char *key, const char *v)
{
	buf_printf(b, ",\"%s\":", key);
	json_string(b, v != NULL ? v : "");
}

/* Only when the value is known. */
static void
opt_str(struct buf *b, const char *key, const char *v)
{
	if (v != NULL && *v != '\0')
		key_str(b, key, v);
}

void
amqp_rec_key(struct buf *b, const char *tmpl, const char *type,
    const char *domain, const char *vmta, const char *hostname)
{
	static const struct {
		const char	*name;
		size_t		 len;
	} names[] = {
		{ "{type}", 6 }, { "{domain}", 8 }, { "{vmta}", 6 },
		{ "{hostname}", 10 }
	};

	while (*tmpl != '\0') {
		size_t i;

		for (i = 0; i < 4; i++)
			if (strncmp(tmpl, names[i].name, names[i].len) == 0)
				break;
		if (i == 4) {
			buf_addc(b, *tmpl++);
			continue;
		}
		tmpl += names[i].len;
		switch (i) {
		case 0:
			buf_adds(b, type);
			break;
		case 1:
			buf_adds(b, domain != NULL ? domain : "");
			break;
		case 2:
			buf_adds(b, vmta != NULL && *vmta ? vmta : "default");
			break;
		default:
			buf_adds(b, hostname);
		}
	}
}

void
amqp_rec_event_id(struct buf *b, const char *job_id, const char *type,
    unsigned attempts, const char *recipient)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	EVP_Digest(recipient, strlen(recipient), md, &mdlen, EVP_sha256(),
	    NULL);
	buf_printf(b, "%s-%s-%u-", job_id, type, attempts);
	for (unsigned i = 0; i < 8 && i < mdlen; i++)
		buf_printf(b, "%02x", md[i]);
}

static void
head(struct buf *b, const struct amqp_rec_ctx *x, const char *id,
    const char *type, long long when)
{
	char t[32];

	log_iso_time(t, sizeof(t), when);
	buf_adds(b, "{\"event_id\":");
	json_string(b, id);
	buf_printf(b, ",\"type\":\"%s\",\"time\":\"%s\"", type, t);
	key_str(b, "hostname", x->hostname);
	buf_printf(b, ",\"pid\":%ld", x->pid);
}

static void
one_rcpt(struct buf *b, const struct amqp_rec_ctx *x, const char *type,
    const struct op_outbound *o, const struct op_rcpt *r,
    const char *subject, const char *msgid)
{
	struct buf id = BUF_INIT, reason = BUF_INIT;
	char queued[32];
	int delivered = strcmp(type, "delivered") == 0;

	amqp_rec_event_id(&id, o->id, type, o->attempts, r->address);
	head(b, x, buf_cstr(&id), type, x->now_ms);
	log_iso_time(queued, sizeof(queued), o->queue_time);
	key_str(b, "job_id", o->id);
	key_str(b, "queue_time", queued);
	key_str(b, "recipient", r->address);
	key_str(b, "from", o->mail_from);
	key_str(b, "domain", o->domain);
	key_str(b, "subject", subject);
	opt_str(b, "message_id", msgid);
	buf_printf(b, ",\"attempts\":%u", o->attempts);
	key_str(b, "dsn_status", r->status);
	key_str(b, "dsn_action", r->action);
	if (delivered) {
		key_str(b, "smtp_response", r->response != NULL ?
		    r->response : o->response);
		buf_adds(b, ",\"smtp_delay\":");
		rec_number(b, o->delay);
		buf_printf(b, ",\"smtp_port\":%u", o->port);
	} else {
		rec_reason(&reason, r);
		key_str(b, "undelivered_reason", buf_cstr(&reason));
		buf_printf(b, ",\"smtp_code\":%d", r->code);
		if (strcmp(type, "deferred") == 0) {
			buf_adds(b, ",\"delay\":");
			rec_number(b, o->delay);
		}
	}
	opt_str(b, "smtp_host", o->host);
	opt_str(b, "smtp_ip", o->ip);
	opt_str(b, "local_ip", o->local_ip);
	opt_str(b, "vmta", o->route);
	buf_addc(b, '}');
	buf_free(&id);
	buf_free(&reason);
}

unsigned
amqp_rec_outbound(struct buf *lines, const struct amqp_rec_ctx *x,
    const char *type, const struct op_outbound *o)
{
	struct buf subject = BUF_INIT, msgid = BUF_INIT, key = BUF_INIT;
	struct buf json = BUF_INIT, id = BUF_INIT;

	rec_subject(o, &subject);
	rec_header(o, "Message-ID", &msgid);
	amqp_rec_key(&key, x->key_template, type, o->domain, o->route,
	    x->hostname);
	for (unsigned i = 0; i < o->nrcpts; i++) {
		buf_reset(&json);
		buf_reset(&id);
		one_rcpt(&json, x, type, o, &o->rcpts[i], buf_cstr(&subject),
		    buf_cstr(&msgid));
		amqp_rec_event_id(&id, o->id, type, o->attempts,
		    o->rcpts[i].address);
		aspool_line(lines, buf_cstr(&key), buf_cstr(&id), json.p,
		    json.len);
	}
	buf_free(&subject);
	buf_free(&msgid);
	buf_free(&key);
	buf_free(&json);
	buf_free(&id);
	return o->nrcpts;
}

unsigned
amqp_rec_feedback(struct buf *lines, const struct amqp_rec_ctx *x,
    const struct op_feedback *f)
{
	struct buf json = BUF_INIT, key = BUF_INIT, id = BUF_INIT;
	const char *dom = f->recipient != NULL ? strrchr(f->recipient, '@') :
	    NULL;
	const char *type = f->type != NULL ? f->type : "feedback";
	char queued[32];

	/* The parser always gives an id; should one lack it, the id is
	 * derived as an outbound event's. */
	if (f->event_id != NULL && *f->event_id != '\0')
		buf_adds(&id, f->event_id);
	else
		amqp_rec_event_id(&id, f->id != NULL ? f->id : "", type, 0,
		    f->recipient != NULL ? f->recipient : "");
	head(&json, x, buf_cstr(&id), type, f->arrival_time);
	key_str(&json, "job_id", f->id);
	if (f->queue_time > 0) {
		log_iso_time(queued, sizeof(queued), f->queue_time);
		key_str(&json, "queue_time", queued);
	}
	key_str(&json, "recipient", f->recipient);
	key_str(&json, "from", f->mail_from);
	opt_str(&json, "domain", dom != NULL ? dom + 1 : NULL);
	opt_str(&json, "message_id", f->message_id);
	opt_str(&json, "dsn_status", f->status);
	opt_str(&json, "dsn_action", f->action);
	opt_str(&json, "diagnostic", f->diagnostic);
	opt_str(&json, "remote_mta", f->remote_mta);
	opt_str(&json, "category", f->category);
	opt_str(&json, "feedback_type", f->feedback_type);
	opt_str(&json, "user_agent", f->user_agent);
	opt_str(&json, "source_ip", f->source_ip);
	opt_str(&json, "reporting_mta", f->reporting_mta);
	opt_str(&json, "report_from", f->report_from);
	opt_str(&json, "correlation", f->correlation);
	opt_str(&json, "vmta", f->vmta);
	buf_addc(&json, '}');
	amqp_rec_key(&key, x->key_template, type, dom != NULL ? dom + 1 :
	    NULL, f->vmta, x->hostname);
	aspool_line(lines, buf_cstr(&key), buf_cstr(&id), json.p, json.len);
	buf_free(&id);
	buf_free(&json);
	buf_free(&key);
	return 1;
}
