/*
 * shmtab: a table of string keys in one MAP_SHARED anonymous region, made
 * before a fork and used by every process forked after it (lib/anvil.c's
 * clients, lib/gate.c's destinations). The region holds the owner's
 * header, which begins with a struct shmtab; a hash of keys (bucket heads
 * and chains as 1-based entry indices); `capacity` entries, each a struct
 * shm_entry (its chain and key) followed by the owner's payload; then
 * whatever the owner places after them. No pointer inside: offsets and
 * indices only. Entries are taken in order and reused through a free
 * list, so untouched pages stay untouched.
 *
 * A process-shared robust mutex guards it. A caller of shmtab_lock() that
 * finds its last owner dead (killed holding it) rebuilds the index and the
 * free list from the entries that keep() says hold something (the entries
 * are the truth), lets the owner repair the rest, and goes on.
 */
#ifndef OUTPOST_SHMTAB_H
#define OUTPOST_SHMTAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct shmtab {
	pthread_mutex_t	 mu;		/* process-shared, robust */
	size_t		 size;		/* of the mapping */
	size_t		 off_buckets, off_entries, stride, key_len, payload;
	uint64_t	 seed;
	uint32_t	 capacity, nbuckets;
	uint32_t	 bumped;	/* entries ever used */
	uint32_t	 free;		/* freed entries, through chain */
	uint32_t	 nkeys;		/* in the index */
};

struct shm_entry {
	uint32_t	 chain;		/* next in its bucket; next free */
	char		 key[];		/* key_len bytes, NUL included */
};

/*
 * Lays out a table in h, the owner's header (hdr bytes, h at its start):
 * keys of up to key_len - 1 bytes, `payload` bytes of the owner's per
 * entry, about `capacity` entries. Returns the offset of the bytes after
 * the entries, where the owner may place more before shmtab_map().
 */
size_t		 shmtab_layout(struct shmtab *h, size_t hdr, size_t key_len,
		    size_t payload, size_t capacity);
/* Maps size bytes (zero-filled), copies the header in (hdr bytes from h)
 * and makes the mutex: the region's start, or NULL with errno set. */
void		*shmtab_map(const struct shmtab *h, size_t hdr, size_t size);
/* Unmaps it (in this process only). */
void		 shmtab_unmap(struct shmtab *);

/* 0 with the lock held, else -1. After a dead owner: the repair above
 * (keep(arg, entry), then repaired(arg); either may be NULL). */
int		 shmtab_lock(struct shmtab *,
		    int (*keep)(void *arg, struct shm_entry *),
		    void (*repaired)(void *arg), void *arg);
void		 shmtab_unlock(struct shmtab *);

/* Entry i (1..bumped) and its payload (8-byte aligned). */
struct shm_entry *shmtab_entry(struct shmtab *, uint32_t i);
void		*shmtab_payload(struct shmtab *, struct shm_entry *);
/* The index of key's entry, 0 for none. */
uint32_t	 shmtab_find(struct shmtab *, const char *key);
/* A new entry for key (not in the table; cut to key_len - 1 bytes), its
 * payload zeroed: its index, or 0 when every entry is taken. */
uint32_t	 shmtab_add(struct shmtab *, const char *key);
/* Entry i leaves the index for the free list. */
void		 shmtab_release(struct shmtab *, uint32_t i);

#endif
