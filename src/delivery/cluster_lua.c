/*
 * cluster_lua: the server-side scripts of cluster-wide shaping
 * (delivery/cluster_lua.h), run by Redis with EVALSHA: each is one atomic
 * step, its times from Redis's own clock (TIME), so the nodes' clocks
 * never matter.
 */
#include "delivery/cluster_lua.h"

/* GCRA for the connection and message rates, the lease set for the
 * connections: checked together, then all updated or none. Returns
 * {0, ms to the reserved slot}, {1, ms} (every lease taken) or {2, ms}
 * (the slot is further than ARGV[8] µs ahead). Times from Redis's clock. */
const char cluster_admit_lua[] =
"if redis.replicate_commands then redis.replicate_commands() end\n"
"local t = redis.call('TIME')\n"
"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"local nowms = math.floor(now / 1000)\n"
"local limit = tonumber(ARGV[1])\n"
"if limit > 0 then\n"
"  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowms)\n"
"  if redis.call('ZCARD', KEYS[1]) >= limit then\n"
"    return {1, tonumber(ARGV[9])}\n"
"  end\n"
"end\n"
"local at = now\n"
"local tats = {}\n"
"for i = 0, 1 do\n"
"  local T = tonumber(ARGV[4 + 2 * i])\n"
"  if T > 0 then\n"
"    local v = redis.call('GET', KEYS[2 + i])\n"
"    local tat = v and tonumber(v) or 0\n"
"    if tat < now then tat = now end\n"
"    tats[i] = tat\n"
"    local a = tat - (tonumber(ARGV[5 + 2 * i]) - 1) * T\n"
"    if a > at then at = a end\n"
"  end\n"
"end\n"
"local ahead = tonumber(ARGV[8])\n"
"if at - now > ahead then\n"
"  return {2, math.ceil((at - now - ahead) / 1000)}\n"
"end\n"
"for i = 0, 1 do\n"
"  local T = tonumber(ARGV[4 + 2 * i])\n"
"  if T > 0 then\n"
"    local n = math.max(tats[i], at) + T\n"
"    redis.call('SET', KEYS[2 + i], string.format('%.0f', n), 'PX',\n"
"      math.ceil((n - now) / 1000) + 1000)\n"
"  end\n"
"end\n"
"if limit > 0 then\n"
"  redis.call('ZADD', KEYS[1], nowms + tonumber(ARGV[3]), ARGV[2])\n"
"  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))\n"
"end\n"
"return {0, math.ceil((at - now) / 1000)}\n";

/* A live connection's lease: its expiry pushed on (or the lease added,
 * when it was opened while Redis was unreachable). */
const char cluster_renew_lua[] =
"if redis.replicate_commands then redis.replicate_commands() end\n"
"local t = redis.call('TIME')\n"
"local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
"redis.call('ZADD', KEYS[1], nowms + tonumber(ARGV[1]), ARGV[2])\n"
"redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))\n"
"return 1\n";

