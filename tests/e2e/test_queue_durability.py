"""End-to-end: the durable queue. A 250 after DATA means the entry is on disk in full: kill -9
under load loses no acknowledged message and leaves nothing torn; a full disk answers 452 and
leaves nothing behind; start-up removes temp files and sets corrupt entries aside; a clean
restart leaves entries byte for byte as they were; a queue of format 1 (an earlier release)
is migrated at start-up.

Entries are checked against the on-disk format (docs/queue-format.md): `OUTPOST-QUEUE 2`,
`key value` header lines (`body` names the message's body file, `size` its length), `END
<CRC-32C, 8 upper-case hex digits>` LF over everything before the END line, end of file; the
body `msg.<body>`: `OUTPOST-BODY 1`, `size <n>`, the message, LF, END and its CRC. Every body
is referred to by an entry."""
import os
import re
import shutil
import smtplib
import subprocess
import threading
import time

import pytest

from harness.clients import smtp_client
from harness.daemon import run_outpost

SENDER = "sender@client.test"
QUEUED_RE = re.compile(r"^2\.0\.0 Message Queued \((\S+)\)$")
# <connection uuid>.<transaction>, and the entry names <that>.<n>
ENTRY_NAME_RE = re.compile(r"^[0-9A-Fa-f-]{36}\.\d+\.[1-9]\d*$")
TEST_ID_RE = re.compile(rb"\r\nX-Test-Id: ([^\r\n]+)\r\n")
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


# --- the entry format --------------------------------------------------------------------

def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283        # the CRC-32C check value


def parse_body(data):
    """A complete body file image (msg.<body>) -> the message bytes. Raises ValueError."""
    head = re.match(rb"OUTPOST-BODY 1\nsize (0|[1-9]\d*)\n", data)
    if not head:
        raise ValueError(f"no body head: {data[:40]!r}")
    start = head.end()
    end = start + int(head.group(1))
    match = re.fullmatch(rb"\nEND ([0-9A-F]{8})\n", data[end:])
    if not match:
        raise ValueError(f"bad body end ({len(data)} bytes, message ends at {end})")
    if int(match.group(1), 16) != crc32c(data[:end + 1]):
        raise ValueError("body checksum mismatch")
    return data[start:end]


def parse_entry(data, files=None):
    """A complete queue entry file image -> {"fields": [(key, value)], "message": bytes}.
    Version 2: the message is read from its body file in files ({name: bytes}), else None;
    version 1: from the entry itself. Raises ValueError when anything is missing, extra or
    does not add up."""
    version = re.match(rb"OUTPOST-QUEUE ([12])\n", data)
    if not version:
        raise ValueError("no OUTPOST-QUEUE 1 or 2 line")
    pos = version.end()
    fields = []
    if version.group(1) == b"2":
        match = re.search(rb"\nEND ([0-9A-F]{8})\n\Z", data)
        if not match or match.start() + 1 < pos:
            raise ValueError(f"bad end: {data[-40:]!r}")
        if int(match.group(1), 16) != crc32c(data[:match.start() + 1]):
            raise ValueError("checksum mismatch")
        for line in data[pos:match.start()].split(b"\n"):
            key, sep, value = line.partition(b" ")
            if not sep or not key:
                raise ValueError(f"malformed header line {line!r}")
            fields.append((key.decode(), value.decode()))
        entry = {"fields": fields, "message": None}
        body = dict(fields).get("body")
        if body is None or "size" not in dict(fields):
            raise ValueError("no body or size field")
        if files is not None:
            if f"msg.{body}" not in files:
                raise ValueError(f"body msg.{body} missing")
            entry["message"] = parse_body(files[f"msg.{body}"])
            if len(entry["message"]) != int(dict(fields)["size"]):
                raise ValueError("size does not match the body")
        return entry
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise ValueError("header not terminated")
        key, sep, value = data[pos:nl].partition(b" ")
        if not sep or not key:
            raise ValueError(f"malformed header line {data[pos:nl]!r}")
        pos = nl + 1
        if key == b"message":
            break
        fields.append((key.decode(), value.decode()))
    if not re.fullmatch(rb"0|[1-9]\d*", value):
        raise ValueError(f"bad message length {value!r}")
    end = pos + int(value)
    tail = data[end:]
    match = re.fullmatch(rb"\nEND ([0-9A-F]{8})\n", tail)
    if not match:
        raise ValueError(f"bad end: {tail[:40]!r}... ({len(data)} bytes, message ends at {end})")
    if int(match.group(1), 16) != crc32c(data[:end + 1]):
        raise ValueError("checksum mismatch")
    return {"fields": fields, "message": data[pos:end]}


def v1_image(entry_v2, message_bytes):
    """The version 1 image (message inline) of a version 2 entry image and its message."""
    fields = [line for line in entry_v2.split(b"\n")[1:-2]
              if not line.startswith((b"body ", b"size "))]
    head = b"OUTPOST-QUEUE 1\n" + b"".join(f + b"\n" for f in fields)
    data = head + b"message %d\n" % len(message_bytes) + message_bytes + b"\n"
    return data + b"END %08X\n" % crc32c(data)


def entry_value(entry, key):
    values = [v for k, v in entry["fields"] if k == key]
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def unescape(value):
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


PARTITION_RE = re.compile(r"^w\d+$")


def queue_paths(directory):
    """Every file of queue directory `directory`, in it and (with nodes) in its workers'
    partitions w<i> (an entry has exactly one owner: no name is in two)."""
    paths = {}
    for p in sorted(directory.iterdir()):
        if p.is_dir() and not p.is_symlink() and PARTITION_RE.match(p.name):
            for q in sorted(p.iterdir()):
                assert q.name not in paths, f"{q.name} is in two partitions"
                paths[q.name] = q
        else:
            assert p.name not in paths, f"{p.name} is in two partitions"
            paths[p.name] = p
    return paths


def read_queue(directory):
    """{name: bytes} of every file in directory (and its partitions)."""
    return {name: p.read_bytes() for name, p in queue_paths(directory).items()}


def check_entries(files):
    """Every file must be a complete entry named by its id, with its complete body, or a
    body some entry refers to; returns {name: parsed entry}."""
    entries = {}
    for name, data in files.items():
        assert not name.startswith(("tmp.", "error.")), f"{name} left in the queue"
        if name.startswith("msg."):
            continue
        assert ENTRY_NAME_RE.match(name), f"unexpected file {name}"
        try:
            entry = parse_entry(data, files)
        except ValueError as error:
            pytest.fail(f"queue entry {name} is not complete: {error}", pytrace=False)
        assert entry_value(entry, "id") == name
        entries[name] = entry
    referred = {"msg." + entry_value(e, "body") for e in entries.values()}
    bodies = {name for name in files if name.startswith("msg.")}
    assert bodies == referred, f"bodies no entry refers to: {sorted(bodies - referred)}"
    return entries


def ids_in(entry):
    return [m.decode() for m in TEST_ID_RE.findall(b"\r\n" + entry["message"])]


def message(test_id, size=0):
    """A message with a unique X-Test-Id, CRLF line ends, a line that needs dot-stuffing, and
    about `size` bytes of body."""
    lines = [f"From: <{SENDER}>", "To: <rcpt@example.test>", f"Subject: durability {test_id}",
             f"X-Test-Id: {test_id}", "", f"body of {test_id}", ".a line with a leading dot"]
    filler = f"{test_id} " + "0123456789abcdefghijklmnopqrstuvwxyz" * 2
    length = sum(len(line) + 2 for line in lines)
    if length < size:
        lines += [filler] * -(-(size - length) // (len(filler) + 2))
    lines.append("end")
    return ("\r\n".join(lines) + "\r\n").encode()


def send(client, body, rcpts=("rcpt@example.test",)):
    """One transaction on an open client: (code, reply text) of the DATA."""
    client.ehlo_or_helo_if_needed()
    code, reply = client.mail(SENDER)
    assert code == 250, (code, reply)
    for rcpt in rcpts:
        code, reply = client.rcpt(rcpt)
        assert code == 250, (code, reply)
    code, reply = client.data(body)
    return code, reply.decode()


def queued_id(code, reply):
    match = QUEUED_RE.match(reply)
    assert code == 250 and match, f"not queued: {code} {reply}"
    return match.group(1)


LOADED_RE = re.compile(r"^\[NOTICE\] \[-\] \[core\] queue: (\d+) (entry|entries) "
                       r"loaded from (\S+)$")


def wait_loaded(daemon, mark):
    """The start-up line `queue: N entr(y|ies) loaded from DIR`; returns (N, DIR). With nodes,
    each worker says it of its partition DIR/w<i>, once: returns (the sum, DIR)."""
    workers = max(1, daemon.nodes())
    daemon.wait_for_log(LOADED_RE, start=mark)
    deadline = time.monotonic() + 20
    while True:
        matches = [m for m in map(LOADED_RE.match, daemon.lines()[mark:]) if m]
        if len(matches) >= workers:
            break
        assert time.monotonic() < deadline and daemon.running, \
            f"{len(matches)} of {workers} workers loaded their queue"
        time.sleep(0.05)
    for match in matches:
        count = int(match.group(1))
        assert match.group(2) == ("entry" if count == 1 else "entries")
    total = sum(int(m.group(1)) for m in matches)
    if workers == 1:
        assert len(matches) == 1, matches
        return total, matches[0].group(3)
    top = os.path.dirname(matches[0].group(3))
    assert sorted(m.group(3) for m in matches) == \
        sorted(f"{top}/w{i}" for i in range(workers)), [m.group(3) for m in matches]
    return total, top


def run_lines(daemon, mark):
    return daemon.lines()[mark:]


def no_delivery(daemon):
    """Keep the entries as they were written: delivery paused (nothing to deliver to)."""
    daemon.write_config("outbound.ini", "[main]\ndisabled=true\n")


# --- kill -9 under load ------------------------------------------------------------------

CLIENTS = 50
PER_CLIENT = 40
ROUNDS = 5                  # load, kill -9, restart (recovering the last kill), ...
KILL_AFTER_OK = 300         # of at most CLIENTS * PER_CLIENT: well before the load ends
KILL_AFTER_S = 2.0          # or after this long, once at least KILL_MIN_OK were acknowledged
KILL_MIN_OK = 20
KILL_AT_LATEST = 10.0


def _load_then_kill9(daemon, round_no):
    """CLIENTS sessions sending messages in a loop; kill -9 the daemon in the middle.
    Returns ({test id: {"state", "body", "rcpt", "queue_id"}}, the number acknowledged, the
    number whose DATA was sent but not answered at the kill)."""
    records = {}
    lock = threading.Lock()
    stop = threading.Event()
    go = threading.Barrier(CLIENTS + 1, timeout=20)
    done = []

    def client(number):
        conn = None
        try:
            go.wait()
            conn = smtp_client(daemon.host, daemon.port, timeout=15)
            conn.ehlo()
            for n in range(PER_CLIENT):
                if stop.is_set():
                    return
                test_id = f"r{round_no}-c{number:02d}-m{n:02d}"
                rcpt = f"rcpt-{test_id}@example.test"
                record = {"state": "envelope", "rcpt": rcpt, "queue_id": None,
                          "body": message(test_id, size=200 + 150 * ((number * 7 + n) % 40))}
                with lock:
                    records[test_id] = record
                if conn.mail(SENDER)[0] != 250 or conn.rcpt(rcpt)[0] != 250:
                    return
                record["state"] = "data"        # from here on it may be on disk
                code, reply = conn.data(record["body"])
                reply = reply.decode()
                match = QUEUED_RE.match(reply)
                if code == 250 and match:
                    record["queue_id"] = match.group(1)
                    record["state"] = "ok"
                else:
                    record["state"] = f"refused {code} {reply}"
            with lock:
                done.append(number)
        except (OSError, smtplib.SMTPException, threading.BrokenBarrierError):
            pass                                # the daemon was killed
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        go.wait()
        began = time.monotonic()
        while True:
            elapsed = time.monotonic() - began
            with lock:
                ok = sum(r["state"] == "ok" for r in records.values())
            if ok >= KILL_AFTER_OK or (ok >= KILL_MIN_OK and elapsed >= KILL_AFTER_S) or \
                    elapsed >= KILL_AT_LATEST:
                break
            time.sleep(0.02)
    finally:
        daemon.kill9()
        with lock:
            ok = sum(r["state"] == "ok" for r in records.values())
            in_flight = sum(r["state"] == "data" for r in records.values())
            mid_transaction = sum(r["state"] in ("envelope", "data") for r in records.values())
            finished = len(done)
        stop.set()
        deadline = time.monotonic() + 20
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "clients still running 20s after kill -9"
    assert ok >= KILL_MIN_OK, f"round {round_no}: only {ok} messages queued before kill -9"
    assert finished < CLIENTS and mid_transaction > 0, \
        f"round {round_no}: the kill was not under load ({finished} clients had finished, " \
        f"{mid_transaction} in a transaction)"
    return records, ok, in_flight


def test_kill9_under_load_keeps_every_acknowledged_message(daemon):
    no_delivery(daemon)
    records = {}
    stats = []
    temp_files = []                 # tmp.* files left by the last kill
    for round_no in range(ROUNDS + 1):
        mark = daemon.mark()
        daemon.start()
        loaded, directory = wait_loaded(daemon, mark)
        assert directory == str(daemon.queue_dir)
        if round_no == ROUNDS:
            daemon.wait_ready_to_accept()
            assert daemon.stop() == 0
        log = run_lines(daemon, mark)
        assert not [line for line in log if SANITIZER_RE.search(line)]
        assert not [line for line in log if "moved aside" in line or "corrupt" in line], \
            "torn entries after kill -9"
        removed = sorted(m.group(1) for line in log for m in [re.search(
            r"^\[WARN\] \[-\] \[core\] queue: removing left-over temp file (\S+)$", line)]
            if m)
        assert removed == temp_files
        on_disk = list(queue_paths(daemon.queue_dir))
        assert not [name for name in on_disk if name.startswith(("tmp.", "error."))]
        assert loaded == len([name for name in on_disk if not name.startswith("msg.")])
        if round_no == ROUNDS:
            break
        sent, ok, in_flight = _load_then_kill9(daemon, round_no)
        records.update(sent)
        temp_files = sorted(name for name in queue_paths(daemon.queue_dir)
                            if name.startswith("tmp."))
        stats.append((ok, in_flight, len(temp_files)))

    assert not any(r["state"].startswith("refused") for r in records.values()), \
        [r["state"] for r in records.values() if r["state"].startswith("refused")][:5]
    files = read_queue(daemon.queue_dir)
    entries = check_entries(files)          # no tmp.*, no error.*, every entry complete
    holders = {}
    for name, entry in entries.items():
        ids = ids_in(entry)
        assert len(ids) == 1, f"{name}: X-Test-Id {ids}"
        holders.setdefault(ids[0], []).append(name)

    unknown = set(holders) - set(records)
    assert not unknown, f"entries for messages never sent: {sorted(unknown)[:5]}"
    for test_id, names in holders.items():
        record = records[test_id]
        assert len(names) == 1, f"{test_id} is in {names}"
        assert record["state"] in ("ok", "data"), \
            f"{test_id} ({record['state']}) is in the queue: {names}"
        entry = entries[names[0]]
        assert entry["message"].endswith(record["body"]), f"{names[0]}: message differs"
        assert [unescape(v) for k, v in entry["fields"] if k == "rcpt"] == \
            [f"pending {record['rcpt']}"]
    acked = {tid: r for tid, r in records.items() if r["state"] == "ok"}
    lost = sorted(tid for tid in acked if tid not in holders)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged messages lost: {lost[:10]}"
    for test_id, record in acked.items():
        name = holders[test_id][0]
        assert name.startswith(record["queue_id"] + "."), (test_id, name, record["queue_id"])
    print(f"(acknowledged, in flight, temp files) per kill: {stats}; "
          f"{len(entries)} entries at the end")


# --- disk full ---------------------------------------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    """A 512 KiB tmpfs (mounting needs root); unmounted at teardown."""
    mountpoint = tmp_path / "small-fs"
    mountpoint.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=20)


def test_disk_full_answers_452_and_leaves_nothing_behind(daemon, small_tmpfs):
    """Messages of 40 KB to two domains (one body, two entries each) until the disk is
    full. Nothing of the refused job (its body or any entry) may be left behind."""
    queue_dir = small_tmpfs / "queue"
    daemon.write_config("queue_dir", f"{queue_dir}\n")
    # The 452 of a real ENOSPC, not queue_min_free's (test_free_space.py).
    daemon.write_config("outbound.ini", "[main]\ndisabled=true\nqueue_min_free=0\n")
    # Ballast leaves 256 KiB; deleting it gives the space back.
    ballast = small_tmpfs / "ballast"
    ballast.write_bytes(b"\0" * (256 * 1024))
    mark = daemon.mark()
    daemon.start()
    assert wait_loaded(daemon, mark) == (0, str(queue_dir))
    rcpts = ("rcpt@example.test", "rcpt@other.test")

    def free_space():
        st = os.statvfs(small_tmpfs)
        return st.f_bavail * st.f_frsize

    accepted = {}                            # test id -> (queue id, body)
    refused = []
    with smtp_client(daemon.host, daemon.port, timeout=15) as client:
        for n in range(20):
            test_id = f"full-{n:02d}"
            body = message(test_id, size=40 * 1024)
            free = free_space()
            code, reply = send(client, body, rcpts)
            if code != 250:
                refused.append((test_id, code, reply, free))
                break
            accepted[test_id] = (queued_id(code, reply), body)
        assert refused, "20 messages of 2 x 40 KB fitted in 256 KiB"
        assert accepted, "the first message did not fit"
        test_id, code, reply, free = refused[0]
        assert (code, reply) == (452, "4.3.1 Insufficient system storage")
        daemon.wait_for_log(r"^\[ERROR\] \[[0-9A-F-]+\] \[core\] queue: \S+ not queued: "
                            r"No space left on device$", start=mark)

        files = read_queue(queue_dir)
        entries = check_entries(files)      # nothing of the failed commit, no tmp./error.
        assert len(entries) == 2 * len(accepted)
        stored = sorted(i for e in entries.values() for i in ids_in(e))
        assert stored == sorted(2 * list(accepted))
        print(f"{len(accepted)} messages accepted, then 452 with {free} bytes free")

        # Space comes back: the same session goes on, and a new one works too.
        ballast.unlink()
        code, reply = send(client, message("after-space", size=60 * 1024), rcpts)
        accepted["after-space"] = (queued_id(code, reply), None)
    with smtp_client(daemon.host, daemon.port, timeout=15) as client:
        code, reply = send(client, message("new-session", size=1024))
        accepted["new-session"] = (queued_id(code, reply), None)
    assert daemon.stop() == 0

    entries = check_entries(read_queue(queue_dir))
    by_test_id = {}
    for name, entry in entries.items():
        by_test_id.setdefault(ids_in(entry)[0], []).append(name)
    assert sorted(by_test_id) == sorted(accepted)
    for test_id, (queue_id, body) in accepted.items():
        names = sorted(by_test_id[test_id])
        assert names == [f"{queue_id}.{i}" for i in range(1, len(names) + 1)]
        assert len(names) == (1 if test_id == "new-session" else 2)
        if body is not None:
            for name in names:
                assert entries[name]["message"].endswith(body)

    mark = daemon.mark()
    daemon.start()
    assert wait_loaded(daemon, mark) == (len(entries), str(queue_dir))
    assert daemon.stop() == 0
    assert not [line for line in run_lines(daemon, mark) if "queue: " in line and
                ("moved aside" in line or "temp file" in line)]


def test_file_size_limit_answers_452(daemon, tmp_path):
    """RLIMIT_FSIZE (EFBIG, the daemon ignores SIGXFSZ) counts as out of space too; this
    one needs no mount."""
    limit = 1024 * 1024
    wrapper = tmp_path / "outpost-fsize"
    wrapper.write_text(f'#!/bin/sh\nexec prlimit --fsize={limit} -- "{daemon.binary}" "$@"\n')
    wrapper.chmod(0o755)
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) not installed")
    daemon.binary = wrapper
    no_delivery(daemon)
    daemon.start()

    with smtp_client(daemon.host, daemon.port, timeout=30) as client:
        small = message("fsize-small", size=64 * 1024)
        first = queued_id(*send(client, small))
        code, reply = send(client, message("fsize-big", size=limit + 64 * 1024))
        assert (code, reply) == (452, "4.3.1 Insufficient system storage")
        daemon.wait_for_log(r"^\[ERROR\] \[[0-9A-F-]+\] \[core\] queue: \S+ not queued: "
                            r"File too large$")
        assert sorted(queue_paths(daemon.queue_dir)) == [f"{first}.1", f"msg.{first}.1"]
        # The session goes on.
        after = queued_id(*send(client, message("fsize-after", size=1024)))
    assert daemon.stop() == 0
    entries = check_entries(read_queue(daemon.queue_dir))
    assert sorted(entries) == sorted([f"{first}.1", f"{after}.1"])
    assert entries[f"{first}.1"]["message"].endswith(small)


# --- start-up recovery -------------------------------------------------------------------

def test_startup_removes_temp_files_and_sets_corrupt_entries_aside(daemon):
    no_delivery(daemon)
    daemon.start()
    with smtp_client(daemon.host, daemon.port) as client:
        body = message("valid", size=2000)
        queue_id = queued_id(*send(client, body))
    assert daemon.stop() == 0
    valid = f"{queue_id}.1"
    assert daemon.queue_files() == [valid]
    good = (daemon.entry_path(valid)).read_bytes()
    good_body = (daemon.entry_path(f"msg.{valid}")).read_bytes()
    entry = parse_entry(good, {f"msg.{valid}": good_body})
    assert entry["message"].endswith(body)
    cut = good.index(b"\nrcpt ") + 3                   # in the middle of the header
    flipped = bytearray(good)
    flipped[cut] ^= 0x01

    planted = {
        f"tmp.{queue_id}.9.1": good[:cut],             # a commit that never finished
        "ABC.1.1": good[:cut],                         # truncated
        "GARBAGE.1.1": os.urandom(3000),               # not a queue file at all
        "FLIPPED.1.1": bytes(flipped),                 # one bit changed
        "COPY.1.1": good,                              # complete, but under another name
        "EMPTY.1.1": b"",
        "error.OLD.1.1": b"set aside by an earlier run\n",
    }
    reasons = {
        "ABC.1.1": "truncated",
        "GARBAGE.1.1": "not an Outpost queue file",
        "FLIPPED.1.1": "checksum mismatch",
        "COPY.1.1": "id does not match the file name",
        "EMPTY.1.1": "truncated",
    }
    for name, data in planted.items():
        (daemon.entry_path(name)).write_bytes(data)

    mark = daemon.mark()
    daemon.start()
    assert wait_loaded(daemon, mark) == (1, str(daemon.queue_dir))
    log = run_lines(daemon, mark)
    assert f"[WARN] [-] [core] queue: removing left-over temp file tmp.{queue_id}.9.1" in log
    aside = {}
    for line in log:
        match = re.match(r"^\[ERROR\] \[-\] \[core\] queue: (\S+): (.+); moved aside to "
                         r"error\.(\S+)$", line)
        if match:
            assert match.group(1) == match.group(3), line
            aside[match.group(1)] = match.group(2)
    assert sorted(aside) == sorted(reasons), log
    for name, reason in reasons.items():
        assert reason in aside[name], (name, aside[name])
    # The earlier error.* file is left alone (not renamed again), and counted.
    assert not [line for line in log if "OLD.1.1" in line]
    # Files planted in the queue directory are worker 0's, with nodes (adopted into w0).
    home = daemon.queue_dir / "w0" if daemon.nodes() > 1 else daemon.queue_dir
    assert f"[WARN] [-] [core] queue: {len(reasons) + 1} corrupt entries set aside in " \
           f"{home} as error.*" in log

    expected = {valid: good, f"msg.{valid}": good_body,
                "error.OLD.1.1": planted["error.OLD.1.1"]}
    expected.update({f"error.{name}": planted[name] for name in reasons})
    assert read_queue(daemon.queue_dir) == expected

    # And mail is still accepted.
    with smtp_client(daemon.host, daemon.port) as client:
        after = queued_id(*send(client, message("after-recovery")))
    assert daemon.stop() == 0
    assert daemon.queue_files() == sorted([valid, f"{after}.1"])


# --- clean restart -----------------------------------------------------------------------

def test_clean_restart_leaves_entries_byte_identical(daemon):
    no_delivery(daemon)
    daemon.start()
    sent = {}
    with smtp_client(daemon.host, daemon.port) as client:
        body = message("restart-1", size=5000)
        sent[queued_id(*send(client, body))] = (body, ["rcpt@example.test"])
        body = message("restart-2")
        rcpts = ["a@example.test", "B.Mixed@Other.TEST", "c%weird@other.test"]
        sent[queued_id(*send(client, body, rcpts))] = (body, rcpts)
    assert daemon.stop() == 0
    before = read_queue(daemon.queue_dir)
    entries = check_entries(before)
    assert len(entries) == 3
    for queue_id, (body, rcpts) in sent.items():
        names = sorted(name for name in entries if name.startswith(queue_id + "."))
        assert [n[len(queue_id) + 1:] for n in names] == \
            [str(i) for i in range(1, len(names) + 1)]
        got = []
        for name in names:
            assert entries[name]["message"].endswith(body)
            got += [unescape(v).split(" ", 1)[1] for k, v in entries[name]["fields"]
                    if k == "rcpt"]
        # The local part exactly as received; the domain may be lower-cased.
        assert sorted(got) == sorted(f"{local}@{domain.lower()}" for local, domain in
                                     (rcpt.rsplit("@", 1) for rcpt in rcpts))

    for _ in range(2):
        mark = daemon.mark()
        daemon.start()
        assert wait_loaded(daemon, mark) == (3, str(daemon.queue_dir))
        assert read_queue(daemon.queue_dir) == before
        assert daemon.stop() == 0
        assert read_queue(daemon.queue_dir) == before


# --- format 1 -> 2 ----------------------------------------------------------------------

def test_a_format_1_queue_is_migrated_at_startup(daemon):
    """Entries written by an earlier release (the message inside each entry) are read by
    --qstat as they are, then migrated by the daemon's start: the message moves to a body
    file, the entry becomes version 2 with its fields unchanged. A body left by a crash in
    the middle of a migration (before the entry was replaced) is removed and the migration
    done again."""
    no_delivery(daemon)
    daemon.start()
    with smtp_client(daemon.host, daemon.port) as client:
        bodies = {}
        for n in range(2):
            body = message(f"v1-{n}", size=3000)
            bodies[queued_id(*send(client, body))] = body
    assert daemon.stop() == 0
    files = read_queue(daemon.queue_dir)
    v2 = check_entries(files)
    for name in list(v2):
        image = v1_image(files[name], v2[name]["message"])
        (daemon.entry_path(name)).write_bytes(image)
        os.unlink(daemon.entry_path(f"msg.{name}"))
    # The first one as a crash left it: its new body written, the entry still version 1.
    first = sorted(v2)[0]
    (daemon.entry_path(f"msg.{first}")).write_bytes(files[f"msg.{first}"])
    rc, out, err = run_outpost("-c", daemon.root, "--qstat")
    assert rc == 0, err
    stats = dict(line.split(" ", 1) for line in out.splitlines())
    assert (stats["entries"], stats["corrupt"], stats["bodies"]) == ("2", "0", "1"), stats

    mark = daemon.mark()
    daemon.start()
    assert wait_loaded(daemon, mark) == (2, str(daemon.queue_dir))
    assert daemon.stop() == 0
    after = read_queue(daemon.queue_dir)
    migrated = check_entries(after)
    assert after == files           # byte for byte what this release writes
    for name, entry in migrated.items():
        assert entry["fields"] == v2[name]["fields"]
        assert entry["message"] == v2[name]["message"]
        assert entry["message"].endswith(bodies[name.rsplit(".", 1)[0]])
