/*
 * suppress_writer: the daemon's suppression list — config/suppression.ini,
 * the store (core/suppress.h) and the one thread that writes it. Reads
 * (suppress_lookup on suppressor_store()) happen on the event loop: LMDB
 * readers take no lock and are never blocked by the writer. Writes are
 * queued to the writer thread, which applies every queued write in one
 * transaction, commits it durably (fsync), then tells the loop, which
 * calls each write's done(): a write is on disk before done() runs.
 *
 * One list per process: the suppression plugin (builtins/suppression.c)
 * starts it and publishes it with suppress_set_running(); delivery and the
 * admin API find it with suppress_running() (NULL: the list is off).
 */
#ifndef OUTPOST_SUPPRESS_WRITER_H
#define OUTPOST_SUPPRESS_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/suppress.h"

struct event_base;

/* config/suppression.ini (every key documented there). */
struct suppress_config {
	int		 enabled;
	char		*path;		/* the LMDB directory, absolute */
	size_t		 map_mb;
	int		 global;	/* scope = global (else per sender
					 * domain) */
	char	       **categories;	/* bounce categories that suppress */
	size_t		 ncategories;
	int		 remote_bounces;
	int		 complaints;
	int64_t		 expiry[SUP_NSOURCES];	/* s; 0 never */
	unsigned	 purge_interval;	/* s */
};

/* Reads ROOT/config/suppression.ini (absent: the defaults). 0, or -1 with
 * *err "suppression.ini: <key>: ..." (exit 78). */
int		 suppress_config_load(const char *root, const char *config_dir,
		    struct suppress_config *, char **err);
void		 suppress_config_clear(struct suppress_config *);
/* "30d", "12h", "90" (seconds), "0" / "never": 0. -1 when bad. */
int64_t		 suppress_duration(const char *);

/* ok: the write is durable; changed: entries written or removed. */
typedef void (*suppress_done_fn)(void *arg, int ok, long changed,
		    const char *err);

struct suppressor;
/* Takes s and cfg (moved in); NULL with *err. */
struct suppressor *suppressor_start(struct event_base *,
		    struct suppress_store *s, struct suppress_config *cfg,
		    char **err);
/* Finishes the queued writes (their done() called), stops the thread,
 * closes the store. */
void		 suppressor_stop(struct suppressor *);
struct suppress_store *suppressor_store(struct suppressor *);
const struct suppress_config *suppressor_config(const struct suppressor *);

/* Queue writes (copied); done may be NULL. */
void		 suppressor_put(struct suppressor *,
		    const struct suppress_entry *, size_t n, int force,
		    suppress_done_fn, void *arg);
void		 suppressor_del(struct suppressor *, const char *addr,
		    const char *scope, suppress_done_fn, void *arg);
void		 suppressor_purge(struct suppressor *, suppress_done_fn,
		    void *arg);

struct suppressor *suppress_running(void);
void		 suppress_set_running(struct suppressor *);

/* --qstat: "suppressions N" and "suppressions_expired N" from ROOT's list
 * (read-only; nothing when it is off or was never written). */
void		 suppress_report(FILE *out, const char *root,
		    const char *config_dir);

#endif
