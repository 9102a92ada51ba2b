/*
 * libFuzzer target: bounce classification (records/bouncecat.c) of any
 * failure with the built-in rules. Input: "code<TAB>status<TAB>text", as
 * in tests/data/bounces.tsv (a missing field is absent). Oracles: the
 * category is one of the 17; no text and an empty text are the same; a
 * malformed status counts as no status and a well-formed one as its
 * numbers (leading zeros aside); matching ignores ASCII case.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "records/bouncecat.h"

static struct bouncecat *bc;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	bc = bouncecat_new();
	return 0;
}

/* RFC 3463's shape as bouncecat reads it: d.d{1,3}.d{1,3}. Writes the
 * same numbers without leading zeros into canon. */
static int
status_ok(const char *s, char *canon, size_t size)
{
	unsigned v[3];
	int n[3] = { 0, 0, 0 }, part = 0;

	v[0] = v[1] = v[2] = 0;
	for (; *s; s++) {
		if (*s == '.' && part < 2 && n[part] > 0) {
			part++;
			continue;
		}
		if (*s < '0' || *s > '9')
			return 0;
		v[part] = v[part] * 10 + (unsigned)(*s - '0');
		if (++n[part] > (part == 0 ? 1 : 3))
			return 0;
	}
	if (part != 2 || n[2] == 0)
		return 0;
	snprintf(canon, size, "%u.%u.%u", v[0], v[1], v[2]);
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = strndup((const char *)data, size), *p = in, *f[3];
	char canon[32];
	enum bounce_cat cat;
	int code = 0;

	if (in == NULL)
		abort();
	for (int i = 0; i < 3; i++)
		f[i] = p != NULL ? strsep(&p, i < 2 ? "\t" : "") : NULL;
	if (f[0] != NULL)
		code = atoi(f[0]);
	cat = bouncecat_classify(bc, code, f[1], f[2]);
	check((int)cat >= 0 && cat < BC_COUNT);
	check(bouncecat_parse(bouncecat_name(cat)) == (int)cat);
	if (f[2] == NULL)
		check(bouncecat_classify(bc, code, f[1], "") == cat);
	else if (*f[2] == '\0')
		check(bouncecat_classify(bc, code, f[1], NULL) == cat);
	if (f[1] != NULL && *f[1] != '\0') {
		if (!status_ok(f[1], canon, sizeof(canon)))
			check(bouncecat_classify(bc, code, NULL, f[2]) == cat);
		else
			check(bouncecat_classify(bc, code, canon, f[2]) == cat);
	}
	if (f[2] != NULL) {
		for (char *s = f[2]; *s; s++)
			*s = (char)(isupper((unsigned char)*s) ?
			    tolower((unsigned char)*s) : toupper((unsigned char)*s));
		check(bouncecat_classify(bc, code, f[1], f[2]) == cat);
	}
	free(in);
	return 0;
}
