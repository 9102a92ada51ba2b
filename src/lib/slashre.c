/*
 * slashre: "/regex/" in rule files — the slashes, the "\/" escape, and
 * regcomp with the options every rule file uses. Pure.
 */
#include "lib/slashre.h"

#include <stdlib.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"

char *
slashre_parse(const char **pp, regex_t **re)
{
	struct buf b = BUF_INIT;
	const char *p = *pp + 1;
	char err[128], *why = NULL;
	int e;

	*re = NULL;
	for (; *p != '\0' && *p != '/'; p++) {
		if (p[0] == '\\' && p[1] == '/')
			p++;
		else if (p[0] == '\\' && p[1] != '\0')
			buf_addc(&b, *p++);
		buf_addc(&b, *p);
	}
	if (*p != '/') {
		why = xasprintf("unterminated regex '%s'", *pp);
		goto done;
	}
	*re = xmalloc(sizeof(**re));
	if ((e = regcomp(*re, buf_cstr(&b), REG_EXTENDED | REG_ICASE |
	    REG_NOSUB)) != 0) {
		regerror(e, *re, err, sizeof(err));
		why = xasprintf("bad regex /%s/: %s", buf_cstr(&b), err);
		free(*re);
		*re = NULL;
		goto done;
	}
	*pp = p + 1;
done:
	buf_free(&b);
	return why;
}
