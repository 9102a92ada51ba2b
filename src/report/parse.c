/*
 * report/parse: accounting lines, times and reason keys (parse.h; the
 * JSON lines are parse_json.c's). The accounting reader undoes
 * accounting_files' escaping — RFC 4180 for CSV, backslash escapes
 * otherwise — and maps columns by the header's names, so custom [fields]
 * lists read as well as the defaults.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/parse.h"

#define MAX_COLS	128
#define NORM_MAX	100

/* --- accounting files --------------------------------------------------- */

static const char *const col_names[RC_NCOLS] = {
	"type", "timeLogged", "timeQueued", "rcpt", "jobId", "dsnStatus",
	"dsnMsg", "bounceCat", "feedbackType"
};

/* Splits a line into fields in the store, each NUL-ended; their offsets
 * in off[]. The number of fields, or -1 (bad quoting, too many). */
static int
split(const struct rp_cols *c, const char *s, size_t len, struct buf *b,
    size_t off[MAX_COLS])
{
	size_t i = 0, seplen = strlen(c->sep), n = 0;

	for (;;) {
		if (n == MAX_COLS)
			return -1;
		off[n++] = b->len;
		if (c->csv && i < len && s[i] == '"') {
			for (i++; ; i++) {
				if (i >= len)
					return -1;
				if (s[i] == '"') {
					if (i + 1 < len && s[i + 1] == '"')
						i++;
					else
						break;
				}
				if (s[i] != '\0')
					buf_addc(b, s[i]);
			}
			i++;
			if (i < len && s[i] != ',')
				return -1;
		} else {
			while (i < len && !(len - i >= seplen &&
			    memcmp(s + i, c->sep, seplen) == 0)) {
				char ch = s[i++];

				if (!c->csv && ch == '\\' && i < len) {
					ch = s[i++];
					ch = ch == 't' ? '\t' : ch == 'r' ?
					    '\r' : ch == 'n' ? '\n' :
					    ch == '0' ? '\0' : ch;
				}
				if (ch != '\0')
					buf_addc(b, ch);
			}
		}
		buf_addc(b, '\0');
		if (i >= len)
			return (int)n;
		i += seplen;		/* past the separator */
	}
}

int
rp_acct_header(const char *line, size_t len, const char *sep,
    struct rp_cols *c)
{
	struct buf b = BUF_INIT;
	size_t off[MAX_COLS], i = 0, start;
	int n, known = 0;

	memset(c, 0, sizeof(*c));
	if (sep == NULL) {
		if (len > 0 && line[0] == '"')
			sep = ",";
		else {
			while (i < len && (isalnum((unsigned char)line[i]) ||
			    line[i] == '_' || line[i] == '-'))
				i++;
			start = i;
			while (i < len && i - start < sizeof(c->sep) - 1 &&
			    !isalnum((unsigned char)line[i]) &&
			    line[i] != '"' && line[i] != '_')
				i++;
			memcpy(c->sep, line + start, i - start);
			c->sep[i - start] = '\0';
			sep = c->sep[0] != '\0' ? c->sep : "\t";
		}
	}
	if (*sep == '\0' || strlen(sep) >= sizeof(c->sep))
		return -1;
	memmove(c->sep, sep, strlen(sep) + 1);
	c->csv = strcmp(c->sep, ",") == 0;
	for (int k = 0; k < RC_NCOLS; k++)
		c->at[k] = -1;
	if ((n = split(c, line, len, &b, off)) < 0) {
		buf_free(&b);
		return -1;
	}
	c->ncols = (size_t)n;
	for (int f = 0; f < n; f++)
		for (int k = 0; k < RC_NCOLS; k++)
			if (strcmp(b.p + off[f], col_names[k]) == 0 &&
			    c->at[k] < 0) {
				c->at[k] = f;
				known++;
			}
	buf_free(&b);
	return known > 0 ? 0 : -1;
}

int
rp_acct_is_header(const char *line, size_t len)
{
	static const char *const names[] = {
		"type", "timeLogged", "timeQueued", "rcpt", "srcType",
		"srcMta", "srcIp", "dlvSourceIp", "destIp", "vmta", "jobId",
		"dsnStatus", "dsnMsg", "delay", "bounceCat", "orig"
	};
	size_t n = 0;

	while (n < len && (isalnum((unsigned char)line[n]) ||
	    line[n] == '_' || line[n] == '-'))
		n++;
	if (n > 7 && strncmp(line, "custom_", 7) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncmp(line, names[i], n) == 0)
			return 1;
	return 0;
}

static const char *
col(const struct rp_cols *c, const struct buf *b, const size_t *off,
    enum rp_col k)
{
	return c->at[k] < 0 ? NULL : b->p + off[c->at[k]];
}

int
rp_acct_line(const struct rp_cols *c, const char *line, size_t len,
    int deflt, struct rp_record *r, struct buf *store)
{
	size_t off[MAX_COLS];
	const char *t;
	long long logged, queued;

	buf_reset(store);
	if (split(c, line, len, store, off) != (int)c->ncols)
		return -1;
	memset(r, 0, sizeof(*r));
	if ((t = col(c, store, off, RC_TYPE)) == NULL) {
		if (deflt == RP_KIND_RB || deflt == RP_KIND_F)
			r->fb = (enum rp_fb)(deflt - RP_NTYPES);
		else if (deflt < 0 || deflt >= RP_NTYPES)
			return -1;
		else
			r->type = (enum rp_type)deflt;
	} else if (strcmp(t, "rb") == 0)
		r->fb = RP_FB_BOUNCE;
	else if (strcmp(t, "f") == 0)
		r->fb = RP_FB_COMPLAINT;
	else if (strcmp(t, "d") == 0)
		r->type = RP_DELIVERED;
	else if (strcmp(t, "df") == 0)
		r->type = RP_DEFERRED;
	else if (strcmp(t, "b") == 0)
		r->type = RP_BOUNCED;
	else
		return -1;
	t = col(c, store, off, RC_LOGGED);
	r->time_ms = logged = t != NULL ? rp_time(t) : -1;
	t = col(c, store, off, RC_QUEUED);
	queued = t != NULL ? rp_time(t) : -1;
	r->delay = r->type == RP_DELIVERED && logged >= 0 && queued >= 0 &&
	    logged >= queued ? (double)(logged - queued) / 1000.0 : -1;
	r->rcpt = col(c, store, off, RC_RCPT);
	r->job = col(c, store, off, RC_JOB);
	r->status = col(c, store, off, RC_STATUS);
	r->reason = col(c, store, off, RC_MSG);
	r->bcat = col(c, store, off, RC_BCAT);
	if (r->fb != RP_FB_NONE) {
		r->fbkind = r->fb == RP_FB_BOUNCE ? r->bcat :
		    col(c, store, off, RC_FTYPE);
		r->delay = -1;
		return 1;
	}
	return 0;
}

int
rp_csv_open(const char *line, size_t len)
{
	int open = 0;

	for (size_t i = 0; i < len; i++)
		if (line[i] == '"')
			open = !open;
	return open;
}

/* --- times and texts ---------------------------------------------------- */

/* n digits at *s into *v. */
static int
digits(const char **s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (!isdigit((unsigned char)**s))
			return -1;
		*v = *v * 10 + (**s - '0');
	}
	return 0;
}

long long
rp_time(const char *s)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, zone = 0, zh, zm;
	int has_zone = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (*s == 'T' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
			return -1;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &sec))
				return -1;
			if (*s == '.') {
				int scale = 100;

				if (!isdigit((unsigned char)*++s))
					return -1;
				for (; isdigit((unsigned char)*s); s++) {
					ms += (*s - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	if (*s == 'Z') {
		has_zone = 1;
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1;

		if (digits(&s, 2, &zh))
			return -1;
		if (*s == ':')
			s++;
		if (digits(&s, 2, &zm) || zh > 23 || zm > 59)
			return -1;
		zone = sign * (zh * 3600 + zm * 60);
		has_zone = 1;
	}
	if (*s != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (has_zone)
		t = timegm(&tm) - zone;
	else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t == (time_t)-1 || t < 0)
		return -1;
	return (long long)t * 1000 + ms;
}

/* The length of an enhanced status ("4.7.1") and its space at s; 0 when
 * s does not start with one. */
static int
is_status(const char *s)
{
	const char *p = s + 1;

	if (*s != '2' && *s != '4' && *s != '5')
		return 0;
	for (int part = 0; part < 2; part++) {
		int n = 0;

		if (*p != '.')
			return 0;
		for (p++; isdigit((unsigned char)*p); p++)
			n++;
		if (n == 0 || n > 3)
			return 0;
	}
	if (*p == ' ')
		p++;
	else if (*p != '\0')
		return 0;
	return (int)(p - s);
}

void
rp_normalise(const char *s, struct buf *out)
{
	size_t start = out->len;
	int n;

	buf_reserve(out, 1);
	while (*s == ' ')
		s++;
	if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) && (s[3] == ' ' || s[3] == '-' ||
	    s[3] == '\0')) {
		s += 3;
		while (*s == ' ' || *s == '-')
			s++;
	}
	if ((n = is_status(s)) > 0)
		s += n;
	while (*s != '\0' && out->len - start < NORM_MAX) {
		const char *w = s, *e;

		if (isspace((unsigned char)*s)) {
			while (isspace((unsigned char)*s))
				s++;
			if (out->len > start)
				buf_addc(out, ' ');
			continue;
		}
		for (e = w; *e != '\0' && !isspace((unsigned char)*e); e++)
			;
		if (memchr(w, '@', (size_t)(e - w)) != NULL ||
		    (*w == '<' && memchr(w, '>', (size_t)(e - w)) != NULL)) {
			const char *gt = memrchr(w, '>', (size_t)(e - w));

			buf_adds(out, "<addr>");
			/* what follows the address: "<a@b>:", "a@b," */
			if (gt != NULL)
				s = gt + 1;
			else
				for (s = e; s > w && strchr(":;,.)]", s[-1]) !=
				    NULL; s--)
					;
		}
		for (; s < e; s++) {
			if (isdigit((unsigned char)*s)) {
				buf_addc(out, '#');
				while (s + 1 < e && isdigit((unsigned char)s[1]))
					s++;
			} else
				buf_addc(out, (unsigned char)*s < 0x20 ||
				    *s == 0x7f ? '?' : *s);
		}
	}
	while (out->len > start && out->p[out->len - 1] == ' ')
		out->len--;
	if (out->len - start > NORM_MAX) {
		out->len = start + NORM_MAX;
		/* not in the middle of a UTF-8 sequence */
		while (out->len > start &&
		    ((unsigned char)out->p[out->len] & 0xc0) == 0x80)
			out->len--;
	}
	out->p[out->len] = '\0';
}
