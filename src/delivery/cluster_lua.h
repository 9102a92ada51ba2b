/*
 * cluster_lua: the Lua scripts that Redis runs for cluster-wide shaping
 * (delivery/cluster.c loads them with SCRIPT LOAD at each connection and
 * runs them with EVALSHA).
 *
 * cluster_admit_lua: KEYS lease set, connection-rate key, message-rate
 * key; ARGV lease limit (0: none), lease member, lease ttl (ms),
 * connection rate interval (µs, 0: none) and burst, message rate
 * interval (µs, 0: none) and burst, how far ahead a slot may be reserved
 * (µs), the retry (ms) when every lease is taken. Returns {0, ms until
 * the reserved slot} (lease added, rates advanced), {1, retry ms} or
 * {2, retry ms} (the slot is further ahead than allowed).
 * cluster_renew_lua: KEYS lease set; ARGV ttl (ms), member: the lease's
 * expiry pushed on (added if absent).
 */
#ifndef OUTPOST_CLUSTER_LUA_H
#define OUTPOST_CLUSTER_LUA_H

#define CLUSTER_AHEAD_US	1000000	/* a rate slot reserved 1 s ahead at most */
#define CLUSTER_FULL_POLL_MS	100	/* every lease taken: ask again */

extern const char cluster_admit_lua[];
extern const char cluster_renew_lua[];

#endif
