"""Scale limits, small enough for the suite (issue 19, items 2 and 3; the big figures are
bench/scale.sh's).

At start Outpost raises its open-file limit (the soft limit to the hard one; as root the hard
one too when it can) and logs it, with a WARN naming connection.ini [max] connections and
outbound.ini concurrency_max when the limit stays below what they need. 2,000 concurrent
inbound connections are all held and greeted, and the one beyond connection.ini [max]
connections is refused with 421. A queue of 20,000 entries (80,000 recipients, written by
scripts/mkqueue.sh with the daemon's own encoder) is counted right by --qstat, loaded at
start-up and summarised right by the admin API (held ones included)."""
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness.daemon import outpost_env, run_outpost, check_sanitizers
from harness.util import free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "scale-test-token-0123456789abcdef"


def limits(pid):
    """(soft, hard) of Max open files in /proc/PID/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return tuple(2 ** 63 if v == "unlimited" else int(v) for v in (soft, hard))
    pytest.fail("no 'Max open files' in /proc/PID/limits")


def own_fd_room(n):
    """Raise this process's soft open-file limit so that it can hold n sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        if hard < n + 100:
            pytest.fail(f"the test needs {n + 100} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hold(port, n, timeout=30):
    """Open n connections to 127.0.0.1:port at once; return (sockets, their first lines)."""
    sel = selectors.DefaultSelector()
    socks, got, pending = [], {}, {}
    deadline = time.monotonic() + timeout
    opened = 0
    while (opened < n or pending) and time.monotonic() < deadline:
        while opened < n and len(pending) < 300:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_READ)
            pending[s] = b""
            socks.append(s)
            opened += 1
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(512)
            except OSError:
                data = b""
            pending[s] += data
            if b"\n" in pending[s] or not data:
                got[s] = pending.pop(s)
                sel.unregister(s)
    sel.close()
    return socks, [got.get(s, b"") for s in socks]


def test_fd_limit_raised_and_logged(daemon):
    """A soft limit below the hard one is raised to it and logged (with nodes, by every
    worker, the processes that hold the connections; logged once)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        daemon.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for pid in daemon.worker_pids():
        now_soft, now_hard = limits(pid)
        assert now_hard >= hard and now_soft == now_hard, (pid, now_soft, now_hard)
    line = daemon.wait_for_log(r"open-file limit (\d+)").group(0)
    assert f"open-file limit {now_soft}" in line, line
    assert len([ln for ln in daemon.lines() if "open-file limit" in ln]) == 1


def test_fd_limit_too_low_is_named(tmp_path, dns_server):
    """With a hard limit of 512 and maxima that need more, the daemon either raises the limit
    (root with CAP_SYS_RESOURCE: to what they need) or says in a WARN which keys need more."""
    root = tmp_path / "outpost"
    rc, out, err = run_outpost("-i", root)
    assert rc == 0, out + err
    port = free_port()
    (root / "config" / "smtp.ini").write_text(f"[main]\nlisten=127.0.0.1:{port}\n")
    (root / "config" / "connection.ini").write_text("[max]\nconnections=5000\n")
    (root / "config" / "outbound.ini").write_text("[main]\ndisabled=true\nconcurrency_max=100\n")
    (root / "config" / "net-utils.ini").write_text(f"[dns]\nservers={dns_server.servers}\ntimeout=2000\ntries=2\n")
    log = root / "out.log"

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 512))

    with open(log, "wb") as f:
        proc = subprocess.Popen([os.environ.get("OUTPOST_BIN", str(REPO / "build/asan/outpost")),
                                 "-c", str(root)], stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, env=outpost_env(),
                                preexec_fn=low_limit)
    try:
        deadline = time.monotonic() + 20
        while "] ready" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "not ready in 20 s"
            time.sleep(0.05)
        soft, hard = limits(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log.read_text(errors="replace")
    check_sanitizers(text)
    need = 5000 + 100 + 256
    if soft >= need:
        assert f"open-file limit {soft} ({need} needed" in text, text
    else:
        assert (soft, hard) == (512, 512), (soft, hard)
        assert re.search(r"\[WARN\].*open-file limit 512 \(hard limit 512\) is below the "
                         rf"{need} descriptors connection.ini \[max\] connections \+ "
                         r"outbound.ini concurrency_max", text), text


def test_2000_inbound_connections_held(daemon):
    """2,000 connections at once are all greeted and held; the 2,001st is refused (421)."""
    n = 2000
    own_fd_room(n + 10)
    daemon.write_config("connection.ini", f"[max]\nconnections={n}\nconnections_per_ip=0\n")
    daemon.start()
    socks, first = hold(daemon.port, n)
    try:
        greeted = sum(1 for line in first if line.startswith(b"220"))
        assert greeted == n, f"{greeted} of {n} greeted; e.g. {set(first) - {first[0]}}"
        fds = sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in daemon.worker_pids())
        assert fds >= n, fds
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as extra:
            extra.settimeout(10)
            assert extra.recv(512).startswith(b"421 4.7.0"), "the one beyond the limit"
        # Still held, still answered.
        for s in socks[:50]:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(b"NOOP\r\n")
            assert s.recv(512).startswith(b"250"), "NOOP on a held connection"
    finally:
        for s in socks:
            s.close()
    daemon.wait_for_log(r"refused ip=127\.0\.0\.1: 2000 connections")


def mkqueue(queue, entries, held):
    proc = subprocess.run([str(REPO / "scripts/mkqueue.sh"), str(queue), str(entries), "4", "4",
                           "100", "2048", "3600", str(held)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"scripts/mkqueue.sh failed ({proc.returncode}): {proc.stderr}",
                    pytrace=False)


def api(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    t = time.monotonic()
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read()), time.monotonic() - t


def test_20000_entry_queue(daemon):
    """--qstat counts a 20,000-entry queue right; the daemon loads it and the admin API
    summarises it (2,000 held), its listing pages through it in id order."""
    n, held = 20000, 10
    mkqueue(daemon.queue_dir, n, held)
    rc, out, err = run_outpost("-c", daemon.root, "--qstat", timeout=60)
    assert rc == 0, err
    stat = dict(line.split(" ", 1) for line in out.splitlines())
    assert stat["entries"] == str(n) and stat["recipients"] == str(4 * n), out
    assert stat["recipients_pending"] == str(4 * n) and stat["bodies"] == str(n // 4), out
    assert stat["corrupt"] == "0" and stat["due"] == "0", out

    http = free_port()
    daemon.write_config("admin.token", TOKEN + "\n")
    daemon.write_config("http.ini", f"[main]\nlisten=127.0.0.1:{http}\n"
                        "token_file=admin.token\n")
    t = time.monotonic()
    daemon.start(timeout=60)
    # With nodes the planted entries are adopted by worker 0; each worker says its count.
    loaded = daemon.wait_for_lines(r"queue: (\d+) entries loaded", daemon.workers())
    assert sum(int(m[1]) for m in loaded) == n, [m[0] for m in loaded]
    started = time.monotonic() - t
    assert started < 30, f"start-up with {n} entries took {started:.1f} s"

    summary, _ = api(http, "/api/queue")
    assert summary["entries"] == n and summary["recipients"] == 4 * n, summary
    assert summary["held"] == n // held and summary["deferred"] == n - n // held, summary
    assert len(summary["destinations"]) == 100, len(summary["destinations"])
    assert sum(d["entries"] for d in summary["destinations"]) == n
    page, _ = api(http, "/api/queue/entries?limit=50&offset=100")
    assert page["total"] == n and len(page["entries"]) == 50, page["total"]
    ids = [e["id"] for e in page["entries"]]
    assert ids == sorted(ids)
    assert all(len(e["recipients"]) == 4 for e in page["entries"])
    # mkqueue's ids sort by message number, then entry number.
    assert ids[0] == "mkq00000019-0000-4000-8000-000000000019.1.1", ids[0]
