"""Free-space back-pressure end to end (issue 14, item 4): outbound.ini's queue_min_free and
records_min_free (and their _inodes keys) on small tmpfs mounts. Below queue_min_free, MAIL
FROM gets 452 4.3.1 while delivery and DSNs go on; below records_min_free, no delivery starts
and mail stays queued until space returns. Each episode is logged once when it starts (WARN)
and once when it ends (NOTICE), and --qstat shows the state."""
import json
import os
import re
import subprocess
import time

import pytest

from harness.daemon import run_outpost
from harness.smtpraw import RawSmtp
from test_delivery import SENDER, send, wait_empty

REFUSED = "452 4.3.1 Insufficient system storage"
MB = 1024 * 1024


@pytest.fixture
def tmpfs(tmp_path):
    """Factory: tmpfs(name, size="16m", options="") mounts a tmpfs at tmp_path/name (the
    tests run as root) and returns its path; every mount is undone at teardown."""
    mounts = []

    def mount(name, size="16m", options=""):
        point = tmp_path / name
        point.mkdir()
        opts = f"size={size},mode=0755" + (f",{options}" if options else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                              capture_output=True, text=True, timeout=20)
        if proc.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs at {point} (these tests need root and "
                        f"mount(8)): {proc.stderr.strip()}", pytrace=False)
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=20)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(fs, leave):
    """A filler file that leaves about `leave` bytes free on fs; returns its path."""
    filler = fs / "filler"
    size = free_bytes(fs) - leave
    assert size > 0, f"{fs} has only {free_bytes(fs)} bytes free"
    chunk = b"\0" * MB
    with open(filler, "wb") as f:
        while size > 0:
            f.write(chunk[:min(size, MB)])
            size -= MB
    assert abs(free_bytes(fs) - leave) < MB // 4, free_bytes(fs)
    return filler


def qstat(outpost):
    rc, out, err = run_outpost("-c", outpost.root, "--qstat")
    assert rc == 0, err
    return dict(line.split(" ", 1) for line in out.splitlines())


def mail_from(outpost, params=""):
    """The reply to MAIL FROM on a fresh session, as 'code text'."""
    raw = RawSmtp(outpost.host, outpost.port)
    try:
        assert raw.reply()[0] == 220
        raw.ehlo()
        return raw.text(f"MAIL FROM:<{SENDER}>{params}")
    finally:
        raw.sock.close()


def count_lines(outpost, regex, start):
    pattern = re.compile(regex)
    return sum(1 for line in outpost.lines()[start:] if pattern.search(line))


QUEUE_LOW = (r"^\[WARN\] \[-\] \[core\] queue: free space low on {dir}: \d+ bytes free "
             r"\({key}\), .*; new mail gets 452 4\.3\.1 until it returns$")
QUEUE_BACK = (r"^\[NOTICE\] \[-\] \[core\] queue: free space back on {dir}: \d+ bytes free "
              r".*; new mail is accepted again$")
RECORDS_LOW = (r"^\[WARN\] \[-\] \[core\] records: free space low on {dir}: \d+ bytes free "
               r"\(records_min_free 4M = 4194304\).*; deliveries are paused until it returns$")
RECORDS_BACK = (r"^\[NOTICE\] \[-\] \[core\] records: free space back on {dir}: .*; "
                r"deliveries resume$")


def queue_on(outpost, fs, settings):
    queue_dir = fs / "queue"
    outpost.write_config("queue_dir", f"{queue_dir}\n")
    outpost.write_config("outbound.ini", settings)
    return queue_dir


def queue_names(queue_dir):
    """Names of everything in queue_dir and, with nodes, in its partitions w<i> (the
    partitions themselves left out)."""
    dirs = [queue_dir] + [p for p in queue_dir.iterdir()
                          if p.is_dir() and re.fullmatch(r"w\d+", p.name)]
    return sorted(p.name for d in dirs for p in d.iterdir() if p not in dirs)


def settle(outpost):
    """With nodes, one poll period more: every worker measures once a second and acts on
    it, and worker 0 alone logs, so its line can come before another worker's poll."""
    if outpost.nodes() > 1:
        time.sleep(1.1)


# --- queue_min_free -----------------------------------------------------------------------

def test_queue_low_refuses_mail_at_mail_from_until_space_returns(daemon, tmpfs):
    fs = tmpfs("queue-fs")
    queue_dir = queue_on(daemon, fs, "queue_min_free=4M\n")
    daemon.start()
    before = send(daemon, ["rcpt@example.test"])
    assert qstat(daemon)["queue_space"] == "ok"

    mark = daemon.mark()
    filler = fill(fs, 3 * MB)
    daemon.wait_for_log(QUEUE_LOW.format(dir=re.escape(str(queue_dir)),
                                         key=r"queue_min_free 4M = 4194304"), start=mark)
    settle(daemon)
    # Refused at MAIL FROM, before the client sends anything else; the session goes on.
    raw = RawSmtp(daemon.host, daemon.port)
    assert raw.reply()[0] == 220
    raw.ehlo()
    assert raw.text(f"MAIL FROM:<{SENDER}>") == REFUSED
    assert raw.text("RCPT TO:<rcpt@example.test>").startswith("503 ")
    assert raw.text("RSET").startswith("250 ")
    assert raw.text(f"MAIL FROM:<{SENDER}>") == REFUSED
    stats = qstat(daemon)
    assert stats["queue_space"] == "low"
    assert re.match(r"\d+ bytes free \(queue_min_free 4M = 4194304\), \d+ inodes free "
                    r"\(queue_min_free_inodes 5% = \d+\) on " + re.escape(str(queue_dir)) + "$",
                    stats["queue_free"]), stats["queue_free"]
    assert int(stats["queue_free"].split()[0]) < 4 * MB
    assert stats["entries"] == "1"            # --qstat's other lines are still there
    time.sleep(2.5)                           # more polls: still one WARN for the episode
    assert count_lines(daemon, r"queue: free space low", mark) == 1

    mark = daemon.mark()
    filler.unlink()
    daemon.wait_for_log(QUEUE_BACK.format(dir=re.escape(str(queue_dir))), start=mark)
    settle(daemon)
    assert raw.text(f"MAIL FROM:<{SENDER}>").startswith("250 ")   # the same session
    raw.sock.close()
    after = send(daemon, ["rcpt@example.test"])
    assert qstat(daemon)["queue_space"] == "ok"
    time.sleep(1.5)
    assert count_lines(daemon, r"queue: free space (low|back)", mark) == 1
    assert queue_names(queue_dir) == sorted([
        f"{before}.1", f"{after}.1", f"msg.{before}.1", f"msg.{after}.1"])


def test_announced_size_counts_against_queue_min_free(daemon, tmpfs):
    """MAIL ... SIZE=n is refused when n bytes would take the queue below queue_min_free
    (Postfix's check), accepted when they fit above it."""
    fs = tmpfs("queue-fs", size="16m")
    queue_on(daemon, fs, "queue_min_free=4M\n")
    daemon.start()
    free = free_bytes(fs)
    fits = free - 4 * MB - 256 * 1024
    too_big = free - 4 * MB + 256 * 1024
    assert mail_from(daemon, f" SIZE={fits}").startswith("250 ")
    assert mail_from(daemon, f" SIZE={too_big}") == REFUSED
    assert qstat(daemon)["queue_space"] == "ok"     # not an episode: one message's size
    assert not [line for line in daemon.lines() if "free space low" in line]


def test_queue_inodes_threshold_as_a_percentage(daemon, tmpfs):
    """queue_min_free_inodes=25% of a tmpfs with 200 inodes: using them up refuses mail
    although bytes are plentiful; freeing them accepts it again."""
    fs = tmpfs("queue-fs", size="16m", options="nr_inodes=200")
    queue_dir = queue_on(daemon, fs, "queue_min_free=1M\nqueue_min_free_inodes=25%\n")
    daemon.start()
    assert mail_from(daemon).startswith("250 ")
    mark = daemon.mark()
    files = fs / "files"
    files.mkdir()
    while os.statvfs(fs).f_favail >= 40:
        (files / str(len(list(files.iterdir())))).touch()
    line = daemon.wait_for_log(
        r"queue: free space low on " + re.escape(str(queue_dir)) + r": \d+ bytes free "
        r"\(queue_min_free 1M = 1048576\), (\d+) inodes free \(queue_min_free_inodes 25% = 50\)",
        start=mark)
    settle(daemon)
    assert int(line.group(1)) < 50
    assert mail_from(daemon) == REFUSED
    assert qstat(daemon)["queue_space"] == "low"
    for f in files.iterdir():
        f.unlink()
    daemon.wait_for_log(QUEUE_BACK.format(dir=re.escape(str(queue_dir))), start=mark)
    settle(daemon)
    assert mail_from(daemon).startswith("250 ")


def test_bounce_while_queue_low_still_queues_its_dsn(mta, tmpfs, smtp_sink):
    """Outpost's own mail is never held back by queue_min_free: a hard bounce while the queue
    is low queues its DSN (and delivers it), while clients still get 452."""
    rcpt_sink = smtp_sink("127.0.0.2")
    dsn_sink = smtp_sink("127.0.0.8")
    fs = tmpfs("queue-fs")
    queue_dir = queue_on(mta, fs, "disabled=true\nqueue_min_free=4M\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    mark = mta.mark()
    fill(fs, 3 * MB)
    mta.wait_for_log(QUEUE_LOW.format(dir=re.escape(str(queue_dir)),
                                      key=r"queue_min_free 4M = 4194304"), start=mark)
    settle(mta)
    assert mail_from(mta) == REFUSED
    mta.write_config("outbound.ini", "disabled=false\nqueue_min_free=4M\n")
    mta.wait_for_log(r"outbound delivery enabled", start=mark)
    dsn = dsn_sink.wait_for_messages(1)[0]
    assert dsn.mail_from == "" and dsn.rcpt_tos == (SENDER,)
    assert b"hard-1@single.test" in dsn.data
    assert rcpt_sink.messages() == []
    deadline = time.monotonic() + 15
    while queue_names(queue_dir):
        assert time.monotonic() < deadline, queue_names(queue_dir)
        time.sleep(0.05)
    assert mail_from(mta) == REFUSED                 # still low all along
    assert qstat(mta)["queue_space"] == "low"
    assert count_lines(mta, r"not queued", mark) == 0


# --- records_min_free ---------------------------------------------------------------------

def records_on(outpost, fs, settings="records_min_free=4M\n"):
    """Both recording plugins write under fs."""
    outpost.write_config("plugins", "relay\noutbound_logger\naccounting_files\n")
    outpost.write_config("outbound_logger.ini", f"[file]\nenable=true\nlog_dir={fs}/logs\n")
    outpost.write_config("accounting_files.ini", f"[main]\npath={fs}/acct\n")
    outpost.write_config("outbound.ini", settings)


def delivered_records(fs):
    path = fs / "logs" / "outbound.log"
    lines = path.read_text().splitlines() if path.exists() else []
    json_lines = [json.loads(line) for line in lines]
    acct = fs / "acct" / "delivered"
    rows = sum(len(p.read_text().splitlines()) - 1 for p in acct.iterdir()
               if p.is_file()) if acct.exists() else 0
    return sorted(r["recipient"] for r in json_lines if r["type"] == "delivered"), rows


def wait_records(fs, n, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        got = delivered_records(fs)
        if len(got[0]) >= n and got[1] >= n:
            return got
        assert time.monotonic() < deadline, f"records: {got}"
        time.sleep(0.05)


def test_records_low_pauses_delivery_until_space_returns(mta, tmpfs, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    fs = tmpfs("records-fs")
    records_on(mta, fs)
    mta.start()
    send(mta, ["ok-0@single.test"])
    sink.wait_for_messages(1)
    wait_records(fs, 1)
    wait_empty(mta)

    mark = mta.mark()
    filler = fill(fs, 3 * MB)
    # The first record directory named on that file system is the one watched.
    mta.wait_for_log(RECORDS_LOW.format(dir=re.escape(f"{fs}/logs")), start=mark)
    settle(mta)
    rcpts = [f"ok-{n}@single.test" for n in range(1, 6)]
    for r in rcpts:
        send(mta, [r])                    # reception goes on
    time.sleep(3)
    assert len(sink.messages()) == 1 and sink.count("MAIL") == 1, \
        "delivered while the records file system was low"
    assert len(mta.queue_files()) == 5
    stats = qstat(mta)
    assert stats["records_space"] == "low" and stats["recipients_pending"] == "5"
    assert re.match(r"\d+ bytes free \(records_min_free 4M = 4194304\), .* on "
                    + re.escape(f"{fs}/"), stats["records_free"]), stats["records_free"]
    assert stats["queue_space"] == "ok"
    assert count_lines(mta, r"records: free space low", mark) == 1

    filler.unlink()
    mta.wait_for_log(RECORDS_BACK.format(dir=re.escape(f"{fs}/logs")), start=mark)
    sink.wait_for_messages(6)
    wait_empty(mta)
    json_rcpts, rows = wait_records(fs, 6)
    assert json_rcpts == sorted(["ok-0@single.test"] + rcpts) and rows == 6
    assert qstat(mta)["records_space"] == "ok"
    assert count_lines(mta, r"records: free space back", mark) == 1


def test_records_low_at_start_up_holds_delivery(mta, tmpfs, smtp_sink):
    """Low before the daemon starts: nothing is delivered from the first second; a lowered
    threshold (outbound.ini is reloaded) releases it."""
    sink = smtp_sink("127.0.0.2")
    fs = tmpfs("records-fs")
    fill(fs, 3 * MB)
    records_on(mta, fs)
    mark = mta.mark()
    mta.start()
    mta.wait_for_log(RECORDS_LOW.format(dir=re.escape(f"{fs}/logs")), start=mark)
    settle(mta)
    send(mta, ["ok-1@single.test", "ok-2@single.test"])
    time.sleep(2.5)
    assert sink.messages() == [] and sink.count("connections") == 0
    assert len(mta.queue_files()) == 1
    mta.write_config("outbound.ini", "records_min_free=2M\n")
    mta.wait_for_log(r"records: free space back on .*\(records_min_free 2M = 2097152\)",
                     start=mark)
    sink.wait_for_messages(1)
    wait_empty(mta)
    assert wait_records(fs, 2)[0] == ["ok-1@single.test", "ok-2@single.test"]


def test_qstat_without_record_files_and_with_a_bad_threshold(daemon):
    daemon.queue_dir.mkdir()
    stats = qstat(daemon)
    assert stats["records_space"] == "ok" and stats["records_free"] == "none (no record files)"
    assert stats["queue_space"] == "ok"
    assert stats["entries"] == "0"
    daemon.write_config("outbound.ini", "queue_min_free=5 percent\n")
    rc, out, err = run_outpost("-c", daemon.root, "--qstat")
    assert rc == 78
    assert re.search(r"config/outbound\.ini:\d+: queue_min_free: expected bytes .* or a "
                     r"percentage below 100 \(5%\), got '5 percent'", err), err
