/*
 * anvil: the client table shared by the worker processes (anvil.h): a
 * lib/shmtab.h table of keys, each entry one count per column (its open
 * connections), then the open connections per column and lib/penalty.c's
 * table placed after the entries in the same region. An entry lives while
 * any column counts a connection.
 */
#include <stdint.h>
#include <string.h>

#include "lib/anvil.h"
#include "lib/failpoint.h"
#include "lib/penalty.h"
#include "lib/shmtab.h"

#define ALIGN8(n)	(((n) + 7) & ~(size_t)7)
#define COLUMNS_MAX	1024

struct anvil {
	struct shmtab	 t;		/* first: the region's start */
	size_t		 off_totals, off_penalty;
	uint32_t	 cols;
	int32_t		 auth;		/* a penalty table follows */
};

static uint32_t *
totals(struct anvil *a)
{
	return (uint32_t *)((char *)a + a->off_totals);
}

/* Entry i's counts, one per column. */
static uint32_t *
N(struct anvil *a, uint32_t i)
{
	return shmtab_payload(&a->t, shmtab_entry(&a->t, i));
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
	size_t off;

	memset(&h, 0, sizeof(h));
	h.cols = columns < 1 ? 1 : columns > COLUMNS_MAX ? COLUMNS_MAX :
	    columns;
	h.auth = auth_limit > 0;
	off = shmtab_layout(&h.t, sizeof(h), PENALTY_KEY_LEN,
	    h.cols * sizeof(uint32_t), keys);
	h.off_totals = off;
	off += ALIGN8(h.cols * sizeof(uint32_t));
	h.off_penalty = off;
	if (h.auth)
		off += penalty_footprint(auth_keys);
	if ((a = shmtab_map(&h.t, sizeof(h), off)) == NULL)
		return NULL;
	if (h.auth)
		penalty_place(pen(a), auth_limit, window, lockout, auth_keys,
		    h.t.seed * 0x9e3779b97f4a7c15ULL + 1);
	return a;
}

void
anvil_free(struct anvil *a)
{
	if (a != NULL)
		shmtab_unmap(&a->t);
}

/* --- the table ---------------------------------------------------------- */

static unsigned
sum(struct anvil *a, uint32_t i)
{
	const uint32_t *n = N(a, i);
	unsigned s = 0;

	for (uint32_t c = 0; c < a->cols; c++)
		s += n[c];
	return s;
}

/* After a process died holding the lock: an entry is kept while a column
 * counts it; the totals and the penalty table are rebuilt likewise. */
static int
keep(void *arg, struct shm_entry *e)
{
	struct anvil *a = arg;
	const uint32_t *n = shmtab_payload(&a->t, e);

	for (uint32_t c = 0; c < a->cols; c++)
		if (n[c] > 0)
			return 1;
	return 0;
}

static void
repaired(void *arg)
{
	struct anvil *a = arg;
	uint32_t *t = totals(a);

	memset(t, 0, a->cols * sizeof(uint32_t));
	for (uint32_t i = 1; i <= a->t.bumped; i++)
		if (shmtab_entry(&a->t, i)->key[0] != '\0')
			for (uint32_t c = 0; c < a->cols; c++)
				t[c] += N(a, i)[c];
	if (a->auth)
		penalty_repair(pen(a));
}

static int
lock(struct anvil *a)
{
	return shmtab_lock(&a->t, keep, repaired, a);
}

static void
unlock(struct anvil *a)
{
	shmtab_unlock(&a->t);
}

enum anvil_verdict
anvil_connect(struct anvil *a, unsigned col, const char *key,
    unsigned max_total, unsigned max_per_key, unsigned *count, unsigned *slot)
{
	enum anvil_verdict v = ANVIL_OK;
	unsigned total = 0, n;
	uint32_t i;

	*slot = 0;
	*count = 0;
	if (col >= a->cols || lock(a) != 0)
		return ANVIL_OK;	/* not reached: uncounted */
	for (uint32_t c = 0; c < a->cols; c++)
		total += totals(a)[c];
	i = shmtab_find(&a->t, key);
	n = i != 0 ? sum(a, i) : 0;
	if (total >= max_total) {
		v = ANVIL_TOTAL;
		*count = total;
	} else if (max_per_key > 0 && n >= max_per_key) {
		v = ANVIL_PER_KEY;
		*count = n;
	} else if (i == 0) {
		if ((i = shmtab_add(&a->t, key)) == 0) {
			v = ANVIL_FULL;
			*count = total;
		} else
			/* Killed here, the entry counts nothing: a repair
			 * drops it. */
			FAILPOINT("anvil-mid-connect");
	}
	if (v == ANVIL_OK) {
		N(a, i)[col]++;
		totals(a)[col]++;
		*slot = i;
	}
	unlock(a);
	return v;
}

void
anvil_disconnect(struct anvil *a, unsigned col, unsigned slot)
{
	uint32_t *n;

	if (slot == 0 || slot > a->t.capacity || col >= a->cols ||
	    lock(a) != 0)
		return;
	n = N(a, slot);
	if (slot <= a->t.bumped && n[col] > 0) {
		n[col]--;
		if (totals(a)[col] > 0)
			totals(a)[col]--;
		if (sum(a, slot) == 0)
			shmtab_release(&a->t, slot);
	}
	unlock(a);
}

void
anvil_forget(struct anvil *a, unsigned col)
{
	if (col >= a->cols || lock(a) != 0)
		return;
	for (uint32_t i = 1; i <= a->t.bumped; i++) {
		uint32_t *n = N(a, i);

		if (n[col] == 0)
			continue;
		n[col] = 0;
		if (sum(a, i) == 0)
			shmtab_release(&a->t, i);
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
	if ((i = shmtab_find(&a->t, key)) != 0)
		n = sum(a, i);
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
	n = a->t.nkeys;
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
