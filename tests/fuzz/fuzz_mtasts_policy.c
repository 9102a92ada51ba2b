/*
 * libFuzzer target: the MTA-STS policy file and TXT record parsers.
 * Oracles: a parsed policy has a known mode, max_age within the cap, at
 * least one mx unless mode none, and every pattern matches itself (with
 * `*.` one label in front) case-insensitively; a TXT id is 1-32 alnum.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "lib/xmalloc.h"
#include "proto/mtasts_policy.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_policy p;
	const char *why;
	char *txt, id[MTASTS_ID_MAX + 1];
	int r;

	if (mtasts_policy_parse((const char *)data, size, &p, &why) == 0) {
		check(why == NULL);
		check(p.mode <= MTASTS_MODE_ENFORCE);
		check(p.max_age <= MTASTS_MAX_AGE_MAX);
		check(p.nmx > 0 || p.mode == MTASTS_MODE_NONE);
		check(p.nmx <= MTASTS_MX_MAX);
		for (size_t i = 0; i < p.nmx; i++) {
			const char *m = p.mx[i];
			char *host, *up;

			check(*m != '\0' && m[strlen(m) - 1] != '.');
			host = m[0] == '*' ? xasprintf("x%s", m + 1) :
			    xstrdup(m);
			up = xstrdup(host);
			for (char *c = up; *c; c++)
				*c = (char)toupper((unsigned char)*c);
			check(mtasts_mx_match(m, host));
			check(mtasts_mx_match(m, up));
			check(mtasts_policy_match(&p, host));
			if (m[0] == '*')
				check(!mtasts_mx_match(m, m + 2));
			free(host);
			free(up);
		}
		mtasts_policy_clear(&p);
	} else {
		check(why != NULL);
		check(p.mx == NULL && p.nmx == 0);
	}
	txt = xmalloc(size + 1);
	memcpy(txt, data, size);
	txt[size] = '\0';
	r = mtasts_txt_parse(txt, id);
	check(r >= -1 && r <= 1);
	if (r == 1) {
		size_t n = strlen(id);

		check(n >= 1 && n <= MTASTS_ID_MAX);
		for (size_t i = 0; i < n; i++)
			check(isalnum((unsigned char)id[i]));
		check(strncmp(txt, "v=STSv1", 7) == 0);
	}
	free(txt);
	return 0;
}
