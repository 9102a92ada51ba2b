/*
 * cluster_conf: config/cluster.ini, the Redis server that Outpost nodes
 * share to hold the shaping limits (delivery/cluster.h) across all of
 * them, and the pure helpers of the cluster: Redis key names and a node's
 * share of a limit while Redis is unreachable.
 *
 * cluster.ini ([main]; absent, or neither host nor socket set: off):
 *   host=127.0.0.1       Redis's IP address (never a name: resolving one
 *                        would block the event loop)
 *   port=6379
 *   socket=/run/redis.sock  a unix socket instead of host and port
 *   password=            AUTH before anything else (none: no AUTH)
 *   db=0                 SELECT (0: none)
 *   prefix=outpost       the first part of every key
 *   node=                this node's name in its connection leases
 *                        (empty: host name and process id)
 *   nodes=1              how many nodes share the limits: while Redis is
 *                        unreachable each keeps limit / nodes (at least 1)
 *   connect_timeout=2s   connecting and loading the scripts
 *   timeout=1s           a reply later than this: Redis is unreachable
 *   lease_ttl=30s        a connection lease's life, renewed every third
 *                        of it while the connection lives
 *   reconnect_max=5s     reconnection backoff, from 250 ms doubling to this
 *   max_wait=60s         how long a delivery attempt waits for its turn
 *                        before it goes back to the queue
 * Durations: a number of seconds, or with ms, s, m.
 */
#ifndef OUTPOST_CLUSTER_CONF_H
#define OUTPOST_CLUSTER_CONF_H

#include "lib/rate.h"

#define CLUSTER_DEFAULT_PORT	6379

struct cluster_conf {
	int		 enabled;	/* host or socket set */
	char		*host;		/* NULL: socket */
	unsigned	 port;
	char		*socket;	/* NULL: host */
	char		*password;	/* NULL: no AUTH */
	unsigned	 db;
	char		*prefix;
	char		*node;		/* NULL: host name and pid */
	unsigned	 nodes;
	unsigned	 connect_timeout_ms;
	unsigned	 timeout_ms;
	unsigned	 lease_ttl_ms;
	unsigned	 reconnect_max_ms;
	unsigned	 max_wait_ms;
};

/* config_dir/cluster.ini into *c (cleared first; an absent file is off):
 * 0, or -1 with a malloc'd one-line *err naming the file and line. */
int		 cluster_conf_load(const char *config_dir, struct cluster_conf *c,
		    char **err);
/* The same from text (NULL: no file); for tests. */
int		 cluster_conf_parse(const char *text, struct cluster_conf *c,
		    char **err);
void		 cluster_conf_clear(struct cluster_conf *c);
/* Whether config_dir/cluster.ini is good (start-up: exit 78 if not): 0,
 * or -1 with *err. */
int		 cluster_conf_check(const char *config_dir, char **err);

/* "250ms", "2s", "1m", "3" (seconds) as milliseconds, at most max_ms; -1
 * when it is none of those or over max_ms. */
long		 cluster_ms_parse(const char *v, long max_ms);

/* The Redis key of a destination's kind ("lease", "msg", "conn"):
 * "<prefix>:{<dest>}:<kind>" — the braces a Redis Cluster hash tag, so a
 * destination's keys live on one shard; braces in dest become '_'.
 * malloc'd. */
char		*cluster_key(const char *prefix, const char *dest,
		    const char *kind);
/* A node's share of a connection limit: limit / nodes, at least 1 (limit
 * 0, no limit, stays 0). */
unsigned	 cluster_share(unsigned limit, unsigned nodes);
/* A node's share of a rate: the same events over nodes times the period
 * (10/s over 3 nodes: 10 per 3 s each); unlimited stays unlimited. */
void		 cluster_rate_share(const struct rate *r, unsigned nodes,
		    struct rate *out);
/* The rate's emission interval in microseconds (rounded up); 0 when
 * unlimited. */
uint64_t	 cluster_rate_interval_us(const struct rate *r);

#endif
