"""Service integration of the daemon (issue 17, items 7 and 9): sd_notify and the pid file.

A real AF_UNIX datagram socket stands for systemd's: outpost started with NOTIFY_SOCKET sends
READY=1 only once its listener accepts and the queue is loaded, WATCHDOG=1 every half of
WATCHDOG_USEC (none when WATCHDOG_PID names another process), RELOADING=1 then READY=1 on
SIGHUP, and STOPPING=1 on SIGTERM. Started as root with smtp.ini user, it still reaches a socket
only root may write to (connected before the drop). The pid file (ROOT/outpost.pid, or
smtp.ini pid_file) holds the daemon's pid while it runs, replaces a stale one, is 0644, and
is gone after a clean stop; SIGUSR1 sent through it reopens the outputs."""
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.daemon import Daemon

USER = "outpost-e2e"


class NotifySocket:
    """A datagram socket at path; collects what the daemon sends, with arrival times."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait_for(self, want, timeout=20):
        """Receive until a datagram has the line want; returns that datagram's lines."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                break
            lines = data.decode().split("\n")
            self.got.append((time.monotonic(), lines))
            if want in lines:
                return lines
        pytest.fail(f"no {want} on NOTIFY_SOCKET within {timeout}s; got {self.got}",
                    pytrace=False)

    def drain(self, seconds):
        """Everything that arrives within seconds: a list of line lists."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                out.append(self.sock.recv(4096).decode().split("\n"))
            except socket.timeout:
                return out

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path, monkeypatch):
    sock = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", sock.path)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def test_ready_watchdog_reload_stopping(daemon, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "400000")       # a ping every 0.2 s
    daemon.start(ready=False)
    lines = notify.wait_for("READY=1")
    # Ready means serving: the listener accepts now, and the queue was loaded before.
    assert accepts(daemon.host, daemon.port)
    assert "STATUS=ready" in lines
    daemon.wait_for_log(r"\[core\] ready")
    out = daemon.output()
    assert out.index("entries loaded from") < out.index("[core] ready")
    pings = [d for d in notify.drain(1.5) if "WATCHDOG=1" in d]
    assert 5 <= len(pings) <= 10, pings
    daemon.signal(signal.SIGHUP)
    assert "RELOADING=1" in notify.wait_for("RELOADING=1")
    notify.wait_for("READY=1")
    daemon.signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1")
    assert daemon.proc.wait(20) == 0


def test_no_watchdog_for_another_pid_and_none_without_usec(daemon, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", "1")             # the manager meant someone else
    daemon.start(ready=False)
    notify.wait_for("READY=1")
    assert not [d for d in notify.drain(0.8) if "WATCHDOG=1" in d]
    assert daemon.stop() == 0


def test_an_unusable_notify_socket_is_logged_and_outpost_runs(daemon, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    daemon.start()
    daemon.wait_for_log(r"NOTIFY_SOCKET=.*nobody-listens: .*not telling the service manager")
    assert accepts(daemon.host, daemon.port)
    assert daemon.stop() == 0


def test_without_notify_socket_nothing_changes(daemon, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    daemon.start()
    assert "NOTIFY_SOCKET" not in daemon.output()
    assert daemon.stop() == 0


# --- the pid file -------------------------------------------------------------------------------

def test_pid_file_lifecycle(daemon):
    pid_file = daemon.root / "outpost.pid"
    pid_file.write_text("999999\n")                     # a crashed run's
    daemon.start()
    assert pid_file.read_text() == f"{daemon.pid}\n"
    assert stat.S_IMODE(pid_file.stat().st_mode) == 0o644
    # What logrotate's postrotate does: SIGUSR1 to the pid in the file.
    mark = daemon.mark()
    os.kill(int(pid_file.read_text()), signal.SIGUSR1)
    daemon.wait_for_log(r"SIGUSR1: reopening", start=mark)
    assert daemon.stop() == 0
    assert not pid_file.exists()


def test_pid_file_from_smtp_ini(daemon, tmp_path):
    elsewhere = tmp_path / "run" / "op.pid"
    elsewhere.parent.mkdir()
    path = daemon.config_path("smtp.ini")
    path.write_text(path.read_text().replace("[main]\n", f"[main]\npid_file={elsewhere}\n", 1))
    daemon.start()
    assert elsewhere.read_text() == f"{daemon.pid}\n"
    assert not (daemon.root / "outpost.pid").exists()
    assert daemon.stop() == 0
    assert not elsewhere.exists()


def test_a_pid_file_that_cannot_be_written_stops_start_up(daemon, tmp_path):
    path = daemon.config_path("smtp.ini")
    path.write_text(path.read_text().replace(
        "[main]\n", f"[main]\npid_file={tmp_path}/missing/dir/op.pid\n", 1))
    daemon.start(ready=False)
    assert daemon.proc.wait(20) == 73
    assert "smtp.ini pid_file" in daemon.output()


def test_a_second_daemon_leaves_the_first_ones_pid_file(daemon):
    daemon.start()
    first = (daemon.root / "outpost.pid").read_text()
    second = Daemon(daemon.root, binary=daemon.binary)
    second.start(ready=False)
    assert second.proc.wait(20) == 75
    assert (daemon.root / "outpost.pid").read_text() == first
    assert daemon.stop() == 0


# --- after the privilege drop ---------------------------------------------------------------

@pytest.fixture
def user():
    if os.geteuid() != 0:
        pytest.fail("this test starts outpost as root: run it as root", pytrace=False)
    created = False
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        proc = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                               "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                               USER], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"cannot create the test user {USER}: {proc.stderr}", pytrace=False)
        created = True
        pw = pwd.getpwnam(USER)
    yield pw
    if created:
        subprocess.run(["userdel", USER], capture_output=True)


def test_notify_after_the_drop_reaches_a_root_only_socket(dns_server, user, monkeypatch):
    base = Path(tempfile.mkdtemp(prefix="outpost-notify-", dir="/tmp"))
    try:
        base.chmod(0o755)
        private = base / "private"
        private.mkdir(mode=0o700)                       # root's alone, like /run/systemd
        sock = NotifySocket(private / "notify")
        monkeypatch.setenv("NOTIFY_SOCKET", sock.path)
        outpost = Daemon(base / "outpost", delivery=False)
        outpost.init(dns=dns_server.servers)
        os.chown(outpost.root, 0, user.pw_gid)
        outpost.root.chmod(0o775)
        path = outpost.config_path("smtp.ini")
        path.write_text(path.read_text().replace("[main]\n", f"[main]\nuser={USER}\n", 1))
        outpost.start(ready=False)
        try:
            sock.wait_for("READY=1")
            outpost.wait_for_log(r"running as user outpost-e2e")
            # The pid file, written as root before the drop, is removed by the user.
            assert (outpost.root / "outpost.pid").read_text() == f"{outpost.pid}\n"
            outpost.signal(signal.SIGTERM)
            sock.wait_for("STOPPING=1")
            assert outpost.proc.wait(20) == 0
            assert not (outpost.root / "outpost.pid").exists()
        finally:
            outpost.stop()
            sock.close()
            outpost.check_sanitizers()
    finally:
        shutil.rmtree(base, ignore_errors=True)
