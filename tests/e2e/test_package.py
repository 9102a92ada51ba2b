"""The Debian package (issue 17, item 7): `make deb` builds it, dpkg installs it, it works,
and `dpkg --purge` takes it away again, leaving the machine as it was.

Run as root (CI is). Services are kept from starting: /usr/sbin/policy-rc.d answers 101
while the package is installed (created for the test when absent). Installed: the binaries,
/etc/outpost (conffiles) linked from ROOT=/var/lib/outpost, the systemd unit (checked by
systemd-analyze verify when present), the logrotate file, the man pages (checked by groff),
the `outpost` system user and its directories. Then the installed daemon runs as that user
with only CAP_NET_BIND_SERVICE, as the unit runs it: READY=1 on a NOTIFY_SOCKET, a message
handed to /usr/sbin/outpost-sendmail reaches a sink through queue/smtp_forward, and the
logrotate file's postrotate command signals it through the pid file. The test removes the
user it caused to be created, and the policy-rc.d it wrote, even when it fails."""
import gzip
import os
import pwd
import grp
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.daemon import REPO, TEST_NODES

SINK = "127.0.0.7"
POLICY = Path("/usr/sbin/policy-rc.d")
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def run(*cmd, timeout=120, check=True, **kw):
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True,
                          timeout=timeout, env=kw.pop("env", ENV), **kw)
    if check:
        assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc


def installed(pkg):
    proc = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg, check=False)
    return proc.returncode == 0 and proc.stdout.startswith("ii")


def exists(name, db):
    try:
        db(name)
        return True
    except KeyError:
        return False


def sendmail_state():
    p = Path("/usr/sbin/sendmail")
    if p.is_symlink():
        return ("link", os.readlink(p))
    if p.exists():
        st = p.stat()
        return ("file", st.st_ino, st.st_size)
    return None


@pytest.fixture(scope="module")
def package():
    """Builds the .deb, installs it; purges it and restores the machine afterwards."""
    if os.geteuid() != 0:
        pytest.fail("the package test installs a .deb: run it as root", pytrace=False)
    if installed("outpost"):
        pytest.fail("a package named outpost is installed already; not touching it",
                    pytrace=False)
    for tool in ("dpkg-deb", "adduser"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (scripts/deps.sh test installs it)", pytrace=False)
    before = {
        "user": exists("outpost", pwd.getpwnam),
        "group": exists("outpost", grp.getgrnam),
        "sendmail": sendmail_state(),
        "policy": POLICY.exists(),
    }
    proc = run("make", "-s", "-C", REPO, "deb", timeout=1800)
    debs = re.findall(r"^(\S+\.deb)$", proc.stdout, re.M)
    assert debs, f"make deb printed no package name:\n{proc.stdout}{proc.stderr}"
    deb = REPO / debs[-1]
    if not before["policy"]:
        POLICY.write_text("#!/bin/sh\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        install = run("dpkg", "-i", deb, check=False)
        yield {"deb": deb, "install": install, "before": before}
    finally:
        purge = run("dpkg", "--purge", "outpost", check=False)
        if not before["user"] and exists("outpost", pwd.getpwnam):
            run("deluser", "--system", "outpost", check=False)
        if not before["group"] and exists("outpost", grp.getgrnam):
            run("delgroup", "--system", "outpost", check=False)
        if not before["policy"]:
            POLICY.unlink(missing_ok=True)
        # What the purge must have done (checked after the clean-up, so that a failure here
        # still leaves the machine as it was).
        assert purge.returncode == 0, purge.stdout + purge.stderr
        for gone in ("/usr/sbin/outpost", "/usr/sbin/outpost-sendmail", "/etc/outpost",
                     "/var/lib/outpost", "/var/log/outpost", "/etc/logrotate.d/outpost",
                     "/lib/systemd/system/outpost.service",
                     "/etc/systemd/system/multi-user.target.wants/outpost.service"):
            assert not os.path.lexists(gone), f"{gone} is left after dpkg --purge"
        assert sendmail_state() == before["sendmail"]


def test_installs_files_user_and_directories(package):
    assert package["install"].returncode == 0, \
        package["install"].stdout + package["install"].stderr
    assert installed("outpost")
    out = run("/usr/sbin/outpost", "--version").stdout
    version = re.search(r'"(.*)"', (REPO / "src/core/version.h").read_text()).group(1)
    assert out == f"outpost {version}\n"
    for f in ("/usr/sbin/outpost-sendmail", "/usr/bin/outpostctl",
              "/lib/systemd/system/outpost.service", "/etc/logrotate.d/outpost",
              "/etc/outpost/plugins", "/usr/share/man/man8/outpostctl.8.gz"):
        assert Path(f).is_file(), f
    # outpostctl runs from the package: its usage, exit 64 without a command.
    ctl = subprocess.run(["/usr/bin/outpostctl"], capture_output=True, text=True)
    assert ctl.returncode == 64 and "usage" in ctl.stderr.lower(), ctl
    assert os.readlink("/var/lib/outpost/config") == "/etc/outpost"
    smtp = Path("/etc/outpost/smtp.ini").read_text()
    assert re.search(r"^listen=127\.0\.0\.1:25$", smtp, re.M)
    assert re.search(r"^user=outpost$", smtp, re.M)
    assert not Path("/etc/outpost/me").exists()      # the host's name is read at run time
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "outpost").stdout
    assert "/etc/outpost/smtp.ini" in conffiles and "/etc/logrotate.d/outpost" in conffiles
    user = pwd.getpwnam("outpost")
    assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin")
    for d, mode in (("/var/lib/outpost", 0o750), ("/var/lib/outpost/queue", 0o700)):
        st = os.stat(d)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, mode), d
    assert os.stat("/var/log/outpost").st_uid == user.pw_uid
    # Enabled (deb-systemd-helper), never started (policy-rc.d, and no systemd here).
    assert os.path.lexists("/etc/systemd/system/multi-user.target.wants/outpost.service")
    # Another mail system's /usr/sbin/sendmail is left alone; without one, ours is there.
    before = package["before"]["sendmail"]
    if before is None:
        assert os.path.realpath("/usr/sbin/sendmail") == "/usr/sbin/outpost-sendmail"
    else:
        assert sendmail_state() == before


def test_man_pages_and_unit_are_clean(package):
    for page in ("man8/outpost.8.gz", "man8/outpost-sendmail.8.gz", "man5/outpost-config.5.gz"):
        text = gzip.decompress(Path("/usr/share/man", page).read_bytes())
        proc = subprocess.run(["groff", "-man", "-ww", "-z"], input=text, capture_output=True)
        assert proc.returncode == 0 and proc.stderr == b"", (page, proc.stderr)
    if shutil.which("systemd-analyze"):
        proc = run("systemd-analyze", "verify", "/lib/systemd/system/outpost.service",
                   check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    unit = Path("/lib/systemd/system/outpost.service").read_text()
    for line in ("Type=notify", "ExecStart=/usr/sbin/outpost -c /var/lib/outpost",
                 "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=30",
                 "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/outpost /var/log/outpost", "User=outpost"):
        assert line in unit.splitlines(), line


def test_the_installed_daemon_serves_as_the_unit_runs_it(package, smtp_sink, tmp_path):
    sink = smtp_sink(SINK)
    Path("/etc/outpost/plugins").write_text("relay\nqueue/smtp_forward\n")
    Path("/etc/outpost/smtp_forward.ini").write_text(f"[main]\nhost={SINK}\nport=25\n"
                                                     "enable_outbound=true\n")
    if TEST_NODES > 1:      # the suite's nodes run: the unit's daemon with worker processes
        smtp = Path("/etc/outpost/smtp.ini")
        text = re.sub(r"^;?nodes=.*\n", "", smtp.read_text(), flags=re.M)
        smtp.write_text(text.replace("[main]\n", f"[main]\nnodes={TEST_NODES}\n", 1))
    # The daemon is outpost from the start: the socket must be reachable by that user, as
    # systemd's is (pytest's tmp_path is closed to other users).
    notify_dir = Path(tempfile.mkdtemp(prefix="outpost-pkg-", dir="/tmp"))
    notify_dir.chmod(0o755)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_dir / "sock"))
    os.chmod(notify_dir / "sock", 0o666)
    log = open(tmp_path / "outpost.log", "wb")
    # As outpost.service: user outpost, CAP_NET_BIND_SERVICE alone, no new privileges.
    daemon = subprocess.Popen(
        ["setpriv", "--reuid=outpost", "--regid=outpost", "--init-groups",
         "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service",
         "--bounding-set=-all,+net_bind_service", "--no-new-privs", "--pdeathsig=KILL",
         "/usr/sbin/outpost", "-c", "/var/lib/outpost"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(ENV, NOTIFY_SOCKET=str(notify_dir / "sock")),
        cwd="/")
    try:
        notify.settimeout(20)
        got = []
        while "READY=1" not in got:
            got = notify.recv(4096).decode().split("\n")
        pid_file = Path("/var/lib/outpost/outpost.pid")
        assert pid_file.read_text() == f"{daemon.pid}\n"
        proc = subprocess.run(["/usr/sbin/outpost-sendmail", "-t", "-i",
                               "-f", "app@site.test"],
                              input=b"To: you@dest.test\nSubject: pkg\n\n.\nHi\n",
                              capture_output=True, timeout=60,
                              env={k: v for k, v in ENV.items() if k != "OUTPOST_ROOT"})
        assert proc.returncode == 0, proc.stderr
        (msg,) = sink.wait_for_messages(1)
        assert msg.rcpt_tos[0] == "you@dest.test" and msg.data.endswith(b"\r\n.\r\nHi\r\n")
        # logrotate's postrotate, as installed, signals the daemon through the pid file.
        conf = Path("/etc/logrotate.d/outpost").read_text()
        script = re.search(r"postrotate\n(.*?)\n\s*endscript", conf, re.S).group(1)
        subprocess.run(["sh", "-c", script], check=True, timeout=20)
        deadline = time.monotonic() + 10
        while b"SIGUSR1: reopening" not in (tmp_path / "outpost.log").read_bytes():
            assert time.monotonic() < deadline, (tmp_path / "outpost.log").read_text()
            time.sleep(0.1)
        daemon.terminate()
        assert daemon.wait(30) == 0
        assert not pid_file.exists()
        text = (tmp_path / "outpost.log").read_text()
        assert "running as user outpost" in text and "delivered" in text, text
        if TEST_NODES > 1:
            assert f"nodes: all {TEST_NODES} workers ready" in text, text
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        log.close()
        notify.close()
        shutil.rmtree(notify_dir, ignore_errors=True)
