/*
 * dns: the resolver — c-ares (1.18) on the libevent loop, MX, A and AAAA
 * lookups assembled into mx lists (delivery/mx.h). Owns its channel, sockets
 * and queries; configured by a struct dns_config (core/dns_config.c).
 */
#include "delivery/dns.h"
#include "delivery/dns_priv.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include <ares.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "lib/util.h"
#include "core/log.h"
#include "core/metrics.h"

/* --- the channel on the event loop ------------------------------------- */

/*
 * c-ares tells us which sockets to watch (sock_state_cb: one struct event
 * each) and when to wake up (ares_timeout: one timer, re-armed after every
 * call into c-ares). The structs are in dns_priv.h; the answers are
 * parsed in dns_answer.c.
 */

static void
rearm(struct dns *d)
{
	struct timeval tv, *tvp;

	if (d->destroying)
		return;
	tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp != NULL)
		evtimer_add(d->timer, tvp);
	else
		evtimer_del(d->timer);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	(void)fd;
	(void)what;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(d);
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sock *s = arg;
	struct dns *d = s->dns;		/* s may be gone after processing */

	ares_process_fd(d->channel,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	rearm(d);
}

static void
sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = arg;
	struct dns_sock **pp, *s;

	for (pp = &d->socks; (s = *pp) != NULL; pp = &s->next)
		if (s->fd == fd)
			break;
	if (s != NULL && s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL) {
			*pp = s->next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->dns = d;
		s->fd = fd;
		s->next = d->socks;
		d->socks = s;
	}
	s->ev = event_new(d->base, fd, EV_PERSIST | (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0), on_sock, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		log_crit("core", NULL, "dns: cannot watch socket %d", (int)fd);
}

/* The servers a channel would use: ours, or /etc/resolv.conf's. */
static size_t
server_count(const struct dns_config *cfg)
{
	struct ares_addr_port_node *list = NULL;
	ares_channel probe;
	size_t n = 0;

	if (cfg != NULL && cfg->servers != NULL) {
		while (cfg->servers[n] != NULL)
			n++;
		if (n > 0)
			return n;
	}
	if (ares_init(&probe) != ARES_SUCCESS)
		return 0;
	if (ares_get_servers_ports(probe, &list) == ARES_SUCCESS)
		for (struct ares_addr_port_node *p = list; p; p = p->next)
			n++;
	ares_free_data(list);
	ares_destroy(probe);
	return n;
}

struct dns *
dns_new(struct event_base *base, const struct dns_config *cfg, char **err)
{
	struct dns *d = xcalloc(1, sizeof(*d));
	struct ares_options opt;
	int mask = ARES_OPT_SOCK_STATE_CB, rc;

	*err = NULL;
	d->base = base;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		*err = xasprintf("dns: c-ares: %s", ares_strerror(rc));
		free(d);
		return NULL;
	}
	d->waiting_tail = &d->waiting;
	memset(&opt, 0, sizeof(opt));
	opt.sock_state_cb = sock_state;
	opt.sock_state_cb_data = d;
	opt.socket_receive_buffer_size = DNS_RCVBUF;
	mask |= ARES_OPT_SOCK_RCVBUF;
	if (cfg != NULL && cfg->timeout_ms > 0) {
		opt.timeout = (int)cfg->timeout_ms;
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (cfg != NULL && cfg->tries > 0) {
		opt.tries = (int)cfg->tries;
		mask |= ARES_OPT_TRIES;
	}
	/*
	 * c-ares 1.18 drops SERVFAIL/REFUSED/NOTIMP answers to try another
	 * server and, when none is left, reports "Could not contact DNS
	 * servers": the real rcode is lost. With a single server there is
	 * nothing to fail over to, so take the answer as it is and report
	 * ARES_ESERVFAIL / ARES_EREFUSED.
	 */
	if (server_count(cfg) <= 1) {
		opt.flags = ARES_FLAG_NOCHECKRESP;
		mask |= ARES_OPT_FLAGS;
	}
	if ((rc = ares_init_options(&d->channel, &opt, mask)) != ARES_SUCCESS) {
		*err = xasprintf("dns: c-ares: %s", ares_strerror(rc));
		ares_library_cleanup();
		free(d);
		return NULL;
	}
	if (cfg != NULL && cfg->servers != NULL && cfg->servers[0] != NULL) {
		struct buf csv = BUF_INIT;

		for (char **s = cfg->servers; *s != NULL; s++)
			buf_printf(&csv, "%s%s", s == cfg->servers ? "" : ",",
			    *s);
		rc = ares_set_servers_ports_csv(d->channel, buf_cstr(&csv));
		if (rc != ARES_SUCCESS)
			*err = xasprintf("dns: servers '%s': %s",
			    buf_cstr(&csv), ares_strerror(rc));
		buf_free(&csv);
		if (rc != ARES_SUCCESS) {
			ares_destroy(d->channel);
			ares_library_cleanup();
			free(d);
			return NULL;
		}
	}
	d->timer = evtimer_new(base, on_timer, d);
	return d;
}

/* --- queries -------------------------------------------------------------- */

static void
lookups_free(struct dns_query *q)
{
	for (size_t i = 0; i < q->nlk; i++) {
		for (size_t j = 0; j < q->lk[i].naddrs; j++)
			free(q->lk[i].addrs[j]);
		free(q->lk[i].addrs);
	}
	free(q->lk);
	q->lk = NULL;
	q->nlk = 0;
}

static void
unlink_query(struct dns_query *q)
{
	if (!q->linked)
		return;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->dns->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	q->linked = 0;
}

/* Does not touch q->dns unless the query is still linked. */
static void
query_free(struct dns_query *q)
{
	unlink_query(q);
	if (q->done_ev != NULL)
		event_free(q->done_ev);
	lookups_free(q);
	mx_list_free(q->in, q->nin);
	mx_list_free(q->ans.mxs, q->ans.n);
	for (size_t i = 0; i < q->ans.ntxt; i++)
		free(q->ans.txt[i]);
	free(q->ans.txt);
	free(q->domain);
	free(q);
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;

	(void)fd;
	(void)what;
	/* Unlinked first: the callback may free the whole struct dns. */
	unlink_query(q);
	if (!q->cancelled) {
		metric_observe(m_dns_seconds, NULL, metrics_now() - q->started);
		q->fired = 1;
		q->fn(q->arg, &q->ans);
	}
	query_free(q);
}

static struct dns_query *
query_new(struct dns *d, enum dns_phase phase, dns_answer_fn fn, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->dns = d;
	q->started = metrics_now();
	q->phase = phase;
	q->fn = fn;
	q->arg = arg;
	q->done_ev = event_new(d->base, -1, 0, on_done, q);
	if (q->done_ev == NULL) {
		log_crit("core", NULL, "dns: cannot create an event");
		abort();
	}
	q->next = d->queries;
	if (d->queries != NULL)
		d->queries->prev = q;
	d->queries = q;
	q->linked = 1;
	return q;
}

static void on_answer(void *, int, int, unsigned char *, int);
static void phase_done(struct dns_query *);

static struct dns_lookup *
lookup_add(struct dns_query *q, size_t entry, int type)
{
	struct dns_lookup *l;

	q->lk = xreallocarray(q->lk, q->nlk + 1, sizeof(*q->lk));
	l = &q->lk[q->nlk++];
	memset(l, 0, sizeof(*l));
	l->q = q;
	l->entry = entry;
	l->type = type;
	return l;
}

static struct inflight **
inflight_slot(struct dns *d, const char *name, int type)
{
	uint64_t h = fnv1a(FNV_BASIS ^ (unsigned)type, name);
	struct inflight **pp;

	pp = &d->inflight[h % INFLIGHT_BUCKETS];
	while (*pp != NULL && ((*pp)->type != type ||
	    strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void on_shared(void *, int, int, unsigned char *, int);

/* Sends waiting queries while fewer than DNS_SENT_MAX are out. c-ares may
 * answer inside ares_query; the answer's own call here then returns at
 * once and this loop goes on, so the stack never grows with the queue. */
static void
send_waiting(struct dns *d)
{
	struct inflight *f;

	if (d->sending || d->destroying)
		return;
	d->sending = 1;
	while (d->sent < DNS_SENT_MAX && (f = d->waiting) != NULL) {
		if ((d->waiting = f->next_waiting) == NULL)
			d->waiting_tail = &d->waiting;
		d->sent++;
		ares_query(d->channel, f->name, C_IN, f->type, on_shared, f);
	}
	d->sending = 0;
}

/* Every waiter of f gets the answer (the entry is gone first, so what a
 * waiter starts asks anew). */
static void
answer_waiters(struct inflight *f, int status, int timeouts,
    unsigned char *abuf, int alen)
{
	struct inflight **pp = inflight_slot(f->dns, f->name, f->type);

	if (*pp == f)
		*pp = f->next;
	for (size_t i = 0; i < f->nwaiters; i++)
		on_answer(f->waiters[i], status, timeouts, abuf, alen);
	free(f->waiters);
	free(f);
}

/* A sent query answered: its waiters, then the next waiting query. */
static void
on_shared(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct inflight *f = arg;
	struct dns *d = f->dns;

	d->sent--;
	answer_waiters(f, status, timeouts, abuf, alen);
	send_waiting(d);
}

/* Lookup l of name: joins the query in flight for it, or starts one. */
static void
send_lookup(struct dns *d, const char *name, struct dns_lookup *l)
{
	struct inflight **pp = inflight_slot(d, name, l->type), *f = *pp;
	size_t len;

	if (f == NULL) {
		len = strlen(name) + 1;
		f = xcalloc(1, sizeof(*f) + len);
		memcpy(f->name, name, len);
		f->dns = d;
		f->type = l->type;
		*pp = f;
	}
	f->waiters = xreallocarray(f->waiters, f->nwaiters + 1,
	    sizeof(*f->waiters));
	f->waiters[f->nwaiters++] = l;
	if (f->nwaiters == 1) {
		*d->waiting_tail = f;
		d->waiting_tail = &f->next_waiting;
		send_waiting(d);
	}
}

/*
 * Sends every lookup in q->lk (built beforehand: the array must not move
 * once c-ares holds pointers into it). c-ares may call back from inside
 * ares_query (e.g. no usable server): such answers are only recorded, and
 * the phase ends here once the loop is over.
 */
static void
launch(struct dns_query *q, const char *const *names)
{
	size_t n = q->nlk;

	q->launching = 1;
	for (size_t i = 0; i < n; i++) {
		q->outstanding++;
		send_lookup(q->dns, names[i], &q->lk[i]);
	}
	q->launching = 0;
	if (q->outstanding == 0)
		phase_done(q);
	rearm(q->dns);
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_lookup *l = arg;
	struct dns_query *q = l->q;

	(void)timeouts;
	q->outstanding--;
	if (q->cancelled || status == ARES_EDESTRUCTION ||
	    (q->linked && q->dns->destroying)) {
		if (q->outstanding == 0 && !q->launching)
			query_free(q);
		return;
	}
	if (q->phase == PH_MX)
		dns_got_mx(q, status, abuf, alen);
	else if (q->phase == PH_TXT)
		dns_got_txt(q, status, abuf, alen);
	else
		dns_got_addrs(l, status, abuf, alen);
	if (q->outstanding == 0 && !q->launching)
		phase_done(q);
}

/* Every lookup of the current phase has answered. */
static void
phase_done(struct dns_query *q)
{
	switch (q->phase) {
	case PH_MX:
		if (q->implicit) {
			/* No MX: the domain itself, AAAA then A (RFC 5321
			 * 5.1). */
			const char *names[2] = { q->domain, q->domain };

			lookups_free(q);
			q->phase = PH_IMPLICIT;
			lookup_add(q, 0, T_AAAA);
			lookup_add(q, 0, T_A);
			launch(q, names);
			return;
		}
		break;
	case PH_IMPLICIT:
		dns_assemble_implicit(q);
		break;
	case PH_ADDRESSES:
		dns_assemble_addresses(q);
		break;
	case PH_TXT:
		break;
	}
	event_active(q->done_ev, EV_TIMEOUT, 0);
}

/* A query of one name and type (MX, TXT). */
static struct dns_query *
one_lookup(struct dns *d, const char *name, enum dns_phase phase, int type,
    dns_answer_fn fn, void *arg)
{
	struct dns_query *q = query_new(d, phase, fn, arg);
	const char *names[1];

	q->domain = dns_host_name(name);
	names[0] = q->domain;
	lookup_add(q, 0, type);
	launch(q, names);
	return q;
}

struct dns_query *
dns_mx(struct dns *d, const char *domain, dns_answer_fn fn, void *arg)
{
	return one_lookup(d, domain, PH_MX, T_MX, fn, arg);
}

struct dns_query *
dns_txt(struct dns *d, const char *name, dns_answer_fn fn, void *arg)
{
	return one_lookup(d, name, PH_TXT, T_TXT, fn, arg);
}

struct dns_query *
dns_addresses(struct dns *d, const struct mx *mxs, size_t n,
    enum inet_prefer prefer, dns_answer_fn fn, void *arg)
{
	struct dns_query *q = query_new(d, PH_ADDRESSES, fn, arg);
	const char **names;

	q->prefer = prefer;
	q->in = xcalloc(n ? n : 1, sizeof(*q->in));
	q->nin = n;
	names = xcalloc(2 * n + 1, sizeof(*names));
	for (size_t i = 0; i < n; i++) {
		mx_copy(&q->in[i], &mxs[i]);
		if (!dns_needs_lookup(&q->in[i]))
			continue;
		names[q->nlk] = q->in[i].exchange;
		lookup_add(q, i, T_AAAA);
		names[q->nlk] = q->in[i].exchange;
		lookup_add(q, i, T_A);
	}
	launch(q, names);
	free(names);
	return q;
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL || q->cancelled || q->fired)
		return;
	q->cancelled = 1;
	unlink_query(q);
	if (q->outstanding == 0)
		query_free(q);
	/* else the last c-ares callback frees it */
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	d->destroying = 1;
	/* Lookups call back with ARES_EDESTRUCTION and free their queries:
	 * the waiting ones here, the sent ones from ares_destroy, which also
	 * closes the sockets through sock_state. */
	while (d->waiting != NULL) {
		struct inflight *f = d->waiting;

		d->waiting = f->next_waiting;
		answer_waiters(f, ARES_EDESTRUCTION, 0, NULL, 0);
	}
	ares_destroy(d->channel);
	while (d->queries != NULL)
		query_free(d->queries);	/* waiting on their done event */
	while (d->socks != NULL) {
		struct dns_sock *s = d->socks;

		d->socks = s->next;
		if (s->ev != NULL)
			event_free(s->ev);
		free(s);
	}
	event_free(d->timer);
	ares_library_cleanup();
	free(d);
}
