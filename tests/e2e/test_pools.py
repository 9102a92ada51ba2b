"""Source-IP pools, virtual MTAs (issue 15, item 3): config/pools.ini names pools of local
addresses with their HELO name; a message's pool comes from the X-Outpost-Pool header
(removed at reception), the sender's domain, or the default.

- by the sender's domain: the sink sees the connection from the pool's address, and its EHLO.
- by the header: the header is gone at the sink, and it wins over the sender's domain.
- two addresses weighted 1 and 3: 8 messages come 2 and 6 from them.
- the accounting files carry the pool (vmta) and the address (srcIp, dlvSourceIp), and so do
  outbound_logger's JSON lines (vmta, local_ip).
- shaping keys are per (pool address, destination) (ROOT/run/shaping.tsv).
- a bad pools.ini stops the start (78, "pools.ini:N:"); a bad reload keeps the running pools.
Every 127.0.0.0/8 address is local on Linux: binding 127.0.0.20 needs no set-up.
"""
import collections
import signal
import time

from harness.clients import smtp_client
from harness.daemon import run_outpost
from test_accounting import acct_rows, json_records, recording
from test_delivery import SENDER, message, send, wait_empty

RECORDS = ["a.test. MX 10 mxa.test.", "mxa.test. A 127.0.0.2"]

POOLS = """[main]
default=
[pool:bulk]
addresses=127.0.0.20
helo=bulk.outpost.test
[pool:weighted]
addresses=127.0.0.21, 127.0.0.22*3
helo=weighted.outpost.test
[domains]
bounces.test=bulk
"""


def with_header(pool):
    """A message whose X-Outpost-Pool header (folded) names pool."""
    return (f"From: <{SENDER}>\r\nTo: <x@a.test>\r\nX-Outpost-Pool:\r\n"
            f"\t{pool}\r\nSubject: pooled\r\n\r\nHello.\r\n").encode()


def test_pool_by_sender_domain(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("pools.ini", POOLS)
    mta.start()
    send(mta, ["ok-1@a.test"])
    sink.wait_for_messages(1)
    m = sink.messages()[0]
    assert m.peer[0] == "127.0.0.20"
    assert m.ehlo == "bulk.outpost.test"
    # Another sender (no rule, no default): the system's address and `me`.
    send(mta, ["ok-2@a.test"], sender="someone@other.test")
    sink.wait_for_messages(2)
    m = sink.messages()[1]
    assert m.peer[0] != "127.0.0.20"
    assert m.ehlo != "bulk.outpost.test"
    wait_empty(mta)


def test_pool_by_header_which_is_removed(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("pools.ini", POOLS)
    mta.start()
    send(mta, ["ok-1@a.test"], data=with_header("Weighted"))
    sink.wait_for_messages(1)
    m = sink.messages()[0]
    assert m.peer[0] in ("127.0.0.21", "127.0.0.22")
    assert m.ehlo == "weighted.outpost.test"
    assert b"x-outpost-pool" not in m.data.lower()
    assert b"\tWeighted" not in m.data
    assert b"Subject: pooled\r\n" in m.data
    # An unknown pool: the header goes, a warning, the sender's pool.
    mark = mta.mark()
    send(mta, ["ok-2@a.test"], data=with_header("nosuch"))
    sink.wait_for_messages(2)
    m = sink.messages()[1]
    assert b"x-outpost-pool" not in m.data.lower()
    assert m.peer[0] == "127.0.0.20"
    mta.wait_for_log(r"X-Outpost-Pool names no pool \('nosuch'\)", timeout=5, start=mark)
    wait_empty(mta)


def test_weighted_addresses_are_used_in_proportion(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("pools.ini", POOLS.replace("bounces.test=bulk", "bounces.test=weighted"))
    mta.start()
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        for i in range(8):
            assert c.mail(SENDER)[0] == 250
            assert c.rcpt(f"ok-{i}@a.test")[0] == 250
            assert c.data(message())[0] == 250
    sink.wait_for_messages(8)
    wait_empty(mta)
    peers = collections.Counter(m.peer[0] for m in sink.messages())
    assert peers == {"127.0.0.21": 2, "127.0.0.22": 6}, peers
    # Shaping counts per (pool address, destination).
    deadline = time.monotonic() + 5
    while "127.0.0.22/a.test" not in mta.shaping_state() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = mta.shaping_state()
    assert "127.0.0.21/a.test" in text and "127.0.0.22/a.test" in text, text


def test_records_carry_the_pool_and_address(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    smtp_sink("127.0.0.2")
    recording(mta, acct="[fields]\ndelivered=type,rcpt,srcIp,dlvSourceIp,vmta\n")
    mta.write_config("pools.ini", POOLS)
    mta.start()
    send(mta, ["ok-1@a.test"])
    send(mta, ["ok-2@a.test"], sender="someone@other.test")
    wait_empty(mta)
    _, rows = acct_rows(mta, "delivered", n=2)
    by = {r["rcpt"]: r for r in rows}
    assert by["ok-1@a.test"]["dlvSourceIp"] == "127.0.0.20"
    assert by["ok-1@a.test"]["srcIp"] == "127.0.0.20"
    assert by["ok-1@a.test"]["vmta"] == "bulk"
    assert by["ok-2@a.test"]["vmta"] == ""
    assert by["ok-2@a.test"]["dlvSourceIp"] == by["ok-2@a.test"]["srcIp"] != ""
    js = {r["recipient"]: r for r in json_records(mta) if r["type"] == "delivered"}
    assert (js["ok-1@a.test"]["local_ip"], js["ok-1@a.test"]["vmta"]) == ("127.0.0.20", "bulk")
    assert js["ok-2@a.test"]["local_ip"] == by["ok-2@a.test"]["srcIp"]
    assert "vmta" not in js["ok-2@a.test"]


def test_a_bad_pools_ini_stops_the_start(daemon):
    daemon.write_config("pools.ini", "[pool:a]\naddresses=127.0.0.20\n\nhelo=x\n"
                        "[domains]\nb.test=nosuch\n")
    rc, _, err = run_outpost("-c", str(daemon.root), timeout=20)
    assert rc == 78
    assert "pools.ini:6:" in err


def test_a_bad_reload_keeps_the_running_pools(mta, smtp_sink, dns_records):
    dns_records(RECORDS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("pools.ini", POOLS)
    mta.start()
    mark = mta.mark()
    mta.write_config("pools.ini", POOLS + "bogus line\n")
    mta.wait_for_each_worker(r"pools not reloaded: config/pools\.ini:11: .*keeping the running",
                     timeout=10, start=mark)
    send(mta, ["ok-1@a.test"])
    sink.wait_for_messages(1)
    assert sink.messages()[0].peer[0] == "127.0.0.20"
    mark = mta.mark()
    mta.write_config("pools.ini", POOLS.replace("127.0.0.20", "127.0.0.23"))
    mta.wait_for_each_worker(r"reloaded pools\.ini \(2 pools\)", timeout=10, start=mark)
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_each_worker(r"reloaded pools\.ini", timeout=10, start=mark)
    send(mta, ["ok-2@a.test"])
    sink.wait_for_messages(2)
    assert sink.messages()[1].peer[0] == "127.0.0.23"
    wait_empty(mta)


def test_a_get_mx_bind_wins_over_the_pool(mta, smtp_sink):
    """smtp_forward's bind/bind_helo (get_mx, Haraka's mechanism) beat the sender's pool;
    without bind, the route's connections come from the pool and vmta names the pool."""
    sink = smtp_sink("127.0.0.7")
    recording(mta, plugins="relay\nqueue/smtp_forward\naccounting_files\n",
              acct="[fields]\ndelivered=rcpt,dlvSourceIp,vmta\n")
    mta.write_config("plugins", "relay\nqueue/smtp_forward\naccounting_files\n")
    mta.write_config("smtp_forward.ini", "[main]\nenable_outbound=true\nhost=127.0.0.7\n"
                     "[bound.test]\nhost=127.0.0.7\nbind=127.0.0.30\nbind_helo=fwd.outpost.test\n")
    mta.write_config("pools.ini", POOLS)
    mta.start()
    send(mta, ["ok-1@bound.test"])
    sink.wait_for_messages(1)
    send(mta, ["ok-2@free.test"])
    sink.wait_for_messages(2)
    first, second = sink.messages()
    assert (first.peer[0], first.ehlo) == ("127.0.0.30", "fwd.outpost.test")
    assert (second.peer[0], second.ehlo) == ("127.0.0.20", "bulk.outpost.test")
    _, rows = acct_rows(mta, "delivered", n=2)
    by = {r["rcpt"]: r for r in rows}
    assert (by["ok-1@bound.test"]["dlvSourceIp"], by["ok-1@bound.test"]["vmta"]) == \
        ("127.0.0.30", "bound.test")
    assert (by["ok-2@free.test"]["dlvSourceIp"], by["ok-2@free.test"]["vmta"]) == \
        ("127.0.0.20", "bulk")
    wait_empty(mta)
