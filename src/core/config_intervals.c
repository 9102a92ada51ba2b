/*
 * config_intervals: outbound.ini temp_fail_intervals, parsed as Haraka
 * parses it (numbers read with JavaScript's Number() rules), with its
 * error messages, and the default schedule derived from maxTempFailures.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "core/log.h"

/* More intervals than this is a configuration error, not a schedule. */
#define MAX_INTERVALS	10000

void
config_default_intervals(unsigned max_temp_failures, double **out, size_t *n)
{
	*n = 0;
	*out = xreallocarray(NULL, max_temp_failures + 1, sizeof(**out));
	for (unsigned i = 1; i < max_temp_failures; i++)
		(*out)[(*n)++] = ldexp(1.0, (int)i + 5);
}

static int
all_of(const char *s, const char *set)
{
	return *s != '\0' && strspn(s, set) == strlen(s);
}

/* JavaScript's Number(s) for a string without blanks; 0 when NaN. */
static int
js_number(const char *s, double *out)
{
	const char *p = s;
	int base = 0, digits = 0;

	if (*s == '\0') {
		*out = 0;
		return 1;
	}
	if (s[0] == '0' && s[1] != '\0' && strchr("xob", s[1]) != NULL) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		if (!all_of(s + 2, base == 16 ? "0123456789abcdef" :
		    base == 8 ? "01234567" : "01"))
			return 0;
		*out = (double)strtoull(s + 2, NULL, base);
		return 1;
	}
	if (*p == '+' || *p == '-')
		p++;
	for (; isdigit((unsigned char)*p); p++)
		digits++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	if (digits == 0)
		return 0;
	if (*p == 'e') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p != '\0')
		return 0;
	*out = strtod(s, NULL);
	return 1;
}

static void
syntax_error(size_t elem, const char *msg)
{
	log_error("core", NULL, "temp_fail_intervals syntax error parsing "
	    "element %zu: %s", elem, msg);
	log_warn("core", NULL, "Setting outbound temp_fail_intervals to old "
	    "defaults");
}

/* One element: "<n><unit>[*<count>]". Returns 0, or -1 after an error. */
static int
element(char *el, size_t i, double **out, size_t *n)
{
	char *star = strchr(el, '*'), *span = el;
	double mult = 1, num, secs;
	size_t len;
	char unit;

	if (star != NULL) {
		*star = '\0';
		if (strchr(star + 1, '*') != NULL) {
			syntax_error(i, "too many *");
			return -1;
		}
		if (!js_number(star + 1, &mult) || !isfinite(mult) ||
		    floor(mult) != mult) {
			syntax_error(i, "multiplier is not an integer");
			return -1;
		}
	}
	len = strlen(span);
	/* Haraka reports this and carries on with the element [QUIRK]. */
	if (len < 2)
		syntax_error(i, "invalid time span");
	unit = len ? span[len - 1] : '\0';
	if (len)
		span[len - 1] = '\0';
	if (!js_number(span, &num)) {
		syntax_error(i, "invalid number or symbol");
		return -1;
	}
	switch (unit) {
	case 's': secs = num; break;
	case 'm': secs = num * 60; break;
	case 'h': secs = num * 3600; break;
	case 'd': secs = num * 86400; break;
	default:
		syntax_error(i, "invalid time span symbol");
		return -1;
	}
	if (!isfinite(secs)) {		/* "1e400s": not a usable delay */
		syntax_error(i, "invalid number or symbol");
		return -1;
	}
	if (!(secs >= 5)) {
		syntax_error(i, "delay time too small, should be >=5 seconds");
		return -1;
	}
	if (mult > MAX_INTERVALS || *n + (size_t)fmax(mult, 0) > MAX_INTERVALS) {
		syntax_error(i, "too many intervals");
		return -1;
	}
	for (double k = 0; k < mult; k++) {
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = secs;
	}
	return 0;
}

static int
parse(const char *spec, double **out, size_t *n)
{
	struct buf s = BUF_INIT;
	char *el, *save = NULL;
	size_t i = 0;
	int rc = 0;

	for (const char *p = spec; *p; p++)
		if (!isspace((unsigned char)*p))
			buf_addc(&s, (char)tolower((unsigned char)*p));
	if (s.len == 0) {
		syntax_error(0, "nothing specified");
		rc = -1;
	} else if (strcmp(s.p, "none") == 0) {
		/* no retries: the first temporary failure bounces */
	} else {
		/* strsep keeps empty elements, as JavaScript's split does. */
		for (save = s.p; rc == 0 && (el = strsep(&save, ",")) != NULL; i++)
			rc = element(el, i, out, n);
		if (rc == 0 && *n == 0) {
			syntax_error(0, "unexpected parsing result");
			rc = -1;
		}
	}
	buf_free(&s);
	return rc;
}

void
config_temp_fail_intervals(const char *spec, unsigned max_temp_failures,
    double **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (spec != NULL && parse(spec, out, n) == 0) {
		if (*out == NULL)
			*out = xcalloc(1, sizeof(**out));
		return;
	}
	free(*out);
	config_default_intervals(max_temp_failures, out, n);
}
