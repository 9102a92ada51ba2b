"""Cluster-wide shaping on Redis (issue 19, item 5): three Outpost nodes (separate roots and
listen ports, the same DNS and sink) share one real redis-server through config/cluster.ini.

- a shared max_message_rate: the sink's rate over the three nodes' steady part is the limit,
  within 10 % (without the cluster it would be three times the limit);
- a shared max_connections=2: the sink never sees a third session from any node;
- connection leases renewed while their connection lives, and expiring when its node dies
  (kill -9); a node stopped (SIGTERM) mid-delivery leaves no lease behind; a Redis that
  stops answering is unreachable after `timeout`;
- Redis stopped mid-run: each node logs the fallback once and keeps its share (limit / nodes),
  so mail still flows at about the limit; Redis back: logged, and shared again;
- AUTH with a password, over TCP and over a Unix socket; a wrong password is unreachable;
- a bad cluster.ini: the daemon does not start (78, the file and line named).
"""
import re
import signal
import threading
import time

import pytest

from harness.daemon import Daemon, run_outpost, stop_all
from harness.redis import redis_server  # noqa: F401 (fixture)
from test_delivery import wait_empty
from test_shaping import send_many

RECORDS = ["cl.test. MX 10 mxcl.test.", "mxcl.test. A 127.0.0.2"]
NODES = 3
FALLBACK_RE = r"\[WARN\] \[-\] \[cluster\] Redis 127\.0\.0\.1:\d+ unreachable"
BACK_RE = r"\[INFO\] \[-\] \[cluster\] Redis 127\.0\.0\.1:\d+ is back"


@pytest.fixture
def nodes(request, tmp_path, dns_server, redis_server):  # noqa: F811
    """start(shaping_ini, extra_cluster="") -> three started daemons sharing redis_server."""
    made = []

    def start(shaping_ini, extra_cluster="", count=NODES, where=None):
        new = []
        where = where or f"host=127.0.0.1\nport={redis_server.port}\n"
        for _ in range(count):
            i = len(made)
            d = Daemon(tmp_path / f"node{i}", delivery=True)
            d.init(dns=dns_server.servers)
            made.append(d)
            new.append(d)
            d.write_config("shaping.ini", shaping_ini)
            d.write_config("cluster.ini",
                           f"[main]\n{where}node=node{i}\nnodes={NODES}\ntimeout=500ms\n"
                           f"reconnect_max=1s\n{extra_cluster}")
        for d in new:
            d.start()
        for d in new:
            d.wait_for_log(r"\[cluster\] shaping limits shared through Redis", timeout=10)
        return new

    yield start
    stop_all(made)


def submit(daemons, per_node, prefix="ok"):
    """per_node messages to cl.test on every node at once (one thread per node)."""
    errors = []

    def run(i, d):
        try:
            send_many(d, [f"{prefix}-{i}-{n}@cl.test" for n in range(per_node)])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, d)) for i, d in enumerate(daemons)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def steady_rate(times, skip=0.1):
    """Messages per second over the middle of the run (the first and last `skip` of the
    arrivals left out): (n - 1) intervals over their span."""
    times = sorted(times)
    cut = int(len(times) * skip)
    mid = times[cut:len(times) - cut]
    return (len(mid) - 1) / (mid[-1] - mid[0])


def delivered(sink):
    return sorted(r for m in sink.messages() for r in m.rcpt_tos)


def test_a_shared_message_rate_holds_across_three_nodes(nodes, smtp_sink, dns_records,
                                                        redis_server):  # noqa: F811
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    daemons = nodes("[cl.test]\nmax_message_rate=10/s\n")
    t0 = time.monotonic()
    submit(daemons, 50)
    # The GCRA state is in Redis under the configured prefix while mail flows.
    assert redis_server.command("EXISTS", "outpost:{cl.test}:msg") == 1
    sink.wait_for_messages(150, timeout=40)
    for d in daemons:
        wait_empty(d, timeout=10)
    assert len(delivered(sink)) == 150
    rate = steady_rate(sink.arrivals())
    hist = {}
    for t in sink.arrivals():
        hist[int(t - t0)] = hist.get(int(t - t0), 0) + 1
    print("per second:", sorted(hist.items()))
    print(f"three nodes, shared 10/s: steady rate {rate:.2f}/s, "
          f"most in any second {sink.max_rate(1.0)}")
    assert 9.0 <= rate <= 11.0, f"steady rate {rate:.2f}/s, limit 10/s"
    assert sink.max_rate(1.0) <= 12
    # Every node took part (the limit is shared, not one node's alone).
    peers = {m.rcpt_tos[0].split("-")[1] for m in sink.messages()}
    assert peers == {"0", "1", "2"}
    for d in daemons:
        assert not re.search(FALLBACK_RE, d.output())


def test_shared_max_connections_holds_across_three_nodes(nodes, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2", max_concurrent=2)
    sink.delay("data_end", 0.1)
    daemons = nodes("[cl.test]\nmax_connections=2\nidle_timeout=1\n")
    submit(daemons, 15)
    sink.wait_for_messages(45, timeout=60)
    for d in daemons:
        wait_empty(d, timeout=15)
    assert len(delivered(sink)) == 45
    print(f"three nodes, shared max_connections=2: most sessions at once {sink.max_seen()}, "
          f"refused {sink.refused()}")
    assert sink.refused() == 0
    assert sink.max_seen() <= 2


def test_redis_stopped_each_node_keeps_its_share_then_shares_again(
        nodes, smtp_sink, dns_records, redis_server):  # noqa: F811
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    daemons = nodes("[cl.test]\nmax_message_rate=10/s\n")
    marks = [d.mark() for d in daemons]
    submit(daemons, 40, prefix="ok-a")
    sink.wait_for_messages(20, timeout=20)
    redis_server.stop()
    t_down = time.monotonic()
    # Once per Redis client: a node, or each of its workers (smtp.ini nodes).
    for d, m in zip(daemons, marks):
        d.wait_for_lines(FALLBACK_RE, d.workers(), timeout=10, start=m)
    # Mail still flows, each node at its share (10 per 3 s, whichever of its workers holds
    # the mail): about 10/s between them.
    sink.wait_for_messages(100, timeout=30)
    down = [t for t in sink.arrivals() if t > t_down + 1.0]
    assert len(down) >= 30, f"only {len(down)} messages during the outage"
    rate = steady_rate(down)
    print(f"Redis down: steady rate {rate:.2f}/s over {len(down)} messages")
    assert 7.0 <= rate <= 11.0, f"rate while Redis is down {rate:.2f}/s"
    # Logged once per client, however many messages waited meanwhile.
    for d, m in zip(daemons, marks):
        assert len([ln for ln in d.lines()[m:] if re.search(FALLBACK_RE, ln)]) == d.workers()
    # Redis back: logged once, and the rate is shared again through Redis.
    redis_server.start()
    for d, m in zip(daemons, marks):
        d.wait_for_lines(BACK_RE, d.workers(), timeout=15, start=m)
    t_back = time.monotonic()
    submit(daemons, 20, prefix="ok-b")
    assert redis_server.command("EXISTS", "outpost:{cl.test}:msg") == 1
    sink.wait_for_messages(180, timeout=40)
    for d in daemons:
        wait_empty(d, timeout=10)
    assert len(delivered(sink)) == 180
    after = [t for t in sink.arrivals() if t > t_back]
    rate = steady_rate(after)
    print(f"Redis back: steady rate {rate:.2f}/s over {len(after)} messages")
    assert 9.0 <= rate <= 11.0
    for d, m in zip(daemons, marks):
        assert len([ln for ln in d.lines()[m:] if re.search(FALLBACK_RE, ln)]) == d.workers()
        assert len([ln for ln in d.lines()[m:] if re.search(BACK_RE, ln)]) == d.workers()


def redis_now_ms(redis):
    sec, usec = redis.command("TIME")
    return int(sec) * 1000 + int(usec) // 1000


def test_leases_are_renewed_while_the_connection_lives_and_expire_when_its_node_dies(
        nodes, smtp_sink, dns_records, redis_server):  # noqa: F811
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    sink.delay("data_end", 8, times=1)        # node0's connection lives 8 s
    daemons = nodes("[cl.test]\nmax_connections=1\n", extra_cluster="lease_ttl=3s\n")
    key = "outpost:{cl.test}:lease"
    send_many(daemons[0], ["ok-0-0@cl.test"])
    deadline = time.monotonic() + 10
    while not sink.sessions():
        assert time.monotonic() < deadline, "node0 never connected"
        time.sleep(0.05)
    # Past lease_ttl the connection still holds its one lease: renewed (every second).
    time.sleep(4)
    live = redis_server.command("ZRANGEBYSCORE", key, redis_now_ms(redis_server), "+inf")
    assert len(live) == 1 and re.match(r"node0(\.w\d+)?:", live[0]), live
    # Another node's mail waits for the one connection...
    send_many(daemons[1], ["ok-1-0@cl.test"])
    time.sleep(1)
    assert len(sink.sessions()) == 1
    # ...which the dead node's lease holds until it expires (no ZREM from a dead node).
    t_kill = time.monotonic()       # kill9() returns once the whole group is reaped
    daemons[0].kill9()
    sink.wait_for_messages(1, timeout=10)
    waited = sink.arrivals()[0] - t_kill
    print(f"node0 killed: node1 delivered {waited:.2f}s later (lease_ttl 3s)")
    assert 1.0 <= waited <= 6.0, waited
    assert [list(m.rcpt_tos) for m in sink.messages()] == [["ok-1-0@cl.test"]]
    wait_empty(daemons[1], timeout=10)
    # node1's connection closed (nothing else waits for it): its lease removed at once.
    deadline = time.monotonic() + 2
    while redis_server.command("ZCARD", key) != 0:
        assert time.monotonic() < deadline, redis_server.command("ZRANGE", key, 0, -1)
        time.sleep(0.05)


def test_a_node_stopped_mid_delivery_leaves_no_lease(nodes, smtp_sink, dns_records,
                                                    redis_server):  # noqa: F811
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    sink.delay("data_end", 3, times=1)
    daemons = nodes("[cl.test]\nmax_connections=1\n")     # lease_ttl: 30 s
    key = "outpost:{cl.test}:lease"
    send_many(daemons[0], ["ok-0-0@cl.test"])
    deadline = time.monotonic() + 10
    while redis_server.command("ZCARD", key) != 1:
        assert time.monotonic() < deadline, "no lease for node0's connection"
        time.sleep(0.05)
    daemons[0].stop()
    # Its connection's lease is gone with it, long before lease_ttl.
    assert redis_server.command("ZCARD", key) == 0, redis_server.command("ZRANGE", key, 0, -1)


def test_a_silent_redis_is_unreachable_after_timeout(nodes, smtp_sink, dns_records,
                                                     redis_server):  # noqa: F811
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    daemons = nodes("[cl.test]\nmax_message_rate=30/s\n")
    marks = [d.mark() for d in daemons]
    redis_server.proc.send_signal(signal.SIGSTOP)    # connected, but no reply
    try:
        submit(daemons, 3)
        for d, m in zip(daemons, marks):
            d.wait_for_log(FALLBACK_RE + r".*no reply within 500ms", timeout=10, start=m)
        sink.wait_for_messages(9, timeout=15)
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    for d, m in zip(daemons, marks):
        d.wait_for_log(BACK_RE, timeout=15, start=m)
        wait_empty(d, timeout=10)


def evalsha_calls(redis):
    stats = redis.command("INFO", "commandstats")
    match = re.search(r"cmdstat_evalsha:calls=(\d+)", stats)
    return int(match.group(1)) if match else 0


def test_password_and_unix_socket(nodes, smtp_sink, dns_records, redis_server):  # noqa: F811
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    redis_server.command("CONFIG", "SET", "requirepass", "s3cret")
    redis_server.password = "s3cret"
    shaping = "[cl.test]\nmax_connections=1\n"
    good = nodes(shaping, extra_cluster="password=s3cret\n", count=1)[0]
    local = nodes(shaping, extra_cluster="password=s3cret\n", count=1,
                  where=f"socket={redis_server.socket}\n")[0]
    bad = nodes(shaping, extra_cluster="password=wrong\n", count=1)[0]
    calls = evalsha_calls(redis_server)
    send_many(good, ["ok-0-0@cl.test"])
    send_many(local, ["ok-1-0@cl.test"])
    sink.wait_for_messages(2, timeout=15)
    # Both asked Redis (AUTH accepted, over TCP and over the socket); neither fell back.
    assert evalsha_calls(redis_server) >= calls + 2
    for d in (good, local):
        wait_empty(d, timeout=10)
        assert not re.search(r"\[cluster\] Redis .* unreachable", d.output()), d.output()
    # A wrong password: unreachable, logged with Redis's answer; mail still flows (its share).
    bad.wait_for_log(r"\[WARN\] \[-\] \[cluster\] Redis 127\.0\.0\.1:\d+ unreachable "
                     r"\(.*(WRONGPASS|invalid|password)", timeout=10)
    send_many(bad, ["ok-2-0@cl.test"])
    sink.wait_for_messages(3, timeout=15)
    wait_empty(bad, timeout=10)


def test_a_bad_cluster_ini_stops_the_start(tmp_path, dns_server):
    d = Daemon(tmp_path / "bad", delivery=True)
    d.init(dns=dns_server.servers)
    d.write_config("cluster.ini", "[main]\nhost=redis.example\n")
    rc, out, err = run_outpost("-c", d.root)
    assert rc == 78, (rc, out, err)
    assert "cluster.ini:2: host: expected an IP address" in out + err
