"""The admin HTTP listener (issue 17, item 1; config/http.ini): loopback TCP with a bearer
token, a Unix socket guarded by its permissions, JSON errors, and bad configurations that
stop the start.

- TCP: no token or a wrong one -> 401 with WWW-Authenticate; the token as a header or as the
  outpost_token cookie -> 200 and /api/status's JSON.
- Unix socket: no token asked; the socket has socket_mode and is removed at exit.
- unknown path -> 404, wrong method -> 405, a body over body_max -> 413, garbage -> 400, and the
  daemon still answers afterwards.
- a non-loopback address, a TCP listener without token_file, a short token: exit 78 naming
  http.ini and the key.
"""
import http.client
import json
import os
import socket
import stat

from harness.daemon import run_outpost
from harness.util import free_port

TOKEN = "s3cret-token-0123456789"


def listen_tcp(daemon, extra=""):
    port = free_port()
    daemon.write_config("admin.token", TOKEN + "\n")
    daemon.write_config("http.ini", f"listen=127.0.0.1:{port}\ntoken_file=admin.token\n{extra}")
    return port


def request(port, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def test_tcp_needs_the_token(daemon):
    port = listen_tcp(daemon)
    daemon.start()
    status, headers, body = request(port, "GET", "/api/status")
    assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert "token" in json.loads(body)["error"]
    status, _, _ = request(port, "GET", "/api/status",
                           {"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert status == 401
    status, headers, body = request(port, "GET", "/api/status",
                                    {"Authorization": "Bearer " + TOKEN})
    assert status == 200 and headers["Content-Type"] == "application/json"
    st = json.loads(body)
    assert st["name"] == "outpost" and st["pid"] == daemon.proc.pid and st["uptime_s"] >= 0
    status, _, _ = request(port, "GET", "/api/status", {"Cookie": "a=b; outpost_token=" + TOKEN})
    assert status == 200
    assert any("401 (no valid token)" in line for line in daemon.lines())


def test_unix_socket_without_token(daemon, tmp_path):
    path = str(tmp_path / "admin.sock")
    daemon.write_config("http.ini", f"listen={path}\nsocket_mode=0600\n")
    daemon.start()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    c = UnixConnection(path)
    c.request("GET", "/api/status")
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["name"] == "outpost"
    c.close()
    assert daemon.stop() == 0
    assert not os.path.exists(path)


def test_bad_requests_get_json_errors(daemon):
    port = listen_tcp(daemon, "body_max=2048\n")
    daemon.start()
    auth = {"Authorization": "Bearer " + TOKEN}
    status, _, body = request(port, "GET", "/nowhere", auth)
    assert status == 404 and "no such resource" in json.loads(body)["error"]
    status, _, body = request(port, "POST", "/api/status", auth, body=b"{}")
    assert status == 405 and "not allowed" in json.loads(body)["error"]
    status, _, _ = request(port, "POST", "/api/status", auth, body=b"x" * 4096)
    assert status == 413
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x00\x01 garbage \xff\r\n\r\n")
        reply = s.recv(4096)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 400")
    status, _, _ = request(port, "GET", "/api/status", auth)
    assert status == 200


def test_bad_configurations_stop_the_start(daemon):
    port = free_port()
    daemon.write_config("admin.token", TOKEN + "\n")
    cases = [
        (f"listen=10.1.2.3:{port}\ntoken_file=admin.token\n", "http.ini: listen: 10.1.2.3"),
        (f"listen=127.0.0.1:{port}\n", "needs token_file"),
        (f"listen=127.0.0.1:{port}\ntoken_file=nosuch.token\n", "http.ini: token_file:"),
        (f"listen=127.0.0.1:{port}\ntoken_file=admin.token\nsocket_mode=999\n",
         "http.ini: socket_mode:"),
        (f"listen=127.0.0.1:nope\ntoken_file=admin.token\n", "is not ADDRESS:PORT"),
    ]
    for text, want in cases:
        daemon.write_config("http.ini", text)
        rc, _, err = run_outpost("-c", str(daemon.root), timeout=20)
        assert rc == 78 and want in err, (text, rc, err)
    daemon.write_config("admin.token", "short\n")
    daemon.write_config("http.ini", f"listen=127.0.0.1:{port}\ntoken_file=admin.token\n")
    rc, _, err = run_outpost("-c", str(daemon.root), timeout=20)
    assert rc == 78 and "at least 16 characters" in err, err
