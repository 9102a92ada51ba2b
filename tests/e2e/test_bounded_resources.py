"""Bounded resources end to end (issue 14, item 5: memory and the records backlog; SIGHUP).

- outbound.ini delivery_memory_max caps the message bytes that delivery attempts in flight
  hold: one ~1 MB message to 100 domains keeps the daemon's peak RSS near idle plus the
  budget, and every domain gets the message exactly once; a message larger than the whole
  budget is still delivered (alone).
- outbound.ini records_backlog_max: records that cannot be written (a full record disk) wait
  in memory only up to the limit; past it no delivery starts (WARN), and once the writer
  catches up deliveries resume (NOTICE) and every record is written once.
- SIGHUP retries every deferred mail at once: those waiting, those whose attempt is in flight
  when the signal comes (as soon as the attempt ends), and those held by a hold reason (as
  soon as it is released).
"""
import json
import signal
import time

import pytest

from harness import daemon as harness_daemon
from harness.queue import read_entry
from test_delivery import SENDER, message, send, wait_empty
from test_free_space import count_lines, fill, settle, tmpfs  # noqa: F401 (tmpfs is a fixture)

MB = 1024 * 1024
DOMAINS = 100
# The sanitizer build keeps freed blocks in a quarantine (256 MB by default), which would
# count every message ever freed in the RSS; a small one keeps the figure about live memory.
QUARANTINE_MB = 8


def vm(pid):
    """VmHWM (peak) and VmRSS of a process, in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def big_message(size, subject="big"):
    line = "0123456789abcdefghijklmnopqrstuvwxyz" * 2 + "\r\n"
    body = line * (size // len(line))
    return (f"From: <{SENDER}>\r\nTo: <someone@example.test>\r\nSubject: {subject}\r\n"
            f"Message-Id: <big-1@client.test>\r\n\r\n{body}").encode()


def peaks(outpost):
    """VmHWM of each process that serves mail (with nodes, each worker: the supervisor
    holds no mail), by pid."""
    return {pid: vm(pid)["VmHWM"] for pid in outpost.worker_pids()}


@pytest.fixture
def small_quarantine(monkeypatch):
    options = harness_daemon.SANITIZER_ENV["ASAN_OPTIONS"]
    monkeypatch.setitem(harness_daemon.SANITIZER_ENV, "ASAN_OPTIONS",
                        f"{options}:quarantine_size_mb={QUARANTINE_MB}")


def many_domains(dns_records, n):
    """n domains d0.test ... whose MX is mx1.test (127.0.0.2)."""
    dns_records([f"d{i}.test. MX 10 mx1.test." for i in range(n)])
    return [f"d{i}.test" for i in range(n)]


# --- delivery_memory_max ------------------------------------------------------------------

def test_one_big_message_to_many_domains_stays_within_the_memory_budget(
        mta, smtp_sink, dns_records, small_quarantine):
    domains = many_domains(dns_records, DOMAINS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("outbound.ini", "delivery_memory_max=4M\n")
    mta.start()
    time.sleep(0.5)
    idle = peaks(mta)
    data = big_message(MB)
    rcpts = [f"ok-1@{d}" for d in domains]
    send(mta, rcpts, data=data)
    got = sink.wait_for_messages(DOMAINS, timeout=120)
    wait_empty(mta, timeout=60)
    peak = peaks(mta)
    # Each domain got the message once, whole.
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(rcpts)
    assert len(got) == DOMAINS and sink.count("MAIL") == DOMAINS
    assert all(m.data.endswith(data[-200:]) for m in got)
    # Unbounded, every entry's copy of the message sits in memory at once (~100 MB more);
    # bounded: the budget, the message being received, the quarantine and some slack.
    for pid in peak:
        bound = idle[pid] + 4 * MB + 2 * len(data) + QUARANTINE_MB * MB + 16 * MB
        assert peak[pid] < bound, f"pid {pid}: peak RSS {peak[pid] // MB} MB, idle " \
                                  f"{idle[pid] // MB} MB, bound {bound // MB} MB"


def test_a_message_larger_than_the_whole_budget_is_delivered_alone(
        mta, smtp_sink, dns_records):
    domains = many_domains(dns_records, 3)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("outbound.ini", "delivery_memory_max=64k\n")
    mta.start()
    send(mta, [f"ok-1@{d}" for d in domains], data=big_message(300 * 1024))
    send(mta, ["ok-2@d0.test"])
    got = sink.wait_for_messages(4, timeout=30)
    wait_empty(mta)
    assert sorted(r for m in got for r in m.rcpt_tos) == \
        sorted([f"ok-1@{d}" for d in domains] + ["ok-2@d0.test"])
    assert sink.count("MAIL") == 4


# --- records_backlog_max ------------------------------------------------------------------

BACKLOG_WARN = (r"^\[WARN\] \[-\] \[core\] records: (\d+) bytes of records wait for the disk "
                r"\(records_backlog_max 2048\); deliveries are paused until they drain$")
BACKLOG_NOTICE = (r"^\[NOTICE\] \[-\] \[core\] records: the backlog drained to (\d+) bytes "
                  r"\(records_backlog_max 2048\); deliveries resume$")


def logged_records(fs):
    path = fs / "logs" / "outbound.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_backlog_pauses_delivery_until_the_writer_catches_up(mta, tmpfs, smtp_sink):
    """outbound_logger with sync=false answers before its records are written, so nothing
    but the backlog limit stops records piling up while the disk is full. records_min_free
    is off: this is the disk the thresholds did not see coming (another writer, EIO...)."""
    sink = smtp_sink("127.0.0.2")
    fs = tmpfs("records-fs", size="4m")
    mta.write_config("plugins", "relay\noutbound_logger\n")
    mta.write_config("outbound_logger.ini",
                     f"[file]\nenable=true\nlog_dir={fs}/logs\nsync=false\n")
    # Two at a time: the records of a burst of attempts ending together stay below 2k.
    mta.write_config("outbound.ini", "records_min_free=0\nrecords_min_free_inodes=0\n"
                     "records_backlog_max=2k\nconcurrency_max=2\n")
    mta.start()
    filler = fill(fs, 0)
    mark = mta.mark()
    rcpts = [f"ok-{n}@single.test" for n in range(20)]
    for r in rcpts:
        send(mta, [r])
    warn = mta.wait_for_log(BACKLOG_WARN, start=mark)
    assert int(warn.group(1)) > 2048
    time.sleep(2.5)                       # writes are retried every second; still full
    # Each worker (nodes) holds its own deliveries on its own backlog, and says so once.
    workers = max(1, mta.nodes())
    warned = count_lines(mta, r"records: .* wait for the disk", mark)
    assert 1 <= warned <= workers
    paused = len(sink.messages())
    assert 2 <= paused < 10 * workers, f"{paused} delivered with records waiting"
    assert len(mta.queue_files()) == 20 - paused
    time.sleep(1.5)
    assert len(sink.messages()) == paused, "delivery went on past records_backlog_max"
    assert logged_records(fs) == []
    assert count_lines(mta, r"records: .* wait for the disk", mark) == warned

    filler.unlink()
    notice = mta.wait_for_log(BACKLOG_NOTICE, start=mark)
    assert int(notice.group(1)) <= 1024
    sink.wait_for_messages(20, timeout=20)
    wait_empty(mta)
    deadline = time.monotonic() + 10
    while len(logged_records(fs)) < 20:
        assert time.monotonic() < deadline, logged_records(fs)
        time.sleep(0.05)
    time.sleep(0.5)
    records = logged_records(fs)
    assert sorted(r["recipient"] for r in records) == sorted(rcpts)    # each once
    assert all(r["type"] == "delivered" for r in records)
    assert sink.count("MAIL") == 20
    assert count_lines(mta, r"records: .* wait for the disk", mark) == warned
    assert count_lines(mta, r"records: the backlog drained", mark) == warned


# --- SIGHUP -------------------------------------------------------------------------------

def attempts(outpost):
    """Attempts recorded in each queue entry (name -> attempts)."""
    out = {}
    for name in outpost.queue_files():
        try:
            out[name] = int(read_entry(outpost.entry_path(name))[0]["attempts"])
        except (FileNotFoundError, ValueError, KeyError):
            pass
    return out


def wait_mail_count(sink, n, timeout):
    sink.wait_until(lambda s: s.count("MAIL") >= n, timeout, f"{n} MAIL commands")


def test_sighup_retries_waiting_and_in_flight_mail_at_once(mta, smtp_sink):
    """Two mails deferred and waiting, three with their first attempt in flight (the sink
    sits on MAIL for 2 s) when SIGHUP comes: all five are tried again at once, the three as
    soon as their attempt ends, not an hour later."""
    sink = smtp_sink("127.0.0.2")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h*3\n")
    mta.start()
    for n in range(2):
        send(mta, [f"soft-{n}@single.test"], data=message(f"waiting {n}"))
    wait_mail_count(sink, 2, 10)
    deadline = time.monotonic() + 10
    while sorted(attempts(mta).values()) != [1, 1]:
        assert time.monotonic() < deadline, attempts(mta)
        time.sleep(0.05)

    sink.delay("mail", 2, times=3)
    for n in range(3):
        send(mta, [f"soft-in-flight-{n}@single.test"], data=message(f"in flight {n}"))
    wait_mail_count(sink, 5, 10)
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_log(r"SIGHUP: flushing the temp-fail queue", start=mark)
    wait_mail_count(sink, 7, 3)             # the two waiting ones, at once
    wait_mail_count(sink, 10, 6)            # the three in flight, once they ended
    deadline = time.monotonic() + 10
    while sorted(attempts(mta).values()) != [2] * 5:
        assert time.monotonic() < deadline, attempts(mta)
        time.sleep(0.05)
    time.sleep(1)
    assert sink.count("MAIL") == 10         # once each: the flush is not a loop


def test_sighup_during_a_hold_retries_everything_when_it_is_released(mta, tmpfs, smtp_sink):
    """Deferred mail, then the records disk runs low (a hold: nothing starts) and SIGHUP
    comes: nothing is tried while held; the release starts every entry at once."""
    sink = smtp_sink("127.0.0.2")
    fs = tmpfs("records-fs")
    mta.write_config("plugins", "relay\noutbound_logger\n")
    mta.write_config("outbound_logger.ini", f"[file]\nenable=true\nlog_dir={fs}/logs\n")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h*3\nrecords_min_free=4M\n")
    mta.start()
    for n in range(3):
        send(mta, [f"soft-{n}@single.test"], data=message(f"held {n}"))
    wait_mail_count(sink, 3, 10)
    deadline = time.monotonic() + 10
    while sorted(attempts(mta).values()) != [1, 1, 1]:
        assert time.monotonic() < deadline, attempts(mta)
        time.sleep(0.05)
    mark = mta.mark()
    filler = fill(fs, 3 * MB)
    mta.wait_for_log(r"records: free space low on ", start=mark)
    settle(mta)     # with nodes, every worker holds (worker 0 alone logs it)
    mta.signal(signal.SIGHUP)
    mta.wait_for_log(r"SIGHUP: flushing the temp-fail queue", start=mark)
    time.sleep(2)
    assert sink.count("MAIL") == 3, "tried while delivery was held"
    filler.unlink()
    mta.wait_for_log(r"records: free space back on ", start=mark)
    wait_mail_count(sink, 6, 3)
    time.sleep(1)
    assert sink.count("MAIL") == 6


# --- one body per message, streamed ---------------------------------------------------------

def queue_contents(outpost):
    """Everything in the queue directory and (nodes) its partitions, but the partitions."""
    parts = outpost.queue_partitions()
    return [p for d in parts for p in d.iterdir() if p not in parts]


def queue_sizes(outpost):
    return {p.name: p.stat().st_size for p in queue_contents(outpost)}


def test_one_message_to_many_domains_keeps_one_body_on_disk(mta, smtp_sink, dns_records):
    """1 MB to 100 domains: one body file of the message and 100 small entries (not 100
    copies); each domain gets it once, whole; the body goes with the last entry."""
    domains = many_domains(dns_records, DOMAINS)
    sink = smtp_sink("127.0.0.2")
    mta.write_config("outbound.ini", "disabled=true\n")
    mta.start()
    data = big_message(MB)
    rcpts = [f"ok-1@{d}" for d in domains]
    txn = send(mta, rcpts, data=data)
    assert mta.stop() == 0
    sizes = queue_sizes(mta)
    bodies = {n: s for n, s in sizes.items() if n.startswith("msg.")}
    entries = {n: s for n, s in sizes.items() if not n.startswith("msg.")}
    assert list(bodies) == [f"msg.{txn}.1"], sorted(sizes)
    assert len(entries) == DOMAINS
    assert len(data) < bodies[f"msg.{txn}.1"] < len(data) + 4096    # + trace headers
    assert max(entries.values()) < 1024, max(entries.values())
    assert sum(sizes.values()) < len(data) + DOMAINS * 1024
    print(f"1 MB to {DOMAINS} domains: {sum(sizes.values()) / MB:.2f} MB in the queue "
          f"({len(sizes)} files)")
    for name in entries:
        fields, _, message = read_entry(mta.entry_path(name))
        assert fields["body"] == f"{txn}.1" and message.endswith(data)

    mta.write_config("outbound.ini", "")
    mta.start()
    got = sink.wait_for_messages(DOMAINS, timeout=120)
    wait_empty(mta, timeout=60)
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(rcpts)
    assert len(got) == DOMAINS and all(m.data.endswith(data[-200:]) for m in got)
    assert queue_contents(mta) == []


def test_attempts_stream_the_body_from_disk(mta, smtp_sink, dns_records, small_quarantine):
    """With no memory budget at all (delivery_memory_max=0), 20 attempts in flight on one
    8 MB message read from disk hold a bounded part of it each, not the whole: the daemon's
    peak RSS stays far below 20 copies (160 MB)."""
    n, size = 20, 8 * MB
    domains = many_domains(dns_records, n)
    sink = smtp_sink("127.0.0.2")
    sink.delay("data_end", 2)           # every attempt in flight at once
    mta.write_config("outbound.ini", "disabled=true\n")
    mta.start()
    data = big_message(size)
    send(mta, [f"ok-1@{d}" for d in domains], data=data)
    assert mta.stop() == 0

    # Restarted with delivery still off: the peak so far is the daemon's own.
    mta.start()
    time.sleep(0.5)
    idle = peaks(mta)
    mark = mta.mark()
    mta.write_config("outbound.ini", f"delivery_memory_max=0\nconcurrency_max={n}\n")
    mta.wait_for_log(r"reloaded outbound.ini", start=mark)
    got = sink.wait_for_messages(n, timeout=120)
    wait_empty(mta, timeout=60)
    peak = peaks(mta)
    assert len(got) == n and all(len(m.data) >= len(data) for m in got)
    for pid in peak:
        print(f"{n} attempts on one {size // MB} MB body: pid {pid}: peak RSS "
              f"{peak[pid] / MB:.1f} MB, idle {idle[pid] / MB:.1f} MB")
        bound = idle[pid] + QUARANTINE_MB * MB + 24 * MB
        assert peak[pid] < bound, f"pid {pid}: peak RSS {peak[pid] // MB} MB, idle " \
                                  f"{idle[pid] // MB} MB, bound {bound // MB} MB"


def test_the_bounce_of_a_large_message_returns_its_headers(mta, smtp_sink):
    """A bounced message over 64 KiB (streamed, never held whole) comes back in the DSN as
    its header section, text/rfc822-headers (RFC 6522), not whole."""
    smtp_sink("127.0.0.2")
    dsn_sink = smtp_sink("127.0.0.8")
    mta.start()
    data = big_message(300 * 1024, subject="large and refused")
    send(mta, ["hard-1@single.test"], data=data)
    [dsn] = dsn_sink.wait_for_messages(1, timeout=30)
    wait_empty(mta)
    text = dsn.data.decode("utf-8", "replace")
    assert "Content-Type: text/rfc822-headers" in text
    assert "message/rfc822" not in text
    assert "Subject: large and refused" in text
    assert "0123456789abcdefghijklmnopqrstuvwxyz" not in text     # no line of the body
    assert len(dsn.data) < 16 * 1024
