/*
 * penalty: failure scores per client network, with a cool-down — the
 * table behind the per-address AUTH limit (smtp/auth.c), and the client
 * key the per-address connection count uses too (smtp/server.c).
 *
 * A client is keyed by its IPv4 address, or by the /64 network of its IPv6
 * address (one end site holds a whole /64 at least, so counting single
 * IPv6 addresses counts nothing); an IPv4-mapped IPv6 address is its IPv4
 * address. Each failure adds one to the key's score, which drains
 * continuously at `limit` per `window` seconds: a burst of `limit` failures
 * locks the key out for `lockout` seconds, failures at a steady `limit`
 * per `window` or slower never do. A lockout is not extended by what
 * happens during it, and ends with a clean slate. A success counts for
 * nothing (the caller does not report it): an attacker holding one valid
 * account cannot wipe the score of the address it guesses other accounts
 * from.
 *
 * At most `capacity` keys are held: expired ones are dropped as time goes
 * by (lazily, on each call), and when the table is full the key whose last
 * failure is oldest is forgotten first, then the oldest lockout. Pure: the
 * caller passes the time (seconds, monotonic); no I/O, no logging.
 *
 * The table holds no pointer (indices only), so it may live in memory
 * several processes map (lib/anvil.c places it in its shared region and
 * locks around each call): penalty_place().
 */
#ifndef OUTPOST_PENALTY_H
#define OUTPOST_PENALTY_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* "192.0.2.1", "2001:db8:1:2::/64": an INET6_ADDRSTRLEN and a "/64". */
#define PENALTY_KEY_LEN	52

/* The client key of an AF_INET or AF_INET6 address; -1 (and "?") for any
 * other family. */
int	 penalty_key(const struct sockaddr *, char out[PENALTY_KEY_LEN]);

struct penalty;

/* limit >= 1, window > 0, lockout >= 0, capacity >= 1. */
struct penalty	*penalty_new(unsigned limit, double window, double lockout,
		    size_t capacity);
void		 penalty_free(struct penalty *);

/* Bytes a table of capacity keys takes (a multiple of 8). */
size_t		 penalty_footprint(size_t capacity);
/* A table in mem (penalty_footprint(capacity) bytes, zero-filled, 8-byte
 * aligned; the caller owns it: penalty_free() leaves it alone), its hash
 * seeded with seed. */
struct penalty	*penalty_place(void *mem, unsigned limit, double window,
		    double lockout, size_t capacity, uint64_t seed);
/* Rebuilds the index, the orders and the count from the keys held: for a
 * table whose last writer died in the middle of a change. */
void		 penalty_repair(struct penalty *);

/* Seconds left of key's lockout at now; 0 when it is not locked out. */
double		 penalty_locked(struct penalty *, const char *key, double now);
/*
 * Counts one failure of key at now. 1 when it started a lockout, else 0
 * (also when key is locked out already: that failure is not counted).
 * *failures (may be NULL) gets the failures counted since key's score was
 * last zero, this one included.
 */
int		 penalty_fail(struct penalty *, const char *key, double now,
		    unsigned *failures);
/* Keys held (expired ones included until the next call drops them). */
size_t		 penalty_size(const struct penalty *);

#endif
