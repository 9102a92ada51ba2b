"""A real RabbitMQ broker on loopback for the end-to-end tests.

Rabbit starts one rabbitmq-server (Debian's rabbitmq-server package) in a temporary
directory: its own epmd on a free port (ERL_EPMD_PORT, run in the foreground and killed
at the end), its own node name, AMQP port, distribution port, Mnesia and log directories,
no plugins (no management listener). start() waits for `rabbitmqctl await_startup`;
when the broker cannot start, the test fails with the reason and the broker's log.
stop() and start() again (same data directory: durable queues and persistent messages
survive) stand for a broker outage. Startup takes 5-10 s: share one per test module.

Messages are read with `amqp_drain` (tests/bin/amqp_drain.c, built by make), which
declares a durable queue bound to an exchange and prints each message with its
properties.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .util import free_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
REPO = Path(__file__).resolve().parents[3]
DRAIN = REPO / "build" / "asan" / "tests" / "bin" / "amqp_drain"


class Rabbit:
    def __init__(self, base=None, tls=None):
        """tls: None, or (certificate, key, CA certificate) paths: an AMQPS listener too,
        on tls_port."""
        self.dir = Path(base or tempfile.mkdtemp(prefix="outpost-rabbit-"))
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"outpost{self.port}@localhost"
        self.proc = None
        self.epmd = None
        self.log = self.dir / "server.out"
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "disk_free_limit.absolute = 1MB\n"
            "log.console = false\n" + (
                f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
                f"ssl_options.certfile = {tls[0]}\nssl_options.keyfile = {tls[1]}\n"
                f"ssl_options.cacertfile = {tls[2]}\nssl_options.verify = verify_none\n"
                "ssl_options.fail_if_no_peer_cert = false\n" if tls else ""))
        self.env = dict(os.environ)
        self.env.update({
            "HOME": str(self.dir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbit.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
        })
        (self.dir / "rabbitmq-env.conf").write_text("")

    def _fail(self, why):
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        pytest.fail(f"rabbitmq-server could not start: {why}\n{text[-3000:]}",
                    pytrace=False)

    def ctl(self, *args, timeout=60, check=True):
        proc = subprocess.run([CTL, "-n", self.node, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc

    def start(self, timeout=90):
        for path in (SERVER, CTL, "/usr/bin/epmd"):
            if not os.access(path, os.X_OK):
                pytest.fail(f"{path} missing: install rabbitmq-server (scripts/deps.sh)",
                            pytrace=False)
        if self.epmd is None or self.epmd.poll() is not None:
            self.epmd = subprocess.Popen(
                ["/usr/bin/epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([SERVER], env=self.env, cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._fail(f"exited with status {self.proc.returncode}")
            try:
                proc = self.ctl("await_startup", "--timeout", "5", timeout=30, check=False)
            except subprocess.TimeoutExpired:
                proc = None
            if proc is not None and proc.returncode == 0:
                return self
            if time.monotonic() > deadline:
                self._fail(f"not started after {timeout} s")
            time.sleep(0.5)

    def stop(self):
        """Stops the broker (its data stays for start())."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.ctl("stop", timeout=60, check=False)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        if self.epmd is not None and self.epmd.poll() is None:
            self.epmd.kill()
            self.epmd.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def drain(self, queue, exchange=None, binding="#", wait=0.0):
        """Takes (and acks) every message now in the durable queue `queue` (declared, and
        bound to exchange with binding when exchange is given). A list of dicts:
        routing_key, message_id, delivery_mode, content_type, body (parsed JSON)."""
        if not DRAIN.is_file():
            pytest.fail(f"{DRAIN} missing: make build/asan/tests/bin/amqp_drain",
                        pytrace=False)
        args = [str(DRAIN), "127.0.0.1", str(self.port), queue]
        if exchange:
            args += [exchange, binding]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"amqp_drain: {proc.stderr}")
        out = []
        for line in proc.stdout.splitlines():
            rk, mid, mode, ctype, body = line.split("\t", 4)
            out.append({"routing_key": rk, "message_id": mid, "delivery_mode": int(mode),
                        "content_type": ctype, "body": json.loads(body)})
        return out
