"""One daemon per queue, and never root (issue 14, items 0 and 1).

The queue directory is locked for the daemon's life: a second `outpost -c` on the same queue
(the same ROOT, or another ROOT whose `queue_dir` points at it) exits 75 at once, naming the
holder's pid, and nothing is delivered twice; `--qlist`/`--qstat` still read it. Started as
root with `smtp.ini user`/`group`, outpost binds its listeners (a port under 1024 here), then
runs as that user for good: /proc shows its ids and no capabilities, core dumps are off, the
queue, records and archives are the user's, and mail flows end to end. A missing user or
group, or a queue directory the user cannot write, stops start-up with one line.

These tests start outpost as root (CI runs as root) and create the system user `outpost-e2e`
when it is missing (removed again at the end, only if they created it). Each privileged ROOT
lives in its own directory under /tmp (pytest's own tmp_path is closed to other users)."""
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.clients import smtp_client
from harness.daemon import Daemon, outpost_binary, outpost_env, run_outpost, check_sanitizers
from harness.util import free_port

USER = "outpost-e2e"
SENDER = "sender@bounces.test"      # DSNs (none expected) would go to 127.0.0.8
MX1 = "127.0.0.2"                   # single.test's only MX, mx1.test


# --- helpers ------------------------------------------------------------------------------------

def send(outpost, rcpt, port=None):
    with smtp_client(outpost.host, port or outpost.port) as c:
        c.ehlo()
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt(rcpt)[0] == 250, rcpt
        code, reply = c.data(f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: safety\r\n\r\n"
                             f"Hello.\r\n".encode())
        assert code == 250, reply


def set_listen(outpost, port):
    """Rewrite smtp.ini's listen without touching outpost.port (the running daemon's)."""
    path = outpost.config_path("smtp.ini")
    path.write_text(re.sub(r"^listen=.*$", f"listen=127.0.0.1:{port}", path.read_text(),
                           flags=re.M))


def smtp_ini(outpost, **keys):
    """Add keys to smtp.ini's [main] (after listen=)."""
    path = outpost.config_path("smtp.ini")
    extra = "".join(f"{k}={v}\n" for k, v in keys.items())
    path.write_text(re.sub(r"^(listen=.*\n)", lambda m: m.group(1) + extra,
                           path.read_text(), count=1, flags=re.M))


def status(pid):
    """/proc/PID/status as {key: [fields]}."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.split()
    return out


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def start_second(root, timeout=10):
    """`outpost -c root` again: (exit code or None if still running after timeout, stdout,
    stderr). A daemon still running is stopped."""
    proc = subprocess.Popen([str(outpost_binary()), "-c", str(root)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=outpost_env(),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        rc = None
    out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    check_sanitizers(out + err, f"second outpost -c {root}")
    return rc, out, err


def refusal(queue_dir, pid):
    return (f"outpost: queue directory {queue_dir} is in use by another outpost (pid {pid}); "
            f"not starting a second one\n")


def privileged_port():
    """A port under 1024 free on 127.0.0.1, which this machine keeps for root."""
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    for port in (587, 465, 588):
        if port >= start:
            pytest.fail(f"net.ipv4.ip_unprivileged_port_start is {start}: port {port} is not "
                        f"privileged here, so binding it proves nothing", pytrace=False)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free privileged port (587, 465, 588) on 127.0.0.1", pytrace=False)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def user():
    """The pwd entry of the unprivileged test user, created when missing."""
    if os.geteuid() != 0:
        pytest.fail("these tests start outpost as root: run them as root", pytrace=False)
    created = False
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        proc = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                               "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                               USER], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"cannot create the test user {USER}: useradd: {proc.stderr}",
                        pytrace=False)
        created = True
        pw = pwd.getpwnam(USER)
    yield pw
    if created:
        subprocess.run(["userdel", USER], capture_output=True)


@pytest.fixture
def user_mta(dns_server, user):
    """Like the mta fixture, on a ROOT the test user can reach: ROOT is root's, group-writable
    by the user's group (so the user creates the record directories); config/ is root's."""
    base = Path(tempfile.mkdtemp(prefix="outpost-user-", dir="/tmp"))
    base.chmod(0o755)
    outpost = Daemon(base / "outpost", delivery=True)
    outpost.init(dns=dns_server.servers)
    os.chown(outpost.root, 0, user.pw_gid)
    outpost.root.chmod(0o775)
    yield outpost
    try:
        outpost.stop()
    finally:
        print(outpost.tail())           # shown when the test failed
        outpost.check_sanitizers()
        shutil.rmtree(base, ignore_errors=True)


# --- item 0: one daemon per queue ----------------------------------------------------------------

def test_second_daemon_refuses_and_nothing_is_delivered_twice(mta, smtp_sink):
    sink = smtp_sink(MX1)
    mta.write_config("outbound.ini", "[main]\ndisabled=true\n")
    mta.start()
    rcpts = [f"ok-{i}@single.test" for i in range(3)]
    for rcpt in rcpts:
        send(mta, rcpt)
    assert len(mta.queue_files()) == 3

    # The read-only reports work beside the running daemon.
    rc, out, err = run_outpost("-c", mta.root, "--qstat")
    assert rc == 0 and "entries 3\n" in out, out + err
    rc, out, err = run_outpost("-c", mta.root, "--qlist")
    assert rc == 0 and sum(f"<{r}>" in out for r in rcpts) == 3, out + err

    # Another port, so that only the lock can stop the second daemon; it would load the queue
    # and, once delivery is enabled below, deliver every message again.
    set_listen(mta, free_port())
    rc, out, err = start_second(mta.root)
    mta.write_config("outbound.ini", "")        # delivery on, for the running daemon
    got = sink.wait_for_messages(3, timeout=20)
    deadline = time.monotonic() + 15
    while mta.queue_files():
        assert time.monotonic() < deadline, f"queue not empty: {mta.queue_files()}"
        time.sleep(0.05)
    time.sleep(1.5)                             # room for a duplicate to arrive

    assert rc == 75, f"second daemon: exit {rc}\n{out}{err}"
    assert err == refusal(mta.queue_dir, mta.pid)
    assert "queue:" not in out and "listening" not in out    # it touched nothing
    delivered = sorted(r for m in sink.messages() for r in m.rcpt_tos)
    assert delivered == sorted(rcpts), f"delivered {delivered}"
    assert len(got) == 3
    assert mta.running


def test_a_queue_dir_outside_root_is_locked_too(daemon, tmp_path):
    shared = tmp_path / "shared-queue"
    daemon.write_config("queue_dir", f"{shared}\n")
    daemon.start()
    send(daemon, "ok-1@single.test")

    other = Daemon(tmp_path / "other")
    other.init()
    other.write_config("queue_dir", f"{shared}\n")
    rc, out, err = start_second(other.root)
    assert rc == 75, f"second daemon: exit {rc}\n{out}{err}"
    assert err == refusal(shared, daemon.pid)
    assert not (other.root / "queue").exists()
    # The one entry, in the queue or (nodes) in a worker's partition of it.
    partitions = [shared, *(p for p in shared.iterdir() if p.is_dir())]
    assert len([p for d in partitions for p in d.iterdir()
                if p.is_file() and not p.name.startswith("msg.")]) == 1
    assert daemon.running


def test_root_without_user_warns_once(daemon):
    daemon.start()
    assert daemon.stop() == 0
    warned = [line for line in daemon.lines() if "running as root" in line]
    assert warned == ["[WARN] [-] [core] running as root: set smtp.ini user (and group) to "
                      "have outpost drop root once its listeners are bound"]
    assert not any("running as user" in line for line in daemon.lines())


# --- item 1: never root -------------------------------------------------------------------------

def test_drops_to_the_user_after_binding_and_mail_flows(user_mta, user, smtp_sink):
    sink = smtp_sink(MX1)
    port = privileged_port()
    uid, gid = user.pw_uid, user.pw_gid
    user_mta.listen("127.0.0.1", port)
    smtp_ini(user_mta, user=USER, group=USER)
    user_mta.write_config("plugins", "relay\noutbound_logger\naccounting_files\n")
    user_mta.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=records\n")
    user_mta.write_config("accounting_files.ini", "[main]\narchiving=true\n")
    user_mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    user_mta.start()
    pid = user_mta.pid
    user_mta.wait_for_log(rf"^\[NOTICE\] \[-\] \[core\] listening on 127\.0\.0\.1:{port}$")
    user_mta.wait_for_log(rf"^\[NOTICE\] \[-\] \[core\] running as user {USER} "
                          rf"\(uid {uid}, gid {gid}\)$")
    assert not any("running as root" in line for line in user_mta.lines())

    # The ids, for good: real, effective, saved and file-system; the user's groups only.
    # With nodes, of every worker (the supervisor stays root, to restart them).
    workers = user_mta.worker_pids()
    assert len(workers) == max(1, user_mta.nodes()), workers
    for worker in workers:
        st = status(worker)
        assert st["Uid"] == [str(uid)] * 4 and st["Gid"] == [str(gid)] * 4, st
        assert st["Groups"] == [str(gid)], st          # root's group 0 is gone
        assert st["CapEff"] == st["CapPrm"] == ["0000000000000000"], st
        # Core dumps off: no core size, hard limit included; not dumpable (its /proc files
        # stay root's instead of becoming the user's).
        limits = Path(f"/proc/{worker}/limits").read_text()
        assert re.search(r"^Max core file size\s+0\s+0\s+bytes", limits, re.M), limits
        assert owner(f"/proc/{worker}/status") == (0, 0)

    # Mail through the privileged port: one delivered, one deferred (stays queued).
    send(user_mta, "ok-1@single.test")
    send(user_mta, "soft-1@single.test")
    got = sink.wait_for_messages(1)
    assert got[0].rcpt_tos == ("ok-1@single.test",)
    deadline = time.monotonic() + 15
    while True:
        log = user_mta.root / "records" / "outbound.log"
        text = log.read_text() if log.exists() else ""
        if '"type":"delivered"' in text and '"type":"deferred"' in text:
            break
        assert time.monotonic() < deadline, f"records: {text}"
        time.sleep(0.05)

    queue = user_mta.queue_dir
    for d in user_mta.queue_partitions():           # the queue and (nodes) its partitions
        assert owner(d) == (uid, gid) and os.stat(d).st_mode & 0o777 == 0o700, d
    entries = user_mta.queue_files()
    assert len(entries) == 1, entries
    assert owner(user_mta.entry_path(entries[0]))[0] == uid
    for sub in ("records", "records/outbound.log", "accounting_files",
                "accounting_files/delivered", "accounting_files/deferred"):
        assert owner(user_mta.root / sub)[0] == uid, sub
    for kind in ("delivered", "deferred", "bounce"):
        for f in (user_mta.root / "accounting_files" / kind).iterdir():
            assert owner(f)[0] == uid, f

    # The lock outlives the drop.
    rc, out, err = start_second(user_mta.root)
    assert rc == 75, f"second daemon: exit {rc}\n{out}{err}"
    assert err == refusal(queue, pid)

    # A restart archives the earlier run's accounting files, as the user.
    assert user_mta.stop() == 0
    user_mta.start()
    archived = list((user_mta.root / "accounting_files").glob("*/archive/*"))
    assert archived, "nothing archived at start-up"
    for path in archived:
        assert owner(path)[0] == uid and owner(path.parent)[0] == uid, path
    assert len(user_mta.queue_files()) == 1           # the deferred entry, read back
    for worker in user_mta.worker_pids():
        assert status(worker)["Uid"] == [str(uid)] * 4


@pytest.mark.parametrize("key, message", [
    ("user", "outpost: config/smtp.ini: user: no user 'no-such-outpost-user' on this "
             "system\n"),
    ("group", "outpost: config/smtp.ini: group: no group 'no-such-outpost-user' on this "
              "system\n"),
])
def test_a_missing_user_or_group_stops_start_up(daemon, user, key, message):
    keys = {"user": USER, key: "no-such-outpost-user"}
    smtp_ini(daemon, **keys)
    rc, out, err = run_outpost("-c", daemon.root, timeout=30)
    assert rc == 78, out + err
    assert err == message
    assert not daemon.queue_dir.exists()        # checked before the queue is touched


def test_a_queue_dir_the_user_cannot_write_stops_start_up(user_mta, user):
    smtp_ini(user_mta, user=USER)
    user_mta.queue_dir.mkdir(mode=0o755)        # root's, from an earlier run as root
    rc, out, err = run_outpost("-c", user_mta.root, timeout=30)
    assert rc == 73, out + err
    assert err == (f"outpost: queue directory {user_mta.queue_dir} is not writable by user "
                   f"{USER} (uid {user.pw_uid}, gid {user.pw_gid}): Permission denied\n")
    assert "queue:" not in out                  # the scan never ran


def test_a_record_dir_the_user_cannot_create_stops_start_up(user_mta, user):
    smtp_ini(user_mta, user=USER)
    user_mta.root.chmod(0o755)                  # root's, not the user's group's
    user_mta.write_config("plugins", "relay\noutbound_logger\n")
    user_mta.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=records\n")
    rc, out, err = run_outpost("-c", user_mta.root, timeout=30)
    assert rc == 78, out + err
    assert err == (f"outpost: plugin outbound_logger: {user_mta.root}/records: cannot create: "
                   f"Permission denied (running as user {USER})\n")
    assert (f"[ERROR] [-] [outbound_logger] {user_mta.root}/records: cannot create: "
            f"Permission denied") in out
    # The queue directory Outpost made as root before the drop is the user's.
    assert owner(user_mta.queue_dir) == (user.pw_uid, user.pw_gid)
