/*
 * mtasts: the MTA-STS policy cache and fetcher (contract in mtasts.h).
 * One entry per domain asked about (TXT state, policy, fetch in flight,
 * waiters); the fetch is https.c's; answers go out from each wait's own
 * event.
 * Owns its entries until mtasts_free.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/worker.h"
#include "delivery/dns.h"
#include "delivery/https.h"
#include "delivery/mtasts.h"
#include "delivery/scheduler.h"
#include "delivery/tlsrpt.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "lib/util.h"
#include "proto/mtasts_policy.h"

#define SRC		"outbound"
#define TXT_RECHECK_MS	(300 * 1000LL)	/* the TXT record is asked again */
#define TXT_RETRY_MS	(60 * 1000LL)	/* after a failed lookup */
#define BUCKETS		4096
#define SWEEP_AT	20000		/* entries: the idle ones are swept */

struct sts_entry {
	struct sts_entry	*next;		/* in its bucket */
	struct mtasts		*m;
	unsigned		 refs;		/* waits pointing here */
	char			*domain;
	/* The policy: valid while now < expires. */
	int			 has_policy;
	struct mtasts_policy	 pol;
	char			 id[MTASTS_ID_MAX + 1];
	int64_t			 expires;	/* ms since the epoch */
	/* The TXT record: asked at txt_at (0: never). */
	int64_t			 txt_at;
	/* In flight: a lookup or a fetch, for the waiters. */
	int			 busy;
	char			 txt_id[MTASTS_ID_MAX + 1];
	char			*uuid;
	struct dns_query	*dq;
	struct https_get	*get;
	struct mtasts_wait	*waiters;
};

struct mtasts_wait {
	struct mtasts_wait	*next, *prev;	/* in its entry, until ready */
	struct sts_entry	*e;
	struct event		*ev;
	int			 ready;
	mtasts_fn		 fn;
	void			*arg;
};

struct mtasts {
	struct event_base	*base;
	struct dns		*dns;
	struct https		*https;
	char			*state;
	struct sts_entry	*entries[BUCKETS];
	size_t			 nentries;
	size_t			 sweep_at;	/* entries: the next sweep */
};

static int64_t
now_ms(void)
{
	return sched_now_ms();
}

/* --- the cache file ------------------------------------------------------ */

static int
kept(const struct sts_entry *e)
{
	return e->has_policy && e->expires > now_ms();
}

static struct sts_entry *entry_find(struct mtasts *, const char *domain);

/*
 * With smtp.ini nodes every worker writes the one file, each from its own
 * cache: the unexpired lines of domains this worker holds no policy for
 * (another worker's) are kept, so that a restart forgets none of them.
 */
static void
state_keep_others(struct mtasts *m, struct buf *b)
{
	char line[8192], *tab, *exp;
	struct sts_entry *e;
	size_t len;
	FILE *f;

	if (nodes_count() <= 1 || (f = fopen(m->state, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strlen(line);
		if (line[0] == '#' || len == 0 || line[len - 1] != '\n' ||
		    (tab = strchr(line, '\t')) == NULL ||
		    (exp = strchr(tab + 1, '\t')) == NULL ||
		    strtoll(exp + 1, NULL, 10) * 1000 <= now_ms())
			continue;
		*tab = '\0';
		e = entry_find(m, line);
		*tab = '\t';
		if (e == NULL || !kept(e))
			buf_add(b, line, len);
	}
	fclose(f);
}

/* domain TAB id TAB expires (s) TAB mode TAB max_age TAB mx,mx... */
static void
state_write(struct mtasts *m)
{
	struct buf b = BUF_INIT;
	char *tmp;
	FILE *f;

	if (m->state == NULL)
		return;
	buf_adds(&b, "# outpost mta-sts 1\n");
	state_keep_others(m, &b);
	for (size_t i = 0; i < BUCKETS; i++)
	    for (struct sts_entry *e = m->entries[i]; e != NULL; e = e->next) {
		if (!kept(e))
			continue;
		buf_printf(&b, "%s\t%s\t%" PRId64 "\t%s\t%lu\t", e->domain,
		    e->id, e->expires / 1000, mtasts_mode_name(e->pol.mode),
		    e->pol.max_age);
		for (size_t j = 0; j < e->pol.nmx; j++)
			buf_printf(&b, "%s%s", j ? "," : "", e->pol.mx[j]);
		buf_addc(&b, '\n');
	    }
	/* Each process its own temporary file (workers write the one file). */
	tmp = xasprintf("%s.%ld.tmp", m->state, (long)getpid());
	if ((f = fopen(tmp, "w")) != NULL && fwrite(b.p, 1, b.len, f) != b.len) {
		fclose(f);
		f = NULL;
	}
	if (f == NULL || fclose(f) != 0 || rename(tmp, m->state) == -1) {
		log_warn(SRC, NULL, "cannot write %s: %s", m->state,
		    strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	buf_free(&b);
}

static struct sts_entry *entry_get(struct mtasts *, const char *domain);

/* A line of the cache file back into an entry; bad lines are skipped. */
static void
state_line(struct mtasts *m, char *line)
{
	char *f[6], *save = NULL, *mx, *tok;
	struct buf text = BUF_INIT;
	struct mtasts_policy pol;
	struct sts_entry *e;
	const char *why;
	long long expires;
	int n = 0;

	for (char *t = strtok_r(line, "\t\n", &save); t != NULL && n < 6;
	    t = strtok_r(NULL, "\t\n", &save))
		f[n++] = t;
	if (n != 6 || (expires = strtoll(f[2], NULL, 10)) * 1000 <= now_ms())
		return;
	/* Through the parser: the file is read as any policy is. */
	buf_printf(&text, "version: STSv1\nmode: %s\nmax_age: %s\n", f[3],
	    f[4]);
	mx = f[5];
	for (tok = strtok_r(mx, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		buf_printf(&text, "mx: %s\n", tok);
	if (mtasts_policy_parse(text.p, text.len, &pol, &why) == 0 &&
	    strlen(f[1]) <= MTASTS_ID_MAX) {
		e = entry_get(m, f[0]);
		mtasts_policy_clear(&e->pol);
		e->pol = pol;
		e->has_policy = 1;
		snprintf(e->id, sizeof(e->id), "%s", f[1]);
		e->expires = expires * 1000;
	}
	buf_free(&text);
}

static void
state_read(struct mtasts *m)
{
	char line[8192];
	FILE *f;

	if (m->state == NULL || (f = fopen(m->state, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (line[0] != '#')
			state_line(m, line);
	fclose(f);
}

/* --- answers ---------------------------------------------------------------- */

static void
on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct mtasts_wait *w = arg;
	struct sts_entry *e = w->e;
	const struct mtasts_policy *p = NULL;

	(void)fd;
	(void)what;
	if (e->has_policy && e->expires > now_ms())
		p = &e->pol;
	e->refs--;
	event_free(w->ev);
	w->fn(w->arg, p);
	free(w);
}

/* The entry's work is over: every waiter is answered from the cache. */
static void
entry_done(struct sts_entry *e)
{
	e->busy = 0;
	free(e->uuid);
	e->uuid = NULL;
	while (e->waiters != NULL) {
		struct mtasts_wait *w = e->waiters;

		e->waiters = w->next;
		w->next = w->prev = NULL;
		w->ready = 1;
		event_active(w->ev, EV_TIMEOUT, 0);
	}
}

/* A fetch failed (or its policy did not parse): counted, logged; an
 * unexpired cached policy stays in force. */
static void
fetch_failed(struct sts_entry *e, const char *result, const char *why)
{
	int cached = e->has_policy && e->expires > now_ms();

	log_warn(SRC, e->uuid, "MTA-STS policy of %s: %s%s", e->domain, why,
	    cached ? "; keeping the cached policy" : "; no policy applied");
	tlsrpt_count(e->domain, TLSRPT_POLICY_STS, result);
	entry_done(e);
}

/* --- the fetch -------------------------------------------------------------- */

static void
fetch_done(void *arg, const struct https_result *r)
{
	struct sts_entry *e = arg;
	struct mtasts_policy pol;
	const char *why;
	char *text;

	e->get = NULL;
	if (!r->ok || r->status != 200) {
		text = r->ok ? xasprintf("fetching the policy failed: HTTP "
		    "status %ld", r->status) : xasprintf("fetching the policy "
		    "failed: %s", r->error);
		fetch_failed(e, r->unverified ? TLSRPT_STS_WEBPKI_INVALID :
		    TLSRPT_STS_POLICY_FETCH_ERROR, text);
		free(text);
		return;
	}
	if (mtasts_policy_parse(r->body, r->len, &pol, &why) == -1) {
		text = xasprintf("the policy is invalid: %s", why);
		fetch_failed(e, TLSRPT_STS_POLICY_INVALID, text);
		free(text);
		return;
	}
	mtasts_policy_clear(&e->pol);
	e->pol = pol;
	e->has_policy = 1;
	memcpy(e->id, e->txt_id, sizeof(e->id));
	e->expires = now_ms() + (int64_t)pol.max_age * 1000;
	log_info(SRC, e->uuid, "MTA-STS policy of %s: id %s, mode %s, "
	    "max_age %lu, %zu mx pattern%s", e->domain, e->id,
	    mtasts_mode_name(pol.mode), pol.max_age, pol.nmx,
	    pol.nmx == 1 ? "" : "s");
	state_write(e->m);
	entry_done(e);
}

/* mta-sts.<domain> has addresses: the fetch, over them only. */
static void
host_done(void *arg, struct dns_answer *ans)
{
	struct sts_entry *e = arg;
	const char **addrs;
	char *host;

	e->dq = NULL;
	if (ans->n == 0) {
		fetch_failed(e, TLSRPT_STS_POLICY_FETCH_ERROR,
		    "fetching the policy failed: mta-sts host has no address");
		return;
	}
	addrs = xcalloc(ans->n, sizeof(*addrs));
	for (size_t i = 0; i < ans->n; i++)
		addrs[i] = ans->mxs[i].exchange;
	host = xasprintf("mta-sts.%s", e->domain);
	e->get = https_start(e->m->https, host, "/.well-known/mta-sts.txt",
	    addrs, ans->n, MTASTS_POLICY_MAX, fetch_done, e);
	free(host);
	free(addrs);
}

static void
fetch(struct sts_entry *e)
{
	struct mx mx;
	char *host = xasprintf("mta-sts.%s", e->domain);

	memset(&mx, 0, sizeof(mx));
	mx.exchange = host;
	e->dq = dns_addresses(e->m->dns, &mx, 1, INET_PREFER_DEFAULT,
	    host_done, e);
	free(host);
}

/* The `_mta-sts` TXT answer: the cache, or a fetch. */
static void
txt_done(void *arg, struct dns_answer *ans)
{
	struct sts_entry *e = arg;
	char id[MTASTS_ID_MAX + 1];
	int found = 0, bad = 0;

	e->dq = NULL;
	if (ans->status == DNS_TEMP) {
		/* Asked again in a minute; the cache stands meanwhile. */
		log_notice(SRC, e->uuid, "MTA-STS record of %s: %s", e->domain,
		    ans->error ? ans->error : "lookup failed");
		e->txt_at = now_ms() - TXT_RECHECK_MS + TXT_RETRY_MS;
		entry_done(e);
		return;
	}
	e->txt_at = now_ms();
	for (size_t i = 0; ans->status == DNS_OK && i < ans->ntxt; i++) {
		int r = mtasts_txt_parse(ans->txt[i], id);

		if (r != 0 && found++ == 0 && r == 1)
			memcpy(e->txt_id, id, sizeof(id));
		bad |= r == -1;
	}
	/* RFC 8461 3.1: exactly one valid record, else none is published;
	 * a cached policy stays in force until it expires (5.1). */
	if (found != 1 || bad) {
		if (found > 0)
			log_notice(SRC, e->uuid, "MTA-STS record of %s is "
			    "invalid (%d records)", e->domain, found);
		e->txt_id[0] = '\0';
		entry_done(e);
		return;
	}
	if (e->has_policy && e->expires > now_ms() &&
	    strcmp(e->id, e->txt_id) == 0) {
		entry_done(e);
		return;
	}
	fetch(e);
}

/* --- the cache ---------------------------------------------------------------- */

static struct sts_entry **
bucket(struct mtasts *m, const char *domain)
{
	return &m->entries[fnv1a(FNV_BASIS, domain) % BUCKETS];
}

static void
entry_free(struct sts_entry *e)
{
	dns_cancel(e->dq);
	https_cancel(e->get);
	mtasts_policy_clear(&e->pol);
	free(e->uuid);
	free(e->domain);
	free(e);
}

/* Many domains: those with nothing worth keeping (no unexpired policy,
 * nothing in flight, no wait) are forgotten. */
static void
sweep(struct mtasts *m)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < BUCKETS; i++)
		for (struct sts_entry **pp = &m->entries[i], *e; (e = *pp);) {
			if (e->busy || e->refs > 0 ||
			    (e->has_policy && e->expires > now)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			entry_free(e);
			m->nentries--;
		}
}

/* The entry of a domain (lower case), or NULL; none is made. */
static struct sts_entry *
entry_find(struct mtasts *m, const char *domain)
{
	for (struct sts_entry *e = *bucket(m, domain); e != NULL; e = e->next)
		if (strcmp(e->domain, domain) == 0)
			return e;
	return NULL;
}

static struct sts_entry *
entry_get(struct mtasts *m, const char *domain)
{
	char *d = xstrdup(domain);
	struct sts_entry *e, **b;

	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	b = bucket(m, d);
	for (e = *b; e != NULL; e = e->next)
		if (strcmp(e->domain, d) == 0) {
			free(d);
			return e;
		}
	if (m->nentries >= m->sweep_at) {
		sweep(m);
		/* What is left is worth keeping: sweep again at twice that. */
		m->sweep_at = m->nentries * 2 > SWEEP_AT ? m->nentries * 2 :
		    SWEEP_AT;
		b = bucket(m, d);
	}
	e = xcalloc(1, sizeof(*e));
	e->m = m;
	e->domain = d;
	e->next = *b;
	*b = e;
	m->nentries++;
	return e;
}

struct mtasts_wait *
mtasts_get(struct mtasts *m, const char *domain, const char *uuid,
    mtasts_fn fn, void *arg)
{
	struct sts_entry *e = entry_get(m, domain);
	struct mtasts_wait *w = xcalloc(1, sizeof(*w));
	char *name;

	w->e = e;
	e->refs++;
	w->fn = fn;
	w->arg = arg;
	w->ev = event_new(m->base, -1, 0, on_ready, w);
	if (!e->busy && e->txt_at != 0 &&
	    now_ms() - e->txt_at < TXT_RECHECK_MS) {
		w->ready = 1;		/* the TXT record was asked lately */
		event_active(w->ev, EV_TIMEOUT, 0);
		return w;
	}
	w->next = e->waiters;
	if (e->waiters != NULL)
		e->waiters->prev = w;
	e->waiters = w;
	if (e->busy)
		return w;
	e->busy = 1;
	e->uuid = xstrdup_null(uuid);
	name = xasprintf("_mta-sts.%s", e->domain);
	e->dq = dns_txt(m->dns, name, txt_done, e);
	free(name);
	return w;
}

void
mtasts_cancel(struct mtasts_wait *w)
{
	if (w == NULL)
		return;
	w->e->refs--;
	if (!w->ready) {
		if (w->prev != NULL)
			w->prev->next = w->next;
		else
			w->e->waiters = w->next;
		if (w->next != NULL)
			w->next->prev = w->prev;
	}
	event_free(w->ev);
	free(w);
}

struct mtasts *
mtasts_new(struct event_base *base, struct dns *dns, const char *ca,
    const char *state)
{
	struct mtasts *m = xcalloc(1, sizeof(*m));

	m->base = base;
	m->dns = dns;
	m->https = https_new(base, ca);
	m->sweep_at = SWEEP_AT;
	m->state = xstrdup_null(state);
	state_read(m);
	return m;
}

void
mtasts_free(struct mtasts *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		while (m->entries[i] != NULL) {
			struct sts_entry *e = m->entries[i];

			m->entries[i] = e->next;
			entry_free(e);
		}
	https_free(m->https);
	free(m->state);
	free(m);
}
