/*
 * mtasts_policy: parsers of the MTA-STS TXT record and policy file and the
 * MX pattern match (RFC 8461 3.1, 3.2, 4.1). Pure: the caller owns every
 * string; a parsed policy owns its patterns.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"
#include "proto/mtasts_policy.h"

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

int
mtasts_txt_parse(const char *txt, char id[MTASTS_ID_MAX + 1])
{
	const char *p = txt, *f, *end;
	int have_id = 0;

	id[0] = '\0';
	/* RFC 8461 3.1: the record starts with "v=STSv1;". */
	if (strncmp(p, "v=STSv1", 7) != 0)
		return 0;
	p += 7;
	while (is_wsp(*p))
		p++;
	if (*p != ';' && *p != '\0')
		return 0;		/* v=STSv10...: not ours */
	while (*p != '\0') {
		if (*p == ';' || is_wsp(*p)) {
			p++;
			continue;
		}
		f = p;
		while (*p != '\0' && *p != ';')
			p++;
		end = p;
		while (end > f && is_wsp(end[-1]))
			end--;
		if (end - f > 3 && strncmp(f, "id=", 3) == 0) {
			size_t n = (size_t)(end - f - 3);

			if (have_id)
				continue;	/* the first one counts */
			if (n > MTASTS_ID_MAX)
				return -1;
			for (size_t i = 0; i < n; i++)
				if (!isalnum((unsigned char)f[3 + i]))
					return -1;
			memcpy(id, f + 3, n);
			id[n] = '\0';
			have_id = 1;
		} else if (end - f == 3 && strncmp(f, "id=", 3) == 0)
			return -1;
		else if (memchr(f, '=', (size_t)(end - f)) == NULL)
			return -1;	/* not a field */
	}
	return have_id ? 1 : -1;
}

void
mtasts_policy_clear(struct mtasts_policy *p)
{
	for (size_t i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	memset(p, 0, sizeof(*p));
}

/* A pattern: `*.` at most at its start, then LDH labels with dots. */
static int
pattern_ok(const char *v, size_t n)
{
	size_t i = 0, label = 0;

	if (n >= 2 && v[0] == '*' && v[1] == '.')
		i = 2;
	if (i == n || n > 255)
		return 0;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0;		/* no empty last label */
}

static int
digits(const char *v, size_t n, unsigned long *out)
{
	unsigned long x = 0;

	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		x = x * 10 + (unsigned long)(v[i] - '0');
	}
	*out = x > MTASTS_MAX_AGE_MAX ? MTASTS_MAX_AGE_MAX : x;
	return 0;
}

static int
field_is(const char *k, size_t kn, const char *name)
{
	return kn == strlen(name) && strncmp(k, name, kn) == 0;
}

/* One `key: value` line; -1 with *why on a bad value of a known key. */
static int
policy_line(struct mtasts_policy *p, const char *k, size_t kn,
    const char *v, size_t vn, unsigned *seen, const char **why)
{
	if (field_is(k, kn, "version")) {
		if (*seen & 1)
			return 0;
		*seen |= 1;
		if (vn != 5 || strncmp(v, "STSv1", 5) != 0) {
			*why = "version is not STSv1";
			return -1;
		}
	} else if (field_is(k, kn, "mode")) {
		if (*seen & 2)
			return 0;
		*seen |= 2;
		if (vn == 7 && strncmp(v, "enforce", 7) == 0)
			p->mode = MTASTS_MODE_ENFORCE;
		else if (vn == 7 && strncmp(v, "testing", 7) == 0)
			p->mode = MTASTS_MODE_TESTING;
		else if (vn == 4 && strncmp(v, "none", 4) == 0)
			p->mode = MTASTS_MODE_NONE;
		else {
			*why = "mode is not enforce, testing or none";
			return -1;
		}
	} else if (field_is(k, kn, "max_age")) {
		if (*seen & 4)
			return 0;
		*seen |= 4;
		if (digits(v, vn, &p->max_age) == -1) {
			*why = "max_age is not a number of seconds";
			return -1;
		}
	} else if (field_is(k, kn, "mx")) {
		char *m;

		if (vn > 0 && v[vn - 1] == '.')
			vn--;
		if (!pattern_ok(v, vn)) {
			*why = "an mx pattern is not a host name";
			return -1;
		}
		if (p->nmx == MTASTS_MX_MAX) {
			*why = "too many mx patterns";
			return -1;
		}
		m = xstrndup(v, vn);
		for (char *c = m; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		p->mx = xreallocarray(p->mx, p->nmx + 1, sizeof(*p->mx));
		p->mx[p->nmx++] = m;
	}
	return 0;
}

int
mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
    const char **why)
{
	const char *s = text, *end = text + len;
	unsigned seen = 0;

	memset(p, 0, sizeof(*p));
	*why = NULL;
	if (len > MTASTS_POLICY_MAX) {
		*why = "the policy is too large";
		return -1;
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl != NULL ? nl : end, *colon, *k, *v, *ve;
		size_t kn;

		if (le > s && le[-1] == '\r')
			le--;
		if (memchr(s, '\0', (size_t)(le - s)) != NULL) {
			*why = "a NUL byte in the policy";
			goto bad;
		}
		k = s;
		s = nl != NULL ? nl + 1 : end;
		if (le == k)
			continue;		/* an empty line */
		if ((colon = memchr(k, ':', (size_t)(le - k))) == NULL) {
			*why = "a line is not `key: value`";
			goto bad;
		}
		kn = (size_t)(colon - k);
		v = colon + 1;
		ve = le;
		while (v < ve && is_wsp(*v))
			v++;
		while (ve > v && is_wsp(ve[-1]))
			ve--;
		if (policy_line(p, k, kn, v, (size_t)(ve - v), &seen,
		    why) == -1)
			goto bad;
	}
	if (!(seen & 1))
		*why = "no version";
	else if (!(seen & 2))
		*why = "no mode";
	else if (!(seen & 4))
		*why = "no max_age";
	else if (p->nmx == 0 && p->mode != MTASTS_MODE_NONE)
		*why = "no mx";
	if (*why == NULL)
		return 0;
bad:
	mtasts_policy_clear(p);
	return -1;
}

int
mtasts_mx_match(const char *pattern, const char *host)
{
	size_t hn = strlen(host), pn = strlen(pattern);
	const char *dot;

	if (hn > 0 && host[hn - 1] == '.')
		hn--;
	if (pn > 0 && pattern[pn - 1] == '.')
		pn--;
	if (pn >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* One label, then exactly the rest (RFC 8461 4.1). */
		if ((dot = memchr(host, '.', hn)) == NULL || dot == host)
			return 0;
		hn -= (size_t)(dot + 1 - host);
		host = dot + 1;
		pattern += 2;
		pn -= 2;
	}
	return hn == pn && hn > 0 && strncasecmp(host, pattern, hn) == 0;
}

int
mtasts_policy_match(const struct mtasts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->nmx; i++)
		if (mtasts_mx_match(p->mx[i], host))
			return 1;
	return 0;
}

const char *
mtasts_mode_name(enum mtasts_mode m)
{
	switch (m) {
	case MTASTS_MODE_ENFORCE:
		return "enforce";
	case MTASTS_MODE_TESTING:
		return "testing";
	case MTASTS_MODE_NONE:
		break;
	}
	return "none";
}
