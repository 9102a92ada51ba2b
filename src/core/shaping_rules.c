/*
 * shaping_rules: parses config/shaping_rules (or the built-in rules, kept
 * as text in the same language and compiled by the same parser) into an
 * array of rules, and finds the first a failure matches. A struct
 * shaping_rules owns its rules and compiled patterns; once parsed it is
 * only read.
 */
#include "core/shaping_rules.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/slashre.h"
#include "lib/xmalloc.h"

#define ANY	(-1)

/*
 * The built-in rules. A greeting of 421 is a server refusing more of us;
 * x.7 statuses carry throttling ("421 4.7.0 Try again later", "451
 * 4.7.650 ... rate limited"), except greylisting, which delays one
 * sender, and mailbox statuses (x.1, x.2: a full or busy mailbox) speak
 * for one recipient, not the destination; then the common wordings.
 */
static const char *const builtin[] = {
	"backoff code 421 greeting",
	"none code 4xx /gr[ae]y.?list/",
	"none status 4.1",
	"none status 4.2",
	"backoff status 4.7",
	"backoff code 4xx /rate.?limit|too many (connections|concurrent"
	    "|sessions|messages)|throttl|(unusual|unexpected|excessive)"
	    " (rate|volume|traffic)|(try|retry) (again )?later"
	    "|temporarily (deferred|rate limited)/",
};

struct srule {
	enum shaping_action	 action;
	unsigned		 seconds;
	char			 code[4];	/* "421", "4xx"; "" any */
	int			 st[3];		/* class, subject, detail */
	int			 has_status;
	int			 greeting;
	regex_t			*re;		/* NULL: any */
	char			*where;
};

struct shaping_rules {
	struct srule	*v;
	size_t		 n;
};

static const struct {
	const char		*name;
	enum shaping_action	 action;
} actions[] = {
	{ "backoff", SHAPING_BACKOFF }, { "suspend", SHAPING_SUSPEND },
	{ "bounce", SHAPING_BOUNCE }, { "none", SHAPING_NONE },
};

long
shaping_duration(const char *s, unsigned max)
{
	static const char units[] = "smhd";
	static const unsigned long mult[] = { 1, 60, 3600, 86400 };
	unsigned long n = 0, m = 1;
	const char *p = s, *u;

	for (; *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (unsigned long)(*p - '0')) > max)
			return -1;
	if (p == s)
		return -1;
	if (*p != '\0') {
		if (p[1] != '\0' || (u = strchr(units, *p)) == NULL)
			return -1;
		m = mult[u - units];
	}
	return n * m > max ? -1 : (long)(n * m);
}

/* --- parsing ---------------------------------------------------------------- */

/* The next blank-separated word of *pp (empty at the end). */
static struct slice
word(const char **pp)
{
	const char *p = *pp + strspn(*pp, " \t");
	size_t n = strcspn(p, " \t");

	*pp = p + n;
	return slice_of(p, n);
}

/* One part of a status: 1 to max digits, or '*' when pattern. */
static int
status_part(const char **pp, int max, int pattern, int *out)
{
	const char *p = *pp;
	int n = 0, v = 0;

	if (pattern && *p == '*') {
		*out = ANY;
		*pp = p + 1;
		return 0;
	}
	for (; *p >= '0' && *p <= '9' && n < max; n++)
		v = v * 10 + (*p++ - '0');
	if (n == 0 || (*p >= '0' && *p <= '9'))
		return -1;
	*out = v;
	*pp = p;
	return 0;
}

/* "c.s.d" into st[]; a pattern may use '*' and leave the detail out. */
static int
status_parse(const char *s, int pattern, int st[3])
{
	const char *p = s;

	if (status_part(&p, 1, pattern, &st[0]) == -1 || *p++ != '.' ||
	    status_part(&p, 3, pattern, &st[1]) == -1)
		return -1;
	st[2] = ANY;
	if (*p == '\0' && pattern)
		return 0;
	if (*p++ != '.' || status_part(&p, 3, pattern, &st[2]) == -1)
		return -1;
	return *p == '\0' ? 0 : -1;
}

static char *
code_parse(struct slice w, struct srule *r)
{
	if (w.len != 3)
		return xasprintf("bad code '%.*s' (421, 4xx)", (int)w.len, w.p);
	for (size_t i = 0; i < 3; i++) {
		char c = w.p[i] == 'X' ? 'x' : w.p[i];

		if (c != 'x' && (c < '0' || c > '9' ||
		    (i == 0 && (c < '2' || c > '5'))))
			return xasprintf("bad code '%.*s' (421, 4xx)",
			    (int)w.len, w.p);
		r->code[i] = c;
	}
	r->code[3] = '\0';
	return NULL;
}

/* The action word and its argument. */
static char *
action_parse(const char **pp, struct srule *r)
{
	struct slice w = word(pp);
	long secs;
	char *arg;

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (slice_caseeq(w, actions[i].name))
			r->action = actions[i].action;
	if (!slice_caseeq(w, "none") && r->action == SHAPING_NONE)
		return xasprintf("unknown action '%.*s' (backoff, suspend "
		    "DURATION, bounce or none)", (int)w.len, w.p);
	if (r->action != SHAPING_SUSPEND)
		return NULL;
	w = word(pp);
	arg = xstrndup(w.p, w.len);
	secs = shaping_duration(arg, SHAPING_SUSPEND_MAX);
	free(arg);
	if (w.len == 0)
		return xstrdup("suspend needs a duration (30s, 10m, 1h)");
	if (secs <= 0)
		return xasprintf("bad duration '%.*s' (30s, 10m, 1h; 1s to "
		    "7d)", (int)w.len, w.p);
	r->seconds = (unsigned)secs;
	return NULL;
}

/* One matcher word at *pp. */
static char *
matcher_parse(const char **pp, struct srule *r)
{
	struct slice w;
	char *s, *why = NULL;

	if (**pp == '/')
		return r->re != NULL ? xstrdup("more than one regex") :
		    slashre_parse(pp, &r->re);
	w = word(pp);
	if (slice_caseeq(w, "greeting")) {
		r->greeting = 1;
		return NULL;
	}
	if (slice_caseeq(w, "code"))
		return r->code[0] != '\0' ? xstrdup("more than one code") :
		    code_parse(word(pp), r);
	if (!slice_caseeq(w, "status"))
		return xasprintf("unexpected '%.*s'", (int)w.len, w.p);
	if (r->has_status)
		return xstrdup("more than one status");
	w = word(pp);
	s = xstrndup(w.p, w.len);
	if (status_parse(s, 1, r->st) == -1)
		why = xasprintf("bad status '%s' (4.7.1, 4.7, *.7.1)", s);
	r->has_status = 1;
	free(s);
	return why;
}

static void
rule_clear(struct srule *r)
{
	if (r->re != NULL) {
		regfree(r->re);
		free(r->re);
	}
	free(r->where);
	memset(r, 0, sizeof(*r));
}

/* 1 for a rule, 0 for a blank or comment line, -1 with *why. */
static int
rule_parse(const char *line, struct srule *r, char **why)
{
	const char *p = line + strspn(line, " \t");

	memset(r, 0, sizeof(*r));
	if (*p == '\0' || *p == '#')
		return 0;
	*why = action_parse(&p, r);
	while (*why == NULL && *(p += strspn(p, " \t")) != '\0')
		*why = matcher_parse(&p, r);
	if (*why == NULL && r->code[0] == '\0' && !r->has_status &&
	    !r->greeting && r->re == NULL)
		*why = xstrdup("no matcher (code, status, greeting or "
		    "/regex/)");
	if (*why == NULL)
		return 1;
	rule_clear(r);
	return -1;
}

static int
rules_add_line(struct shaping_rules *rs, const char *line, char *where,
    char **why)
{
	struct srule r;
	int rc = rule_parse(line, &r, why);

	if (rc != 1) {
		free(where);
		return rc;
	}
	r.where = where;
	rs->v = xreallocarray(rs->v, rs->n + 1, sizeof(*rs->v));
	rs->v[rs->n++] = r;
	return 1;
}

struct shaping_rules *
shaping_rules_parse(const char *name, const char *text, char **err)
{
	struct shaping_rules *rs = xcalloc(1, sizeof(*rs));
	const char *p = text, *eol;
	unsigned lineno = 0;
	char *line, *why = NULL;

	*err = NULL;
	for (; *p != '\0'; p = *eol != '\0' ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		line = xstrndup(p, (size_t)(eol - p));
		if (eol > p && line[eol - p - 1] == '\r')
			line[eol - p - 1] = '\0';
		lineno++;
		if (rules_add_line(rs, line, xasprintf("%s:%u", name, lineno),
		    &why) == -1)
			*err = xasprintf("%s:%u: %s", name, lineno, why);
		free(line);
		free(why);
		why = NULL;
		if (*err != NULL) {
			shaping_rules_free(rs);
			return NULL;
		}
	}
	return rs;
}

struct shaping_rules *
shaping_rules_builtin(void)
{
	struct shaping_rules *rs = xcalloc(1, sizeof(*rs));
	char *why = NULL;

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (rules_add_line(rs, builtin[i],
		    xasprintf("built-in rule %zu", i + 1), &why) != 1)
			abort();	/* a bug, caught by the unit tests */
	return rs;
}

const char *const *
shaping_rules_builtin_lines(size_t *n)
{
	*n = sizeof(builtin) / sizeof(builtin[0]);
	return builtin;
}

void
shaping_rules_free(struct shaping_rules *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_clear(&rs->v[i]);
	free(rs->v);
	free(rs);
}

size_t
shaping_rules_count(const struct shaping_rules *rs)
{
	return rs->n;
}

/* --- matching ---------------------------------------------------------------- */

static int
code_match(const char *pat, int code)
{
	char c[4];

	if (pat[0] == '\0')
		return 1;
	if (code < 200 || code > 599)
		return 0;
	snprintf(c, sizeof(c), "%03d", code);
	for (int i = 0; i < 3; i++)
		if (pat[i] != 'x' && pat[i] != c[i])
			return 0;
	return 1;
}

static int
status_match(const struct srule *r, const int st[3], int have)
{
	if (!r->has_status)
		return 1;
	if (!have)
		return 0;
	for (int i = 0; i < 3; i++)
		if (r->st[i] != ANY && r->st[i] != st[i])
			return 0;
	return 1;
}

struct shaping_hit
shaping_rules_match(const struct shaping_rules *rs, int code,
    const char *status, const char *text, int at_greeting)
{
	struct shaping_hit hit = { SHAPING_NONE, 0, NULL };
	int st[3] = { 0, 0, 0 }, have;

	if (rs == NULL || (code != 0 && code < 400))
		return hit;
	have = status != NULL && status_parse(status, 0, st) == 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct srule *r = &rs->v[i];

		if (!code_match(r->code, code) || !status_match(r, st, have) ||
		    (r->greeting && !at_greeting) || (r->re != NULL &&
		    regexec(r->re, text != NULL ? text : "", 0, NULL, 0) != 0))
			continue;
		hit.action = r->action;
		hit.seconds = r->seconds;
		hit.rule = r->where;
		break;
	}
	return hit;
}
