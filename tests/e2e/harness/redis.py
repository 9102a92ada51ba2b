"""A real redis-server on loopback for the cluster tests.

RedisServer(tmp_dir) runs `redis-server` in the foreground on 127.0.0.1:<free port>, nothing
saved (`--save '' --appendonly no`), its files in tmp_dir; `start()` waits until it answers
PING, `stop()` ends it (the port stays the server's: `start()` again serves on it), `command()`
sends one command (RESP, no client library; AUTH first when `password` is set) and returns
the decoded reply. It serves `socket` (a Unix socket in tmp_dir) too. A test that needs
it and cannot start it fails with what went wrong.
"""
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .util import free_port


def _encode(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
    return b"".join(out)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected reply line {line!r}")


class RedisServer:
    def __init__(self, tmp_dir, host="127.0.0.1"):
        self.dir = Path(tmp_dir)
        self.host = host
        self.port = free_port(host)
        self.proc = None
        self.log_path = self.dir / "redis.log"
        self.socket = self.dir / "redis.sock"     # served too (unixsocket)
        self.password = None                      # AUTH before each command() when set

    def start(self, timeout=10):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not found: install Debian's redis-server "
                        "(scripts/deps.sh test)", pytrace=False)
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["setpriv", "--pdeathsig", "KILL", binary, "--bind", self.host,
                 "--port", str(self.port), "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir), "--daemonize", "no", "--protected-mode", "no",
                 "--unixsocket", str(self.socket), "--unixsocketperm", "700"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited {self.proc.returncode} at start:\n"
                            f"{self.log_text()}", pytrace=False)
            try:
                if self.command("PING") == "PONG":
                    return self
            except (OSError, ConnectionError, RuntimeError):
                pass
            if time.monotonic() >= deadline:
                self.stop()
                pytest.fail(f"redis-server did not answer on {self.host}:{self.port} "
                            f"within {timeout}s:\n{self.log_text()}", pytrace=False)
            time.sleep(0.05)

    def stop(self):
        """Ends the server (SIGKILL: Redis gone at once, as in a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args, timeout=5):
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            with s.makefile("rb") as f:
                if self.password is not None:
                    s.sendall(_encode("AUTH", self.password))
                    _read_reply(f)
                s.sendall(_encode(*args))
                return _read_reply(f)

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def redis_server(tmp_path):
    """A started RedisServer in tmp_path/redis, stopped at teardown."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
