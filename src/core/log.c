/*
 * log: Haraka-compatible log records, rendered in one of three shapes and
 * written to stdout one line per record with a single write(2).
 */
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/json.h"
#include "lib/xmalloc.h"
#include "core/worker.h"

static const char *const level_names[] = {
	"EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG",
	"PROTOCOL", "DATA"
};
#define NLEVELS ((int)(sizeof(level_names) / sizeof(level_names[0])))

static const char *const format_names[] = { "DEFAULT", "LOGFMT", "JSON" };

/* A record kept while the log is held, owning its strings. */
struct held {
	struct log_record	 rec;
	struct log_field	*fields;
	long long		 ts_ms;
};

static struct {
	int		 level;
	enum log_format	 format;
	int		 timestamps;
	int		 color;		/* -1 auto */
	int		 fd;
	log_sink_fn	 sink;
	void		*sink_arg;
	int		 in_sink;
	int		 held;
	struct held	*hold;
	size_t		 nhold;
	log_tap_fn	 tap;
} L = { LOG_WARN, LOG_FMT_DEFAULT, 0, -1, 1, NULL, NULL, 0, 0, NULL, 0,
    NULL };

const char *
log_level_name(int level)
{
	return level >= 0 && level < NLEVELS ? level_names[level] : "UNKNOWN";
}

int
log_level_parse(const char *s)
{
	if (s[0] != '\0' && s[1] == '\0' && isdigit((unsigned char)s[0]))
		return s[0] - '0';
	if (strncasecmp(s, "LOG", 3) == 0)
		s += 3;
	for (int i = 0; i < NLEVELS; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_format_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcasecmp(s, format_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_format_name(enum log_format f)
{
	return format_names[f];
}

void log_set_level(int level) { L.level = level; }
int log_get_level(void) { return L.level; }
int log_would(int level) { return level <= L.level; }
void log_set_format(enum log_format f) { L.format = f; }
enum log_format log_get_format(void) { return L.format; }
void log_set_timestamps(int on) { L.timestamps = !!on; }
int log_get_timestamps(void) { return L.timestamps; }
void log_set_color(int c) { L.color = c; }
void log_set_fd(int fd) { L.fd = fd; }

void
log_set_tap(log_tap_fn fn)
{
	L.tap = fn;
}

void
log_set_sink(log_sink_fn fn, void *arg)
{
	L.sink = fn;
	L.sink_arg = arg;
}

/* --- rendering ---------------------------------------------------------- */

/* key=value quoting: quoted when empty or holding space, '=', '"' or '\'. */
static void
kv_value(struct buf *b, const char *v)
{
	if (*v != '\0' && strpbrk(v, " =\"\\") == NULL) {
		buf_adds(b, v);
		return;
	}
	buf_addc(b, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			buf_addc(b, '\\');
		buf_addc(b, *v);
	}
	buf_addc(b, '"');
}

static void
number(struct buf *b, double d)
{
	if (!isfinite(d))
		buf_adds(b, "null");
	else
		buf_printf(b, "%.15g", d);
}

/* A field's value: JSON, or key=value quoting. */
static void
field_value(struct buf *b, const struct log_field *f, int json)
{
	switch (f->type) {
	case LOG_F_STR:
		if (!json)
			kv_value(b, f->v.s ? f->v.s : "");
		else if (f->v.s == NULL)
			buf_adds(b, "null");
		else
			json_string(b, f->v.s);
		break;
	case LOG_F_INT:
		buf_printf(b, "%lld", f->v.i);
		break;
	case LOG_F_DBL:
		number(b, f->v.d);
		break;
	case LOG_F_BOOL:
		buf_adds(b, f->v.b ? "true" : "false");
		break;
	case LOG_F_NULL:
		buf_adds(b, json ? "null" : "\"\"");
		break;
	}
}

static void
kv_field(struct buf *b, const struct log_field *f)
{
	buf_adds(b, f->key);
	buf_addc(b, '=');
	field_value(b, f, 0);
}

/*
 * logfmt and json records are ordered maps: level, uuid, source, message,
 * then the fields; a field whose key is already present replaces that
 * value in place (as merging into a JS object does).
 */
static size_t
merged(const struct log_record *r, struct log_field *out)
{
	size_t n = 0;

	out[n++] = LF_STR("level", log_level_name(r->level));
	out[n++] = LF_STR("uuid", r->uuid);
	out[n++] = LF_STR("source", r->origin);
	out[n++] = LF_STR("message", r->message);
	for (size_t i = 0; i < r->nfields; i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (strcmp(out[j].key, r->fields[i].key) == 0)
				break;
		out[j] = r->fields[i];
		if (j == n)
			n++;
	}
	return n;
}

static void
escape_crlf(struct buf *b, size_t from)
{
	struct buf t = BUF_INIT;

	if (strpbrk(b->p + from, "\r\n") == NULL)
		return;
	for (size_t i = from; i < b->len; i++) {
		if (b->p[i] == '\n')
			buf_adds(&t, "\\n");
		else if (b->p[i] == '\r')
			buf_adds(&t, "\\r");
		else
			buf_addc(&t, b->p[i]);
	}
	b->len = from;
	buf_add(b, t.p, t.len);
	buf_free(&t);
}

void
log_render(struct buf *b, enum log_format fmt, const struct log_record *r)
{
	struct log_field *m;
	size_t n, from = b->len, mlen;

	switch (fmt) {
	case LOG_FMT_DEFAULT:
		buf_printf(b, "[%s] [%s] [%s] ", log_level_name(r->level),
		    r->uuid, r->origin);
		buf_adds(b, r->message);
		/* A message's own trailing newline is not part of the line. */
		mlen = strlen(r->message);
		if (mlen && r->message[mlen - 1] == '\n')
			b->len -= 1 + (mlen > 1 && r->message[mlen - 2] == '\r');
		for (size_t i = 0; i < r->nfields; i++) {
			if (b->len == 0 || b->p[b->len - 1] != ' ')
				buf_addc(b, ' ');
			kv_field(b, &r->fields[i]);
		}
		break;
	case LOG_FMT_LOGFMT:
	case LOG_FMT_JSON:
		m = xreallocarray(NULL, r->nfields + 4, sizeof(*m));
		n = merged(r, m);
		if (fmt == LOG_FMT_JSON)
			buf_addc(b, '{');
		for (size_t i = 0; i < n; i++) {
			if (fmt == LOG_FMT_LOGFMT) {
				if (i)
					buf_addc(b, ' ');
				kv_field(b, &m[i]);
				continue;
			}
			if (i)
				buf_addc(b, ',');
			json_string(b, m[i].key);
			buf_addc(b, ':');
			field_value(b, &m[i], 1);
		}
		if (fmt == LOG_FMT_JSON)
			buf_addc(b, '}');
		free(m);
		break;
	}
	/* One record is one line: CR and LF never reach the output raw. */
	escape_crlf(b, from);
}

void
log_iso_time(char *out, size_t size, long long ts_ms)
{
	time_t secs = (time_t)(ts_ms / 1000);
	struct tm tm;
	char t[25];
	int f[7], ms = (int)(ts_ms % 1000);

	gmtime_r(&secs, &tm);
	if (size < sizeof(t) || tm.tm_year + 1900 < 0 ||
	    tm.tm_year + 1900 > 9999 || ms < 0) {
		snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ms);
		return;
	}
	/* The same text without printf: a record and a log line each
	 * carry one or two of these. */
	f[0] = tm.tm_year + 1900;
	f[1] = tm.tm_mon + 1;
	f[2] = tm.tm_mday;
	f[3] = tm.tm_hour;
	f[4] = tm.tm_min;
	f[5] = tm.tm_sec;
	f[6] = ms;
	memcpy(t, "0000-00-00T00:00:00.000Z", sizeof(t));
	t[0] += (char)(f[0] / 1000);
	t[1] += (char)(f[0] / 100 % 10);
	t[2] += (char)(f[0] / 10 % 10);
	t[3] += (char)(f[0] % 10);
	for (int i = 1; i < 6; i++) {
		t[2 + 3 * i] += (char)(f[i] / 10 % 10);
		t[3 + 3 * i] += (char)(f[i] % 10);
	}
	t[20] += (char)(ms / 100);
	t[21] += (char)(ms / 10 % 10);
	t[22] += (char)(ms % 10);
	memcpy(out, t, sizeof(t));
}

static const char *
level_color(int level)
{
	if (level >= LOG_PROTOCOL)
		return "\033[32m";	/* green */
	if (level == LOG_DEBUG)
		return "\033[90m";	/* grey */
	if (level == LOG_INFO)
		return "\033[36m";	/* cyan */
	if (level == LOG_NOTICE)
		return "\033[34m";	/* blue */
	return "\033[31m";		/* red */
}

void
log_render_line(struct buf *b, enum log_format fmt, long long ts_ms,
    int color, const struct log_record *r)
{
	char ts[80];

	if (ts_ms >= 0)
		log_iso_time(ts, sizeof(ts), ts_ms);
	/* JSON lines stay JSON: the timestamp is a key, and no colour. */
	if (fmt == LOG_FMT_JSON) {
		size_t at = b->len;

		log_render(b, fmt, r);
		if (ts_ms >= 0) {
			char key[64];
			int n = snprintf(key, sizeof(key), "\"timestamp\":\"%s\",", ts);
			struct buf t = BUF_INIT;

			buf_add(&t, b->p + at + 1, b->len - at - 1);
			b->len = at + 1;
			buf_add(b, key, (size_t)n);
			buf_add(b, t.p, t.len);
			buf_free(&t);
		}
		buf_addc(b, '\n');
		return;
	}
	if (ts_ms >= 0)
		buf_printf(b, fmt == LOG_FMT_LOGFMT ? "timestamp=%s " : "%s ", ts);
	if (color)
		buf_adds(b, level_color(r->level));
	log_render(b, fmt, r);
	if (color)
		buf_adds(b, "\033[39m");
	buf_addc(b, '\n');
}

/* --- output ------------------------------------------------------------- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
output(const struct log_record *r, long long ts_ms)
{
	struct buf line = BUF_INIT, plain = BUF_INIT;
	int suppressed = 0, color;

	if (L.sink != NULL && !L.in_sink) {
		log_render(&plain, L.format, r);
		L.in_sink = 1;
		suppressed = L.sink(L.sink_arg, r, buf_cstr(&plain));
		L.in_sink = 0;
		buf_free(&plain);
	}
	if (suppressed)
		return;
	color = L.color == -1 ? isatty(L.fd) : L.color;
	log_render_line(&line, L.format, L.timestamps ? ts_ms : -1,
	    color && L.format != LOG_FMT_JSON, r);
	/* A failure has nowhere left to be reported. */
	(void)write_full(L.fd, line.p, line.len);
	buf_free(&line);
}

static void
hold(const struct log_record *r, long long ts_ms)
{
	struct held *h;

	L.hold = xreallocarray(L.hold, L.nhold + 1, sizeof(*L.hold));
	h = &L.hold[L.nhold++];
	h->ts_ms = ts_ms;
	h->rec.level = r->level;
	h->rec.uuid = xstrdup(r->uuid);
	h->rec.origin = xstrdup(r->origin);
	h->rec.message = xstrdup(r->message);
	h->fields = xreallocarray(NULL, r->nfields + 1, sizeof(*h->fields));
	for (size_t i = 0; i < r->nfields; i++) {
		h->fields[i] = r->fields[i];
		h->fields[i].key = xstrdup(r->fields[i].key);
		if (r->fields[i].type == LOG_F_STR && r->fields[i].v.s != NULL)
			h->fields[i].v.s = xstrdup(r->fields[i].v.s);
	}
	h->rec.fields = h->fields;
	h->rec.nfields = r->nfields;
}

static void
held_free(struct held *h)
{
	for (size_t i = 0; i < h->rec.nfields; i++) {
		free((char *)h->fields[i].key);
		if (h->fields[i].type == LOG_F_STR)
			free((char *)h->fields[i].v.s);
	}
	free(h->fields);
	free((char *)h->rec.uuid);
	free((char *)h->rec.origin);
	free((char *)h->rec.message);
}

static void
replay(void)
{
	size_t n = L.nhold;
	struct held *h = L.hold;

	L.hold = NULL;
	L.nhold = 0;
	for (size_t i = 0; i < n; i++) {
		output(&h[i].rec, h[i].ts_ms);
		held_free(&h[i]);
	}
	free(h);
}

void
log_hold(int on)
{
	L.held = on;
	if (!on)
		replay();
}

void
log_flush_exit(void)
{
	L.sink = NULL;
	L.held = 0;
	replay();
}

int
log_start_failed(int status, char *err)
{
	log_crit("core", NULL, "%s", err);
	log_flush_exit();
	if (!nodes_start_failed(err))
		fprintf(stderr, "outpost: %s\n", err);
	free(err);
	return status;
}

void
log_vemit(int level, const char *origin, const char *uuid,
    const struct log_field *fields, size_t nfields, const char *fmt,
    va_list ap)
{
	struct log_record r;
	char *msg;

	if (!log_would(level))
		return;
	msg = xvasprintf(fmt, ap);
	if (L.tap != NULL)
		L.tap(level, msg);
	r.level = level;
	r.origin = origin ? origin : "core";
	r.uuid = uuid ? uuid : "-";
	r.message = msg;
	r.fields = fields;
	r.nfields = nfields;
	if (L.held)
		hold(&r, now_ms());
	else
		output(&r, now_ms());
	free(msg);
}

void
log_emit(int level, const char *origin, const char *uuid,
    const struct log_field *fields, size_t nfields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, origin, uuid, fields, nfields, fmt, ap);
	va_end(ap);
}
