/*
 * report/stats: the counters of a report (stats.h). Keys live in open-
 * addressing hash maps (FNV-1a, linear probing) capped at a number of
 * distinct keys each; delays in an array, sampled past its cap
 * (reservoir sampling, a fixed seed: the same input gives the same
 * report).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "report/stats.h"

#define DELAY_KEEP	(1u << 21)	/* 16 MB of delays */

const double rp_delay_bounds[RP_DELAY_BUCKETS - 1] = {
	1, 2, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400
};
const char *const rp_delay_labels[RP_DELAY_BUCKETS] = {
	"< 1s", "1-2s", "2-5s", "5-10s", "10-30s", "30-60s", "1-5m",
	"5-30m", "30-60m", "1-6h", "6-24h", ">= 1d"
};

/* --- maps --------------------------------------------------------------- */

static void
map_init(struct rp_map *m, size_t max)
{
	memset(m, 0, sizeof(*m));
	m->max = max;
	m->other.key = (char *)"(other)";
}

static void
map_free(struct rp_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->used = 0;
}

static uint64_t
hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static struct rp_entry *
slot(struct rp_entry *slots, size_t cap, const char *key)
{
	size_t i = (size_t)hash(key) & (cap - 1);

	while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static void
grow(struct rp_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct rp_entry *slots = xcalloc(cap, sizeof(*slots));

	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			*slot(slots, cap, m->slots[i].key) = m->slots[i];
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
}

/* The entry of key: found, else added, else (past max) "(other)". */
static struct rp_entry *
map_get(struct rp_map *m, const char *key)
{
	struct rp_entry *e;

	if (m->cap > 0) {
		e = slot(m->slots, m->cap, key);
		if (e->key != NULL)
			return e;
	}
	if (m->used >= m->max)
		return &m->other;
	if ((m->used + 1) * 10 > m->cap * 7)
		grow(m);
	e = slot(m->slots, m->cap, key);
	e->key = xstrdup(key);
	m->used++;
	return e;
}

static void
map_count(struct rp_map *m, const char *key, enum rp_type t)
{
	struct rp_entry *e = map_get(m, key);

	e->n[t]++;
	e->total++;
}

static int
by_total(const void *a, const void *b)
{
	const struct rp_entry *x = *(const struct rp_entry *const *)a;
	const struct rp_entry *y = *(const struct rp_entry *const *)b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->key, y->key);
}

const struct rp_entry **
rp_map_top(const struct rp_map *m, size_t limit, size_t *n)
{
	const struct rp_entry **v = xcalloc(m->used + 1, sizeof(*v));
	size_t k = 0;

	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			v[k++] = &m->slots[i];
	qsort(v, k, sizeof(*v), by_total);
	if (limit > 0 && k > limit)
		k = limit;
	if (m->other.total > 0)
		v[k++] = &m->other;
	*n = k;
	return v;
}

static int
by_key(const void *a, const void *b)
{
	return strcmp((*(const struct rp_entry *const *)a)->key,
	    (*(const struct rp_entry *const *)b)->key);
}

const struct rp_entry **
rp_map_by_key(const struct rp_map *m, size_t *n)
{
	const struct rp_entry **v = rp_map_top(m, 0, n);
	size_t k = *n;

	if (k > 0 && v[k - 1] == &m->other)
		k--;
	qsort(v, k, sizeof(*v), by_key);
	return v;
}

/* --- stats -------------------------------------------------------------- */

void
rp_stats_init(struct rp_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->first_ms = s->last_ms = -1;
	map_init(&s->domains, 100000);
	map_init(&s->bcats, 1000);
	map_init(&s->deferrals, 10000);
	map_init(&s->bounces, 10000);
	map_init(&s->days, 10000);
	map_init(&s->jobs, 200000);
	map_init(&s->rcpts, 200000);
	map_init(&s->fb_domains, 100000);
	map_init(&s->fb_bcats, 1000);
	map_init(&s->fb_types, 1000);
	s->rng = 0x9e3779b97f4a7c15ull;
}

void
rp_stats_free(struct rp_stats *s)
{
	map_free(&s->domains);
	map_free(&s->bcats);
	map_free(&s->deferrals);
	map_free(&s->bounces);
	map_free(&s->days);
	map_free(&s->jobs);
	map_free(&s->rcpts);
	map_free(&s->fb_domains);
	map_free(&s->fb_bcats);
	map_free(&s->fb_types);
	free(s->delays);
	s->delays = NULL;
}

static uint64_t
next_rand(struct rp_stats *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static void
add_delay(struct rp_stats *s, double d)
{
	size_t b = 0;
	uint64_t j;

	s->delays_sorted = 0;
	while (b < RP_DELAY_BUCKETS - 1 && d >= rp_delay_bounds[b])
		b++;
	s->delay_hist[b]++;
	if (d > s->delay_max || s->delays_seen == 0)
		s->delay_max = d;
	s->delays_seen++;
	if (s->ndelays < DELAY_KEEP) {
		if (s->ndelays == s->delays_cap) {
			s->delays_cap = s->delays_cap ? s->delays_cap * 2 :
			    1024;
			s->delays = xreallocarray(s->delays, s->delays_cap,
			    sizeof(*s->delays));
		}
		s->delays[s->ndelays++] = d;
		return;
	}
	/* Algorithm R: the i-th value replaces one at random, with
	 * probability DELAY_KEEP/i. */
	j = next_rand(s) % s->delays_seen;
	if (j < DELAY_KEEP)
		s->delays[j] = d;
}

/* "example.com" from "user@Example.COM"; "(none)" without a domain. */
static void
domain_of(const char *rcpt, struct buf *out)
{
	const char *at = rcpt != NULL ? strrchr(rcpt, '@') : NULL;

	buf_reset(out);
	if (at == NULL || at[1] == '\0') {
		buf_adds(out, "(none)");
		return;
	}
	for (at++; *at != '\0' && out->len < 255; at++)
		buf_addc(out, *at >= 'A' && *at <= 'Z' ? (char)(*at + 32) :
		    *at);
}

static void
reason_key(const struct rp_record *r, struct buf *out)
{
	buf_reset(out);
	if (r->status != NULL && *r->status != '\0') {
		buf_add(out, r->status, strnlen(r->status, 16));
		buf_addc(out, ' ');
	}
	if (r->reason != NULL && *r->reason != '\0')
		rp_normalise(r->reason, out);
	while (out->len > 0 && out->p[out->len - 1] == ' ')
		out->len--;
	if (out->len == 0)
		buf_adds(out, "(none)");
	out->p[out->len] = '\0';
}

void
rp_stats_add(struct rp_stats *s, const struct rp_record *r,
    const char *bcat)
{
	struct buf key = BUF_INIT;
	struct tm tm;
	time_t t;

	s->n[r->type]++;
	s->records++;
	domain_of(r->rcpt, &key);
	map_count(&s->domains, key.p, r->type);
	if (r->job != NULL && *r->job != '\0')
		map_count(&s->jobs, r->job, r->type);
	if (r->rcpt != NULL && *r->rcpt != '\0')
		map_count(&s->rcpts, r->rcpt, r->type);
	if (r->type == RP_BOUNCED) {
		if (bcat == NULL)
			bcat = r->bcat;
		map_count(&s->bcats, bcat != NULL && *bcat != '\0' ? bcat :
		    "(none)", r->type);
	}
	if (r->type != RP_DELIVERED) {
		reason_key(r, &key);
		map_count(r->type == RP_DEFERRED ? &s->deferrals :
		    &s->bounces, key.p, r->type);
	}
	if (r->type == RP_DELIVERED && r->delay >= 0)
		add_delay(s, r->delay);
	t = (time_t)(r->time_ms / 1000);
	if (r->time_ms < 0 || localtime_r(&t, &tm) == NULL)
		s->no_time++;
	else {
		char day[32];

		if (s->first_ms < 0 || r->time_ms < s->first_ms)
			s->first_ms = r->time_ms;
		if (r->time_ms > s->last_ms)
			s->last_ms = r->time_ms;
		s->hours[tm.tm_hour][r->type]++;
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		map_count(&s->days, day, r->type);
	}
	buf_free(&key);
}

void
rp_stats_feedback(struct rp_stats *s, const struct rp_record *r)
{
	/* n[] of an entry, by enum rp_fb (fits: RP_NFB <= RP_NTYPES) */
	enum rp_type t = (enum rp_type)r->fb;
	struct buf key = BUF_INIT;

	if (r->fb <= RP_FB_NONE || r->fb >= RP_NFB)
		return;
	s->fb[r->fb]++;
	domain_of(r->rcpt, &key);
	map_count(&s->fb_domains, key.p, t);
	map_count(r->fb == RP_FB_BOUNCE ? &s->fb_bcats : &s->fb_types,
	    r->fbkind != NULL && *r->fbkind != '\0' ? r->fbkind : "(none)", t);
	buf_free(&key);
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
rp_stats_percentile(struct rp_stats *s, double p)
{
	static const double eps = 1e-9;
	size_t rank;

	if (s->ndelays == 0 || p <= 0 || p > 100)
		return -1;
	if (!s->delays_sorted) {
		qsort(s->delays, s->ndelays, sizeof(*s->delays), by_value);
		s->delays_sorted = 1;
	}
	if (p == 100)
		return s->delay_max;
	rank = (size_t)ceil(p * (double)s->ndelays / 100.0 - eps);
	if (rank < 1)
		rank = 1;
	return s->delays[rank - 1];
}

int
rp_stats_sampled(const struct rp_stats *s)
{
	return s->delays_seen > s->ndelays;
}
