/*
 * queue_verdict: a test plugin on the queue_outbound and
 * pre_send_trans_email hooks. queue_outbound answers with the code named
 * by the message's "X-Verdict: <CODE> [text]" header (OK, DENY,
 * DENYSOFT, DENYDISCONNECT, DENYSOFTDISCONNECT, CONT; none: CONT), after
 * "X-Verdict-Delay: <ms>" milliseconds when given (an answer from the
 * event loop). With OK it writes the message to queue_verdict.ini's
 * [main] dir as <uuid>.eml — it "queued the message itself".
 * pre_send_trans_email appends "<uuid> <rcpt count> <mail from>" to
 * <dir>/pre_send.log and answers DENY (which Outpost must ignore).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "outpost/plugin.h"

struct verdict {
	char			 dir[4096];
	struct event_base	*base;
};

struct later {
	struct op_call	*call;
	int		 code;
	char		 text[256];
	struct event	*ev;
};

/* The value of header name in msg (first line only), or NULL. */
static int
header(const char *msg, unsigned long len, const char *name, char *out,
    size_t size)
{
	size_t nlen = strlen(name);
	const char *p = msg, *end = msg + len;

	while (p < end && *p != '\r') {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > nlen + 1 && strncasecmp(p, name, nlen) == 0 &&
		    p[nlen] == ':') {
			const char *v = p + nlen + 1;
			size_t n;

			while (*v == ' ')
				v++;
			n = (size_t)(eol - v);
			if (n > 0 && v[n - 1] == '\r')
				n--;
			if (n >= size)
				n = size - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return 1;
		}
		p = eol + 1;
	}
	return 0;
}

static int
code_of(const char *name)
{
	static const struct { const char *n; int c; } t[] = {
		{ "OK", OP_OK }, { "DENY", OP_DENY }, { "DENYSOFT", OP_DENYSOFT },
		{ "DENYDISCONNECT", OP_DENYDISCONNECT },
		{ "DENYSOFTDISCONNECT", OP_DENYSOFTDISCONNECT },
		{ "CONT", OP_CONT },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(name, t[i].n) == 0)
			return t[i].c;
	return OP_CONT;
}

static void
answer_later(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;

	(void)fd;
	(void)what;
	op_next(l->call, l->code, l->text[0] ? l->text : NULL);
	event_free(l->ev);
	free(l);
}

static void
on_queue_outbound(struct op_call *call, void *data)
{
	struct verdict *v = data;
	const struct op_txn *t = op_call_txn(call);
	unsigned long len;
	const char *msg = op_txn_message(t, &len);
	char value[300] = "CONT", delay[32], *sp;
	struct later *l;

	header(msg, len, "X-Verdict", value, sizeof(value));
	l = calloc(1, sizeof(*l));
	l->call = call;
	if ((sp = strchr(value, ' ')) != NULL) {
		*sp++ = '\0';
		snprintf(l->text, sizeof(l->text), "%s", sp);
	}
	l->code = code_of(value);
	if (l->code == OP_OK) {
		char path[4400];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.eml", v->dir, op_txn_uuid(t));
		if ((f = fopen(path, "wb")) != NULL) {
			fwrite(msg, 1, len, f);
			fclose(f);
		}
	}
	if (header(msg, len, "X-Verdict-Delay", delay, sizeof(delay))) {
		long ms = atol(delay);
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		l->ev = evtimer_new(v->base, answer_later, l);
		evtimer_add(l->ev, &tv);
		return;
	}
	op_next(call, l->code, l->text[0] ? l->text : NULL);
	free(l);
}

static void
on_pre_send(struct op_call *call, void *data)
{
	struct verdict *v = data;
	const struct op_txn *t = op_call_txn(call);
	char path[4400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pre_send.log", v->dir);
	if ((f = fopen(path, "a")) != NULL) {
		fprintf(f, "%s %u %s\n", op_txn_uuid(t), op_txn_rcpt_count(t),
		    op_txn_mail_from(t));
		fclose(f);
	}
	op_next(call, OP_DENY, "ignored");
}

static int
verdict_init(struct op_env *env, void **data)
{
	struct verdict *v = calloc(1, sizeof(*v));
	char path[4400], line[4000];
	FILE *f;

	snprintf(path, sizeof(path), "%s/queue_verdict.ini",
	    op_config_dir(env));
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			if (strncmp(line, "dir=", 4) == 0)
				snprintf(v->dir, sizeof(v->dir), "%s", line + 4);
		}
		fclose(f);
	}
	v->base = op_event_base(env);
	op_register_hook(env, OP_HOOK_QUEUE_OUTBOUND, on_queue_outbound, 0);
	op_register_hook(env, OP_HOOK_PRE_SEND_TRANS_EMAIL, on_pre_send, 0);
	*data = v;
	return 0;
}

static void
verdict_shutdown(void *data)
{
	free(data);
}

const struct op_plugin outpost_plugin = {
	OUTPOST_PLUGIN_ABI, "queue_verdict", verdict_init, verdict_shutdown
};
