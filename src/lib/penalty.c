/*
 * penalty: failure scores per client network with a cool-down (a leaky
 * bucket per key) in a bounded table: a seeded hash for lookups, and two
 * lists that give the order of expiry and eviction — keys still counting,
 * by last failure, and keys locked out, by start of the lockout. One
 * block of memory, links as indices (1-based; 0: none), so that the block
 * may be shared between processes (penalty_place).
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
	uint32_t	 chain;		/* next in its bucket */
	uint32_t	 prev, next;	/* in counting or locked */
	uint32_t	 failures;	/* since the score was last zero */
	double		 score;		/* as of `at` */
	double		 at;		/* last failure */
	double		 until;		/* end of the lockout */
	int32_t		 locked;
	int32_t		 used;		/* 0: free */
	char		 key[PENALTY_KEY_LEN];
};

struct plist {
	uint32_t	 head, tail;	/* newest first */
};

struct penalty {
	unsigned	 limit;
	double		 window, lockout;
	uint32_t	 capacity, n;
	uint32_t	 nbuckets;	/* a power of two */
	uint32_t	 bumped;	/* entries ever used (the rest untouched) */
	uint32_t	 free;		/* freed entries, through chain */
	int32_t		 owned;		/* penalty_new's: free() it */
	uint64_t	 seed;
	struct plist	 counting;	/* by last failure */
	struct plist	 locked;	/* by start of the lockout */
	/* then uint32_t buckets[nbuckets], struct pentry entries[capacity] */
};

#define ALIGN8(n)	(((n) + 7) & ~(size_t)7)

static uint32_t
buckets_for(size_t capacity)
{
	uint32_t n;

	for (n = 16; n < capacity; n <<= 1)
		;
	return n;
}

static uint32_t *
buckets(struct penalty *p)
{
	return (uint32_t *)((char *)p + ALIGN8(sizeof(*p)));
}

/* Entry idx (1-based). */
static struct pentry *
E(struct penalty *p, uint32_t idx)
{
	return (struct pentry *)((char *)p + ALIGN8(sizeof(*p)) +
	    ALIGN8((size_t)p->nbuckets * sizeof(uint32_t))) + (idx - 1);
}

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

size_t
penalty_footprint(size_t capacity)
{
	if (capacity < 1)
		capacity = 1;
	return ALIGN8(sizeof(struct penalty)) +
	    ALIGN8((size_t)buckets_for(capacity) * sizeof(uint32_t)) +
	    capacity * sizeof(struct pentry);
}

struct penalty *
penalty_place(void *mem, unsigned limit, double window, double lockout,
    size_t capacity, uint64_t seed)
{
	struct penalty *p = mem;

	p->limit = limit > 0 ? limit : 1;
	p->window = window > 0 ? window : 1;
	p->lockout = lockout > 0 ? lockout : 0;
	p->capacity = capacity > 0 ? (uint32_t)capacity : 1;
	p->nbuckets = buckets_for(p->capacity);
	p->seed = seed;
	return p;
}

struct penalty *
penalty_new(unsigned limit, double window, double lockout, size_t capacity)
{
	struct penalty *p = penalty_place(xcalloc(1,
	    penalty_footprint(capacity)), limit, window, lockout, capacity,
	    util_random());

	p->owned = 1;
	return p;
}

void
penalty_free(struct penalty *p)
{
	if (p != NULL && p->owned)
		free(p);
}

size_t
penalty_size(const struct penalty *p)
{
	return p->n;
}

/* --- table ------------------------------------------------------------------------ */

/* FNV-1a from a random basis: clients cannot aim at one chain. */
static uint32_t *
slot(struct penalty *p, const char *key)
{
	uint64_t h = fnv1a(FNV_BASIS ^ p->seed, key);

	return &buckets(p)[(h ^ (h >> 32)) & (p->nbuckets - 1)];
}

/* The link that holds key's entry, or the 0 that ends its chain. */
static uint32_t *
find(struct penalty *p, const char *key)
{
	uint32_t *pp;

	for (pp = slot(p, key); *pp != 0; pp = &E(p, *pp)->chain)
		if (strcmp(E(p, *pp)->key, key) == 0)
			break;
	return pp;
}

static void
list_unlink(struct penalty *p, struct plist *l, uint32_t i)
{
	struct pentry *e = E(p, i);

	if (e->prev != 0)
		E(p, e->prev)->next = e->next;
	else
		l->head = e->next;
	if (e->next != 0)
		E(p, e->next)->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = 0;
}

static void
list_push(struct penalty *p, struct plist *l, uint32_t i)
{
	struct pentry *e = E(p, i);

	e->prev = 0;
	e->next = l->head;
	if (l->head != 0)
		E(p, l->head)->prev = i;
	else
		l->tail = i;
	l->head = i;
}

static void
drop(struct penalty *p, uint32_t i)
{
	struct pentry *e = E(p, i);
	uint32_t *pp = find(p, e->key);

	*pp = e->chain;
	list_unlink(p, e->locked ? &p->locked : &p->counting, i);
	memset(e, 0, sizeof(*e));
	e->chain = p->free;
	p->free = i;
	p->n--;
}

/* A free entry, zeroed; 0 when every one is in use. */
static uint32_t
take(struct penalty *p)
{
	uint32_t i;

	if ((i = p->free) != 0)
		p->free = E(p, i)->chain;
	else if (p->bumped < p->capacity)
		i = ++p->bumped;
	else
		return 0;
	memset(E(p, i), 0, sizeof(struct pentry));
	return i;
}

/* Drops what has expired: scores drained to zero (a score below the limit
 * drains within a window), lockouts over. */
static void
prune(struct penalty *p, double now)
{
	while (p->counting.tail != 0 &&
	    now - E(p, p->counting.tail)->at >= p->window)
		drop(p, p->counting.tail);
	while (p->locked.tail != 0 && E(p, p->locked.tail)->until <= now)
		drop(p, p->locked.tail);
}

/* --- queries --------------------------------------------------------------------- */

double
penalty_locked(struct penalty *p, const char *key, double now)
{
	uint32_t i;

	prune(p, now);
	i = *find(p, key);
	return i != 0 && E(p, i)->locked ? E(p, i)->until - now : 0;
}

int
penalty_fail(struct penalty *p, const char *key, double now,
    unsigned *failures)
{
	struct pentry *e;
	uint32_t *pp, i;
	double elapsed;

	prune(p, now);
	pp = find(p, key);
	if ((i = *pp) != 0 && E(p, i)->locked) {
		if (failures != NULL)
			*failures = E(p, i)->failures;
		return 0;
	}
	if (i == 0) {
		if (p->n >= p->capacity) {
			drop(p, p->counting.tail != 0 ? p->counting.tail :
			    p->locked.tail);
			pp = find(p, key);
		}
		if ((i = take(p)) == 0)
			return 0;	/* not reached: n < capacity */
		e = E(p, i);
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->at = now;
		e->used = 1;
		*pp = i;
		p->n++;
	} else {
		e = E(p, i);
		list_unlink(p, &p->counting, i);
	}
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
		list_push(p, &p->locked, i);
		return 1;
	}
	list_push(p, &p->counting, i);
	return 0;
}

/* --- repair ---------------------------------------------------------------------- */

static struct penalty *sort_p;	/* qsort's context: repair is rare */

static int
by_time(const void *a, const void *b)
{
	const struct pentry *x = E(sort_p, *(const uint32_t *)a);
	const struct pentry *y = E(sort_p, *(const uint32_t *)b);
	double tx = x->locked ? x->until : x->at;
	double ty = y->locked ? y->until : y->at;

	return tx < ty ? -1 : tx > ty;
}

void
penalty_repair(struct penalty *p)
{
	uint32_t *order, no = 0, i;

	if (p->bumped > p->capacity)
		p->bumped = p->capacity;
	memset(buckets(p), 0, (size_t)p->nbuckets * sizeof(uint32_t));
	p->free = 0;
	p->n = 0;
	p->counting.head = p->counting.tail = 0;
	p->locked.head = p->locked.tail = 0;
	order = xreallocarray(NULL, p->bumped + 1, sizeof(*order));
	for (i = p->bumped; i >= 1; i--) {
		struct pentry *e = E(p, i);

		e->key[PENALTY_KEY_LEN - 1] = '\0';
		if (!e->used || e->key[0] == '\0' || *find(p, e->key) != 0) {
			memset(e, 0, sizeof(*e));
			e->chain = p->free;
			p->free = i;
			continue;
		}
		e->chain = 0;
		*find(p, e->key) = i;
		order[no++] = i;
		p->n++;
	}
	/* Oldest first, each pushed in front: the lists' order again. */
	sort_p = p;
	qsort(order, no, sizeof(*order), by_time);
	for (i = 0; i < no; i++)
		list_push(p, E(p, order[i])->locked ? &p->locked :
		    &p->counting, order[i]);
	free(order);
}
