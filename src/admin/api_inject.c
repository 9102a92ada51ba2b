/*
 * api_inject: HTTP injection (contract in api_inject.h): the JSON
 * envelope checked and parsed as SMTP's MAIL/RCPT paths are, the message
 * normalised to CRLF and held to the SMTP limits, then queue/submit.h's
 * path as in smtp/accept.c — trace header, queue_outbound,
 * queue headers, pre_send_trans_email, commit — answered from the commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/api_inject.h"
#include "admin/api_json.h"
#include "admin/http.h"
#include "core/config.h"
#include "core/log.h"
#include "delivery/mta_admin.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "proto/message.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "queue/submit.h"

#define SRC		"admin"
#define HELO		"http-api"

struct api_inject {
	struct mta	*m;
};

struct inj {
	struct admin_req	*r;
	struct config		*cfg;
	struct queue		*q;
	struct smtp_tx		*tx;
	struct op_txn		 view;
	char			 peer[64];
	char			 ip[64];
};

static void
inj_free(struct inj *j)
{
	tx_free(j->tx);
	config_unref(j->cfg);
	free(j);
}

static void
committed(void *arg, int err)
{
	struct inj *j = arg;
	const char *id = tx_uuid(j->tx);

	tx_set_job(j->tx, NULL);
	if (err == 0) {
		log_info(SRC, id, "queued %s from=<%s> rcpts=%zu (HTTP, %s)",
		    id, tx_mail_from(j->tx), tx_rcpt_count(j->tx), j->peer);
		api_reply(j->r, 200, json_pack("{s:s,s:I}", "id", id,
		    "recipients", (json_int_t)tx_rcpt_count(j->tx)));
	} else {
		log_error(SRC, id, "queue: %s not queued: %s", id,
		    strerror(err));
		admin_error(j->r, err == ENOSPC || err == EDQUOT ||
		    err == EFBIG ? 507 : 503, "not queued: %s", strerror(err));
	}
	inj_free(j);
}

static void
pre_send_done(void *arg, int code, const char *msg)
{
	struct inj *j = arg;

	(void)code;		/* ignored, as in Haraka */
	(void)msg;
	tx_commit(j->tx, j->q, j->cfg->outbound->always_split, HELO, j->ip,
	    NULL, committed, j);
}

static void
queue_outbound_done(void *arg, int code, const char *msg)
{
	struct inj *j = arg;

	switch (code) {
	case OP_CONT:
		tx_add_queue_headers(j->tx, j->cfg->outbound->received_header,
		    j->cfg->core->me);
		tx_view(j->tx, &j->view, j->ip, HELO);
		hook_run(OP_HOOK_PRE_SEND_TRANS_EMAIL, &j->view, pre_send_done,
		    j);
		return;
	case OP_OK:
		log_info(SRC, tx_uuid(j->tx), "%s: taken by a queue_outbound "
		    "plugin", tx_uuid(j->tx));
		api_reply(j->r, 200, json_pack("{s:s,s:s}", "id",
		    tx_uuid(j->tx), "taken", msg ? msg : "Message Queued"));
		break;
	case OP_DENY:
	case OP_DENYDISCONNECT:
		admin_error(j->r, 403, "%s", msg ? msg : "Message denied");
		break;
	default:
		admin_error(j->r, 503, "%s", msg ? msg :
		    "Message denied temporarily");
		break;
	}
	inj_free(j);
}

/* An envelope path as MAIL FROM / RCPT TO would parse it: 0 or -1. */
static int
parse_path(const char *kw, const char *s, int utf8, struct smtp_addr *a,
    const char **why)
{
	char *line = xasprintf("%s:<%s>", kw, s);
	struct slice params;
	int rc;

	rc = smtp_parse_mail_rcpt(slice_of(line, strlen(line)), kw, utf8, a,
	    &params, why) == SMTP_P_OK && params.len == 0 ? 0 : -1;
	if (rc != 0 && *why == NULL)
		*why = "bad address";
	free(line);
	return rc;
}

/* "headers" and "body" as a message: 0, or -1 with *why. */
static int
compose(json_t *headers, json_t *body, struct buf *out, const char **why)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_string(body)) {
		*why = "body: a string is required with headers";
		return -1;
	}
	if (json_is_object(headers)) {
		json_object_foreach(headers, k, v) {
			if (!json_is_string(v))
				goto bad;
			buf_printf(out, "%s: %s\n", k, json_string_value(v));
		}
	} else if (json_is_array(headers)) {
		json_array_foreach(headers, i, v) {
			if (!json_is_array(v) || json_array_size(v) != 2 ||
			    !json_is_string(json_array_get(v, 0)) ||
			    !json_is_string(json_array_get(v, 1)))
				goto bad;
			buf_printf(out, "%s: %s\n",
			    json_string_value(json_array_get(v, 0)),
			    json_string_value(json_array_get(v, 1)));
		}
	} else
		goto bad;
	buf_adds(out, "\n");
	buf_adds(out, json_string_value(body));
	return 0;
bad:
	*why = "headers: an object of strings, or a list of [name, value]";
	return -1;
}

/* A header name: 1+ printable ASCII characters but ':' (RFC 5322 2.2). */
static int
header_names_ok(const struct buf *m)
{
	size_t i = 0;

	while (i < m->len && !(m->p[i] == '\r' && i + 1 < m->len &&
	    m->p[i + 1] == '\n')) {
		size_t n = 0;

		if (m->p[i] == ' ' || m->p[i] == '\t')	/* folded */
			n = 1;
		else
			while (i + n < m->len && m->p[i + n] != ':' &&
			    (unsigned char)m->p[i + n] > 32 &&
			    (unsigned char)m->p[i + n] < 127)
				n++;
		if (n == 0 || i + n >= m->len || (m->p[i] != ' ' &&
		    m->p[i] != '\t' && m->p[i + n] != ':'))
			return 0;
		while (i < m->len && m->p[i] != '\n')
			i++;
		i++;
	}
	return 1;
}

static int
longest_line_ok(const struct buf *m, unsigned max)
{
	size_t start = 0;

	if (max == 0)
		return 1;
	for (size_t i = 0; i < m->len; i++)
		if (m->p[i] == '\n') {
			if (i - start - 1 > max)	/* without CRLF */
				return 0;
			start = i + 1;
		}
	return m->len - start <= max;
}

static void
trace(struct buf *h, const struct inj *j, const char *id, const char *rcpt)
{
	char date[64];

	date_rfc5322(date, sizeof(date), time(NULL));
	if (j->ip[0] != '\0')
		buf_printf(h, "Received: from %s ([%s%s])\r\n", HELO,
		    strchr(j->ip, ':') ? "IPv6:" : "", j->ip);
	else
		buf_printf(h, "Received: from %s (local socket)\r\n", HELO);
	buf_printf(h, "\tby %s (Outpost) with HTTP id %s", j->cfg->core->me,
	    id);
	if (rcpt != NULL)
		buf_printf(h, "\r\n\tfor <%s>", rcpt);
	buf_printf(h, "; %s\r\n", date);
}

static void
post_inject(struct admin_req *r, void *arg)
{
	struct api_inject *ai = arg;
	struct config *cfg = mta_admin_config(ai->m);
	const struct config_core *core = cfg->core;
	json_t *body, *from, *to, *content, *v;
	struct smtp_addr fa, *tas = NULL;
	struct buf raw = BUF_INIT, msg = BUF_INIT, h = BUF_INIT;
	const char *why = NULL, *fs;
	char uuid[UUID_LEN + 1];
	unsigned qflags = 0;
	size_t nto, i, trace_len;
	struct inj *j;
	int code = 400;

	if ((body = api_body_object(r)) == NULL)
		return;
	from = json_object_get(body, "from");
	to = json_object_get(body, "to");
	content = json_object_get(body, "content");
	nto = json_array_size(to);
	memset(&fa, 0, sizeof(fa));
	if (!json_is_string(from))
		why = "from: a string is required (\"\" for the null sender)";
	else if (!json_is_array(to) || nto == 0)
		why = "to: a list of at least one address is required";
	else if (core->max_recipients != 0 && nto > core->max_recipients) {
		why = "to: too many recipients";
		code = 413;
	} else if (content != NULL ? !json_is_string(content) ||
	    json_object_get(body, "headers") != NULL :
	    json_object_get(body, "headers") == NULL)
		why = "give either content (a string) or headers and body";
	if (why != NULL)
		goto refuse;
	fs = json_string_value(from);
	if (strcmp(fs, "<>") == 0 || *fs == '\0')
		fa.null = 1;
	else if (parse_path("FROM", fs, core->smtputf8, &fa, &why) != 0) {
		why = xasprintf("from: %s: %s", fs, why);
		goto refuse_free;
	}
	tas = xcalloc(nto, sizeof(*tas));
	json_array_foreach(to, i, v) {
		if (!json_is_string(v)) {
			why = "to: strings are required";
			goto refuse;
		}
		if (parse_path("TO", json_string_value(v), core->smtputf8,
		    &tas[i], &why) != 0) {
			why = xasprintf("to: %s: %s", json_string_value(v),
			    why);
			goto refuse_free;
		}
		qflags |= tas[i].utf8 ? QE_SMTPUTF8 : 0;
	}
	qflags |= fa.utf8 ? QE_SMTPUTF8 : 0;
	if (content != NULL)
		buf_add(&raw, json_string_value(content),
		    json_string_length(content));
	else if (compose(json_object_get(body, "headers"),
	    json_object_get(body, "body"), &raw, &why) != 0)
		goto refuse;
	msg_prepare(raw.p != NULL ? raw.p : "", raw.len, 0, &msg);
	if (core->max_bytes != 0 && msg.len > core->max_bytes) {
		why = xasprintf("the message exceeds the maximum size (%zu "
		    "bytes)", core->max_bytes);
		code = 413;
		goto refuse_free;
	}
	if (!longest_line_ok(&msg, core->max_data_line_length)) {
		why = xasprintf("the message has a line longer than %u "
		    "characters (RFC 5322 2.1.1)", core->max_data_line_length);
		goto refuse_free;
	}
	if (msg.len == 0 || !header_names_ok(&msg)) {
		why = "content: an RFC 5322 message (header fields, an empty "
		    "line, the body) is required";
		goto refuse;
	}
	for (i = 0; i < msg.len; i++)
		if ((unsigned char)msg.p[i] >= 0x80) {
			qflags |= QE_8BITMIME;
			break;
		}
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->cfg = config_ref(cfg);
	j->q = mta_admin_queue(ai->m);
	snprintf(j->peer, sizeof(j->peer), "%s", admin_req_peer(r));
	snprintf(j->ip, sizeof(j->ip), "%s", strcmp(j->peer, "unix") == 0 ?
	    "" : j->peer);
	uuid_v4(uuid);
	j->tx = tx_new(uuid, 1, &fa, qflags);
	for (i = 0; i < nto; i++)
		tx_add_rcpt(j->tx, &tas[i]);
	trace(&h, j, tx_uuid(j->tx), nto == 1 ? tx_rcpt(j->tx, 0) : NULL);
	trace_len = h.len;
	buf_add(&h, msg.p, msg.len);
	tx_put_message(j->tx, &h, trace_len);
	tx_view(j->tx, &j->view, j->ip, HELO);
	hook_run(OP_HOOK_QUEUE_OUTBOUND, &j->view, queue_outbound_done, j);
	goto out;
refuse_free:
	admin_error(r, code, "%s", why);
	free((char *)why);
	goto out;
refuse:
	admin_error(r, code, "%s", why);
out:
	free(tas);
	buf_free(&raw);
	buf_free(&msg);
	buf_free(&h);
	json_decref(body);
}

void *
api_inject_register(struct admin *a, struct mta *m)
{
	struct api_inject *ai = xcalloc(1, sizeof(*ai));

	ai->m = m;
	admin_route(a, "POST", "/api/inject", post_inject, ai);
	return ai;
}
