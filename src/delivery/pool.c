/*
 * pool: idle outbound connections per destination key (each with its idle
 * timer) and no-TLS marks per address; owns and closes the sessions it holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "delivery/dane.h"
#include "delivery/mta_session.h"
#include "delivery/pool.h"
#include "delivery/scheduler.h"
#include "lib/xmalloc.h"

#define SRC		"outbound"
#define IDLE_SECONDS	5	/* an idle connection is kept this long */
#define REUSE_MAX	1000	/* messages per connection */
#define NO_TLS_SECONDS	3600	/* after a failed handshake, plaintext */

struct idle {
	struct idle		*next, *prev;
	struct pool		*p;
	char			*key;
	struct mta_session	*s;
	struct event		*timer;
};

struct no_tls {
	struct no_tls		*next;
	char			*ip;
	int64_t			 until;
};

struct pool {
	struct event_base	*base;
	struct idle		*idle;		/* idle connections */
	struct no_tls		*no_tls;
	int			 draining;
};

struct pool *
pool_new(struct event_base *base)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	p->base = base;
	return p;
}

static void
idle_unlink(struct idle *i)
{
	if (i->prev != NULL)
		i->prev->next = i->next;
	else
		i->p->idle = i->next;
	if (i->next != NULL)
		i->next->prev = i->prev;
	event_free(i->timer);
	free(i->key);
	free(i);
}

static void
close_idle(struct pool *p)
{
	while (p->idle != NULL) {
		mta_session_close(p->idle->s);
		idle_unlink(p->idle);
	}
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	close_idle(p);
	while (p->no_tls != NULL) {
		struct no_tls *t = p->no_tls;

		p->no_tls = t->next;
		free(t->ip);
		free(t);
	}
	free(p);
}

void
pool_drain(struct pool *p)
{
	p->draining = 1;
	close_idle(p);
}

char *
pool_key(const struct mta_conf *c)
{
	/* A connection carries only mail of the same TLS requirement: a
	 * verified one serves only the name it was verified for, and the same
	 * DANE policy (dane.h), or none; "v": certificates verified. */
	return xasprintf("%s|%s|%u|%s|%s|%d|%d%s%s%s|%s|%s%s%s",
	    c->ip ? c->ip : "", c->path ? c->path : "", c->port,
	    c->bind ? c->bind : "", c->helo, c->lmtp, (int)c->tls,
	    c->verify ? "v" : "",
	    c->tls == MTA_TLS_MUST ? "=" : "",
	    c->tls == MTA_TLS_MUST && c->tls_name ? c->tls_name : "",
	    c->auth_user ? c->auth_user : "", c->auth_pass ? c->auth_pass : "",
	    c->dane != NULL ? "|" : "", c->dane != NULL ? c->dane->key : "");
}

static void
on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct idle *i = arg;

	(void)fd;
	(void)what;
	mta_session_close(i->s);
	idle_unlink(i);
}

struct mta_session *
pool_take(struct pool *p, const char *key)
{
	struct idle *i, *next;

	for (i = p->idle; i != NULL; i = next) {
		struct mta_session *s = i->s;

		next = i->next;
		if (strcmp(i->key, key) != 0)
			continue;
		idle_unlink(i);
		if (mta_session_idle(s))
			return s;
		mta_session_close(s);
	}
	return NULL;
}

void
pool_close_prefix(struct pool *p, const char *prefix)
{
	size_t n = strlen(prefix);

	for (struct idle *i = p->idle, *next; i != NULL; i = next) {
		next = i->next;
		if (strncmp(i->key, prefix, n) == 0) {
			struct mta_session *s = i->s;

			idle_unlink(i);
			mta_session_close(s);
		}
	}
}

int
pool_put(struct pool *p, const char *key, struct mta_session *s,
    unsigned idle_s)
{
	struct idle *i;
	struct timeval tv = { idle_s ? (time_t)idle_s : IDLE_SECONDS, 0 };

	if (p->draining || !mta_session_idle(s) ||
	    mta_session_count(s) >= REUSE_MAX) {
		mta_session_close(s);
		return 0;
	}
	i = xcalloc(1, sizeof(*i));
	i->p = p;
	i->key = xstrdup(key);
	i->s = s;
	i->timer = evtimer_new(p->base, on_idle_timeout, i);
	evtimer_add(i->timer, &tv);
	i->next = p->idle;
	if (p->idle != NULL)
		p->idle->prev = i;
	p->idle = i;
	return 1;
}

int
pool_no_tls_marked(struct pool *p, const char *ip)
{
	int64_t now = sched_now_ms();

	for (struct no_tls **pp = &p->no_tls, *t; (t = *pp) != NULL;) {
		if (t->until <= now) {
			*pp = t->next;
			free(t->ip);
			free(t);
			continue;
		}
		if (strcmp(t->ip, ip) == 0)
			return 1;
		pp = &t->next;
	}
	return 0;
}

void
pool_no_tls_mark(struct pool *p, const char *ip, const char *uuid)
{
	struct no_tls *t;

	if (pool_no_tls_marked(p, ip))
		return;
	log_notice(SRC, uuid, "TLS connection failed. Marking %s as non-TLS "
	    "for %d seconds", ip, NO_TLS_SECONDS);
	t = xcalloc(1, sizeof(*t));
	t->ip = xstrdup(ip);
	t->until = sched_now_ms() + NO_TLS_SECONDS * 1000LL;
	t->next = p->no_tls;
	p->no_tls = t;
}
