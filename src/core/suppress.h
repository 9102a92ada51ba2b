/*
 * suppress: the suppression list's store — recipients Outpost no longer
 * attempts, per sender domain or for every sender, with a reason, a source
 * and an expiry — in an LMDB environment (a directory with data.mdb and
 * lock.mdb). Synchronous and thread-safe as LMDB is: reads take a
 * read-only transaction (never blocked by the writer), writes one write
 * transaction each, made durable (fsync) at commit. The daemon's writes go
 * through one writer thread (core/suppress_writer.h); tests and --qstat
 * use this directly.
 *
 * Key: the address, NUL, the scope ("" for global), so one range holds
 * every scope of an address. Value: a version byte, the source, created
 * and expires (s since the epoch, 0 never), the reason.
 */
#ifndef OUTPOST_SUPPRESS_H
#define OUTPOST_SUPPRESS_H

#include <stddef.h>
#include <stdint.h>

#define SUPPRESS_ADDR_MAX	254	/* RFC 5321 path, without <> */
#define SUPPRESS_SCOPE_MAX	253	/* a domain name */
#define SUPPRESS_REASON_MAX	300

enum suppress_source {
	SUP_BOUNCE = 0,		/* a synchronous hard bounce */
	SUP_REMOTE_BOUNCE,	/* a bounce report (DSN) after the 250 */
	SUP_COMPLAINT,		/* an ARF complaint */
	SUP_ADMIN,		/* the admin API */
	SUP_NSOURCES
};

/* "bounce", "remote_bounce", "complaint", "admin". */
const char	*suppress_source_name(enum suppress_source);
/* The source named s, or -1. */
int		 suppress_source_parse(const char *s);

struct suppress_entry {
	char			 address[SUPPRESS_ADDR_MAX + 1];
	char			 scope[SUPPRESS_SCOPE_MAX + 1];	/* "": global */
	char			 reason[SUPPRESS_REASON_MAX + 1];
	enum suppress_source	 source;
	int64_t			 created;	/* s since the epoch */
	int64_t			 expires;	/* s since the epoch; 0: never */
};

/* The address as stored: <> stripped, the domain lower-cased, the local
 * part as sent. 0, or -1 when it is no address (no '@', an empty part,
 * spaces or control characters, too long). */
int		 suppress_address(const char *in, char out[SUPPRESS_ADDR_MAX + 1]);
/* A scope as stored: "global" (or "", "*") is "", else a domain name,
 * lower-cased. 0, or -1 when it is neither. */
int		 suppress_scope(const char *in, char out[SUPPRESS_SCOPE_MAX + 1]);
/* The domain of an address (lower-cased, into out), "" when it has none
 * (the null sender). */
void		 suppress_sender_domain(const char *addr,
		    char out[SUPPRESS_SCOPE_MAX + 1]);
/* Whether e stops mail at now. */
int		 suppress_active(const struct suppress_entry *e, int64_t now);

struct suppress_store;

/* Opens (creating dir, 0700, unless rdonly) the environment; map_mb:
 * its map size in MiB. NULL with *err (malloc'd). */
struct suppress_store *suppress_open(const char *dir, size_t map_mb,
		    int rdonly, char **err);
void		 suppress_close(struct suppress_store *);

/*
 * The entry that stops mail from a sender of sender_domain ("": the null
 * sender, only global entries apply) to addr (normalised) at now: 1 with
 * *e filled (the sender domain's entry before the global one), 0 none,
 * -1 a read error. Expired entries never match.
 */
int		 suppress_lookup(struct suppress_store *, const char *addr,
		    const char *sender_domain, int64_t now,
		    struct suppress_entry *e);

/* A write transaction: puts and removes, then one durable commit. */
struct suppress_txn;
struct suppress_txn *suppress_begin(struct suppress_store *, char **err);
/*
 * Adds e, or replaces the entry of its address and scope. Without force,
 * an entry already there and active stays when it lasts at least as long
 * as e would (never-expiring ones always stay): a bounce does not shorten
 * a complaint's. 1 written, 0 kept, -1 error (*err; the txn is aborted).
 */
int		 suppress_put(struct suppress_txn *, const struct suppress_entry *e,
		    int force, char **err);
/* Removes addr's entry of scope, or of every scope (scope NULL): the
 * number removed, or -1 (*err; the txn is aborted). */
long		 suppress_del(struct suppress_txn *, const char *addr,
		    const char *scope, char **err);
/* Removes the entries expired at now: the number, or -1. */
long		 suppress_purge(struct suppress_txn *, int64_t now, char **err);
/* Commits (fsync'd): 0, or -1 (*err). Frees the txn either way. */
int		 suppress_commit(struct suppress_txn *, char **err);
void		 suppress_abort(struct suppress_txn *);

/* Entries that stop mail at now, and those expired but not yet purged. */
int		 suppress_count(struct suppress_store *, int64_t now,
		    size_t *active, size_t *expired);

/* Listing: entries matching every criterion given (NULL / -1: any). */
struct suppress_filter {
	const char	*address;	/* exact (normalised) */
	const char	*domain;	/* the address's domain */
	const char	*scope;		/* exact; "" global */
	int		 source;	/* enum suppress_source, -1 any */
	int		 expired;	/* list expired entries too */
};
typedef void (*suppress_each_fn)(void *arg, const struct suppress_entry *);
/* Calls fn for the matching entries offset .. offset+limit-1 in key order
 * (limit 0: none, only the total), *total the number matching. 0, -1. */
int		 suppress_list(struct suppress_store *,
		    const struct suppress_filter *, int64_t now, size_t offset,
		    size_t limit, suppress_each_fn fn, void *arg,
		    size_t *total);

#endif
