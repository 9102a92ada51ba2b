/*
 * report/parse: record lines into struct rp_record (parse.h). The JSON
 * reader takes any JSON object (nested values are checked and skipped,
 * at most 32 deep) and keeps the keys outbound_logger writes; the
 * accounting reader undoes accounting_files' escaping — RFC 4180 for
 * CSV, backslash escapes otherwise — and maps columns by the header's
 * names, so custom [fields] lists read as well as the defaults.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/parse.h"

#define NONE		SIZE_MAX
#define MAX_DEPTH	32
#define MAX_COLS	128
#define NORM_MAX	100

/* --- JSON --------------------------------------------------------------- */

struct jp {
	const char	*p, *end;
	struct buf	*store;
};

static void
ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static void
put_utf8(struct buf *b, uint32_t c)
{
	if (c == 0)
		return;			/* a C string cannot hold it */
	if (c < 0x80)
		buf_addc(b, (char)c);
	else if (c < 0x800) {
		buf_addc(b, (char)(0xc0 | c >> 6));
		buf_addc(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_addc(b, (char)(0xe0 | c >> 12));
		buf_addc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_addc(b, (char)(0xf0 | c >> 18));
		buf_addc(b, (char)(0x80 | ((c >> 12) & 0x3f)));
		buf_addc(b, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (c & 0x3f)));
	}
}

static int
hex4(struct jp *j, uint32_t *out)
{
	uint32_t v = 0;

	if (j->end - j->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A string at j->p (its quote): unescaped into the store, NUL-ended;
 * *off its offset there. */
static int
jstring(struct jp *j, size_t *off)
{
	struct buf *b = j->store;
	uint32_t c, lo;

	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	*off = b->len;
	while (j->p < j->end && *j->p != '"') {
		if ((unsigned char)*j->p < 0x20)
			return -1;
		if (*j->p != '\\') {
			buf_addc(b, *j->p++);
			continue;
		}
		if (++j->p >= j->end)
			return -1;
		switch (*j->p++) {
		case '"':  buf_addc(b, '"'); break;
		case '\\': buf_addc(b, '\\'); break;
		case '/':  buf_addc(b, '/'); break;
		case 'b':  buf_addc(b, '\b'); break;
		case 'f':  buf_addc(b, '\f'); break;
		case 'n':  buf_addc(b, '\n'); break;
		case 'r':  buf_addc(b, '\r'); break;
		case 't':  buf_addc(b, '\t'); break;
		case 'u':
			if (hex4(j, &c) != 0)
				return -1;
			if (c >= 0xd800 && c < 0xdc00 && j->end - j->p >= 6 &&
			    j->p[0] == '\\' && j->p[1] == 'u') {
				j->p += 2;
				if (hex4(j, &lo) != 0)
					return -1;
				if (lo >= 0xdc00 && lo < 0xe000)
					c = 0x10000 + ((c - 0xd800) << 10) +
					    (lo - 0xdc00);
				else {
					put_utf8(b, 0xfffd);
					c = lo;
				}
			}
			if (c >= 0xd800 && c < 0xe000)
				c = 0xfffd;
			put_utf8(b, c);
			break;
		default:
			return -1;
		}
	}
	if (j->p >= j->end)
		return -1;
	j->p++;
	buf_addc(b, '\0');
	return 0;
}

/* A number (JSON's grammar); *out its value. */
static int
jnumber(struct jp *j, double *out)
{
	const char *s = j->p;
	char tmp[64];

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end || !isdigit((unsigned char)*j->p))
		return -1;
	if (*j->p == '0')
		j->p++;
	else
		while (j->p < j->end && isdigit((unsigned char)*j->p))
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		if (++j->p >= j->end || !isdigit((unsigned char)*j->p))
			return -1;
		while (j->p < j->end && isdigit((unsigned char)*j->p))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || !isdigit((unsigned char)*j->p))
			return -1;
		while (j->p < j->end && isdigit((unsigned char)*j->p))
			j->p++;
	}
	if ((size_t)(j->p - s) >= sizeof(tmp))
		*out = 0;		/* absurdly long: valid, not kept */
	else {
		memcpy(tmp, s, (size_t)(j->p - s));
		tmp[j->p - s] = '\0';
		*out = strtod(tmp, NULL);
	}
	return 0;
}

static int
jword(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

/* A value; strings land in the store (*off), numbers in *num. */
enum jkind { J_STRING, J_NUMBER, J_OTHER };

static int	jvalue(struct jp *, int depth, enum jkind *, size_t *off,
		    double *num);

static int
jcompound(struct jp *j, int depth, char close)
{
	enum jkind k;
	size_t off;
	double num;

	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (jstring(j, &off) != 0)
				return -1;
			ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return -1;
		}
		if (jvalue(j, depth + 1, &k, &off, &num) != 0)
			return -1;
		ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == close) {
			j->p++;
			return 0;
		}
		if (*j->p++ != ',')
			return -1;
		ws(j);
	}
}

static int
jvalue(struct jp *j, int depth, enum jkind *k, size_t *off, double *num)
{
	ws(j);
	if (j->p >= j->end || depth > MAX_DEPTH)
		return -1;
	*k = J_OTHER;
	switch (*j->p) {
	case '"':
		*k = J_STRING;
		return jstring(j, off);
	case '{':
		return jcompound(j, depth, '}');
	case '[':
		return jcompound(j, depth, ']');
	case 't':
		return jword(j, "true");
	case 'f':
		return jword(j, "false");
	case 'n':
		return jword(j, "null");
	default:
		*k = J_NUMBER;
		return jnumber(j, num);
	}
}

enum { K_TYPE, K_TIME, K_JOB, K_RCPT, K_STATUS, K_REASON, K_DELAY, K_N };
static const char *const json_keys[K_N] = {
	"type", "time", "job_id", "recipient", "dsn_status",
	"undelivered_reason", "smtp_delay"
};

static const char *
at(const struct buf *store, size_t off)
{
	return off == NONE ? NULL : store->p + off;
}

int
rp_json_line(const char *line, size_t len, struct rp_record *r,
    struct buf *store)
{
	struct jp j = { line, line + len, store };
	size_t str[K_N], key, off;
	double num, delay = -1;
	enum jkind k;
	int which;

	buf_reset(store);
	for (int i = 0; i < K_N; i++)
		str[i] = NONE;
	ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return -1;
	j.p++;
	ws(&j);
	if (j.p < j.end && *j.p == '}')
		return -1;		/* {}: no type */
	for (;;) {
		if (jstring(&j, &key) != 0)
			return -1;
		which = -1;
		for (int i = 0; i < K_N; i++)
			if (strcmp(store->p + key, json_keys[i]) == 0)
				which = i;
		ws(&j);
		if (j.p >= j.end || *j.p++ != ':')
			return -1;
		if (jvalue(&j, 1, &k, &off, &num) != 0)
			return -1;
		if (which == K_DELAY)	/* a number, or a number in a string */
			delay = k == J_NUMBER ? num : k == J_STRING ?
			    strtod(store->p + off, NULL) : -1;
		else if (which >= 0)
			str[which] = k == J_STRING ? off : NONE;
		ws(&j);
		if (j.p >= j.end)
			return -1;
		if (*j.p == '}')
			break;
		if (*j.p++ != ',')
			return -1;
		ws(&j);
	}
	j.p++;
	ws(&j);
	if (j.p != j.end || str[K_TYPE] == NONE)
		return -1;
	memset(r, 0, sizeof(*r));
	if (strcmp(at(store, str[K_TYPE]), "delivered") == 0)
		r->type = RP_DELIVERED;
	else if (strcmp(at(store, str[K_TYPE]), "deferred") == 0)
		r->type = RP_DEFERRED;
	else if (strcmp(at(store, str[K_TYPE]), "bounced") == 0)
		r->type = RP_BOUNCED;
	else
		return -1;
	r->time_ms = str[K_TIME] == NONE ? -1 : rp_time(at(store, str[K_TIME]));
	r->job = at(store, str[K_JOB]);
	r->rcpt = at(store, str[K_RCPT]);
	r->status = at(store, str[K_STATUS]);
	r->reason = at(store, str[K_REASON]);
	r->delay = r->type == RP_DELIVERED && delay >= 0 && delay < 1e12 ?
	    delay : -1;
	return 0;
}

/* --- accounting files --------------------------------------------------- */

static const char *const col_names[RC_NCOLS] = {
	"type", "timeLogged", "timeQueued", "rcpt", "jobId", "dsnStatus",
	"dsnMsg", "bounceCat"
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
		if (deflt < 0 || deflt >= RP_NTYPES)
			return -1;
		r->type = (enum rp_type)deflt;
	} else if (strcmp(t, "d") == 0)
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
