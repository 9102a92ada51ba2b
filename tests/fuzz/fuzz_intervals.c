/*
 * libFuzzer target: outbound.ini temp_fail_intervals
 * (core/config_intervals.c). Input: the value. A spec that parses gives
 * the same schedule whatever max_temp_failures is; one that does not gives
 * that setting's default schedule. Oracles: a parsed schedule is 1 to
 * 10,000 finite delays of at least 5 s (or none, for "none"), and written
 * back ("<n>s,..." and "<n>s*<count>,...") it parses to the same schedule.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "core/config.h"
#include "core/log.h"
#include "lib/buf.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_EMERG);	/* syntax errors are expected */
	return 0;
}

static int
same(const double *a, size_t na, const double *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

/* The spec without blanks, lower-case, is "none". */
static int
is_none(const char *s)
{
	const char *w = "none";

	for (; *s; s++) {
		if (isspace((unsigned char)*s))
			continue;
		if (*w == '\0' || tolower((unsigned char)*s) != *w++)
			return 0;
	}
	return *w == '\0';
}

static void
reparse(const char *spec, const double *want, size_t nwant)
{
	double *got;
	size_t n;

	config_temp_fail_intervals(spec, 7, &got, &n);
	check(same(got, n, want, nwant));
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = strndup((const char *)data, size);
	double *a, *b, *def;
	size_t na, nb, ndef;
	struct buf w = BUF_INIT;

	if (spec == NULL)
		abort();
	config_temp_fail_intervals(spec, 2, &a, &na);
	config_temp_fail_intervals(spec, 3, &b, &nb);
	check(a != NULL && b != NULL);
	if (!same(a, na, b, nb)) {
		/* Refused: each got its default. */
		config_default_intervals(3, &def, &ndef);
		check(same(b, nb, def, ndef) && na == 1 && a[0] == 64);
		free(def);
		goto done;
	}
	check(na <= 10000);
	if (na == 0) {
		check(is_none(spec));
		goto done;
	}
	for (size_t i = 0; i < na; i++)
		check(isfinite(a[i]) && a[i] >= 5);
	for (size_t i = 0; i < na; i++)
		buf_printf(&w, "%s%.17gs", i ? "," : "", a[i]);
	reparse(w.p, a, na);
	buf_reset(&w);
	for (size_t i = 0, run; i < na; i += run) {
		for (run = 1; i + run < na && a[i + run] == a[i]; run++)
			;
		buf_printf(&w, "%s %.17gs * %zu", i ? " ," : "", a[i], run);
	}
	reparse(w.p, a, na);
done:
	buf_free(&w);
	free(a);
	free(b);
	free(spec);
	return 0;
}
