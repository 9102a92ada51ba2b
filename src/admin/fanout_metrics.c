/*
 * fanout_metrics: GET /metrics of a daemon of several workers, one
 * exposition for the whole daemon as one scrape target (contract in
 * fanout_merge.h): each worker's families read back from its text, and
 * every series of the same name and labels summed (counters, histogram
 * buckets, sums and counts, gauges of what each worker holds: open
 * connections, queue entries, record backlog). A few gauges are the
 * same fact seen by each worker and are not summed: build info and the
 * oldest entry's age take the largest, the start time and the free
 * bytes of a file system the smallest. A series only one worker has is
 * added to its family's, so every family stays one block, as the
 * format wants.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/fanout_merge.h"
#include "admin/http.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

enum how { SUM, MAX, MIN };

struct series {
	char	*key;		/* name{labels} */
	double	 v;
};

struct family {
	char		*name;
	char		*help;		/* the rest of the HELP line */
	char		*type;
	enum how	 how;
	struct series	*s;
	size_t		 n, cap;
};

struct fams {
	struct family	*f;
	size_t		 n, cap;
};

static const struct {
	const char	*name;
	enum how	 how;
} kept[] = {
	{ "outpost_build_info", MAX },
	{ "outpost_start_time_seconds", MIN },
	{ "outpost_queue_oldest_entry_age_seconds", MAX },
	{ "outpost_filesystem_free_bytes", MIN },
};

static struct family *
family(struct fams *fs, const char *name, size_t len)
{
	struct family *f;

	for (size_t i = 0; i < fs->n; i++)
		if (strlen(fs->f[i].name) == len &&
		    memcmp(fs->f[i].name, name, len) == 0)
			return &fs->f[i];
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? 2 * fs->cap : 32;
		fs->f = xreallocarray(fs->f, fs->cap, sizeof(*fs->f));
	}
	f = &fs->f[fs->n++];
	memset(f, 0, sizeof(*f));
	f->name = xstrndup(name, len);
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strcmp(f->name, kept[i].name) == 0)
			f->how = kept[i].how;
	return f;
}

static void
add(struct family *f, const char *key, size_t len, double v)
{
	struct series *s;

	for (size_t i = 0; i < f->n; i++) {
		s = &f->s[i];
		if (strlen(s->key) != len || memcmp(s->key, key, len) != 0)
			continue;
		if (f->how == SUM)
			s->v += v;
		else if (f->how == MAX ? v > s->v : v < s->v)
			s->v = v;
		return;
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		f->s = xreallocarray(f->s, f->cap, sizeof(*f->s));
	}
	f->s[f->n++] = (struct series){ xstrndup(key, len), v };
}

/* The end of a sample's name{labels} (label values may hold spaces,
 * quotes and braces, escaped), or NULL. */
static const char *
key_end(const char *p)
{
	p += strcspn(p, "{ \t");
	if (*p != '{')
		return p;
	for (p++; *p != '\0' && *p != '}'; p++)
		if (*p == '"')
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
	return *p == '}' ? p + 1 : NULL;
}

/* The sample name (len bytes) is f's, or its histogram's series. */
static int
member(const struct family *f, const char *name, size_t len)
{
	size_t fl = strlen(f->name);
	const char *rest = name + fl;
	size_t rl = len - fl;

	if (len < fl || memcmp(name, f->name, fl) != 0)
		return 0;
	return rl == 0 || (rl == 7 && memcmp(rest, "_bucket", 7) == 0) ||
	    (rl == 4 && memcmp(rest, "_sum", 4) == 0) ||
	    (rl == 6 && memcmp(rest, "_count", 6) == 0);
}

/* One worker's exposition: 0, or -1 on a line that is not the format. */
static int
read_text(struct fams *fs, char *text)
{
	struct family *cur = NULL;
	char *save = NULL, *end;

	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save)) {
		const char *k;
		size_t nl;
		double v;

		if (strncmp(l, "# HELP ", 7) == 0 ||
		    strncmp(l, "# TYPE ", 7) == 0) {
			char *name = l + 7, *rest = name + strcspn(name, " ");

			cur = family(fs, name, (size_t)(rest - name));
			rest += *rest == ' ';
			if (l[2] == 'H' && cur->help == NULL)
				cur->help = xstrdup(rest);
			else if (l[2] == 'T' && cur->type == NULL)
				cur->type = xstrdup(rest);
			continue;
		}
		if (l[0] == '#' || l[0] == '\0')
			continue;
		if ((k = key_end(l)) == NULL || (*k != ' ' && *k != '\t'))
			return -1;
		v = strtod(k, &end);
		if (end == k)
			return -1;
		nl = strcspn(l, "{ \t");
		/* A sample belongs to the family above it (a histogram's
		 * _bucket, _sum, _count too). */
		if (cur == NULL || !member(cur, l, nl))
			cur = family(fs, l, nl);
		add(cur, l, (size_t)(k - l), v);
	}
	return 0;
}

static void
number(struct buf *b, double v)
{
	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(b, "%.0f", v);
	else
		buf_printf(b, "%.15g", v);
}

void
fanout_merge_metrics(struct admin_req *r, const struct fan_reply *rep,
    unsigned n)
{
	struct fams fs = { NULL, 0, 0 };
	struct buf b = BUF_INIT;
	int bad = -1;

	for (unsigned i = 0; i < n && bad < 0; i++) {
		char *text;

		if (rep[i].code != 200) {
			admin_reply(r, rep[i].code, rep[i].type != NULL ?
			    rep[i].type : "text/plain", rep[i].body,
			    rep[i].len);
			bad = (int)n;
			break;
		}
		text = xstrndup(rep[i].body, rep[i].len);
		if (read_text(&fs, text) != 0)
			bad = (int)i;
		free(text);
	}
	if (bad >= 0 && bad < (int)n)
		admin_error(r, 502, "worker %d: /metrics is not Prometheus' "
		    "text format", bad);
	for (size_t i = 0; i < fs.n; i++) {
		struct family *f = &fs.f[i];

		if (bad < 0) {
			if (f->help != NULL)
				buf_printf(&b, "# HELP %s %s\n", f->name,
				    f->help);
			if (f->type != NULL)
				buf_printf(&b, "# TYPE %s %s\n", f->name,
				    f->type);
		}
		for (size_t k = 0; k < f->n; k++) {
			if (bad < 0) {
				buf_printf(&b, "%s ", f->s[k].key);
				number(&b, f->s[k].v);
				buf_addc(&b, '\n');
			}
			free(f->s[k].key);
		}
		free(f->s);
		free(f->name);
		free(f->help);
		free(f->type);
	}
	free(fs.f);
	if (bad < 0)
		admin_reply(r, 200, rep[0].type != NULL ? rep[0].type :
		    "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	buf_free(&b);
}
