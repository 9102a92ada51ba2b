/*
 * mtasts: the MTA-STS policy cache and fetcher (contract in mtasts.h).
 * One entry per domain asked about (TXT state, policy, fetch in flight,
 * waiters); libcurl's multi handle on libevent (a struct event per socket
 * curl names, one timer); answers go out from each wait's own event.
 * Owns its entries until mtasts_free.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "delivery/dns.h"
#include "delivery/mtasts.h"
#include "delivery/scheduler.h"
#include "delivery/tlsrpt.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "proto/mtasts_policy.h"

#define SRC		"outbound"
#define TXT_RECHECK_MS	(300 * 1000LL)	/* the TXT record is asked again */
#define CONNECT_SECONDS	10L
#define FETCH_SECONDS	30L		/* the whole fetch */

struct sts_entry {
	struct sts_entry	*next;
	struct mtasts		*m;
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
	CURL			*easy;
	struct curl_slist	*resolve;
	struct buf		 body;
	int			 too_big;
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
	char			*ca;
	char			*state;
	CURLM			*multi;
	struct event		*timer;
	struct sts_entry	*entries;
};

static int64_t
now_ms(void)
{
	return sched_now_ms();
}

/* --- the cache file ------------------------------------------------------ */

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
	for (struct sts_entry *e = m->entries; e != NULL; e = e->next) {
		if (!e->has_policy || e->expires <= now_ms())
			continue;
		buf_printf(&b, "%s\t%s\t%" PRId64 "\t%s\t%lu\t", e->domain,
		    e->id, e->expires / 1000, mtasts_mode_name(e->pol.mode),
		    e->pol.max_age);
		for (size_t i = 0; i < e->pol.nmx; i++)
			buf_printf(&b, "%s%s", i ? "," : "", e->pol.mx[i]);
		buf_addc(&b, '\n');
	}
	tmp = xasprintf("%s.tmp", m->state);
	if ((f = fopen(tmp, "w")) == NULL ||
	    fwrite(b.p, 1, b.len, f) != b.len || fclose(f) != 0 ||
	    rename(tmp, m->state) == -1) {
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

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sts_entry *e = arg;

	if (e->body.len + n > MTASTS_POLICY_MAX) {
		e->too_big = 1;
		return 0;		/* curl stops: CURLE_WRITE_ERROR */
	}
	buf_add(&e->body, p, size * n);
	return size * n;
}

/* The configured CA bundle, added to the store curl set up. */
static CURLcode
on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
	struct mtasts *m = arg;

	(void)easy;
	if (m->ca != NULL &&
	    SSL_CTX_load_verify_locations(ssl_ctx, m->ca, NULL) != 1) {
		ERR_clear_error();
		return CURLE_SSL_CACERT_BADFILE;
	}
	return CURLE_OK;
}

static void
fetch_done(struct sts_entry *e, CURLcode rc)
{
	struct mtasts_policy pol;
	const char *why;
	long status = 0;
	char *text;

	curl_easy_getinfo(e->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(e->m->multi, e->easy);
	curl_easy_cleanup(e->easy);
	e->easy = NULL;
	curl_slist_free_all(e->resolve);
	e->resolve = NULL;
	if (rc != CURLE_OK) {
		text = xasprintf("fetching the policy failed: %s",
		    e->too_big ? "larger than 64 KiB" : curl_easy_strerror(rc));
		fetch_failed(e, rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE ?
		    TLSRPT_STS_WEBPKI_INVALID : TLSRPT_STS_POLICY_FETCH_ERROR,
		    text);
		free(text);
		return;
	}
	if (status != 200) {
		text = xasprintf("fetching the policy failed: HTTP status %ld",
		    status);
		fetch_failed(e, TLSRPT_STS_POLICY_FETCH_ERROR, text);
		free(text);
		return;
	}
	if (mtasts_policy_parse(e->body.p != NULL ? e->body.p : "",
	    e->body.len, &pol, &why) == -1) {
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

static void
multi_check(struct mtasts *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		struct sts_entry *e = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &e);
		fetch_done(e, msg->data.result);
	}
}

static void
on_curl_sock(evutil_socket_t fd, short what, void *arg)
{
	struct mtasts *m = arg;
	int running;

	curl_multi_socket_action(m->multi, fd,
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0), &running);
	multi_check(m);
}

static void
on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mtasts *m = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check(m);
}

/* curl names a socket to watch (socketp: its event), or to forget. */
static int
on_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg,
    void *socketp)
{
	struct mtasts *m = arg;
	struct event *ev = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (ev != NULL)
		event_free(ev);
	if (what == CURL_POLL_REMOVE) {
		curl_multi_assign(m->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	ev = event_new(m->base, s, kind, on_curl_sock, m);
	curl_multi_assign(m->multi, s, ev);
	event_add(ev, NULL);
	return 0;
}

static int
on_curl_timeout(CURLM *multi, long ms, void *arg)
{
	struct mtasts *m = arg;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)multi;
	if (ms < 0)
		evtimer_del(m->timer);
	else
		evtimer_add(m->timer, &tv);
	return 0;
}

/* mta-sts.<domain> has addresses: the fetch, over them only. */
static void
host_done(void *arg, struct dns_answer *ans)
{
	struct sts_entry *e = arg;
	struct buf r = BUF_INIT;
	char *url;
	CURL *c;

	e->dq = NULL;
	if (ans->n == 0) {
		fetch_failed(e, TLSRPT_STS_POLICY_FETCH_ERROR,
		    "mta-sts host has no address");
		return;
	}
	buf_printf(&r, "mta-sts.%s:443:", e->domain);
	for (size_t i = 0; i < ans->n; i++)
		buf_printf(&r, strchr(ans->mxs[i].exchange, ':') ? "%s[%s]" :
		    "%s%s", i ? "," : "", ans->mxs[i].exchange);
	e->resolve = curl_slist_append(NULL, buf_cstr(&r));
	buf_free(&r);
	buf_free(&e->body);
	e->too_big = 0;
	url = xasprintf("https://mta-sts.%s/.well-known/mta-sts.txt",
	    e->domain);
	if ((c = e->easy = curl_easy_init()) == NULL || e->resolve == NULL) {
		free(url);
		log_crit(SRC, NULL, "curl: out of memory");
		abort();
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  /* RFC 8461 3.3 */
	curl_easy_setopt(c, CURLOPT_RESOLVE, e->resolve);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_SECONDS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, FETCH_SECONDS);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)MTASTS_POLICY_MAX);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, e->m);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Outpost MTA-STS");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(c, CURLOPT_PRIVATE, e);
	free(url);
	curl_multi_add_handle(e->m->multi, c);	/* the timer starts it */
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
		/* Asked again next time; the cache stands meanwhile. */
		log_notice(SRC, e->uuid, "MTA-STS record of %s: %s", e->domain,
		    ans->error ? ans->error : "lookup failed");
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

static struct sts_entry *
entry_get(struct mtasts *m, const char *domain)
{
	struct sts_entry *e;

	for (e = m->entries; e != NULL; e = e->next)
		if (strcasecmp(e->domain, domain) == 0)
			return e;
	e = xcalloc(1, sizeof(*e));
	e->m = m;
	e->domain = xstrdup(domain);
	for (char *p = e->domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	e->next = m->entries;
	m->entries = e;
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

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (m->multi = curl_multi_init()) == NULL) {
		log_crit(SRC, NULL, "curl: cannot initialise");
		abort();
	}
	m->base = base;
	m->dns = dns;
	m->ca = xstrdup_null(ca);
	m->state = xstrdup_null(state);
	m->timer = evtimer_new(base, on_curl_timer, m);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	state_read(m);
	return m;
}

void
mtasts_free(struct mtasts *m)
{
	if (m == NULL)
		return;
	while (m->entries != NULL) {
		struct sts_entry *e = m->entries;

		m->entries = e->next;
		dns_cancel(e->dq);
		if (e->easy != NULL) {
			curl_multi_remove_handle(m->multi, e->easy);
			curl_easy_cleanup(e->easy);
		}
		curl_slist_free_all(e->resolve);
		buf_free(&e->body);
		mtasts_policy_clear(&e->pol);
		free(e->uuid);
		free(e->domain);
		free(e);
	}
	curl_multi_cleanup(m->multi);	/* its sockets' events freed */
	event_free(m->timer);
	curl_global_cleanup();
	free(m->ca);
	free(m->state);
	free(m);
}
