/*
 * view: fills an attempt's outbound_call for the hooks (entry, recipients
 * with outcomes, server, the event's fields) and reads the seconds in their
 * answers. Writes only a->call, a->hrcpts, a->reasons.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/attempt_priv.h"
#include "delivery/mta_error.h"
#include "delivery/mx.h"
#include "delivery/view.h"
#include "queue/entry.h"

int
view_seconds(const char *msg, long *out)
{
	char *end;
	long v;

	if (msg == NULL)
		return -1;
	errno = 0;
	v = strtol(msg, &end, 10);
	if (end == msg || errno != 0 || v < 0 || v > 365L * 86400)
		return -1;
	while (*end == ' ')
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

void
view_reset(struct attempt *a)
{
	mx_list_free(a->call.mxs, a->call.nmx);
	memset(&a->call, 0, sizeof(a->call));
	a->call.pub.size = sizeof(a->call.pub);
	a->call.pub.id = a->e->id;
	a->call.pub.domain = a->e->domain;
	a->call.pub.mail_from = a->e->mail_from;
	a->call.pub.queue_time = a->e->queue_time;
	a->call.pub.attempts = a->e->attempts;
	a->call.pub.helo = a->e->helo;
	a->call.pub.client_ip = a->e->client_ip;
	a->call.pub.message = a->msg;
	a->call.pub.message_len = a->len;
	a->call.pub.message_size = a->e->msg_len;
	a->call.pub.notes = (const char *const *)a->e->notes;
}

void
view_rcpts(struct attempt *a, int class)
{
	unsigned k = 0;

	for (size_t i = 0; i < a->n; i++) {
		const struct outcome *o = &a->out[i];

		if (class >= 0 && o->class != (enum fail_class)class)
			continue;
		if (a->dropped[i])	/* by the deferred chain: not retried */
			continue;
		free(a->reasons[k]);
		a->reasons[k] = o->msg != NULL ? outcome_words(o) : NULL;
		a->hrcpts[k] = (struct op_rcpt){
			.address = a->addrs[i],
			.action = o->msg != NULL ? outcome_action(o) : NULL,
			.status = o->msg != NULL ? o->status : NULL,
			.code = o->code,
			.response = o->msg,
			.reason = a->reasons[k],
			.remote = o->remote,
		};
		k++;
	}
	a->call.pub.rcpts = a->hrcpts;
	a->call.pub.nrcpts = k;
}

static void
view_server(struct attempt *a)
{
	struct op_outbound *p = &a->call.pub;

	if (a->mx == NULL)
		return;
	p->host = a->host;
	p->ip = a->ip[0] ? a->ip : a->mx->path;
	p->port = a->port;
	p->local_ip = a->local_ip[0] ? a->local_ip : NULL;
	p->mode = a->mx->using_lmtp ? "LMTP" : "SMTP";
	p->secured = a->secured;
	p->authenticated = a->authenticated;
	p->route = source_route_name(a);
}

enum fail_class
view_event_class(enum op_hook h)
{
	return h == OP_HOOK_DELIVERED ? FAIL_NONE :
	    h == OP_HOOK_DEFERRED ? FAIL_TEMP : FAIL_PERM;
}

void
view_event(struct attempt *a, enum op_hook h)
{
	struct op_outbound *p = &a->call.pub;

	view_reset(a);
	view_rcpts(a, view_event_class(h));
	view_server(a);
	if (h == OP_HOOK_DELIVERED) {
		p->response = a->response;
		p->delay = a->age;
	} else if (h == OP_HOOK_DEFERRED) {
		p->error = a->temp_err;
		p->delay = a->delay;
	} else
		p->error = a->err;
}
