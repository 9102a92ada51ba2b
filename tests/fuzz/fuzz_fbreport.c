/*
 * libFuzzer target: the feedback report parser (proto/fbreport.c, with
 * GMime, and proto/fbreport_text.c), on any bytes, seeded with the samples
 * of tests/data/feedback. Oracles: the kind is one of four and agrees
 * with the recipients (a DSN or plain bounce names at least one, an ARF
 * report at most its Original-Rcpt-To); every recipient names an address;
 * an action is one lower-case word; a status is an enhanced code
 * ("5.1.1") and a reply code is 2xx-5xx; parsing is deterministic; the
 * text codes reader agrees with itself on the input.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "proto/fbreport.h"
#include "proto/fbreport_text.h"

static int
enhanced(const char *s)
{
	int dots = 0, digits = 0;

	if (*s != '2' && *s != '4' && *s != '5')
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (digits == 0)
				return 0;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)*s)) {
			if (++digits > 3)
				return 0;
		} else
			return 0;
	}
	return dots == 2 && digits > 0;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fb_report r, r2;
	char st[16];
	int c;

	fb_report_parse((const char *)data, size, &r);
	check(r.kind >= FB_UNKNOWN && r.kind <= FB_PLAIN);
	check(r.nrcpts <= 512);
	check(r.kind != FB_DSN || r.nrcpts >= 1);
	check(r.kind != FB_PLAIN || r.nrcpts >= 1);
	check(r.kind != FB_ARF || r.nrcpts <= 1);
	check(r.kind != FB_UNKNOWN || r.nrcpts == 0);
	check((r.original_rcpt_to == NULL) || r.kind != FB_ARF ||
	    (r.nrcpts == 1 && same_str(r.rcpts[0].final_recipient,
	    r.original_rcpt_to)));
	for (size_t i = 0; i < r.nrcpts; i++) {
		const struct fb_rcpt *x = &r.rcpts[i];

		check(x->final_recipient != NULL ||
		    x->original_recipient != NULL);
		check(x->status == NULL || enhanced(x->status));
		check(x->code == 0 || (x->code >= 200 && x->code <= 599));
		if (x->action != NULL) {
			check(*x->action != '\0');
			for (const char *a = x->action; *a; a++)
				check(!isupper((unsigned char)*a) && *a != ' ');
		}
	}
	check(strcmp(fb_kind_name(r.kind), "unknown") != 0 ||
	    r.kind == FB_UNKNOWN);

	fb_report_parse((const char *)data, size, &r2);
	check(r2.kind == r.kind && r2.nrcpts == r.nrcpts);
	check(same_str(r.orig_queue_id, r2.orig_queue_id));
	check(same_str(r.orig_message_id, r2.orig_message_id));
	for (size_t i = 0; i < r.nrcpts; i++)
		check(same_str(r.rcpts[i].final_recipient,
		    r2.rcpts[i].final_recipient) && same_str(
		    r.rcpts[i].diagnostic, r2.rcpts[i].diagnostic));
	fb_report_free(&r2);
	fb_report_free(&r);

	c = fbt_codes((const char *)data, size, st);
	check(c == 0 || (c >= 200 && c <= 599));
	check(st[0] == '\0' || enhanced(st));
	return 0;
}
