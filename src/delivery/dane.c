/*
 * dane: the validating resolver of DANE for SMTP (contract in dane.h). A
 * libunbound context validates DNSSEC itself from a configured trust
 * anchor, so no upstream AD bit is trusted; it resolves on its own thread
 * and answers through a pipe (ub_fd) that a libevent event reads, running
 * ub_process() on the loop. One lookup = three queries in parallel (the
 * domain's MX, the host's A or AAAA, _25._tcp.<host> TLSA), decided by
 * dane_policy.c once all have answered, or failed at a deadline.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <unbound.h>

#include "core/log.h"
#include "delivery/dane.h"
#include "lib/xmalloc.h"

#define SRC		"outbound"
#define DEADLINE_S	30	/* the three answers, else DANE_FAIL */
#define RR_A		1
#define RR_MX		15
#define RR_AAAA		28
#define RR_TLSA		52
#define RCODE_SERVFAIL	2

enum { Q_MX, Q_ADDR, Q_TLSA, NQ };

struct dane {
	struct event_base *base;
	struct ub_ctx	*ctx;
	struct event	*ev;
};

struct dane_query;

struct dane_sub {
	struct dane_query *q;
	int		 id;		/* libunbound's async id */
	int		 pending;
	enum dane_sec	 sec;
};

struct dane_query {
	struct dane	*d;
	char		*domain, *host;
	struct dane_sub	 sub[NQ];
	int		 npending;
	int		 mx_has_host;
	struct dane_tlsa *recs;
	size_t		 n;
	char		*why_bogus;
	struct event	*timer;		/* the deadline, or "answer now" */
	dane_done_fn	 done;
	void		*arg;
};

static void
on_ub(evutil_socket_t fd, short what, void *arg)
{
	struct dane *d = arg;
	int err;

	(void)fd;
	(void)what;
	if ((err = ub_process(d->ctx)) != 0)
		log_error(SRC, NULL, "DANE resolver: %s", ub_strerror(err));
}

/* "ip:port" and "[v6]:port" (net-utils.ini's forms) as "ip@port". */
static char *
fwd_form(const char *s)
{
	const char *colon = strrchr(s, ':');

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return xstrdup(s);
		if (end[1] == ':')
			return xasprintf("%.*s@%s", (int)(end - s - 1), s + 1,
			    end + 2);
		return xasprintf("%.*s", (int)(end - s - 1), s + 1);
	}
	if (colon != NULL && strchr(s, ':') == colon)	/* IPv4:port */
		return xasprintf("%.*s@%s", (int)(colon - s), s, colon + 1);
	return xstrdup(s);
}

static int
add_fwd(struct dane *d, const char *s, size_t len, char **err)
{
	char *one, *f;
	int rv;

	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	one = xasprintf("%.*s", (int)len, s);
	f = fwd_form(one);
	if ((rv = ub_ctx_set_fwd(d->ctx, f)) != 0)
		*err = xasprintf("config/tls.ini: dane_resolvers: bad resolver "
		    "'%s': %s", one, ub_strerror(rv));
	free(one);
	free(f);
	return rv != 0 ? -1 : 0;
}

struct dane *
dane_new(struct event_base *base, const char *ta, const char *resolvers,
    char *const *servers, char **err)
{
	struct dane *d = xcalloc(1, sizeof(*d));
	int rv;

	*err = NULL;
	d->base = base;
	if ((d->ctx = ub_ctx_create()) == NULL) {
		*err = xstrdup("DANE: cannot create the resolver");
		goto fail;
	}
	/* Its own thread, not a forked process. */
	if ((rv = ub_ctx_async(d->ctx, 1)) != 0 ||
	    (rv = ub_ctx_add_ta_file(d->ctx, ta)) != 0) {
		*err = xasprintf("DANE: resolver set-up (%s): %s", ta,
		    ub_strerror(rv));
		goto fail;
	}
	if (resolvers != NULL && *resolvers) {
		for (const char *p = resolvers, *c;; p = c + 1) {
			c = strchr(p, ',');
			if (add_fwd(d, p, c ? (size_t)(c - p) : strlen(p),
			    err) == -1)
				goto fail;
			if (c == NULL)
				break;
		}
	} else if (servers != NULL && servers[0] != NULL) {
		for (size_t i = 0; servers[i] != NULL; i++)
			if (add_fwd(d, servers[i], strlen(servers[i]), err) == -1)
				goto fail;
	} else if ((rv = ub_ctx_resolvconf(d->ctx, NULL)) != 0) {
		*err = xasprintf("DANE: cannot read /etc/resolv.conf: %s",
		    ub_strerror(rv));
		goto fail;
	}
	d->ev = event_new(base, ub_fd(d->ctx), EV_READ | EV_PERSIST, on_ub,
	    d);
	if (d->ev == NULL || event_add(d->ev, NULL) == -1) {
		*err = xstrdup("DANE: cannot watch the resolver");
		goto fail;
	}
	return d;
fail:
	dane_free(d);
	return NULL;
}

void
dane_free(struct dane *d)
{
	if (d == NULL)
		return;
	if (d->ev != NULL)
		event_free(d->ev);
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	free(d);
}

/* --- one lookup ---------------------------------------------------------- */

static void
query_free(struct dane_query *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->recs[i].data);
	free(q->recs);
	free(q->domain);
	free(q->host);
	free(q->why_bogus);
	if (q->timer != NULL)
		event_free(q->timer);
	free(q);
}

static void
cancel_subs(struct dane_query *q)
{
	for (int i = 0; i < NQ; i++)
		if (q->sub[i].pending) {
			ub_cancel(q->d->ctx, q->sub[i].id);
			q->sub[i].pending = 0;
		}
}

void
dane_cancel(struct dane_query *q)
{
	if (q == NULL)
		return;
	cancel_subs(q);
	query_free(q);
}

static void
finish(struct dane_query *q, struct dane_policy *p)
{
	dane_done_fn done = q->done;
	void *arg = q->arg;

	cancel_subs(q);
	query_free(q);
	done(arg, p);
}

static void
decide(struct dane_query *q)
{
	struct dane_answers a = {
		.mx = q->sub[Q_MX].sec, .addr = q->sub[Q_ADDR].sec,
		.tlsa = q->sub[Q_TLSA].sec, .mx_has_host = q->mx_has_host,
		.recs = q->recs, .n = q->n, .why_bogus = q->why_bogus,
	};

	finish(q, dane_decide(q->domain, q->host, &a));
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dane_query *q = arg;

	(void)fd;
	(void)what;
	if (q->npending == 0) {
		decide(q);
		return;
	}
	finish(q, dane_policy_fail(q->domain, q->host, "dnssec-invalid",
	    "DANE: no validated answer for %s within %d s", q->host,
	    DEADLINE_S));
}

/* The answer's security; the records of a secure MX or TLSA answer. */
static void
take(struct dane_query *q, int which, struct ub_result *r)
{
	struct dane_sub *s = &q->sub[which];

	if (r->bogus) {
		s->sec = DANE_SEC_BOGUS;
		if (q->why_bogus == NULL && r->why_bogus != NULL)
			q->why_bogus = xstrdup(r->why_bogus);
		return;
	}
	if (!r->secure) {
		s->sec = r->rcode == RCODE_SERVFAIL ? DANE_SEC_FAIL :
		    DANE_SEC_INSECURE;
		return;
	}
	s->sec = DANE_SEC_SECURE;
	if (which == Q_MX) {
		int any = 0;

		for (size_t i = 0; r->havedata && r->data[i] != NULL; i++) {
			any = 1;
			if (dane_mx_names((unsigned char *)r->data[i],
			    (size_t)r->len[i], q->host))
				q->mx_has_host = 1;
		}
		/* No MX: the domain is its own host (RFC 5321 5.1). */
		if (!any && strcasecmp(q->domain, q->host) == 0)
			q->mx_has_host = 1;
	} else if (which == Q_TLSA) {
		for (size_t i = 0; r->havedata && r->data[i] != NULL; i++) {
			struct dane_tlsa t;

			/* A malformed record is unusable: left out. */
			if (dane_tlsa_parse((unsigned char *)r->data[i],
			    (size_t)r->len[i], &t) == -1)
				continue;
			q->recs = xreallocarray(q->recs, q->n + 1,
			    sizeof(*q->recs));
			q->recs[q->n++] = t;
		}
	}
}

static void
on_answer(void *arg, int err, struct ub_result *r)
{
	struct dane_sub *s = arg;
	struct dane_query *q = s->q;
	struct timeval now = { 0, 0 };

	s->pending = 0;
	q->npending--;
	if (err != 0 || r == NULL) {
		s->sec = DANE_SEC_FAIL;
		log_warn(SRC, NULL, "DANE lookup for %s: %s", q->host,
		    ub_strerror(err));
	} else
		take(q, (int)(s - q->sub), r);
	if (r != NULL)
		ub_resolve_free(r);
	if (q->npending == 0)	/* decide outside libunbound's call */
		evtimer_add(q->timer, &now);
}

struct dane_query *
dane_lookup(struct dane *d, const char *domain, const char *host,
    int family, dane_done_fn done, void *arg)
{
	struct dane_query *q = xcalloc(1, sizeof(*q));
	struct timeval deadline = { DEADLINE_S, 0 };
	char *tlsa = xasprintf("_25._tcp.%s", host);
	const char *names[NQ] = { domain, host, tlsa };
	int types[NQ] = { RR_MX, family == 6 ? RR_AAAA : RR_A, RR_TLSA };

	q->d = d;
	q->domain = xstrdup(domain);
	q->host = xstrdup(host);
	q->done = done;
	q->arg = arg;
	q->timer = evtimer_new(d->base, on_timer, q);
	for (int i = 0; i < NQ; i++) {
		int rv;

		q->sub[i].q = q;
		rv = ub_resolve_async(d->ctx, names[i], types[i], 1,
		    &q->sub[i], on_answer, &q->sub[i].id);
		if (rv != 0) {
			log_warn(SRC, NULL, "DANE lookup of %s: %s", names[i],
			    ub_strerror(rv));
			q->sub[i].sec = DANE_SEC_FAIL;
			continue;
		}
		q->sub[i].pending = 1;
		q->npending++;
	}
	free(tlsa);
	if (q->npending == 0)
		deadline.tv_sec = 0;
	evtimer_add(q->timer, &deadline);
	return q;
}
