/*
 * report/parse_json: outbound_logger's JSON lines (parse.h). Takes any
 * JSON object — nested values are checked and skipped, at most 32 deep —
 * and keeps the keys the plugin writes; strings are unescaped (\u
 * escapes to UTF-8, a lone surrogate to U+FFFD, NUL dropped).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/parse.h"

#define NONE		SIZE_MAX
#define MAX_DEPTH	32

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

enum { K_TYPE, K_TIME, K_JOB, K_RCPT, K_STATUS, K_REASON, K_DELAY,
	K_BCAT, K_FTYPE, K_N };
static const char *const json_keys[K_N] = {
	"type", "time", "job_id", "recipient", "dsn_status",
	"undelivered_reason", "smtp_delay", "bounce_category", "feedback_type"
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
	else if (strcmp(at(store, str[K_TYPE]), "remote_bounce") == 0)
		r->fb = RP_FB_BOUNCE;
	else if (strcmp(at(store, str[K_TYPE]), "complaint") == 0)
		r->fb = RP_FB_COMPLAINT;
	else
		return -1;
	r->time_ms = str[K_TIME] == NONE ? -1 : rp_time(at(store, str[K_TIME]));
	r->job = at(store, str[K_JOB]);
	r->rcpt = at(store, str[K_RCPT]);
	r->status = at(store, str[K_STATUS]);
	r->reason = at(store, str[K_REASON]);
	r->delay = r->type == RP_DELIVERED && delay >= 0 && delay < 1e12 ?
	    delay : -1;
	if (r->fb != RP_FB_NONE) {	/* feedback: counted apart */
		r->fbkind = at(store, str[r->fb == RP_FB_BOUNCE ? K_BCAT :
		    K_FTYPE]);
		r->delay = -1;
		return 1;
	}
	return 0;
}
