/*
 * pool: what delivery keeps about destinations between attempts — idle
 * connections per destination key (for a few seconds, RSET between
 * messages) and the addresses whose TLS handshake failed (plaintext for
 * an hour).
 */
#ifndef OUTPOST_POOL_H
#define OUTPOST_POOL_H

struct event_base;
struct mta_conf;
struct mta_session;
struct pool;

struct pool	*pool_new(struct event_base *);
/* Closes the idle connections and forgets everything. NULL is fine. */
void		 pool_free(struct pool *);
/* Shutdown: closes the idle connections and keeps no new ones. */
void		 pool_drain(struct pool *);

/* The destination a connection serves: everything of its configuration
 * that a reused connection must share (source and destination address,
 * port, HELO, LMTP, TLS mode, credentials). malloc'd. */
char		*pool_key(const struct mta_conf *);
/* An idle connection for key, ready for another transaction, or NULL. */
struct mta_session *pool_take(struct pool *, const char *key);
/* A connection whose transaction is over: kept for key (idle_s seconds,
 * 0: the pool's own) when it can carry another one, else closed. Returns
 * 1 when kept. */
int		 pool_put(struct pool *, const char *key, struct mta_session *,
		    unsigned idle_s);

/* Closes the idle connections whose key starts with prefix. */
void		 pool_close_prefix(struct pool *, const char *prefix);

/* True while ip is marked as failing TLS. */
int		 pool_no_tls_marked(struct pool *, const char *ip);
/* ip's TLS handshake failed: plaintext to it for a while (logged under
 * uuid). */
void		 pool_no_tls_mark(struct pool *, const char *ip, const char *uuid);

#endif
