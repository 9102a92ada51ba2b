"""End-to-end: what is odd in the queue directory (issue 14, item 6).

A name's type is checked before it is opened: a FIFO, a socket, a device, a directory or a
symbolic link in the queue directory is left alone, named in the log, and neither start-up nor
--qstat/--qlist waits on it. A corrupt entry is not silent in the records: what can still be
read of it (docs/queue-format.md, "Salvage") gives one bounced record per pending recipient
(5.3.0 "Queue entry corrupt: <why>", bounceCat "other") to outbound_logger and
accounting_files, then the file is set aside as error.<name>; whether it is found at start-up
or when delivery reads it back. A file that says nothing certain (random bytes, another
entry's copy) gives no record, only the ERROR line. No DSN is sent for a lost message."""
import os
import re
import signal
import socket
import stat
import time

import pytest

from harness.clients import CLIENT_NAME
from harness.daemon import run_outpost
from test_accounting import acct_rows, json_records, recording, wait_records
from test_delivery import SENDER, message, send, wait_entry
from test_queue_durability import crc32c, parse_entry, v1_image

ASIDE_RE = r"^\[ERROR\] \[-\] \[core\] queue: {name}: {why}; moved aside to error\.{name}$"


def queue_bytes(outpost):
    """{name: bytes} of the regular files of the queue, in every partition."""
    return {p.name: p.read_bytes() for d in outpost.queue_partitions() for p in d.iterdir()
            if p.is_file() and not p.is_symlink()}


def qreport(outpost, flag):
    """--qstat / --qlist, bounded: a FIFO that blocked open() would time out here."""
    start = time.monotonic()
    rc, out, err = run_outpost("-c", outpost.root, flag, timeout=10)
    assert rc == 0, err
    assert time.monotonic() - start < 10
    return out


def qstat(outpost):
    return dict(line.split(" ", 1) for line in qreport(outpost, "--qstat").splitlines())


def aside_line(outpost, name, why, mark):
    return outpost.wait_for_log(ASIDE_RE.format(name=re.escape(name), why=re.escape(why)),
                                start=mark)


# --- types before opening -------------------------------------------------------------------

def test_odd_files_are_left_alone_and_never_opened(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    mta.start()             # creates the queue directory
    assert mta.stop() == 0
    q = mta.queue_dir

    # A valid entry outside the queue, and a link to it named as its id: a followed link
    # would load and deliver it.
    mta.write_config("outbound.ini", "disabled=true\n")
    mta.start()
    txn = send(mta, ["ok-linked@single.test"])
    assert mta.stop() == 0
    target = tmp_path / "elsewhere"
    os.rename(mta.entry_path(f"{txn}.1"), target)
    os.symlink(target, q / f"{txn}.1")
    os.symlink("/dev/zero", q / "ZERO.1.1")
    os.mkfifo(q / "FIFO.1.1")
    os.mkfifo(q / "tmp.FIFO.1.1")
    os.mkdir(q / "DIR.1.1")
    os.mknod(q / "NULL.1.1", stat.S_IFCHR | 0o600, os.makedev(1, 3))     # /dev/null
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(q / "SOCK.1.1"))
    odd = {f"{txn}.1": "symbolic link", "ZERO.1.1": "symbolic link", "FIFO.1.1": "FIFO",
           "tmp.FIFO.1.1": "FIFO", "DIR.1.1": "directory", "NULL.1.1": "character device",
           "SOCK.1.1": "socket"}
    try:
        stats = qstat(mta)
        assert (stats["entries"], stats["corrupt"], stats["other"]) == ("0", "0", "7"), stats
        listing = qreport(mta, "--qlist")
        assert listing.splitlines() == ["-- 0 entries, 0 recipients (0 pending), 0 corrupt, "
                                        "0 set aside, 0 being written, 1 message body"], \
            listing

        mta.write_config("outbound.ini", "")
        mark = mta.mark()
        mta.start(timeout=20)
        for name, kind in odd.items():
            how = "not followed" if kind == "symbolic link" else "not opened"
            mta.wait_for_log(rf"^\[ERROR\] \[-\] \[core\] queue: {re.escape(name)} is a "
                             rf"{kind}, not a queue file; left alone \({how}\)$", start=mark)
        mta.wait_for_log(r"queue: 0 entries loaded", start=mark)
        # The moved entry's body: no entry refers to it.
        mta.wait_for_log(r"^\[INFO\] \[-\] \[core\] queue: removed 1 message body no entry "
                         r"refers to", start=mark)

        # Mail still flows, and the link's target was never delivered.
        send(mta, ["ok-after@single.test"])
        got = sink.wait_for_messages(1)
        assert [m.rcpt_tos for m in got] == [("ok-after@single.test",)]
        time.sleep(0.5)
        assert len(sink.messages()) == 1
        assert mta.stop() == 0
        # Everything odd is where it was, as it was.
        for name, kind in odd.items():
            mode = os.lstat(q / name).st_mode
            assert {"symbolic link": stat.S_ISLNK, "FIFO": stat.S_ISFIFO,
                    "directory": stat.S_ISDIR, "character device": stat.S_ISCHR,
                    "socket": stat.S_ISSOCK}[kind](mode), name
        assert not [n for d in mta.queue_partitions() for n in os.listdir(d)
                    if n.startswith("error.")]
        assert parse_entry(target.read_bytes())      # the target was not touched
    finally:
        sock.close()


# --- corrupt entries found at start-up ------------------------------------------------------

def flip_in_entry(data):
    """A digit of next_attempt changed: every line still well-formed, the sum wrong."""
    at = data.index(b"\n", data.index(b"\nnext_attempt ") + 1) - 1     # its last digit
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def flip_in_body(data):
    """A body file (msg.<body>) with one bit of its message changed."""
    body = data.index(b"\r\n\r\n") + 6
    out = bytearray(data)
    out[body] ^= 0x01
    return bytes(out)


def truncate_before_end(data):
    return data[:data.rindex(b"END ")]


def wrong_version(data):
    """A version 3 file whose end marker is right: only the version is wrong."""
    out = data.replace(b"OUTPOST-QUEUE 2\n", b"OUTPOST-QUEUE 3\n", 1)
    end = out.rindex(b"END ")
    return out[:end] + b"END %08X\n" % crc32c(out[:end])


def truncate_after_first_rcpt(data):
    first = data.index(b"\nrcpt ")
    return data[:data.index(b"\n", first + 1) + 1]


CORRUPTIONS = {
    # name: (how, the reason logged, the recipients recorded)
    "checksum": (flip_in_entry, "checksum mismatch", 2),
    "truncated": (truncate_before_end, "truncated", 2),
    "version": (wrong_version, "unsupported version 3", 2),
    "header-cut": (truncate_after_first_rcpt, "truncated", 1),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_entry_found_at_startup_is_recorded_then_set_aside(daemon, kind):
    corrupt, why, n = CORRUPTIONS[kind]
    recording(daemon)
    daemon.start()
    rcpts = ["first@dest.test", '"second one"@dest.test']
    txn = send(daemon, rcpts + ["other@intact.test"], data=message(subject="lost"))
    assert daemon.stop() == 0
    lost, intact = f"{txn}.1", f"{txn}.2"
    assert daemon.queue_files() == [lost, intact]
    good = (daemon.entry_path(lost)).read_bytes()
    assert b"domain dest.test\n" in good
    bad = corrupt(good)
    (daemon.entry_path(lost)).write_bytes(bad)
    queued_at = parse_entry(good)["fields"]

    mark = daemon.mark()
    daemon.start()
    daemon.wait_for_log(rf"\[ERROR\] \[{re.escape(lost)}\] \[outbound\] queue entry corrupt: "
                        rf"{re.escape(why)}; {n} recipients? lost, recorded as bounced: "
                        + re.escape(", ".join(f"<{r}>" for r in rcpts[:n])) + "$", start=mark)
    aside_line(daemon, lost, why, mark)

    records = wait_records(daemon, lambda r: len(r) >= n)
    time.sleep(0.3)
    records = json_records(daemon)
    assert len(records) == n, records
    for r, rcpt in zip(records, rcpts):
        assert r["type"] == "bounced" and r["job_id"] == lost
        assert (r["recipient"], r["from"], r["subject"]) == (rcpt, SENDER, "unknown")
        assert (r["dsn_status"], r["dsn_action"]) == ("5.3.0", "failed")
        assert r["undelivered_reason"] == f"554 - Queue entry corrupt: {why}"
    _, rows = acct_rows(daemon, "bounce", n=n)
    assert len(rows) == n
    for row, rcpt in zip(rows, rcpts):
        assert (row["type"], row["rcpt"], row["jobId"]) == ("b", rcpt, lost)
        assert (row["dsnStatus"], row["dsnMsg"]) == ("5.3.0", f"Queue entry corrupt: {why}")
        assert row["bounceCat"] == "other"
        assert (row["srcMta"], row["srcIp"]) == (CLIENT_NAME, "")    # no connection
        assert row["timeQueued"] != ""
    assert dict(queued_at)["queue_time"]

    # Set aside, byte for byte; the intact entry stays queued with the message's body (it
    # still refers to it); no DSN was queued.
    files = queue_bytes(daemon)
    assert sorted(files) == sorted([f"error.{lost}", intact, f"msg.{lost}"]), sorted(files)
    assert files[f"error.{lost}"] == bad
    assert qstat(daemon)["set_aside"] == "1"

    # Recorded once: the next start leaves the set-aside file alone.
    assert daemon.stop() == 0
    daemon.start()
    daemon.wait_for_log(r"queue: 1 entry loaded")
    time.sleep(0.5)
    assert len(json_records(daemon)) == n


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def queue_pids(outpost, mark):
    """The processes that read the queue in the run started after mark: the daemon, or with
    nodes its workers (the supervisor's lines "nodes: worker I started (pid P)")."""
    if outpost.nodes() <= 1:
        return [outpost.pid]
    pids = [int(m[1]) for m in (re.search(r"nodes: worker \d+ started \(pid (\d+)\)$", line)
                                for line in outpost.lines()[mark:]) if m]
    assert len(pids) == outpost.nodes(), pids
    return pids


def test_a_huge_entry_costs_its_header_at_startup(daemon):
    """A 512 MiB entry file of format 1 (sparse: a good header, a message of zeros, an end
    marker whose sum is wrong) is checked at start-up (all of it, through the checksum),
    found corrupt and recorded without being read into memory; --qstat reads it so too."""
    recording(daemon)
    daemon.start()
    txn = send(daemon, ["big@dest.test"])
    assert daemon.stop() == 0
    name = f"{txn}.1"
    path = daemon.entry_path(name)
    good = v1_image(path.read_bytes(), b"")
    os.unlink(daemon.entry_path(f"msg.{name}"))
    header = good[:good.index(b"\nmessage ") + 1]
    size = 512 << 20
    n = size - len(header) - 14
    while len(header) + len(b"message %d\n" % n) + n + 14 != size:
        n -= 1
    with open(path, "wb") as f:
        f.write(header + b"message %d\n" % n)
        f.truncate(size - 14)   # the message: zeros, on no disk
        f.seek(size - 14)
        f.write(b"\nEND 00000000\n")
    assert path.stat().st_size == size

    start = time.monotonic()
    assert qstat(daemon)["corrupt"] == "1"
    mark = daemon.mark()
    daemon.start()
    aside_line(daemon, name, "checksum mismatch", mark)
    assert time.monotonic() - start < 60
    for pid in queue_pids(daemon, mark):
        peak = peak_rss_mib(pid)
        assert peak < 256, f"peak RSS {peak} MiB: the file was read into memory"
    records = wait_records(daemon, lambda r: len(r) == 1)
    assert (records[0]["recipient"], records[0]["job_id"]) == ("big@dest.test", name)


def test_nothing_certain_gives_no_record_but_an_error_line(daemon):
    recording(daemon)
    daemon.start()
    txn = send(daemon, ["a@dest.test"])
    assert daemon.stop() == 0
    name = f"{txn}.1"
    good = (daemon.entry_path(name)).read_bytes()
    planted = {
        "GARBAGE.1.1": (os.urandom(3000), "not an Outpost queue file"),
        "MAGIC.1.1": (b"OUTPOST-QUEUE x\n" + good[16:], "bad version line"),
        "COPY.1.1": (flip_in_entry(good), "checksum mismatch"),  # names another entry
        "NORCPT.1.1": (good[:good.index(b"\nrcpt ") + 1], "truncated"),
    }
    for planted_name, (data, _) in planted.items():
        (daemon.entry_path(planted_name)).write_bytes(data)
    (daemon.entry_path(name)).write_bytes(flip_in_entry(good))    # this one is recorded

    mark = daemon.mark()
    daemon.start()
    for planted_name, (_, why) in planted.items():
        aside_line(daemon, planted_name, why, mark)
    aside_line(daemon, name, "checksum mismatch", mark)
    time.sleep(0.3)
    records = json_records(daemon)
    assert [(r["job_id"], r["recipient"]) for r in records] == [(name, "a@dest.test")]
    _, rows = acct_rows(daemon, "bounce")
    assert [(r["jobId"], r["rcpt"]) for r in rows] == [(name, "a@dest.test")]
    # Its body goes aside with it (no other entry refers to it).
    assert sorted(queue_bytes(daemon)) == \
        sorted(f"error.{n}" for n in [*planted, name, f"msg.{name}"])


# --- corrupt entries found by delivery ------------------------------------------------------

def test_body_corrupted_between_attempts_is_recorded_then_set_aside(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    dsn = smtp_sink("127.0.0.8")
    recording(mta, intervals="1h*3")
    mta.start()
    txn = send(mta, ["ok-1@single.test", "soft-1@single.test", "soft-2@single.test"],
               data=message(subject="between attempts"))
    name = f"{txn}.1"
    # First attempt: one delivered, two deferred; the entry is rewritten with that state.
    _, (fields, rcpts, _) = wait_entry(mta, lambda e: e[0].get("attempts") == "1")
    assert [s for s, _ in rcpts] == ["delivered", "pending", "pending"]
    wait_records(mta, lambda r: len(r) == 3)
    path = mta.entry_path(f"msg.{name}")
    bad = flip_in_body(path.read_bytes())
    path.write_bytes(bad)
    entry = (mta.entry_path(name)).read_bytes()
    why = "message file: checksum mismatch"

    mark = mta.mark()
    mta.signal(signal.SIGHUP)       # retry now: delivery reads the corrupt body
    mta.wait_for_log(rf"\[ERROR\] \[{re.escape(name)}\] \[outbound\] queue entry corrupt: "
                     rf"{why}; 2 recipients lost, recorded as bounced: "
                     r"<soft-1@single\.test>, <soft-2@single\.test>$", start=mark)
    aside_line(mta, name, why, mark)
    records = wait_records(mta, lambda r: len(r) == 5)
    lost = [r for r in records if r["type"] == "bounced"]
    assert [r["recipient"] for r in lost] == ["soft-1@single.test", "soft-2@single.test"]
    for r in lost:
        assert (r["job_id"], r["from"], r["dsn_status"]) == (name, SENDER, "5.3.0")
        assert r["undelivered_reason"] == f"554 - Queue entry corrupt: {why}"
        assert "smtp_host" not in r
    _, rows = acct_rows(mta, "bounce", n=2)
    assert {(r["rcpt"], r["bounceCat"]) for r in rows} == \
        {("soft-1@single.test", "other"), ("soft-2@single.test", "other")}
    assert queue_bytes(mta) == {f"error.{name}": entry, f"error.msg.{name}": bad}
    # Nothing more was sent: no second delivery, no DSN to the sender.
    time.sleep(0.5)
    assert len(sink.messages()) == 1 and dsn.messages() == []
    assert mta.queue_files() == []


def test_unreadable_is_not_corrupt_at_delivery(mta, smtp_sink):
    """A message body that cannot be opened (here: replaced by a FIFO) is retried, not
    lost."""
    smtp_sink("127.0.0.2")
    recording(mta, intervals="1h*3")
    mta.start()
    txn = send(mta, ["soft-1@single.test"])
    name = f"{txn}.1"
    wait_entry(mta, lambda e: e[0].get("attempts") == "1")
    path = mta.entry_path(f"msg.{name}")
    kept = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_log(rf"\[ERROR\] \[{re.escape(name)}\] \[outbound\] cannot read the "
                     r"queued message: not a regular file$", start=mark, timeout=10)
    time.sleep(0.3)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert not [r for r in json_records(mta) if r["type"] == "bounced"]
    path.unlink()
    path.write_bytes(kept)
