"""Crash points: the daemon is killed (SIGKILL, from inside, by lib/failpoint.h) at each step
of a message's durability, then restarted. What must hold at every point: no message that got
its 250 is lost, no final record is lost with sync=true, and what repeats is only what
docs/architecture.md says may repeat (one delivery and its record per crash, or a split
message's first part when the client sends again after a 250 it never saw).

The points exist only in the test build (the sanitizer build); OUTPOST_FAILPOINT=name[:n]
arms the n-th pass through one of them."""
import re
import smtplib
import time

import pytest

from harness.clients import smtp_client
from test_accounting import acct_files, acct_rows, json_records, recording
from test_delivery import SENDER, message, wait_empty

KILLED = -9     # Popen's return code for a process killed by SIGKILL


def arm(monkeypatch, point):
    monkeypatch.setenv("OUTPOST_FAILPOINT", point)


def submit(outpost, rcpts):
    """One message; the reply code to the end of data, or None when the connection dropped
    before the reply (the daemon died)."""
    try:
        with smtp_client(outpost.host, outpost.port) as c:
            c.ehlo()
            assert c.mail(SENDER)[0] == 250
            for r in rcpts:
                assert c.rcpt(r)[0] == 250, r
            return c.data(message())[0]
    except smtplib.SMTPServerDisconnected:
        return None


def wait_killed(outpost, point, timeout=30):
    """The daemon died at `point`, by its own SIGKILL. With nodes, a worker died there (the
    supervisor lives on, and would restart it with the point still armed): the rest of the
    daemon is stopped here, to be restarted as a single process is."""
    if outpost.nodes() > 1:
        outpost.wait_for_log(rf"^failpoint {re.escape(point)}: pass 1, killing the process$",
                             timeout)
        outpost.wait_for_log(r"^\[WARN\] \[-\] \[core\] nodes: worker \d+ \(pid \d+\) "
                             r"killed by signal 9$", timeout)
        if outpost.running:
            assert outpost.stop() == 0
        else:   # killed while starting: the supervisor stopped the others and failed
            assert outpost.exit_code == 1, outpost.exit_code
            assert "nodes: a worker failed to start; stopping" in outpost.output()
        return
    try:
        rc = outpost.proc.wait(timeout)
    except Exception:   # noqa: BLE001 - a clear failure instead of a hang
        outpost.kill9()
        pytest.fail(f"outpost did not reach failpoint {point} within {timeout}s",
                    pytrace=False)
    assert rc == KILLED, f"outpost exited with {rc}, not killed at {point}"
    assert f"failpoint {point}: pass 1, killing the process" in outpost.output()


def restart(outpost, monkeypatch):
    monkeypatch.delenv("OUTPOST_FAILPOINT")
    outpost.start()


def received(sink):
    return sorted(rc for msg in sink.messages() for rc in msg.rcpt_tos)


def settle(outpost, sink, count, timeout=30):
    """Wait for `count` recipients at the sink, then for an empty queue."""
    sink.wait_until(lambda s: sum(len(m.rcpt_tos) for m in s.messages()) >= count,
                    timeout=timeout, what=f"{count} deliveries")
    wait_empty(outpost, timeout)


# --- reception ----------------------------------------------------------------------------

def test_killed_before_the_entries_are_in_place_nothing_was_accepted(mta, smtp_sink,
                                                                     monkeypatch):
    sink = smtp_sink("127.0.0.2")
    arm(monkeypatch, "queue-before-rename")
    mta.start()
    assert submit(mta, ["ok-lost@single.test"]) is None     # no 250: not accepted
    wait_killed(mta, "queue-before-rename")
    assert mta.queue_files() == []
    restart(mta, monkeypatch)
    assert not [p for d in mta.queue_partitions() for p in d.iterdir()
                if p.name.startswith("tmp.")]
    assert submit(mta, ["ok-after@single.test"]) == 250
    settle(mta, sink, 1)
    assert received(sink) == ["ok-after@single.test"]


def test_killed_after_the_commit_before_the_250_the_message_is_delivered_once(
        mta, smtp_sink, monkeypatch):
    sink = smtp_sink("127.0.0.2")
    arm(monkeypatch, "queue-before-reply")
    mta.start()
    assert submit(mta, ["ok-durable@single.test"]) is None
    wait_killed(mta, "queue-before-reply")
    assert len(mta.queue_files()) == 1      # durable, though the client saw no 250
    restart(mta, monkeypatch)
    settle(mta, sink, 1)
    time.sleep(0.5)
    assert received(sink) == ["ok-durable@single.test"]


def test_killed_between_the_last_entry_and_its_body_nothing_repeats(mta, smtp_sink,
                                                                    monkeypatch):
    """The last entry of a message is removed (durably) before its body: killed in between,
    the restart finds a body no entry refers to and removes it; nothing is delivered
    again."""
    sink = smtp_sink("127.0.0.2")
    arm(monkeypatch, "queue-before-body-removal")
    mta.start()
    assert submit(mta, ["ok-body@single.test"]) == 250
    wait_killed(mta, "queue-before-body-removal")
    assert mta.queue_files() == [] and len(mta.body_files()) == 1
    mark = mta.mark()
    restart(mta, monkeypatch)
    mta.wait_for_log(r"queue: removed 1 message body no entry refers to", start=mark)
    wait_empty(mta)
    time.sleep(0.5)
    assert received(sink) == ["ok-body@single.test"]


def test_killed_in_the_middle_of_a_split_repeats_only_the_first_part(mta, smtp_sink,
                                                                     monkeypatch):
    first, second = smtp_sink("127.0.0.2"), smtp_sink("127.0.0.5")
    rcpts = ["ok-a@single.test", "ok-b@implicit.test"]
    arm(monkeypatch, "queue-mid-split")
    mta.start()
    assert submit(mta, rcpts) is None
    wait_killed(mta, "queue-mid-split")
    assert len(mta.queue_files()) == 1      # single.test's entry, in place; not the other
    restart(mta, monkeypatch)
    # The client saw no 250 and sends the message again, as SMTP clients do.
    assert submit(mta, rcpts) == 250
    settle(mta, first, 2)
    settle(mta, second, 1)
    time.sleep(0.5)
    assert received(first) == ["ok-a@single.test"] * 2     # the documented repeat
    assert received(second) == ["ok-b@implicit.test"]


# --- delivery and records -------------------------------------------------------------------

def delivered_records(outpost):
    return [r["recipient"] for r in json_records(outpost) if r["type"] == "delivered"]


def test_killed_after_delivery_before_the_record_delivers_again_and_records(
        mta, smtp_sink, monkeypatch):
    sink = smtp_sink("127.0.0.2")
    recording(mta)
    arm(monkeypatch, "delivery-before-record")
    mta.start()
    assert submit(mta, ["ok-rec@single.test"]) == 250
    wait_killed(mta, "delivery-before-record")
    assert received(sink) == ["ok-rec@single.test"]
    assert delivered_records(mta) == []
    assert len(mta.queue_files()) == 1      # the entry outlives the crash
    restart(mta, monkeypatch)
    settle(mta, sink, 2)
    assert received(sink) == ["ok-rec@single.test"] * 2    # one repeat per crash
    assert delivered_records(mta) == ["ok-rec@single.test"]
    _, rows = acct_rows(mta, "delivered", n=1)
    assert [r["rcpt"] for r in rows] == ["ok-rec@single.test"]


@pytest.mark.parametrize("rcpt, kind, rtype", [
    ("ok-dq@single.test", "delivered", "delivered"),
    ("hard-dq@single.test", "bounce", "bounced"),
])
def test_killed_after_the_record_before_the_dequeue_keeps_the_record(
        mta, smtp_sink, monkeypatch, rcpt, kind, rtype):
    smtp_sink("127.0.0.2")
    smtp_sink("127.0.0.8")      # bounces.test: the DSN's destination
    recording(mta)
    arm(monkeypatch, "record-before-dequeue")
    mta.start()
    assert submit(mta, [rcpt]) == 250
    wait_killed(mta, "record-before-dequeue")
    # sync=true: the record was on disk before the entry could change.
    assert [r["recipient"] for r in json_records(mta) if r["type"] == rtype] == [rcpt]
    assert [r["rcpt"] for r in acct_rows(mta, kind)[1]] == [rcpt]
    restart(mta, monkeypatch)
    wait_empty(mta, 30)
    mine = [r for r in json_records(mta) if r["recipient"] == rcpt and r["type"] == rtype]
    assert 1 <= len(mine) <= 2      # the first survives; a repeat comes with a redelivery


def test_killed_in_the_middle_of_an_archive_rotation_loses_no_record(mta, smtp_sink,
                                                                     monkeypatch):
    sink = smtp_sink("127.0.0.2")
    # A rotation after every batch of records beyond ~200 bytes.
    recording(mta, acct="[main]\narchiving=true\nmax_size=0.0002\n")
    arm(monkeypatch, "records-mid-rotation")
    mta.start()
    sent = []
    for m in range(20):
        code = submit(mta, [f"ok-rot{m}@single.test"])
        if code is None:
            break
        assert code == 250
        sent.append(f"ok-rot{m}@single.test")
        if not mta.running or "failpoint records-mid-rotation: pass 1" in mta.output():
            break
    wait_killed(mta, "records-mid-rotation")
    archive = mta.root / "accounting_files" / "delivered" / "archive"
    assert any(archive.iterdir()), "the crash came before any file was archived"
    restart(mta, monkeypatch)
    settle(mta, sink, len(sent))
    _, rows = acct_rows(mta, "delivered")
    assert set(sent) <= {r["rcpt"] for r in rows}
    names = [p.name for p in acct_files(mta, "delivered")]
    assert len(names) == len(set(names)), "a file name was reused"
    assert set(sent) <= set(delivered_records(mta))


def test_killed_after_a_lost_entry_is_recorded_before_it_is_set_aside(daemon, monkeypatch):
    from test_corrupt_entries import flip_in_entry
    from test_delivery import send
    recording(daemon)
    daemon.start()
    txn = send(daemon, ["lost@dest.test"])
    assert daemon.stop() == 0
    [name] = daemon.queue_files()
    entry = daemon.entry_path(name)
    entry.write_bytes(flip_in_entry(entry.read_bytes()))
    arm(monkeypatch, "record-before-dequeue")
    daemon.start(ready=False)
    wait_killed(daemon, "record-before-dequeue")
    lost = [r for r in json_records(daemon) if r["type"] == "bounced"]
    assert [(r["recipient"], r["job_id"]) for r in lost] == [("lost@dest.test", f"{txn}.1")]
    assert daemon.queue_files() == [name]           # not yet set aside
    restart(daemon, monkeypatch)
    daemon.wait_for_log(rf"moved aside to error\.{name}")
    assert f"error.{name}" in {p.name for d in daemon.queue_partitions() for p in d.iterdir()}
    # Recorded again (the one repeat the crash allows), and never after it is set aside.
    assert daemon.stop() == 0
    daemon.start()
    time.sleep(0.5)
    again = [r for r in json_records(daemon) if r["type"] == "bounced"]
    assert len(again) == 2 and {r["recipient"] for r in again} == {"lost@dest.test"}
