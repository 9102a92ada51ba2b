/*
 * fuzz.h: what the libFuzzer targets share — check(), which stops the run
 * with a crash the fuzzer records, and a small PRNG for choices taken
 * from the input (chunk sizes), so that a crashing input replays exactly.
 */
#ifndef OUTPOST_FUZZ_H
#define OUTPOST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* An oracle that does not hold: say which and crash (libFuzzer saves the
 * input as crash-<sha1>). */
#define check(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: oracle failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* xorshift32, seeded from the input; never 0. */
struct fuzz_rng {
	uint32_t	s;
};

static inline void
fuzz_rng_init(struct fuzz_rng *r, uint32_t seed)
{
	r->s = seed * 2654435761u + 0x9e3779b9u;
	if (r->s == 0)
		r->s = 1;
}

static inline uint32_t
fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 17;
	r->s ^= r->s << 5;
	return r->s;
}

/* A chunk length in [1, left]: mostly small (1-16 bytes, to cut inside
 * every token), sometimes anything. */
static inline size_t
fuzz_chunk(struct fuzz_rng *r, size_t left)
{
	uint32_t v = fuzz_rng_next(r);
	size_t n = (v & 3) == 0 ? 1 + (v >> 2) % left : 1 + (v >> 2) % 16;

	return n > left ? left : n;
}

#endif
