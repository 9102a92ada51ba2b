/*
 * abi: what a plugin reads during a call (include/outpost/plugin.h):
 * op_log, the call's hook and argument block (op_call_*), and the
 * transaction accessors (op_txn_*). Reads struct op_call; owns nothing.
 * op_next is the runner's (hooks.c), op_next_mx delivery's (route.c).
 */
#include "plugins/hooks.h"

#include <stdarg.h>
#include <string.h>

#include "core/log.h"

void
op_log(int level, const char *source, const char *uuid, const char *fmt, ...)
{
	va_list ap;

	if (level < LOG_EMERG || level > LOG_DATA)
		level = LOG_INFO;
	va_start(ap, fmt);
	log_vemit(level, source, uuid, NULL, 0, fmt, ap);
	va_end(ap);
}

enum op_hook
op_call_hook(const struct op_call *c)
{
	return c->hook;
}

const struct op_log_record *
op_call_log(const struct op_call *c)
{
	return c->hook == OP_HOOK_LOG ? c->args : NULL;
}

const struct op_txn *
op_call_txn(const struct op_call *c)
{
	return c->hook == OP_HOOK_QUEUE_OUTBOUND ||
	    c->hook == OP_HOOK_PRE_SEND_TRANS_EMAIL ? c->args : NULL;
}

const char *
op_txn_uuid(const struct op_txn *t)
{
	return t->uuid;
}

const char *
op_txn_mail_from(const struct op_txn *t)
{
	return t->mail_from;
}

unsigned
op_txn_rcpt_count(const struct op_txn *t)
{
	return t->nrcpts;
}

const char *
op_txn_rcpt(const struct op_txn *t, unsigned i)
{
	return i < t->nrcpts ? t->rcpts[i] : NULL;
}

const char *
op_txn_remote_ip(const struct op_txn *t)
{
	return t->remote_ip;
}

const char *
op_txn_helo(const struct op_txn *t)
{
	return t->helo;
}

const char *
op_txn_message(const struct op_txn *t, unsigned long *len)
{
	if (len != NULL)
		*len = t->msglen;
	return t->msg;
}

int
op_txn_set_note(struct op_call *c, const char *key, const char *value)
{
	const struct op_txn *t = op_call_txn(c);
	size_t n = key != NULL ? strlen(key) : 0;

	if (t == NULL || t->set_note == NULL || value == NULL || n == 0 ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-.") != n)
		return -1;
	t->set_note(t->note_arg, key, value);
	return 0;
}

static int
outbound_hook(enum op_hook h)
{
	return h == OP_HOOK_SEND_EMAIL || h == OP_HOOK_GET_MX ||
	    h == OP_HOOK_DEFERRED || h == OP_HOOK_BOUNCE ||
	    h == OP_HOOK_DELIVERED;
}

const struct op_outbound *
op_call_outbound(const struct op_call *c)
{
	return outbound_hook(c->hook) ?
	    &((const struct outbound_call *)c->args)->pub : NULL;
}

const struct op_feedback *
op_call_feedback(const struct op_call *c)
{
	return c->hook == OP_HOOK_FEEDBACK ?
	    (const struct op_feedback *)c->args : NULL;
}
