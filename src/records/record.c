/*
 * record: what the recording plugins derive alike from an outbound event.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "proto/message.h"
#include "records/record.h"
#include "records/writer.h"

long long
rec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
rec_number(struct buf *b, double v)
{
	char s[64];
	size_t n;

	if (v != v || v > 1e15 || v < -1e15)	/* never NaN in JSON */
		v = 0;
	n = (size_t)snprintf(s, sizeof(s), "%.3f", v);
	while (n > 0 && s[n - 1] == '0')
		n--;
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 2 && s[0] == '-' && s[1] == '0')	/* -0.0001 */
		buf_addc(b, '0');
	else
		buf_add(b, s, n);
}

int
rec_header(const struct op_outbound *o, const char *name, struct buf *out)
{
	if (o->message == NULL)
		return 0;
	return msg_header(o->message, o->message_len, name, out);
}

void
rec_subject(const struct op_outbound *o, struct buf *out)
{
	struct buf raw = BUF_INIT;
	size_t start = out->len;

	if (!rec_header(o, "Subject", &raw)) {
		buf_adds(out, "unknown");
		return;
	}
	msg_decode_2047(raw.p, raw.len, out);
	buf_free(&raw);
	/* Line breaks (a decoded word may hold one) become spaces. */
	for (size_t i = start; i < out->len; i++)
		if (out->p[i] == '\r' || out->p[i] == '\n')
			out->p[i] = ' ';
}

void
rec_reason(struct buf *b, const struct op_rcpt *r)
{
	const char *text = r->response != NULL ? r->response : "";
	const char *p = r->reason;

	if (!r->remote) {
		buf_printf(b, "%d - %s", r->code, text);
		return;
	}
	/* The reply as the remote worded it, after its code: no status it
	 * did not send (dsn_status has the one derived from the code). */
	if (p != NULL && p[0] >= '2' && p[0] <= '5' && p[1] >= '0' &&
	    p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
	    (p[3] == ' ' || p[3] == '\0')) {
		buf_adds(b, p[3] == ' ' ? p + 4 : p + 3);
		return;
	}
	buf_printf(b, "%s%s%s", r->status != NULL ? r->status : "",
	    r->status != NULL && *text ? " " : "", text);
}

static void
written(void *arg)
{
	op_next(arg, OP_CONT, NULL);
}

void
rec_submit(struct rw_stream *s, const struct buf *lines, int sync,
    struct op_call *c)
{
	if (s != NULL && lines->len > 0 && sync) {
		rw_append(s, lines->p, lines->len, written, c);
		return;
	}
	if (s != NULL && lines->len > 0)
		rw_append(s, lines->p, lines->len, NULL, NULL);
	op_next(c, OP_CONT, NULL);
}

const struct op_feedback *
rec_feedback(struct op_call *c, const char *source)
{
	const struct op_feedback *fb = op_call_feedback(c);

	if (fb != NULL && fb->type != NULL && (strcmp(fb->type,
	    "remote_bounce") == 0 || strcmp(fb->type, "complaint") == 0))
		return fb;
	log_error(source, fb != NULL ? fb->id : NULL, "feedback of unknown "
	    "type '%s' not recorded", fb != NULL && fb->type != NULL ?
	    fb->type : "");
	op_next(c, OP_CONT, NULL);
	return NULL;
}
