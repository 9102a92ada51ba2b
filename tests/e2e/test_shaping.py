"""Traffic shaping per destination (issue 15, items 1, 2, 4): shaping.ini limits and
shaping_rules enforced by delivery against throttling sinks on the real DNS.

- max_connections: a sink taking 2 connections at once never sees a third (no 421).
- backoff: after a 421 at the greeting the destination gets backoff_connections (1) until it
  recovers, and everything is delivered.
- max_message_rate: no window of a second holds more than the rate.
- a suspend rule: no connection to the destination while suspended; another domain flows.
- an [mx:...] section: two domains with the same MX share one max_connections.
- a bad shaping_rules line: the daemon does not start (78, "shaping_rules:N:").
- the state file ROOT/run/shaping.tsv and --qstat's "destination" lines.
"""
import re
import signal
import time

from harness.clients import smtp_client
from harness.daemon import run_outpost
from test_delivery import SENDER, dsn_sink, message, send, wait_empty  # noqa: F401

# Destinations added to the zone for these tests (MX on the sinks' addresses).
RECORDS = [
    "a.test. MX 10 mxa.test.", "mxa.test. A 127.0.0.2",
    "b.test. MX 10 mxb2.test.", "mxb2.test. A 127.0.0.3",
    "c.test. MX 10 mxc.test.", "mxc.test. A 127.0.0.4",
    "shared1.test. MX 10 mxs.shared.test.", "shared2.test. MX 10 mxs.shared.test.",
    "mxs.shared.test. A 127.0.0.5",
]


def send_many(outpost, rcpts):
    """One message per recipient, over one client connection (quickly)."""
    with smtp_client(outpost.host, outpost.port) as c:
        c.ehlo()
        for r in rcpts:
            assert c.mail(SENDER)[0] == 250
            assert c.rcpt(r)[0] == 250, r
            code, reply = c.data(message())
            assert code == 250, reply


def delivered(sink):
    return sorted(r for m in sink.messages() for r in m.rcpt_tos)


def test_max_connections_keeps_a_throttling_sink_happy(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2", max_concurrent=2)
    sink.delay("data_end", 0.2)
    mta.write_config("shaping.ini", "[a.test]\nmax_connections=2\n")
    mta.start()
    rcpts = [f"ok-{i}@a.test" for i in range(30)]
    send_many(mta, rcpts)
    sink.wait_for_messages(30, timeout=20)
    wait_empty(mta)
    assert delivered(sink) == sorted(rcpts)
    assert sink.refused() == 0
    assert sink.max_seen() <= 2


def test_backoff_after_a_421_then_everything_is_delivered(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2", max_concurrent=2)
    sink.delay("data_end", 0.2)
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*20\n")
    mta.write_config("shaping.ini", "[main]\nbackoff_interval=1\nbackoff_recover=1000\n")
    mta.start()
    rcpts = [f"ok-{i}@a.test" for i in range(30)]
    mark = mta.mark()
    send_many(mta, rcpts)
    mta.wait_for_log(r"shaping a\.test: normal -> backoff", timeout=15, start=mark)
    assert sink.refused() >= 1
    time.sleep(1)                    # the first burst's connections end
    sink.reset()                     # max_seen() counts from now: backoff's one connection
    wait_empty(mta, timeout=20)
    assert sink.max_seen() <= 1
    assert sink.refused() == 0


def test_max_message_rate(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("shaping.ini", "[a.test]\nmax_message_rate=10/s\n")
    mta.start()
    rcpts = [f"ok-{i}@a.test" for i in range(25)]
    send_many(mta, rcpts)
    sink.wait_for_messages(25, timeout=20)
    wait_empty(mta)
    assert delivered(sink) == sorted(rcpts)
    assert sink.max_rate(1.0) <= 11


def test_a_suspend_rule_stops_one_destination_not_the_others(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    slow = smtp_sink("127.0.0.2")
    other = smtp_sink("127.0.0.3")
    slow.fail("mail", "451 4.3.2 Daily quota exceeded", times=1)
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*20\n")
    mta.write_config("shaping_rules", "suspend 5s code 4xx /quota/\n")
    mta.start()
    mark = mta.mark()
    # Both a.test messages over one connection: with nodes, to the worker whose attempt
    # met the quota (each worker learns a suspension from its own replies).
    with smtp_client(mta.host, mta.port) as c:
        c.sendmail(SENDER, ["ok-1@a.test"], message())
        mta.wait_for_log(r"shaping a\.test: normal -> suspended for 5s", timeout=10,
                         start=mark)
        t0 = time.monotonic()
        sessions = len(slow.sessions())
        c.sendmail(SENDER, ["ok-2@a.test"], message())
    send_many(mta, [f"ok-{i}@b.test" for i in range(5)])
    other.wait_for_messages(5, timeout=4)
    # Nothing reached a.test's server while it was suspended.
    while time.monotonic() - t0 < 3.5:
        assert len(slow.sessions()) == sessions
        time.sleep(0.1)
    state = mta.shaping_state()
    assert "a.test\tsuspended\t" in state and "quota" in state
    slow.wait_for_messages(2, timeout=15)
    wait_empty(mta)
    assert delivered(slow) == ["ok-1@a.test", "ok-2@a.test"]


def test_an_mx_section_is_one_budget_for_its_domains(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.5")
    sink.delay("data_end", 0.2)
    mta.write_config("shaping.ini", "[mx:*.shared.test]\nmax_connections=2\n")
    mta.start()
    rcpts = [f"ok-{i}@shared{1 + i % 2}.test" for i in range(20)]
    send_many(mta, rcpts)
    sink.wait_for_messages(20, timeout=20)
    wait_empty(mta)
    assert delivered(sink) == sorted(rcpts)
    assert sink.max_seen() <= 2


def qstat_destinations(mta, want, timeout=10):
    """--qstat's destination lines, once one starts with want."""
    deadline = time.monotonic() + timeout
    while True:
        rc, out, _ = run_outpost("-c", str(mta.root), "--qstat")
        assert rc == 0
        lines = [line for line in out.splitlines() if line.startswith("destination ")]
        if any(line.startswith(want) for line in lines):
            return lines
        assert time.monotonic() < deadline, f"no '{want}' in {lines}"
        time.sleep(0.2)


def test_qstat_prints_the_destinations(mta, smtp_sink, dns_records):
    """Each destination's queued entries (those whose last attempt was routed there),
    connections, limit, mode and last reply; queued goes back to 0 once delivered."""
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "451 4.3.0 Local problem", times=2)
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*3\n")
    mta.start()
    send(mta, ["ok-1@a.test"])
    send(mta, ["ok-2@a.test"])
    qstat_destinations(mta, "destination a.test mode=normal queued=2 inflight=")
    sink.wait_for_messages(2, timeout=20)
    wait_empty(mta)
    qstat_destinations(mta, "destination a.test mode=normal queued=0 ")


def test_a_bad_shaping_rules_line_stops_the_start(daemon):
    daemon.write_config("shaping_rules", "backoff code 421 greeting\nfrobnicate code 421\n")
    rc, _, err = run_outpost("-c", str(daemon.root), timeout=20)
    assert rc == 78
    assert "shaping_rules:2:" in err


def test_a_bad_reload_keeps_the_running_shaping(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("shaping.ini", "[a.test]\nmax_connections=1\n")
    mta.start()
    mark = mta.mark()
    mta.write_config("shaping_rules", "suspend forever code 421\n")
    mta.wait_for_log(r"shaping not reloaded: .*shaping_rules:1: .*keeping the running",
                     timeout=10, start=mark)
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_log(r"shaping not reloaded: .*shaping_rules:1:", timeout=10, start=mark)
    send(mta, ["ok-1@a.test"])
    sink.wait_for_messages(1, timeout=10)
    mark = mta.mark()
    mta.write_config("shaping_rules", "backoff code 421 greeting\n")
    mta.wait_for_log(r"reloaded shaping\.ini and shaping_rules", timeout=10, start=mark)


def test_stopping_with_mail_parked_for_a_slot(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    sink.delay("data_end", 1.5)
    mta.write_config("shaping.ini", "[a.test]\nmax_connections=1\n")
    mta.start()
    send_many(mta, [f"ok-{i}@a.test" for i in range(5)])
    sink.wait_until(lambda s: len(s.sessions()) >= 1, timeout=10, what="a session")
    time.sleep(0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and \
            "a.test\tnormal\t4\t1\t1\t0\t4\t" not in mta.shaping_state():
        time.sleep(0.1)
    assert "a.test\tnormal\t4\t1\t1\t0\t4\t" in mta.shaping_state()   # 4 queued, 4 waiting
    mta.stop()
    assert mta.exit_code == 0
    assert sink.max_seen() == 1


def test_a_bounce_rule_fails_the_recipients_at_once(mta, smtp_sink, dns_records, dsn_sink):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    sink.fail("mail", "451 4.7.1 Sender blocked by policy")
    mta.write_config("shaping_rules", "bounce code 4xx /blocked/\n")
    mta.start()
    send(mta, ["ok-1@a.test"])
    dsn = dsn_sink.wait_for_messages(1, timeout=10)[0]
    assert "ok-1@a.test" in dsn.data.decode(errors="replace")
    assert "5.7.1" in dsn.data.decode(errors="replace")
    wait_empty(mta)
    assert sink.messages() == []


def test_max_recipients_per_message_splits_over_one_connection(mta, smtp_sink, dns_records,
                                                                dsn_sink):
    """Five recipients with max_recipients_per_message=2: three transactions (2, 2, 1) one
    after the other over one connection, every recipient delivered once; a refused
    recipient in the second transaction does not stop the third."""
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("shaping.ini", "[a.test]\nmax_recipients_per_message=2\n")
    mta.start()
    rcpts = ["ok-1@a.test", "ok-2@a.test", "hard-3@a.test", "ok-4@a.test", "ok-5@a.test"]
    send(mta, rcpts)
    wait_empty(mta)
    msgs = sink.messages()
    assert [m.rcpt_tos for m in msgs] == [("ok-1@a.test", "ok-2@a.test"), ("ok-4@a.test",),
                                          ("ok-5@a.test",)]
    assert len({m.session for m in msgs}) == 1
    assert sink.count("MAIL") == 3
    dsn = dsn_sink.wait_for_messages(1, timeout=10)[0].data.decode(errors="replace")
    assert "hard-3@a.test" in dsn and "ok-4@a.test" not in dsn


def test_a_failed_transaction_defers_the_rest_of_the_split(mta, smtp_sink, dns_records):
    """The first transaction's DATA is refused with a 4xx: its recipients and the ones not
    sent yet wait for the next attempt, which delivers every one of them exactly once."""
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    sink.fail("data_end", "451 4.3.0 Local error in processing", times=1)
    mta.write_config("shaping.ini", "[a.test]\nmax_recipients_per_message=2\n")
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*3\n")
    mta.start()
    rcpts = [f"ok-{i}@a.test" for i in range(1, 6)]
    send(mta, rcpts)
    wait_empty(mta, timeout=30)
    got = sorted(r for m in sink.messages() for r in m.rcpt_tos)
    assert got == sorted(rcpts)
    assert all(len(m.rcpt_tos) <= 2 for m in sink.messages())



def steady_rate(times, skip=0.1):
    """Messages per second over the middle of the arrivals: (n - 1) intervals over their
    span, the first and last `skip` of them left out."""
    times = sorted(times)
    cut = int(len(times) * skip)
    mid = times[cut:len(times) - cut]
    return (len(mid) - 1) / (mid[-1] - mid[0])


def test_workers_share_one_set_of_limits_without_a_redis(mta, smtp_sink, dns_records):
    """smtp.ini nodes=2 without cluster.ini: the workers take every destination's limits
    from one table in shared memory (lib/gate.c). A max_connections of 1 holds in total
    while both workers have mail for it (each worker's part would be one), and a rate is
    the destination's whole rate even when one worker holds all of its mail (a split by
    workers would give that worker half). Connections too: a worker holding all of
    c.test's mail borrows the other worker's unused part of max_connections=2."""
    dns_records(RECORDS)
    sink_a = smtp_sink("127.0.0.2")
    sink_a.delay("data_end", 0.2)
    sink_b = smtp_sink("127.0.0.3")
    sink_c = smtp_sink("127.0.0.4")
    sink_c.delay("data_end", 0.5)
    path = mta.config_path("smtp.ini")
    text = re.sub(r"^nodes=.*\n", "", path.read_text(), flags=re.M)
    path.write_text(text.replace("[main]\n", "[main]\nnodes=2\n", 1))
    mta.write_config("shaping.ini", "[a.test]\nmax_connections=1\n"
                     "[b.test]\nmax_message_rate=10/s\n"
                     "[c.test]\nmax_connections=2\n")
    mta.start()
    assert len(mta.worker_pids()) == 2
    mta.wait_for_log(r"shaping limits shared by the 2 workers in memory", timeout=10)
    # One client connection: one worker accepts (and delivers) all of b.test's and
    # of c.test's mail.
    rcpts_c = [f"ok-{i}@c.test" for i in range(8)]
    send_many(mta, rcpts_c)
    rcpts_b = [f"ok-{i}@b.test" for i in range(30)]
    send_many(mta, rcpts_b)
    # Many client connections: both workers hold a.test mail.
    rcpts_a = []
    for c in range(8):
        batch = [f"ok-{c}-{i}@a.test" for i in range(2)]
        send_many(mta, batch)
        rcpts_a += batch
    sink_b.wait_for_messages(30, timeout=30)
    sink_a.wait_for_messages(len(rcpts_a), timeout=40)
    sink_c.wait_for_messages(len(rcpts_c), timeout=30)
    wait_empty(mta, timeout=30)
    assert delivered(sink_a) == sorted(rcpts_a)
    assert delivered(sink_b) == sorted(rcpts_b)
    assert delivered(sink_c) == sorted(rcpts_c)
    print(f"a.test: most sessions at once {sink_a.max_seen()}; "
          f"b.test: {steady_rate(sink_b.arrivals()):.2f}/s; "
          f"c.test: most sessions at once {sink_c.max_seen()}")
    assert sink_c.max_seen() == 2       # its part (1), and the other worker's, borrowed
    assert sink_a.max_seen() <= 1
    assert sink_a.refused() == 0
    assert 8.0 <= steady_rate(sink_b.arrivals()) <= 11.0
    assert sink_b.max_rate(1.0) <= 11
