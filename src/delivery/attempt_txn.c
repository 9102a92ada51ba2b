/*
 * attempt_txn: one transaction of an attempt on its connection: the
 * recipients of the current batch (shape_batch) and the message, from
 * memory when it was just committed, else pulled from its body file in
 * blocks; the recipients a failed batch leaves unsent; and what a host's
 * failure leaves for the next host or the verdict.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "core/log.h"
#include "core/verp.h"
#include "delivery/attempt_priv.h"
#include "delivery/mta_error.h"
#include "delivery/mta_session.h"
#include "delivery/smtputf8.h"
#include "lib/xmalloc.h"
#include "queue/body.h"
#include "queue/queue.h"

#define SRC		"outbound"

/* The transaction's pull source over the body file. */
static ssize_t
body_read(void *arg, char *buf, size_t n)
{
	struct attempt *a = arg;
	ssize_t r = qbody_read(a->body, buf, n);

	if (r == -1 && a->body_why == NULL)
		a->body_why = xstrdup(qbody_error(a->body, &a->body_err));
	return r;
}

void
attempt_send_txn(struct attempt *a, mta_done_fn done)
{
	struct mta_msg msg;
	struct smtputf8_env u8;
	/* A VERP return path (core/verp.h) when configured; the records
	 * keep the entry's own sender. */
	char *verp = verp_return_path(a->e->mail_from, a->e->id,
	    a->bcnt == 1 ? a->addrs[a->boff] : NULL);

	memset(&msg, 0, sizeof(msg));
	msg.mail_from = verp != NULL ? verp : a->e->mail_from;
	msg.rcpts = a->addrs + a->boff;
	msg.nrcpts = a->bcnt;
	if (a->m != NULL) {
		msg.data = a->m->data;
		msg.len = a->m->len;
	} else {
		qbody_rewind(a->body);
		a->src.len = a->e->msg_len;
		a->src.read = body_read;
		a->src.arg = a;
		msg.body = &a->src;
	}
	msg.eightbit = (a->e->flags & QE_8BITMIME) != 0;
	smtputf8_envelope(a->e->flags, &msg, &u8);
	mta_session_send(a->sess, &msg, done, a);	/* copies u8's */
	smtputf8_env_free(&u8);
	free(verp);
}

void
attempt_rest_failed(struct attempt *a, size_t off, const struct outcome *o,
    const char *why)
{
	for (size_t i = off; i < a->n; i++)
		if (o != NULL)
			outcome_copy(&a->out[i], o);
		else
			outcome_local(&a->out[i], FAIL_TEMP, 451, "4.4.2",
			    "%s: not sent, %s", a->host, why);
}

void
attempt_host_failed(struct attempt *a, const struct mta_result *r, int retry,
    const struct outcome *mail)
{
	if (retry && !a->retried) {
		a->retried = 1;
		a->cur--;	/* the same host, a fresh connection */
	} else {
		log_notice(SRC, a->e->id, "%s: %s; trying the next MX",
		    a->host, mail->msg ? mail->msg : r->error ? r->error :
		    "connection failed");
		if (mail->msg == NULL || mail->class != FAIL_PERM)
			a->host_temp = 1;
	}
	free(a->last_error);
	a->last_error = xstrdup(mail->msg ? mail->msg : r->error ?
	    r->error : "connection failed");
	/* A permanent reply is kept only while no MX failed
	 * temporarily (tried_all). */
	if (mail->msg != NULL &&
	    (mail->class != FAIL_PERM || !a->host_temp)) {
		if (a->host_fail == NULL)
			a->host_fail = xcalloc(1,
			    sizeof(*a->host_fail));
		outcome_copy(a->host_fail, mail);
		/* A reply's server, for the records, as when it
		 * ends the attempt itself. */
		snprintf(a->ip, sizeof(a->ip), "%s", mail->remote ?
		    r->remote_ip : "");
		snprintf(a->local_ip, sizeof(a->local_ip), "%s",
		    mail->remote ? r->local_ip : "");
		a->port = mail->remote ? r->port : 0;
	}
}
