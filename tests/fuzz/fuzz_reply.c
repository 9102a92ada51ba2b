/* libFuzzer target: SMTP replies read one after another off a buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* `d.d{1,3}.d{1,3}`, class 2, 4 or 5. */
static int
extc_shape(const char *s)
{
	size_t i = 1;

	if (s[0] == '\0')
		return 1;
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;

		if (s[i++] != '.')
			return 0;
		while (s[i] >= '0' && s[i] <= '9') {
			i++;
			n++;
		}
		if (n < 1 || n > 3)
			return 0;
	}
	return s[i] == '\0';
}

static void
check_reply(const struct reply *r)
{
	char *reason;
	const char *arg;

	check(r->code >= 200 && r->code <= 599);
	check(extc_shape(r->extc));
	check(r->extc[0] == '\0' || r->extc[0] - '0' == r->code / 100);
	check(r->text != NULL && r->lines != NULL);
	check(r->nlines >= 1 && r->nlines <= REPLY_LINES_MAX);
	for (size_t i = 0; i < r->nlines; i++)
		check(strlen(r->lines[i]) <= REPLY_LINE_MAX);
	reason = reply_reason(r);
	check(reason != NULL);
	free(reason);
	if (reply_has_keyword(r, "SIZE", &arg))
		check(arg != NULL);
	reply_has_keyword(r, "pipelining", NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t off = 0;

	while (off < size) {
		struct reply r = { 0 }, again = { 0 };
		size_t used = 0, used2 = 0, n = size - off;
		char *bad = NULL;
		enum reply_fault fault = (enum reply_fault)-1;
		int e = reply_parse(p + off, n, &r, &used, &bad, &fault);

		if (e == 0) {
			check(used == 0 && bad == NULL && r.text == NULL);
			check(fault == REPLY_FAULT_NONE);
			/* Nothing past the bound is ever waited for. */
			check(n <= REPLY_SIZE_MAX);
			break;
		}
		check(used > 0 && used <= n);
		if (e < 0) {
			check(bad != NULL && strlen(bad) <= 200);
			check(fault > REPLY_FAULT_NONE &&
			    fault <= REPLY_FAULT_SIZE);
			check(strcmp(reply_fault_text(fault),
			    "malformed reply") != 0);
			for (const char *s = bad; *s; s++)
				check(*s >= 0x20 && *s < 0x7f);
			check(r.text == NULL);
			free(bad);
		} else {
			check(e == 1 && bad == NULL);
			check(fault == REPLY_FAULT_NONE);
			check(used <= REPLY_SIZE_MAX);
			check(p[off + used - 1] == '\n');
			check_reply(&r);
			/* The reply alone parses the same; one byte less is
			 * not complete. */
			check(reply_parse(p + off, used, &again, &used2,
			    NULL, NULL) == 1 && used2 == used &&
			    again.code == r.code && again.nlines == r.nlines &&
			    strcmp(again.text, r.text) == 0 &&
			    strcmp(again.extc, r.extc) == 0);
			reply_clear(&again);
			check(reply_parse(p + off, used - 1, &again, &used2,
			    NULL, NULL) == 0);
			reply_clear(&r);
			check(r.text == NULL && r.nlines == 0);
		}
		off += used;
	}
	return 0;
}
