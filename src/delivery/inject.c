/*
 * inject: mail generated inside Outpost, queued like received mail (queue
 * headers → pre_send_trans_email → entries → durable commit) through queue/submit.h;
 * op_send_email() is the plugin ABI's door. Answers come from the event loop.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "delivery/inject.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "proto/message.h"
#include "proto/smtp_parse.h"
#include "queue/queue.h"
#include "queue/submit.h"

#define SRC		"outbound"

struct inject {
	struct event_base	*base;
	struct config		*cfg;
	struct queue		*q;
};

struct send_job {
	struct inject		*inj;
	struct config		*cfg;
	struct smtp_tx		*tx;
	struct op_txn		 view;
	inject_done_fn		 done;
	void			*arg;
	int			 code;
	char			*msg;
	struct event		*ev;
	char			**notes;
};

static void
send_job_end(evutil_socket_t fd, short what, void *arg)
{
	struct send_job *j = arg;

	(void)fd;
	(void)what;
	if (j->done != NULL)
		j->done(j->arg, j->code, j->msg);
	event_free(j->ev);
	tx_free(j->tx);
	config_unref(j->cfg);
	if (j->notes != NULL)
		for (char **p = j->notes; *p != NULL; p++)
			free(*p);
	free(j->notes);
	free(j->msg);
	free(j);
}

/* Answers from the loop, never inside the caller's call. */
static void
send_job_answer(struct send_job *j, int code, char *msg)
{
	j->code = code;
	j->msg = msg;
	j->ev = event_new(j->inj->base, -1, 0, send_job_end, j);
	event_active(j->ev, 0, 0);
}

static void
send_job_committed(void *arg, int err)
{
	struct send_job *j = arg;

	tx_set_job(j->tx, NULL);
	if (err != 0)
		send_job_answer(j, OP_DENYSOFT, xasprintf("Queueing failed: %s",
		    strerror(err)));
	else
		send_job_answer(j, OP_OK, xasprintf("Message Queued (%s)",
		    tx_uuid(j->tx)));
}

static void
send_job_pre_send(void *arg, int code, const char *msg)
{
	struct send_job *j = arg;

	(void)code;	/* ignored, as in Haraka */
	(void)msg;
	tx_commit(j->tx, j->inj->q, j->cfg->outbound->always_split,
	    j->cfg->core->me, "", (const char *const *)j->notes,
	    send_job_committed, j);
}

static int
parse_addr(const char *kw, const char *s, struct smtp_addr *a)
{
	char *line = xasprintf("%s:<%s>", kw, s);
	struct slice params;
	const char *why;
	int rc;

	rc = smtp_parse_mail_rcpt(slice_of(line, strlen(line)), kw, 1, a,
	    &params, &why) == SMTP_P_OK && params.len == 0 ? 0 : -1;
	free(line);
	return rc;
}

void
inject_send(struct inject *inj, const char *from, const char *const *to,
    size_t nto, const char *contents, size_t len, unsigned flags,
    const char *const *notes, inject_done_fn done, void *arg)
{
	struct send_job *j = xcalloc(1, sizeof(*j));
	struct smtp_addr fa, *tas;
	struct buf body = BUF_INIT;
	char uuid[UUID_LEN + 1];
	unsigned qflags = 0;
	size_t nn = 0;

	j->inj = inj;
	j->cfg = config_ref(inj->cfg);
	j->done = done;
	j->arg = arg;
	if (notes != NULL) {
		while (notes[nn] != NULL && notes[nn + 1] != NULL)
			nn += 2;
		j->notes = xcalloc(nn + 1, sizeof(*j->notes));
		for (size_t i = 0; i < nn; i++)
			j->notes[i] = xstrdup(notes[i]);
	}
	memset(&fa, 0, sizeof(fa));
	if (from[0] == '\0')
		fa.null = 1;
	else if (parse_addr("FROM", from, &fa) != 0) {
		send_job_answer(j, OP_DENY, xasprintf("Malformed from: %s",
		    from));
		return;
	}
	if (nto == 0) {
		send_job_answer(j, OP_DENY, xstrdup("No recipients for email"));
		return;
	}
	tas = xcalloc(nto, sizeof(*tas));
	for (size_t i = 0; i < nto; i++) {
		if (parse_addr("TO", to[i], &tas[i]) != 0) {
			send_job_answer(j, OP_DENY, xasprintf("Malformed to "
			    "address (%s)", to[i]));
			free(tas);
			return;
		}
		if (tas[i].utf8)
			qflags |= QE_SMTPUTF8;
	}
	if (fa.utf8)
		qflags |= QE_SMTPUTF8;
	msg_prepare(contents, len, flags, &body);
	for (size_t i = 0; i < body.len; i++)
		if ((unsigned char)body.p[i] >= 0x80) {
			qflags |= QE_8BITMIME;
			break;
		}
	uuid_v4(uuid);
	j->tx = tx_new(uuid, 1, &fa, qflags);
	for (size_t i = 0; i < nto; i++)
		tx_add_rcpt(j->tx, &tas[i]);
	free(tas);
	tx_set_message(j->tx, body.p != NULL ? body.p : "", body.len);
	buf_free(&body);
	tx_add_queue_headers(j->tx, j->cfg->outbound->received_header,
	    j->cfg->core->me);
	tx_view(j->tx, &j->view, "", j->cfg->core->me);
	hook_run(OP_HOOK_PRE_SEND_TRANS_EMAIL, &j->view, send_job_pre_send, j);
}

/* --- the plugin ABI's door ------------------------------------------------ */

/* The public entry (outpost/plugin.h): plugins queue mail through the
 * running delivery side. The OP_SEND_* flags are message.h's MSG_*. */
static struct inject *running;

_Static_assert(OP_SEND_DOT_STUFFED == MSG_DOT_STUFFED &&
    OP_SEND_REMOVE_MSGID == MSG_REMOVE_MSGID &&
    OP_SEND_REMOVE_DATE == MSG_REMOVE_DATE, "send_email flags");

struct late_answer {
	op_send_done_fn	 done;
	void		*arg;
	struct event	*ev;
};

static void
answer_not_running(evutil_socket_t fd, short what, void *arg)
{
	struct late_answer *l = arg;

	(void)fd;
	(void)what;
	l->done(l->arg, OP_DENYSOFT, "outbound delivery is not running");
	event_free(l->ev);
	free(l);
}

void
op_send_email(const char *from, const char *const *to, unsigned n,
    const char *contents, unsigned long len, unsigned flags,
    const char *const *notes, op_send_done_fn done, void *arg)
{
	struct late_answer *l;

	if (running != NULL) {
		inject_send(running, from ? from : "", to, n, contents,
		    len, flags & (MSG_DOT_STUFFED | MSG_REMOVE_MSGID |
		    MSG_REMOVE_DATE), notes, done, arg);
		return;
	}
	log_error(SRC, NULL, "op_send_email called while delivery is not "
	    "running");
	if (done == NULL || plugins_event_base() == NULL)
		return;
	l = xcalloc(1, sizeof(*l));
	l->done = done;
	l->arg = arg;
	l->ev = event_new(plugins_event_base(), -1, 0, answer_not_running, l);
	event_active(l->ev, 0, 0);
}

/* --- life ------------------------------------------------------------------ */

struct inject *
inject_new(struct event_base *base, struct config *cfg, struct queue *q)
{
	struct inject *inj = xcalloc(1, sizeof(*inj));

	inj->base = base;
	inj->cfg = config_ref(cfg);
	inj->q = q;
	running = inj;
	return inj;
}

void
inject_configure(struct inject *inj, struct config *cfg)
{
	config_unref(inj->cfg);
	inj->cfg = config_ref(cfg);
}

void
inject_free(struct inject *inj)
{
	if (inj == NULL)
		return;
	if (running == inj)
		running = NULL;
	config_unref(inj->cfg);
	free(inj);
}
