/*
 * shmtab: a table of keys in memory that forked processes share
 * (shmtab.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "lib/shmtab.h"
#include "lib/util.h"

#define ALIGN8(n)	(((n) + 7) & ~(size_t)7)

size_t
shmtab_layout(struct shmtab *h, size_t hdr, size_t key_len, size_t payload,
    size_t capacity)
{
	memset(h, 0, sizeof(*h));
	h->capacity = capacity < 1 ? 1 : capacity > UINT32_MAX / 2 ?
	    UINT32_MAX / 2 : (uint32_t)capacity;
	for (h->nbuckets = 16; h->nbuckets < h->capacity; h->nbuckets <<= 1)
		;
	h->key_len = key_len;
	h->payload = ALIGN8(sizeof(struct shm_entry) + key_len);
	h->stride = ALIGN8(h->payload + payload);
	h->off_buckets = ALIGN8(hdr);
	h->off_entries = h->off_buckets +
	    ALIGN8((size_t)h->nbuckets * sizeof(uint32_t));
	/* Not util_random(): its state, seeded here before the fork, would
	 * be every child's, and their identifiers alike. */
	if (getrandom(&h->seed, sizeof(h->seed), 0) != sizeof(h->seed))
		h->seed = (uint64_t)(uintptr_t)h ^ (uint64_t)getpid() << 32;
	return h->off_entries + (size_t)h->capacity * h->stride;
}

void *
shmtab_map(const struct shmtab *h, size_t hdr, size_t size)
{
	struct shmtab *t;
	pthread_mutexattr_t attr;

	t = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	memcpy(t, h, hdr);
	t->size = size;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	errno = pthread_mutex_init(&t->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	if (errno != 0) {
		munmap(t, size);
		return NULL;
	}
	return t;
}

void
shmtab_unmap(struct shmtab *t)
{
	if (t != NULL)
		munmap(t, t->size);
}

struct shm_entry *
shmtab_entry(struct shmtab *t, uint32_t i)
{
	return (struct shm_entry *)((char *)t + t->off_entries +
	    (size_t)(i - 1) * t->stride);
}

void *
shmtab_payload(struct shmtab *t, struct shm_entry *e)
{
	return (char *)e + t->payload;
}

static uint32_t *
slot_of(struct shmtab *t, const char *key)
{
	uint64_t h = fnv1a(FNV_BASIS ^ t->seed, key);
	uint32_t *pp = (uint32_t *)((char *)t + t->off_buckets) +
	    ((h ^ (h >> 32)) & (t->nbuckets - 1));

	for (; *pp != 0; pp = &shmtab_entry(t, *pp)->chain)
		if (strcmp(shmtab_entry(t, *pp)->key, key) == 0)
			break;
	return pp;
}

uint32_t
shmtab_find(struct shmtab *t, const char *key)
{
	return *slot_of(t, key);
}

uint32_t
shmtab_add(struct shmtab *t, const char *key)
{
	struct shm_entry *e;
	uint32_t i;

	if ((i = t->free) != 0)
		t->free = shmtab_entry(t, i)->chain;
	else if (t->bumped < t->capacity)
		i = ++t->bumped;
	else
		return 0;
	e = shmtab_entry(t, i);
	memset(e, 0, t->stride);
	snprintf(e->key, t->key_len, "%s", key);
	*slot_of(t, e->key) = i;
	t->nkeys++;
	return i;
}

void
shmtab_release(struct shmtab *t, uint32_t i)
{
	struct shm_entry *e = shmtab_entry(t, i);
	uint32_t *pp = slot_of(t, e->key);

	if (*pp == i)
		*pp = e->chain;
	memset(e, 0, t->stride);
	e->chain = t->free;
	t->free = i;
	t->nkeys--;
}

/* After a process died holding the lock: the index, the free list and the
 * count rebuilt from the entries with a key that keep() accepts (the
 * first of each key). */
static void
repair(struct shmtab *t, int (*keep)(void *, struct shm_entry *), void *arg)
{
	if (t->bumped > t->capacity)
		t->bumped = t->capacity;
	memset((char *)t + t->off_buckets, 0,
	    (size_t)t->nbuckets * sizeof(uint32_t));
	t->free = 0;
	t->nkeys = 0;
	for (uint32_t i = t->bumped; i >= 1; i--) {
		struct shm_entry *e = shmtab_entry(t, i);
		uint32_t *pp;

		e->key[t->key_len - 1] = '\0';
		if (e->key[0] == '\0' || (keep != NULL && !keep(arg, e)) ||
		    *(pp = slot_of(t, e->key)) != 0) {
			memset(e, 0, t->stride);
			e->chain = t->free;
			t->free = i;
			continue;
		}
		e->chain = 0;
		*pp = i;
		t->nkeys++;
	}
}

int
shmtab_lock(struct shmtab *t, int (*keep)(void *, struct shm_entry *),
    void (*repaired)(void *), void *arg)
{
	int rc = pthread_mutex_lock(&t->mu);

	if (rc == EOWNERDEAD) {
		repair(t, keep, arg);
		if (repaired != NULL)
			repaired(arg);
		pthread_mutex_consistent(&t->mu);
		return 0;
	}
	return rc == 0 ? 0 : -1;
}

void
shmtab_unlock(struct shmtab *t)
{
	pthread_mutex_unlock(&t->mu);
}
