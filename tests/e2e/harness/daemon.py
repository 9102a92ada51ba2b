"""Run the real Outpost daemon for the end-to-end tests.

The binary is $OUTPOST_BIN, default <repo>/build/asan/outpost (the sanitizer build). Daemon
wraps one install directory ROOT: `outpost -i ROOT`, config files, `outpost -c ROOT` in the
foreground with stdout+stderr appended to ROOT/outpost-stdout.log, readiness, log waits,
signals, stop, and the check that no sanitizer reported anything.
"""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .util import free_port

REPO = Path(__file__).resolve().parents[3]
DEFAULT_BIN = REPO / "build" / "asan" / "outpost"
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=24",
}
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")

# The `ready` record in the three log formats, with or without a leading ISO timestamp:
#   [NOTICE] [-] [core] ready
#   level=NOTICE uuid=- source=core message=ready
#   {"level":"NOTICE","uuid":"-","source":"core","message":"ready"}
READY_RE = re.compile(
    r'^(?:\d{4}-\d\d-\d\dT\S+ )?'
    r'(?:\[NOTICE\] \[-\] \[core\] ready'
    r'|(?:.* )?message=(?:ready|"ready")(?: .*)?'
    r'|\{.*"message":\s*"ready".*\})\s*$')

# OUTPOST_TEST_NODES=N runs every daemon of the suite with smtp.ini nodes=N (N worker
# processes, queue partitions ROOT/queue/w<i>); readiness is then the supervisor's line.
TEST_NODES = int(os.environ.get("OUTPOST_TEST_NODES", "0") or 0)
ALL_READY_RE = re.compile(r"nodes: all \d+ workers ready")

LOG_NAME = "outpost-stdout.log"
POLL = 0.05
REPORT_LINES = 300


def outpost_binary():
    """Path of the binary under test; fails the test with what to do when it is missing."""
    path = Path(os.environ.get("OUTPOST_BIN", DEFAULT_BIN))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"Outpost binary {path} not found: run `make asan` first "
                    f"(or set OUTPOST_BIN to a built outpost)", pytrace=False)
    return path


def outpost_env():
    env = dict(os.environ)
    env.update(SANITIZER_ENV)
    return env


def check_sanitizers(text, what="outpost"):
    """Fail when text holds an AddressSanitizer, LeakSanitizer or UBSan report."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if SANITIZER_RE.search(line):
            report = "\n".join(lines[max(0, number - 5):number + REPORT_LINES])
            pytest.fail(f"{what}: sanitizer report:\n{report}", pytrace=False)


def run_outpost(*args, timeout=20, binary=None):
    """Run a one-shot outpost command (--help, --version, -i ROOT, a bad config...).

    Returns (rc, stdout, stderr) as text; fails the test on a sanitizer report."""
    command = [str(binary or outpost_binary()), *map(str, args)]
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                          env=outpost_env(), timeout=timeout)
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    check_sanitizers(stdout + stderr, " ".join(command))
    return proc.returncode, stdout, stderr


def stop_all(daemons):
    """Stops every daemon (one that fails to stop does not keep the others running) and
    checks each for sanitizer reports; then fails naming those that did not stop."""
    problems = []
    for d in daemons:
        try:
            d.stop()
        except BaseException as error:  # noqa: BLE001 (stop the others)
            problems.append(f"{d.root}: {error!r}")
        d.check_sanitizers()
    assert not problems, "\n".join(problems)


class Daemon:
    """One Outpost install directory and the daemon running on it."""

    def __init__(self, root, extra_args=(), binary=None, delivery=None):
        self.root = Path(root)
        # Tests of reception keep delivery off (False), so that queue entries stay exactly
        # as committed; tests of delivery turn it on (True: loopback MX addresses allowed);
        # None leaves outbound.ini alone.
        self.delivery = delivery
        self.extra_args = tuple(map(str, extra_args))
        self.binary = Path(binary) if binary else outpost_binary()
        self.log_path = self.root / LOG_NAME
        self.proc = None
        self.host, self.port = "127.0.0.1", 2525
        self._run_start = 0     # first log line of the current run

    def init(self, dns=None):
        """`outpost -i ROOT`: create ROOT with its default config/, listening on a free
        loopback port (self.port) instead of the default 2525. dns: the test DNS server's
        `ip:port` for net-utils.ini (the system resolver is never used by a test)."""
        rc, out, err = run_outpost("-i", self.root, binary=self.binary)
        assert rc == 0, f"outpost -i {self.root} exited {rc}:\n{out}{err}"
        self.listen(self.host, free_port(self.host))
        if dns is not None:
            self.write_config("net-utils.ini", f"[dns]\nservers={dns}\ntimeout=2000\ntries=2\n")
        if self.delivery is not None:
            self.write_config("outbound.ini", "")
        if TEST_NODES > 1:
            path = self.config_path("smtp.ini")
            text = re.sub(r"^;?nodes=.*\n", "", path.read_text(), flags=re.M)
            path.write_text(text.replace("[main]\n", f"[main]\nnodes={TEST_NODES}\n", 1))

    def listen(self, host, port):
        """Point smtp.ini's listen at host:port (one address)."""
        self.host, self.port = host, port
        path = self.config_path("smtp.ini")
        text = path.read_text() if path.exists() else "[main]\n"
        literal = f"[{host}]" if ":" in host else host
        text = re.sub(r"^listen=.*$", f"listen={literal}:{port}", text, flags=re.M)
        if not re.search(r"^listen=", text, re.M):
            text = text.replace("[main]\n", f"[main]\nlisten={literal}:{port}\n", 1)
        path.write_text(text)

    @property
    def queue_dir(self):
        return self.root / "queue"

    def queue_partitions(self):
        """The directories holding queue entries: queue/ and, with nodes, queue/w<i>."""
        if not self.queue_dir.exists():
            return []
        return [self.queue_dir] + sorted(p for p in self.queue_dir.iterdir()
                                         if p.is_dir() and re.fullmatch(r"w\d+", p.name))

    def queue_files(self):
        """Names of the committed queue entries (not temp, set-aside or body files), in
        every partition."""
        return sorted(p.name for d in self.queue_partitions() for p in d.iterdir()
                      if p.is_file() and not p.name.startswith(("tmp.", "error.", "msg.")))

    def body_files(self):
        """Names of the message body files (msg.<body>), in every partition."""
        return sorted(p.name for d in self.queue_partitions() for p in d.iterdir()
                      if p.name.startswith("msg."))

    def entry_path(self, name):
        """The path of queue file `name` (an entry, msg.<body>, error.<entry>...) in
        whichever partition holds it; queue/<name> when none does (a file planted there
        before a start is adopted by worker 0)."""
        for d in reversed(self.queue_partitions()):
            if (d / name).exists():
                return d / name
        return self.queue_dir / name

    def wait_ready_to_accept(self, timeout=10):
        """Wait until the SMTP port accepts connections."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() >= deadline:
                    pytest.fail(f"nothing accepts on {self.host}:{self.port}", pytrace=False)
                time.sleep(POLL)

    def config_path(self, name):
        return self.root / "config" / name

    def write_config(self, name, text):
        """Write ROOT/config/<name> (replacing it); returns its path. outbound.ini gets the
        harness's settings appended: delivery off (reception tests), or loopback MX hosts
        allowed (delivery tests: the sinks listen on 127.0.0.x)."""
        if name == "outbound.ini" and self.delivery is not None:
            text += ("\n[main]\nlocal_mx_ok=true\n" if self.delivery
                     else "\n[main]\ndisabled=true\n")
        path = self.config_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    # --- running -------------------------------------------------------------------------

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def exit_code(self):
        """None while running (or never started)."""
        return self.proc.poll() if self.proc else None

    def start(self, ready=True, timeout=20):
        """Run `outpost -c ROOT` (output appended to ROOT/outpost-stdout.log); with ready,
        return once it logged `ready`."""
        assert not self.running, "outpost is already running"
        self.root.mkdir(parents=True, exist_ok=True)
        self._run_start = len(self.lines())
        with open(self.log_path, "ab") as log:
            # setpriv: outpost is killed should the test process die without stopping it.
            self.proc = subprocess.Popen(
                ["setpriv", "--pdeathsig", "KILL",
                 str(self.binary), "-c", str(self.root), *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=outpost_env(), start_new_session=True)
        if ready:
            self.wait_for_log(ALL_READY_RE if self.nodes() > 1 else READY_RE, timeout)

    def nodes(self):
        """smtp.ini's nodes (0 when unset or not a number)."""
        path = self.config_path("smtp.ini")
        m = re.search(r"^nodes=(\d+)", path.read_text(), re.M) if path.exists() else None
        return int(m[1]) if m else 0

    def worker_pids(self):
        """The pids of the processes that serve mail in the current run: the daemon's own,
        or with nodes its workers' (from "nodes: worker I started (pid P)", the latest for
        each I); the supervisor (self.pid) stays as started and serves nothing."""
        if self.nodes() <= 1:
            return [self.pid]
        pids = {}
        for line in self.lines()[self._run_start:]:
            m = re.search(r"nodes: worker (\d+) started \(pid (\d+)\)", line)
            if m:
                pids[int(m[1])] = int(m[2])
        return [pids[i] for i in sorted(pids)]

    def signal(self, sig):
        assert self.running, "outpost is not running"
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=20):
        """SIGTERM, wait for the exit and return its code; after timeout kill -9 and fail."""
        if not self.running:
            return self.exit_code
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            pytest.fail(f"outpost did not exit within {timeout}s of SIGTERM; killed",
                        pytrace=False)

    def kill9(self):
        """SIGKILL (a crash, as far as the queue is concerned) to the daemon's process group:
        with nodes, the supervisor and its workers at once (a worker outliving its supervisor
        would stop cleanly, not crash). Returns the supervisor's exit code once no process
        of the group is left."""
        if self.proc is None:
            return None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        code = self.proc.wait(10)
        deadline = time.monotonic() + 10
        while True:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return code
            if time.monotonic() >= deadline:
                pytest.fail(f"processes of group {self.proc.pid} outlived SIGKILL",
                            pytrace=False)
            time.sleep(POLL)

    # --- output --------------------------------------------------------------------------

    def output(self):
        """Everything outpost printed, over all runs."""
        return self.log_path.read_bytes().decode("utf-8", "replace") \
            if self.log_path.exists() else ""

    def lines(self):
        """Complete output lines, over all runs (a partial last line counts once the
        process has exited)."""
        text = self.output()
        lines = text.split("\n")
        tail = lines.pop()
        if tail and not self.running:
            lines.append(tail)
        return lines

    def mark(self):
        """A position for wait_for_log(start=...): only lines printed after now."""
        return len(self.lines())

    def wait_for_log(self, regex, timeout=10, start=None):
        """Wait for a line matching regex (str or compiled, re.search), from line `start`
        (default: the start of the current run). Returns the match; fails on timeout or when
        outpost exits first."""
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        first = self._run_start if start is None else start
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.running
            lines = self.lines()
            for line in lines[first:]:
                match = pattern.search(line)
                if match:
                    return match
            if exited and self.proc is not None:
                pytest.fail(f"outpost exited with {self.exit_code} before logging "
                            f"/{pattern.pattern}/:\n{self.tail()}", pytrace=False)
            if time.monotonic() >= deadline:
                pytest.fail(f"no log line /{pattern.pattern}/ within {timeout}s:\n"
                            f"{self.tail()}", pytrace=False)
            first = max(first, len(lines))
            time.sleep(POLL)

    def wait_for_each_worker(self, regex, timeout=10, start=None):
        """wait_for_log for a line each worker says (with smtp.ini nodes every worker reloads
        its own config and logs it): as many matching lines as workers, one without nodes."""
        return self.wait_for_lines(regex, self.workers(), timeout, start)

    def wait_for_lines(self, regex, n, timeout=10, start=None):
        """Wait until n lines from line `start` (default: the start of the current run)
        match regex (e.g. one per worker, n=self.workers()); returns the matches."""
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        first = self._run_start if start is None else start
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.running
            found = [m for m in map(pattern.search, self.lines()[first:]) if m]
            if len(found) >= n:
                return found
            if exited and self.proc is not None:
                pytest.fail(f"outpost exited with {self.exit_code} after {len(found)} of {n} "
                            f"lines /{pattern.pattern}/:\n{self.tail()}", pytrace=False)
            if time.monotonic() >= deadline:
                pytest.fail(f"{len(found)} of {n} log lines /{pattern.pattern}/ within "
                            f"{timeout}s:\n{self.tail()}", pytrace=False)
            time.sleep(POLL)

    def workers(self):
        """How many processes run the daemon: smtp.ini's nodes, 1 for the single process."""
        return max(1, self.nodes())

    def shaping_state(self):
        """The text of ROOT/run/shaping.tsv; with nodes, of every worker's
        run/shaping.w<i>.tsv, one after the other ("" for a file not written yet)."""
        run = self.root / "run"
        names = ["shaping.tsv"] if self.nodes() <= 1 else \
            [f"shaping.w{i}.tsv" for i in range(self.nodes())]
        return "".join((run / n).read_text() if (run / n).exists() else "" for n in names)

    def tail(self, n=REPORT_LINES):
        return "\n".join(self.output().splitlines()[-n:])

    def check_sanitizers(self):
        check_sanitizers(self.output(), f"outpost -c {self.root}")
