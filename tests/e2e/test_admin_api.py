"""The admin API's queue actions, HTTP injection and outpostctl (issue 17, items 1-3), end to
end against the real daemon, the test DNS server and SMTP sinks.

- Queue actions over the Unix socket, each checked against the queue files, the sinks and the
  records: hold (the `held 1` field; survives a restart; --qlist says held), release (delivered),
  retry, delete (gone, no record, no DSN), bounce (exactly one bounce record per recipient in
  outbound_logger's JSON and in accounting_files' b.* file, and a DSN with the reason);
  filters and paging; reload.
- Bad requests: bad JSON, unknown ids, unknown criteria, a missing reason, huge bodies -> 4xx
  with a JSON error; the daemon keeps answering.
- TCP needs the token; HTTP injection is answered with an id once queued, delivered with the
  same records as SMTP's mail, with a "with HTTP" trace header; its limits are SMTP's.
- Destinations: suspend holds a destination's mail, resume lets it go; limits changes its
  shaping on the live daemon (a lowered max_connections is what the sink then sees at most),
  validated (400 with a JSON error), until the next reload; outpostctl destination limits.
- outpostctl over the Unix socket and over TCP with a token: tables and --json; exit codes.
"""
import http.client
import json
import socket
import subprocess
import time

from harness.daemon import REPO, run_outpost
from harness.util import free_port
from test_accounting import acct_rows, count, json_records, recording, wait_records
from test_delivery import SENDER, dsn_fields, message, parse_dsn, send, wait_empty

TOKEN = "admin-token-0123456789abcdef"
CTL = REPO / "build" / "asan" / "outpostctl"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


class Api:
    """Requests to the admin API: over a Unix socket, or TCP with the token."""

    def __init__(self, sock=None, port=None, token=None):
        self.sock, self.port, self.token = sock, port, token

    def call(self, method, path, body=None, raw=None):
        c = UnixConnection(self.sock) if self.sock else \
            http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read()
        c.close()
        assert r.getheader("Content-Type") == "application/json", (r.status, text)
        return r.status, json.loads(text)

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body=None, raw=None):
        return self.call("POST", path, body, raw)


def with_unix_api(outpost, tmp_path):
    path = str(tmp_path / "admin.sock")
    outpost.write_config("http.ini", f"listen={path}\n")
    return Api(sock=path)


def with_tcp_api(outpost, extra=""):
    port = free_port()
    outpost.write_config("admin.token", TOKEN + "\n")
    outpost.write_config("http.ini", f"listen=127.0.0.1:{port}\ntoken_file=admin.token\n{extra}")
    return port


def entries(api, query=""):
    status, body = api.get("/api/queue/entries" + query)
    assert status == 200, body
    return body


def by_rcpt(api, rcpt):
    (e,) = [e for e in entries(api)["entries"]
            if any(r["address"] == rcpt for r in e["recipients"])]
    return e


def entry_text(outpost, entry_id):
    """The entry's file, in whichever queue partition holds it."""
    return outpost.entry_path(entry_id).read_text(errors="replace")


def wait_until(pred, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def held_setup(mta, tmp_path):
    """Delivery disabled (held back by outbound.ini), records on, the API on a Unix socket."""
    recording(mta, logger="[main]\nstop_at_bounce=false\n")     # DSNs too
    mta.write_config("outbound.ini", "disabled=true\ntemp_fail_intervals=1h*3\n")
    return with_unix_api(mta, tmp_path)


# --- queue actions ------------------------------------------------------------------------

def test_hold_release_delete_over_the_unix_socket(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    smtp_sink("127.0.0.5")
    dsn = smtp_sink("127.0.0.8")
    api = held_setup(mta, tmp_path)
    mta.start()
    send(mta, ["ok-a@single.test"])
    send(mta, ["ok-b@single.test", "ok-c@implicit.test"])
    send(mta, ["ok-d@single.test"], sender="")
    status, q = api.get("/api/queue")
    assert status == 200 and q["entries"] == 4 and q["recipients"] == 4, q
    dests = {d["destination"]: d for d in q["destinations"]}
    assert dests["single.test"]["entries"] == 3 and dests["implicit.test"]["entries"] == 1
    # Filters and paging (stable order: by id).
    listing = entries(api, "?domain=single.test")
    assert listing["total"] == 3 and all(e["domain"] == "single.test"
                                         for e in listing["entries"])
    ids = [e["id"] for e in listing["entries"]]
    assert ids == sorted(ids)
    page = entries(api, "?domain=single.test&limit=1&offset=1")
    assert [e["id"] for e in page["entries"]] == ids[1:2] and page["total"] == 3
    assert entries(api, "?sender=%3C%3E")["total"] == 1
    assert entries(api, "?recipient=implicit.test")["total"] == 1
    assert entries(api, "?min_age=1h")["total"] == 0
    assert entries(api, "?state=held")["total"] == 0
    # hold one by id: the file says so, the listing too
    a = by_rcpt(api, "ok-a@single.test")
    status, res = api.post("/api/queue/hold", {"ids": [a["id"]]})
    assert status == 200 and (res["matched"], res["done"], res["skipped"]) == (1, 1, []), res
    assert "\nheld 1\n" in entry_text(mta, a["id"])
    assert [e["id"] for e in entries(api, "?state=held")["entries"]] == [a["id"]]
    status, res = api.post("/api/queue/hold", {"ids": [a["id"]]})
    assert status == 409 and res["skipped"][0]["reason"] == "already held"
    # delete by filter: gone with its body when last, no record, no DSN
    c = by_rcpt(api, "ok-c@implicit.test")
    status, res = api.post("/api/queue/delete", {"filter": {"domain": "implicit.test"}})
    assert status == 200 and res["done"] == 1, res
    assert c["id"] not in mta.queue_files()
    mta.wait_for_log(r"\[NOTICE\].*\[admin\].*delete by the administrator \(unix\)")
    # delivery on again through the API's reload: the others go, the held one stays
    mta.write_config("outbound.ini", "temp_fail_intervals=1h*3\n")
    status, res = api.post("/api/reload")
    assert status == 200 and res["reloaded"] is True, res
    got = sink.wait_for_messages(2)
    assert sorted(r for m in got for r in m.rcpt_tos) == ["ok-b@single.test",
                                                          "ok-d@single.test"]
    wait_until(lambda: mta.queue_files() == [a["id"]], what="only the held entry left")
    time.sleep(0.5)
    assert len(sink.messages()) == 2
    records = wait_records(mta, lambda r: count(r, "delivered") == 2)
    assert count(records, "bounced") == 0 and not dsn.messages()
    # the hold survives a restart; --qlist shows it
    assert mta.stop() == 0
    rc, out, _ = run_outpost("-c", str(mta.root), "--qlist")
    assert rc == 0 and a["id"] in out and " held " in out, out
    mta.start()
    assert by_rcpt(api, "ok-a@single.test")["state"] == "held"
    time.sleep(0.5)
    assert len(sink.messages()) == 2
    # release: due now, delivered
    status, res = api.post("/api/queue/release", {"filter": {"state": "held"}})
    assert status == 200 and res["done"] == 1, res
    got = sink.wait_for_messages(3)
    assert got[2].rcpt_tos == ("ok-a@single.test",)
    wait_empty(mta)
    assert not dsn.messages()
    _, rows = acct_rows(mta, "bounce")
    assert rows == []


def test_bounce_by_admin_records_once_and_sends_a_dsn(mta, smtp_sink, tmp_path):
    dsn = smtp_sink("127.0.0.8")
    api = held_setup(mta, tmp_path)
    mta.start()
    send(mta, ["ok-x@single.test", "ok-y@single.test"])
    send(mta, ["ok-z@single.test"])
    x = by_rcpt(api, "ok-x@single.test")
    z = by_rcpt(api, "ok-z@single.test")
    status, res = api.post("/api/queue/bounce", {"ids": [x["id"]],
                                                  "reason": "spam run, pulled"})
    assert status == 200 and (res["matched"], res["done"]) == (1, 1), res
    assert x["id"] not in mta.queue_files() and z["id"] in mta.queue_files()
    records = wait_records(mta, lambda r: count(r, "bounced") == 2)
    bounced = [r for r in records if r["type"] == "bounced"]
    assert sorted(r["recipient"] for r in bounced) == ["ok-x@single.test", "ok-y@single.test"]
    assert all("bounced by the administrator" in r["undelivered_reason"] for r in bounced)
    _, rows = acct_rows(mta, "bounce", n=2)
    assert sorted(r["rcpt"] for r in rows) == ["ok-x@single.test", "ok-y@single.test"]
    # retry: a waiting entry due now (delivery is disabled: it stays)
    status, res = api.post("/api/queue/retry", {"ids": [z["id"]]})
    assert status == 200 and res["done"] == 1
    # unknown ids: 404, listed as skipped; a mix does what it can
    status, res = api.post("/api/queue/bounce", {"ids": [x["id"]], "reason": "again"})
    assert status == 404 and res["skipped"] == [{"id": x["id"], "reason": "unknown id"}]
    status, res = api.post("/api/queue/hold", {"ids": ["nope.1.1", z["id"]]})
    assert status == 200 and res["done"] == 1 and len(res["skipped"]) == 1
    # delivery on: the DSN (queued by the bounce) goes to the sender, with the reason
    mta.write_config("outbound.ini", "temp_fail_intervals=1h*3\n")
    assert api.post("/api/reload")[0] == 200
    got = parse_dsn(dsn.wait_for_messages(1)[0])
    _, rcpts = dsn_fields(got)
    assert sorted(r["final-recipient"] for r in rcpts) == ["rfc822;ok-x@single.test",
                                                           "rfc822;ok-y@single.test"]
    assert all(r["status"].startswith("5.0.0") for r in rcpts), rcpts
    assert "bounced by the administrator: spam run, pulled" in got.as_string()
    # exactly one record each, even a moment later; the held entry is still there
    wait_until(lambda: mta.queue_files() == [z["id"]], what="the DSN delivered")
    time.sleep(1)
    assert count(json_records(mta), "bounced") == 2
    assert len(acct_rows(mta, "bounce")[1]) == 2 and len(dsn.messages()) == 1


def test_bad_requests_get_4xx_json(mta, tmp_path):
    api = held_setup(mta, tmp_path)
    mta.write_config("http.ini", f"listen={api.sock}\nbody_max=4096\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    cases = [
        ("/api/queue/hold", b"{not json", 400, "bad JSON"),
        ("/api/queue/hold", b"[1,2]", 400, "object"),
        ("/api/queue/hold", b"", 400, "JSON object"),
        ("/api/queue/hold", b'{"ids":[]}', 400, "ids"),
        ("/api/queue/hold", b'{"ids":[1]}', 400, "strings"),
        ("/api/queue/hold", b'{"ids":["a"],"filter":{"domain":"x"}}', 400, "either"),
        ("/api/queue/hold", b'{"filter":{}}', 400, "at least one criterion"),
        ("/api/queue/hold", b'{"filter":{"colour":"red"}}', 400, "unknown criterion"),
        ("/api/queue/hold", b'{"filter":{"state":"frozen"}}', 400, "state"),
        ("/api/queue/bounce", b'{"filter":{"domain":"single.test"}}', 400, "reason"),
        ("/api/queue/bounce", b'{"filter":{"domain":"single.test"},"reason":"a\\nb"}', 400,
         "reason"),
        ("/api/queue/hold", b'{"ids":["x"],"reason":"r"}', 400, "only for bounce"),
        ("/api/queue/hold", b'{"ids":["x"],"ids":["y"]}', 400, "bad JSON"),
        ("/api/queue/freeze", b'{"ids":["x"]}', 404, "no such action"),
        ("/api/queue/hold", b'{"ids":["no-such.1.1"]}', 404, "no such entry"),
        ("/api/destinations/single.test/suspend", b'{"duration":"forever"}', 400, "duration"),
        ("/api/destinations/single.test/explode", b"{}", 404, "suspend"),
        ("/api/destinations/nowhere.test/resume", b"", 404, "no such destination"),
        ("/api/inject", b'{"from":"a@b.test"}', 400, "to"),
        ("/api/inject", b'{"from":"a@b.test","to":["x@y.test"]}', 400, "content"),
        ("/api/inject", b'{"from":"not an address","to":["x@y.test"],"content":"A: b\\n\\nc"}',
         400, "from"),
        ("/api/inject", b'{"from":"","to":["x@"],"content":"A: b\\n\\nc"}', 400, "to"),
        ("/api/inject", b'{"from":"","to":["x@y.test"],"content":"no header\\n"}', 400,
         "RFC 5322"),
        ("/api/inject", b'{"from":"","to":["x@y.test"],"content":"A: \\u0000"}', 400,
         "bad JSON"),
    ]
    for path, raw, code, want in cases:
        status, body = api.post(path, raw=raw)
        assert status == code and want in body["error"], (path, raw, status, body)
    status, body = api.get("/api/queue/entries?limit=-1")
    assert status == 400 and "limit" in body["error"]
    status, body = api.get("/api/queue/entries?state=frozen")
    assert status == 400
    # huge bodies: refused by the listener before any handler
    body = b'{"ids":["' + b"x" * 100000 + b'"]}'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(api.sock)
        s.sendall(b"POST /api/queue/hold HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        try:
            s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass                        # answered and closed before the whole body
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply
    # the queue is as it was, the daemon answers
    assert len(mta.queue_files()) == 1
    status, q = api.get("/api/queue")
    assert status == 200 and q["entries"] == 1


# --- TCP, injection --------------------------------------------------------------------------

def test_tcp_token_and_http_injection_records_as_smtp(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    smtp_sink("127.0.0.8")
    recording(mta)
    port = with_tcp_api(mta)
    mta.start()
    status, body = Api(port=port).post("/api/inject", {"from": SENDER, "to": ["ok-1@single.test"],
                                                       "content": "Subject: x\n\nhi\n"})
    assert status == 401 and "token" in body["error"]
    assert not mta.queue_files()
    api = Api(port=port, token=TOKEN)
    # SMTP first, then the same message over HTTP
    send(mta, ["ok-smtp@single.test"])
    content = message(subject="over http").decode().replace("\r\n", "\n")
    status, res = api.post("/api/inject", {"from": SENDER, "to": ["ok-http@single.test"],
                                           "content": content})
    assert status == 200 and res["recipients"] == 1 and res["id"], res
    got = {m.rcpt_tos[0]: m for m in sink.wait_for_messages(2)}
    http_msg = got["ok-http@single.test"]
    assert http_msg.mail_from == SENDER
    assert b"with HTTP id " + res["id"].encode() in http_msg.data
    assert b"Subject: over http\r\n" in http_msg.data and b"\r\n.leading dot" in http_msg.data
    assert b"\nhi" not in http_msg.data
    records = wait_records(mta, lambda r: count(r, "delivered") == 2)
    smtp_rec, http_rec = (next(r for r in records if r["recipient"] == a)
                          for a in ("ok-smtp@single.test", "ok-http@single.test"))
    assert list(smtp_rec) == list(http_rec)
    assert http_rec["from"] == SENDER and http_rec["subject"] == "over http"
    assert http_rec["job_id"].startswith(res["id"])
    _, rows = acct_rows(mta, "delivered", n=2)
    assert sorted(r["rcpt"] for r in rows) == ["ok-http@single.test", "ok-smtp@single.test"]
    # headers + body; two domains; the null sender
    status, res = api.post("/api/inject", {"from": "", "to": ["ok-2@single.test",
                                                               "ok-3@implicit.test"],
                                           "headers": [["Subject", "built"], ["X-A", "1"]],
                                           "body": "line\n"})
    assert status == 200 and res["recipients"] == 2, res
    msg = sink.wait_for_messages(3)[2]
    assert msg.mail_from == "" and b"Subject: built\r\nX-A: 1\r\n" in msg.data
    wait_records(mta, lambda r: count(r, "delivered") >= 3)


def test_injection_limits_are_smtps(mta):
    mta.write_config("connection.ini", "[max]\nbytes=2000\ndata_line_length=100\n")
    port = with_tcp_api(mta)
    mta.start()
    api = Api(port=port, token=TOKEN)
    status, body = api.post("/api/inject", {"from": SENDER, "to": ["ok@single.test"],
                                            "content": "Subject: big\n\n" + "a\n" * 1500})
    assert status == 413 and "maximum size" in body["error"], body
    status, body = api.post("/api/inject", {"from": SENDER, "to": ["ok@single.test"],
                                            "content": "Subject: long\n\n" + "a" * 101})
    assert status == 400 and "longer than 100" in body["error"], body
    assert not mta.queue_files()


# --- destinations ------------------------------------------------------------------------------

def test_suspend_and_resume_a_destination(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    api = with_unix_api(mta, tmp_path)
    mta.start()
    status, res = api.post("/api/destinations/single.test/suspend",
                           {"duration": "1h", "reason": "maintenance"})
    assert status == 200 and res["mode"] == "suspended", res
    status, d = api.get("/api/destinations")
    (st,) = [x for x in d["destinations"] if x["destination"] == "single.test"]
    assert st["mode"] == "suspended" and 3500 < st["suspended_s"] <= 3600
    assert "maintenance" in st["last"]
    send(mta, ["ok-1@single.test"])
    time.sleep(1.5)
    assert not sink.messages() and len(mta.queue_files()) == 1
    status, res = api.post("/api/destinations/single.test/resume")
    assert status == 200, res
    assert sink.wait_for_messages(1)[0].rcpt_tos == ("ok-1@single.test",)
    wait_empty(mta)
    mta.wait_for_log(r"destination single.test suspended for 3600s by the administrator")


def test_destination_limits_take_effect_until_the_reload(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    sink.delay("data_end", 0.8)         # each message keeps its connection busy
    api = with_unix_api(mta, tmp_path)
    mta.write_config("shaping.ini", "[main]\nmax_connections=20\nidle_timeout=30\n")
    mta.start()

    def burst(tag, n=6):
        for i in range(n):
            send(mta, [f"ok-{tag}{i}@single.test"])
        wait_empty(mta, timeout=30)

    burst("a")                          # shaping.ini's 20: they go in parallel
    assert sink.max_seen() >= 3, sink.max_seen()
    status, d = api.get("/api/destinations")
    (st,) = [x for x in d["destinations"] if x["destination"] == "single.test"]
    assert st["limits"]["max_connections"] == 20 and st["limits"]["idle_timeout"] == 30, st
    assert st["overridden"] == [], st
    # Bad requests: 400 with a JSON error, nothing changed.
    for body, what in [({"max_connections": "many"}, "max_connections: expected a whole"),
                       ({"max_conections": 2}, "max_conections: not a limit"),
                       ({"max_message_rate": "fast"}, "max_message_rate"),
                       ({"max_connections": [2]}, "a whole number or a text"),
                       ({}, "no limit given")]:
        status, res = api.post("/api/destinations/single.test/limits", body)
        assert status == 400 and what in res["error"], (body, status, res)
    status, res = api.post("/api/destinations/single.test/limits",
                           {"max_connections": 2, "max_message_rate": "100/s"})
    assert status == 200, res
    assert res["set"] == ["max_connections", "max_message_rate"]
    assert res["limits"]["max_connections"] == 2 and res["limits"]["max_message_rate"] == "100/s"
    assert res["limits"]["idle_timeout"] == 30          # the others stay shaping.ini's
    assert "reload" in res["until"]
    mta.wait_for_log(r"destination single\.test: limits max_connections, max_message_rate set "
                     r"by the administrator \(unix\), until the next reload")
    wait_until(lambda: (sink.reset(), sink.max_seen())[1] == 0, timeout=10,
               what="the pooled connections closed")
    burst("b")
    assert len(sink.messages()) == 6
    assert sink.max_seen() == 2, sink.max_seen()
    status, d = api.get("/api/destinations")
    (st,) = [x for x in d["destinations"] if x["destination"] == "single.test"]
    assert st["limit"] == 2
    # The limits in force, and which the administrator set.
    assert st["limits"]["max_connections"] == 2 and st["limits"]["max_message_rate"] == "100/s"
    assert st["limits"]["idle_timeout"] == 30
    assert st["overridden"] == ["max_connections", "max_message_rate"], st
    # A reload ends them: shaping.ini's limit again.
    status, res = api.post("/api/reload")
    assert status == 200, res
    mta.wait_for_log(r"shaping single\.test: the administrator's limits end with the reload")
    status, d = api.get("/api/destinations")
    (st,) = [x for x in d["destinations"] if x["destination"] == "single.test"]
    assert st["limit"] == 20
    assert st["limits"]["max_connections"] == 20 and st["overridden"] == [], st


# --- outpostctl --------------------------------------------------------------------------------

def ctl(*args, stdin=None):
    assert CTL.exists(), f"{CTL} is missing: make asan"
    p = subprocess.run([str(CTL), *args], input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_outpostctl_over_the_socket_and_tcp(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    smtp_sink("127.0.0.8")
    recording(mta)
    mta.write_config("outbound.ini", "disabled=true\n")
    port = free_port()
    sock = str(tmp_path / "ctl.sock")
    mta.write_config("admin.token", TOKEN + "\n")
    mta.write_config("http.ini", f"listen={sock},127.0.0.1:{port}\ntoken_file=admin.token\n")
    mta.start()
    root = ("-c", str(mta.root))              # http.ini: the Unix socket first
    tcp = ("--url", f"http://127.0.0.1:{port}",
           "--token-file", str(mta.config_path("admin.token")))
    rc, out, _ = ctl(*root, "status")
    assert rc == 0 and out.startswith("outpost ") and f"pid {mta.pid}" in out
    rc, out, _ = ctl(*tcp, "--json", "status")
    assert rc == 0 and json.loads(out)["pid"] == mta.pid
    rc, out, err = ctl("--url", f"http://127.0.0.1:{port}", "status")
    assert rc == 1 and "token" in err
    # inject from stdin, then the tables
    rc, out, err = ctl(*tcp, "inject", "-f", SENDER, "-t", "ok-1@single.test",
                       "-t", "ok-2@single.test", stdin=message(subject="ctl"))
    assert rc == 0 and "id: " in out, err
    rc, out, err = ctl(*root, "queue")
    assert rc == 0 and "single.test" in out and out.splitlines()[0].startswith("DESTINATION")
    rc, out, _ = ctl(*root, "--json", "entries", "--domain", "single.test")
    (e,) = json.loads(out)["entries"]
    assert e["sender"] == SENDER and len(e["recipients"]) == 2
    rc, out, _ = ctl(*root, "hold", e["id"])
    assert rc == 0 and "hold: 1 matched, 1 done" in out, out
    rc, out, _ = ctl(*tcp, "entries", "--state", "held")
    assert rc == 0 and e["id"] in out and " held " in out
    rc, out, err = ctl(*tcp, "hold", e["id"])
    assert rc == 1 and "already held" in out, (out, err)
    rc, out, _ = ctl(*root, "release", "--domain", "single.test")
    assert rc == 0 and "1 done" in out
    rc, out, _ = ctl(*root, "suspend", "single.test", "10m", "--reason", "ctl test")
    assert rc == 0 and "suspended" in out
    rc, out, _ = ctl(*root, "destinations")
    assert "single.test" in out and "suspended" in out
    rc, out, _ = ctl(*root, "resume", "single.test")
    assert rc == 0
    rc, out, err = ctl(*root, "destination", "limits", "single.test", "max_connections=3",
                       "max_message_rate=10/m")
    assert rc == 0 and "max_connections, max_message_rate set until the next reload" in out, \
        (out, err)
    assert "max_connections                3" in out and "10/m" in out, out
    rc, out, _ = ctl(*root, "--json", "destination", "limits", "single.test", "backoff_interval=2m")
    assert rc == 0 and json.loads(out)["limits"]["backoff_interval"] == 120
    # outpostctl destinations: the limits in force, '*' on the administrator's.
    rc, out, _ = ctl(*root, "destinations")
    (lim,) = [ln for ln in out.splitlines() if ln.startswith("  limits:")]
    assert " max_connections=3* " in lim and " max_message_rate=10/m* " in lim, out
    assert " backoff_interval=120* " in lim and " idle_timeout=" in lim, out
    assert "* set by the administrator until the next reload" in lim, out
    rc, out, err = ctl(*root, "destination", "limits", "single.test", "max_connections=x")
    assert rc == 1 and "max_connections: expected a whole number" in out + err, (out, err)
    rc, out, err = ctl(*root, "destination", "limits", "single.test")
    assert rc == 64
    mta.write_config("outbound.ini", "")
    rc, out, _ = ctl(*root, "reload")
    assert rc == 0 and "reloaded: true" in out
    assert sorted(sink.wait_for_messages(1)[0].rcpt_tos) == ["ok-1@single.test",
                                                            "ok-2@single.test"]
    wait_empty(mta)
    rc, out, _ = ctl(*root, "bounce", "no-such.1.1")
    assert rc == 64
    rc, out, err = ctl(*root, "bounce", "--reason", "x", "no-such.1.1")
    assert rc == 1 and "unknown id" in out
    rc, _, _ = ctl(*root, "frobnicate")
    assert rc == 64
    rc, _, err = ctl("--socket", str(tmp_path / "nothing.sock"), "status")
    assert rc == 69 and "cannot reach" in err
