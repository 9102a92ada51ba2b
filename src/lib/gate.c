/*
 * gate: the destinations' shaping state shared by the workers (gate.h):
 * a lib/shmtab.h table of destination keys, each entry its two rates and
 * one connection count per column. A full table takes back an idle entry.
 */
#include <stdint.h>
#include <string.h>

#include "lib/failpoint.h"
#include "lib/gate.h"
#include "lib/shmtab.h"

#define COLUMNS_MAX	1024

struct gate {
	struct shmtab	 t;		/* first: the region's start */
	uint32_t	 cols;
};

/* An entry's payload: the rates, then per column its open connections
 * and when it was last refused one (ms; 0: not since it got one). */
struct gstate {
	struct rate	 conn, msg;	/* the key's rates, with their state */
	uint32_t	 n[];		/* [cols], then uint64_t want[cols] */
};

#define WANT_MS		1000	/* a refusal older than this is forgotten */
#define N_BYTES(cols)	(((cols) * sizeof(uint32_t) + 7) & ~(size_t)7)

static uint64_t *
want(const struct gate *g, struct gstate *s)
{
	return (uint64_t *)(void *)((char *)s + sizeof(*s) +
	    N_BYTES(g->cols));
}

static struct gstate *
S(struct gate *g, uint32_t i)
{
	return shmtab_payload(&g->t, shmtab_entry(&g->t, i));
}

struct gate *
gate_new(unsigned columns, size_t keys)
{
	struct gate h;
	size_t size;

	memset(&h, 0, sizeof(h));
	h.cols = columns < 1 ? 1 : columns > COLUMNS_MAX ? COLUMNS_MAX :
	    columns;
	size = shmtab_layout(&h.t, sizeof(h), GATE_KEY_LEN,
	    sizeof(struct gstate) + N_BYTES(h.cols) +
	    h.cols * sizeof(uint64_t), keys);
	return shmtab_map(&h.t, sizeof(h), size);
}

void
gate_free(struct gate *g)
{
	if (g != NULL)
		shmtab_unmap(&g->t);
}

/* --- the table ---------------------------------------------------------- */

static unsigned
sum(const struct gate *g, const struct gstate *s)
{
	unsigned n = 0;

	for (uint32_t c = 0; c < g->cols; c++)
		n += s->n[c];
	return n;
}

/* Its state no longer matters: no connection, and both rates would let
 * an event through at once whatever came before. */
static int
idle(const struct gate *g, const struct gstate *s, uint64_t now_ms)
{
	return sum(g, s) == 0 && s->conn.tat <= now_ms * 1000 &&
	    s->msg.tat <= now_ms * 1000;
}

/* key's entry, new if need be (a full table takes back an idle one); 0
 * when every entry holds something. */
static uint32_t
entry_of(struct gate *g, const char *key, uint64_t now_ms)
{
	uint32_t i;

	if ((i = shmtab_find(&g->t, key)) != 0)
		return i;
	if ((i = shmtab_add(&g->t, key)) == 0) {
		for (i = 1; i <= g->t.bumped; i++)
			if (idle(g, S(g, i), now_ms)) {
				shmtab_release(&g->t, i);
				break;
			}
		if ((i = shmtab_add(&g->t, key)) == 0)
			return 0;
	}
	/* Killed here, the entry holds nothing yet: a repair keeps it,
	 * idle, to be taken back when the table is full. */
	FAILPOINT("gate-mid-admit");
	return i;
}

/* The index is rebuilt from every entry with a key after a process died
 * holding the lock. */
static int
lock(struct gate *g)
{
	return shmtab_lock(&g->t, NULL, NULL, NULL);
}

static void
unlock(struct gate *g)
{
	shmtab_unlock(&g->t);
}

/* Another column than col was refused a connection of its part within
 * the last WANT_MS. */
static int
wanted(const struct gate *g, struct gstate *s, unsigned col, uint64_t now_ms)
{
	for (uint32_t c = 0; c < g->cols; c++)
		if (c != col && want(g, s)[c] != 0 &&
		    now_ms - want(g, s)[c] < WANT_MS)
			return 1;
	return 0;
}

uint64_t
gate_admit(struct gate *g, unsigned col, const char *key,
    const struct gate_ask *ask, uint64_t now_ms, unsigned *slot)
{
	struct gstate *s;
	uint32_t i;
	uint64_t wc = 0, wm, wait;
	int lend;

	*slot = 0;
	if (col >= g->cols || lock(g) != 0)
		return 0;		/* not reached: ungated */
	if ((i = entry_of(g, key, now_ms)) == 0) {
		unlock(g);
		return GATE_POLL_MS;	/* every key busy */
	}
	s = S(g, i);
	rate_update(&s->conn, &ask->conn_rate);
	rate_update(&s->msg, &ask->msg_rate);
	/* Beyond its part, a connection is borrowed from the others'. */
	lend = ask->conn && ask->part > 0 && s->n[col] >= ask->part;
	if (ask->conn && ask->max_conn > 0 && sum(g, s) >= ask->max_conn)
		wait = lend ? GATE_NO_LOAN : GATE_FULL;
	else if (lend && wanted(g, s, col, now_ms))
		wait = GATE_NO_LOAN;
	else {
		if (ask->conn)
			wc = rate_wait(&s->conn, now_ms);
		wm = rate_wait(&s->msg, now_ms);
		wait = wc > wm ? wc : wm;
	}
	if (wait == 0) {
		if (ask->conn) {
			rate_take(&s->conn, now_ms);
			s->n[col]++;
			want(g, s)[col] = 0;
			*slot = i;
		}
		rate_take(&s->msg, now_ms);
	} else if (wait == GATE_FULL)
		want(g, s)[col] = now_ms;
	unlock(g);
	return wait;
}

/* gate_may_lend (lend) or gate_keep_idle: both read the count and the
 * others' wants under the lock; a key never seen lends and keeps. */
static int
judge(struct gate *g, unsigned col, const char *key, unsigned max_conn,
    uint64_t now_ms, int lend)
{
	struct gstate *s;
	uint32_t i;
	unsigned n;
	int yes = 1;

	if (col >= g->cols || lock(g) != 0)
		return !lend;
	if ((i = shmtab_find(&g->t, key)) != 0) {
		n = sum(g, (s = S(g, i)));
		if (lend)
			yes = (max_conn == 0 || n < max_conn) &&
			    !wanted(g, s, col, now_ms);
		else
			yes = max_conn == 0 || n < max_conn ||
			    (n == max_conn && !wanted(g, s, col, now_ms));
	}
	unlock(g);
	return yes;
}

int
gate_may_lend(struct gate *g, unsigned col, const char *key,
    unsigned max_conn, uint64_t now_ms)
{
	return judge(g, col, key, max_conn, now_ms, 1);
}

int
gate_keep_idle(struct gate *g, unsigned col, const char *key,
    unsigned max_conn, uint64_t now_ms)
{
	return judge(g, col, key, max_conn, now_ms, 0);
}

void
gate_release(struct gate *g, unsigned col, unsigned slot)
{
	struct gstate *s;

	if (slot == 0 || slot > g->t.capacity || col >= g->cols ||
	    lock(g) != 0)
		return;
	s = S(g, slot);
	if (slot <= g->t.bumped && s->n[col] > 0)
		s->n[col]--;
	unlock(g);
}

void
gate_forget(struct gate *g, unsigned col)
{
	if (col >= g->cols || lock(g) != 0)
		return;
	for (uint32_t i = 1; i <= g->t.bumped; i++)
		S(g, i)->n[col] = 0;
	unlock(g);
}

unsigned
gate_count(struct gate *g, const char *key)
{
	unsigned n = 0;
	uint32_t i;

	if (lock(g) != 0)
		return 0;
	if ((i = shmtab_find(&g->t, key)) != 0)
		n = sum(g, S(g, i));
	unlock(g);
	return n;
}
