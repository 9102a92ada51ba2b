/*
 * penalty: failure scores per client network with a cool-down (a leaky
 * bucket per key) in a bounded table: a seeded hash for lookups, and two
 * lists that give the order of expiry and eviction — keys still counting,
 * by last failure, and keys locked out, by start of the lockout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/penalty.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

struct pentry {
	struct pentry	*chain;		/* next in its bucket */
	struct pentry	*prev, *next;	/* in counting or locked */
	double		 score;		/* as of `at` */
	double		 at;		/* last failure */
	double		 until;		/* end of the lockout */
	int		 locked;
	unsigned	 failures;	/* since the score was last zero */
	char		 key[PENALTY_KEY_LEN];
};

struct plist {
	struct pentry	*head, *tail;	/* newest first */
};

struct penalty {
	unsigned	 limit;
	double		 window, lockout;
	size_t		 capacity, n;
	struct pentry	**buckets;
	size_t		 nbuckets;	/* a power of two */
	uint64_t	 seed;
	struct plist	 counting;	/* by last failure */
	struct plist	 locked;	/* by start of the lockout */
};

int
penalty_key(const struct sockaddr *sa, char out[PENALTY_KEY_LEN])
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, PENALTY_KEY_LEN);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		size_t len;

		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, &a.s6_addr[12], out, PENALTY_KEY_LEN);
			return 0;
		}
		memset(&a.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a, out, PENALTY_KEY_LEN);
		len = strlen(out);
		snprintf(out + len, PENALTY_KEY_LEN - len, "/64");
		return 0;
	}
	snprintf(out, PENALTY_KEY_LEN, "?");
	return -1;
}

struct penalty *
penalty_new(unsigned limit, double window, double lockout, size_t capacity)
{
	struct penalty *p = xcalloc(1, sizeof(*p));

	p->limit = limit > 0 ? limit : 1;
	p->window = window > 0 ? window : 1;
	p->lockout = lockout > 0 ? lockout : 0;
	p->capacity = capacity > 0 ? capacity : 1;
	for (p->nbuckets = 16; p->nbuckets < p->capacity; p->nbuckets <<= 1)
		;
	p->buckets = xcalloc(p->nbuckets, sizeof(*p->buckets));
	p->seed = util_random();
	return p;
}

void
penalty_free(struct penalty *p)
{
	struct pentry *e, *next;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nbuckets; i++)
		for (e = p->buckets[i]; e != NULL; e = next) {
			next = e->chain;
			free(e);
		}
	free(p->buckets);
	free(p);
}

size_t
penalty_size(const struct penalty *p)
{
	return p->n;
}

/* --- table ------------------------------------------------------------------------ */

/* FNV-1a from a random basis: clients cannot aim at one chain. */
static struct pentry **
slot(struct penalty *p, const char *key)
{
	uint64_t h = fnv1a(FNV_BASIS ^ p->seed, key);

	return &p->buckets[(h ^ (h >> 32)) & (p->nbuckets - 1)];
}

static struct pentry **
find(struct penalty *p, const char *key)
{
	struct pentry **pp;

	for (pp = slot(p, key); *pp != NULL; pp = &(*pp)->chain)
		if (strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

static void
list_unlink(struct plist *l, struct pentry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
list_push(struct plist *l, struct pentry *e)
{
	e->prev = NULL;
	e->next = l->head;
	if (l->head != NULL)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
}

static void
drop(struct penalty *p, struct pentry *e)
{
	struct pentry **pp = find(p, e->key);

	*pp = e->chain;
	list_unlink(e->locked ? &p->locked : &p->counting, e);
	free(e);
	p->n--;
}

/* Drops what has expired: scores drained to zero (a score below the limit
 * drains within a window), lockouts over. */
static void
prune(struct penalty *p, double now)
{
	while (p->counting.tail != NULL &&
	    now - p->counting.tail->at >= p->window)
		drop(p, p->counting.tail);
	while (p->locked.tail != NULL && p->locked.tail->until <= now)
		drop(p, p->locked.tail);
}

/* --- queries --------------------------------------------------------------------- */

double
penalty_locked(struct penalty *p, const char *key, double now)
{
	struct pentry *e;

	prune(p, now);
	e = *find(p, key);
	return e != NULL && e->locked ? e->until - now : 0;
}

int
penalty_fail(struct penalty *p, const char *key, double now,
    unsigned *failures)
{
	struct pentry **pp, *e;
	double elapsed;

	prune(p, now);
	pp = find(p, key);
	if ((e = *pp) != NULL && e->locked) {
		if (failures != NULL)
			*failures = e->failures;
		return 0;
	}
	if (e == NULL) {
		if (p->n >= p->capacity) {
			drop(p, p->counting.tail != NULL ? p->counting.tail :
			    p->locked.tail);
			pp = find(p, key);
		}
		e = *pp = xcalloc(1, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->at = now;
		p->n++;
	} else
		list_unlink(&p->counting, e);
	elapsed = now > e->at ? now - e->at : 0;
	e->score -= elapsed * p->limit / p->window;
	if (e->score <= 0) {
		e->score = 0;
		e->failures = 0;
	}
	e->score += 1;
	e->failures++;
	e->at = now;
	if (failures != NULL)
		*failures = e->failures;
	/* Full: there is no room for one more. */
	if (e->score > p->limit - 1) {
		e->locked = 1;
		e->until = now + p->lockout;
		list_push(&p->locked, e);
		return 1;
	}
	list_push(&p->counting, e);
	return 0;
}
