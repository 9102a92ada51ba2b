/*
 * anvil: the client table shared by the worker processes (anvil.h): one
 * MAP_SHARED anonymous region — a header with the robust mutex, the open
 * connections per column, a hash of keys (bucket heads and chains as
 * 1-based entry indices), the entries (a key and one count per column),
 * then lib/penalty.c's table placed in the same region. An entry lives
 * while any column counts a connection; entries are taken in order and
 * reused through a free list, so untouched pages stay untouched.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "lib/anvil.h"
#include "lib/failpoint.h"
#include "lib/penalty.h"
#include "lib/util.h"

#define ALIGN8(n)	(((n) + 7) & ~(size_t)7)
#define COLUMNS_MAX	1024

struct aentry {
	uint32_t	 chain;		/* next in its bucket; next free */
	char		 key[PENALTY_KEY_LEN];
	uint32_t	 n[];		/* open connections, per column */
};

struct anvil {
	pthread_mutex_t	 mu;		/* process-shared, robust */
	size_t		 size;		/* of the mapping */
	size_t		 off_totals, off_buckets, off_entries, off_penalty;
	size_t		 stride;	/* bytes per entry */
	uint64_t	 seed;
	uint32_t	 cols, capacity, nbuckets;
	uint32_t	 bumped;	/* entries ever used */
	uint32_t	 free;		/* freed entries, through chain */
	uint32_t	 nkeys;
	int32_t		 auth;		/* a penalty table follows */
};

static uint32_t *
totals(struct anvil *a)
{
	return (uint32_t *)((char *)a + a->off_totals);
}

static uint32_t *
buckets(struct anvil *a)
{
	return (uint32_t *)((char *)a + a->off_buckets);
}

static struct aentry *
E(struct anvil *a, uint32_t idx)
{
	return (struct aentry *)((char *)a + a->off_entries +
	    (size_t)(idx - 1) * a->stride);
}

static struct penalty *
pen(struct anvil *a)
{
	return (struct penalty *)((char *)a + a->off_penalty);
}

struct anvil *
anvil_new(unsigned columns, size_t keys, unsigned auth_limit, double window,
    double lockout, size_t auth_keys)
{
	struct anvil h, *a;
	pthread_mutexattr_t attr;
	size_t off;

	memset(&h, 0, sizeof(h));
	h.cols = columns < 1 ? 1 : columns > COLUMNS_MAX ? COLUMNS_MAX :
	    columns;
	h.capacity = keys < 1 ? 1 : keys > UINT32_MAX / 2 ? UINT32_MAX / 2 :
	    (uint32_t)keys;
	for (h.nbuckets = 16; h.nbuckets < h.capacity; h.nbuckets <<= 1)
		;
	h.stride = ALIGN8(sizeof(struct aentry) + h.cols * sizeof(uint32_t));
	h.auth = auth_limit > 0;
	off = ALIGN8(sizeof(h));
	h.off_totals = off;
	off += ALIGN8(h.cols * sizeof(uint32_t));
	h.off_buckets = off;
	off += ALIGN8((size_t)h.nbuckets * sizeof(uint32_t));
	h.off_entries = off;
	off += (size_t)h.capacity * h.stride;
	h.off_penalty = off;
	if (h.auth)
		off += penalty_footprint(auth_keys);
	h.size = off;
	/* Not util_random(): its state, seeded here before the fork, would
	 * be every child's, and their identifiers alike. */
	if (getrandom(&h.seed, sizeof(h.seed), 0) != sizeof(h.seed))
		h.seed = (uint64_t)(uintptr_t)&h ^ (uint64_t)getpid() << 32;
	a = mmap(NULL, h.size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a == MAP_FAILED)
		return NULL;
	memcpy(a, &h, sizeof(h));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	errno = pthread_mutex_init(&a->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	if (errno != 0) {
		munmap(a, h.size);
		return NULL;
	}
	if (h.auth)
		penalty_place(pen(a), auth_limit, window, lockout, auth_keys,
		    h.seed * 0x9e3779b97f4a7c15ULL + 1);
	return a;
}

void
anvil_free(struct anvil *a)
{
	if (a != NULL)
		munmap(a, a->size);
}

/* --- the table ---------------------------------------------------------- */

static unsigned
sum(struct anvil *a, const struct aentry *e)
{
	unsigned n = 0;

	for (uint32_t c = 0; c < a->cols; c++)
		n += e->n[c];
	return n;
}

static uint32_t *
find(struct anvil *a, const char *key)
{
	uint64_t h = fnv1a(FNV_BASIS ^ a->seed, key);
	uint32_t *pp = &buckets(a)[(h ^ (h >> 32)) & (a->nbuckets - 1)];

	for (; *pp != 0; pp = &E(a, *pp)->chain)
		if (strcmp(E(a, *pp)->key, key) == 0)
			break;
	return pp;
}

/* Entry i leaves the index for the free list. */
static void
release(struct anvil *a, uint32_t i)
{
	struct aentry *e = E(a, i);
	uint32_t *pp = find(a, e->key);

	if (*pp == i)
		*pp = e->chain;
	memset(e, 0, a->stride);
	e->chain = a->free;
	a->free = i;
	a->nkeys--;
}

/*
 * After a process died holding the lock: the entries are the truth (a key
 * is held while a column counts it), the rest is rebuilt from them — the
 * index, the free list, the totals — and the penalty table likewise.
 */
static void
repair(struct anvil *a)
{
	uint32_t *t = totals(a);

	if (a->bumped > a->capacity)
		a->bumped = a->capacity;
	memset(buckets(a), 0, (size_t)a->nbuckets * sizeof(uint32_t));
	memset(t, 0, a->cols * sizeof(uint32_t));
	a->free = 0;
	a->nkeys = 0;
	for (uint32_t i = a->bumped; i >= 1; i--) {
		struct aentry *e = E(a, i);
		uint32_t *pp;

		e->key[PENALTY_KEY_LEN - 1] = '\0';
		if (sum(a, e) == 0 || *(pp = find(a, e->key)) != 0) {
			memset(e, 0, a->stride);
			e->chain = a->free;
			a->free = i;
			continue;
		}
		e->chain = 0;
		*pp = i;
		a->nkeys++;
		for (uint32_t c = 0; c < a->cols; c++)
			t[c] += e->n[c];
	}
	if (a->auth)
		penalty_repair(pen(a));
}

static int
lock(struct anvil *a)
{
	int rc = pthread_mutex_lock(&a->mu);

	if (rc == EOWNERDEAD) {
		repair(a);
		pthread_mutex_consistent(&a->mu);
		return 0;
	}
	return rc == 0 ? 0 : -1;
}

static void
unlock(struct anvil *a)
{
	pthread_mutex_unlock(&a->mu);
}

enum anvil_verdict
anvil_connect(struct anvil *a, unsigned col, const char *key,
    unsigned max_total, unsigned max_per_key, unsigned *count, unsigned *slot)
{
	enum anvil_verdict v = ANVIL_OK;
	unsigned total = 0, n;
	uint32_t *pp, i;

	*slot = 0;
	*count = 0;
	if (col >= a->cols || lock(a) != 0)
		return ANVIL_OK;	/* not reached: uncounted */
	for (uint32_t c = 0; c < a->cols; c++)
		total += totals(a)[c];
	pp = find(a, key);
	n = *pp != 0 ? sum(a, E(a, *pp)) : 0;
	if (total >= max_total) {
		v = ANVIL_TOTAL;
		*count = total;
	} else if (max_per_key > 0 && n >= max_per_key) {
		v = ANVIL_PER_KEY;
		*count = n;
	} else if ((i = *pp) == 0) {
		if ((i = a->free) != 0)
			a->free = E(a, i)->chain;
		else if (a->bumped < a->capacity)
			i = ++a->bumped;
		if (i == 0) {
			v = ANVIL_FULL;
			*count = total;
		} else {
			struct aentry *e = E(a, i);

			memset(e, 0, a->stride);
			snprintf(e->key, sizeof(e->key), "%s", key);
			*pp = i;
			a->nkeys++;
			/* Killed here, the entry counts nothing: a repair
			 * drops it. */
			FAILPOINT("anvil-mid-connect");
		}
	}
	if (v == ANVIL_OK) {
		E(a, i)->n[col]++;
		totals(a)[col]++;
		*slot = i;
	}
	unlock(a);
	return v;
}

void
anvil_disconnect(struct anvil *a, unsigned col, unsigned slot)
{
	struct aentry *e;

	if (slot == 0 || slot > a->capacity || col >= a->cols || lock(a) != 0)
		return;
	e = E(a, slot);
	if (slot <= a->bumped && e->n[col] > 0) {
		e->n[col]--;
		if (totals(a)[col] > 0)
			totals(a)[col]--;
		if (sum(a, e) == 0)
			release(a, slot);
	}
	unlock(a);
}

void
anvil_forget(struct anvil *a, unsigned col)
{
	if (col >= a->cols || lock(a) != 0)
		return;
	for (uint32_t i = 1; i <= a->bumped; i++) {
		struct aentry *e = E(a, i);

		if (e->n[col] == 0)
			continue;
		e->n[col] = 0;
		if (sum(a, e) == 0)
			release(a, i);
	}
	totals(a)[col] = 0;
	unlock(a);
}

unsigned
anvil_count(struct anvil *a, const char *key)
{
	unsigned n = 0;
	uint32_t i;

	if (lock(a) != 0)
		return 0;
	if ((i = *find(a, key)) != 0)
		n = sum(a, E(a, i));
	unlock(a);
	return n;
}

unsigned
anvil_total(struct anvil *a)
{
	unsigned n = 0;

	if (lock(a) != 0)
		return 0;
	for (uint32_t c = 0; c < a->cols; c++)
		n += totals(a)[c];
	unlock(a);
	return n;
}

size_t
anvil_keys(struct anvil *a)
{
	size_t n;

	if (lock(a) != 0)
		return 0;
	n = a->nkeys;
	unlock(a);
	return n;
}

/* --- AUTH failures ------------------------------------------------------ */

int
anvil_auth_counts(const struct anvil *a)
{
	return a != NULL && a->auth;
}

double
anvil_auth_locked(struct anvil *a, const char *key, double now)
{
	double left;

	if (!anvil_auth_counts(a) || lock(a) != 0)
		return 0;
	left = penalty_locked(pen(a), key, now);
	unlock(a);
	return left;
}

int
anvil_auth_fail(struct anvil *a, const char *key, double now,
    unsigned *failures)
{
	int started;

	if (failures != NULL)
		*failures = 0;
	if (!anvil_auth_counts(a) || lock(a) != 0)
		return 0;
	started = penalty_fail(pen(a), key, now, failures);
	unlock(a);
	return started;
}

int
anvil_auth_check(struct anvil *a, const char *key, double now,
    int (*check)(void *), void *arg, unsigned *failures, int *started)
{
	int v;

	*started = 0;
	if (failures != NULL)
		*failures = 0;
	if (!anvil_auth_counts(a) || lock(a) != 0)
		return check(arg);
	if (penalty_locked(pen(a), key, now) > 0)
		v = ANVIL_AUTH_LOCKED;
	else if ((v = check(arg)) == ANVIL_AUTH_FAILED)
		*started = penalty_fail(pen(a), key, now, failures);
	unlock(a);
	return v;
}
