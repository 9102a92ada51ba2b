"""End to end: the example external plugins of contrib/, loaded into the real daemon as any user
would load them (the .so in ROOT/plugins, its name in config/plugins).

bounce_webhook (`make build/asan/contrib/bounce_webhook.so`) observes the bounce hook and POSTs
each bounce event as JSON to a real HTTP server on loopback (WebhookServer below); the SMTP
side is the delivery tests' DNS zone and sinks (single.test's MX is 127.0.0.2, the sender's
bounces.test receives DSNs on 127.0.0.8)."""
import http.server
import json
import re
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from harness.daemon import REPO, run_outpost
from harness.queue import read_entry
from test_delivery import DSN_HOST, SENDER, dsn_fields, parse_dsn, send, wait_empty, \
    wait_hook, with_hooks

WEBHOOK_SO = REPO / "build" / "asan" / "contrib" / "bounce_webhook.so"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass
class Post:
    path: str
    headers: object         # http.client.HTTPMessage: case-insensitive
    body: bytes
    at: float               # time.monotonic() of its arrival

    def json(self):
        return json.loads(self.body.decode("utf-8"))     # strict: the body must be UTF-8


class WebhookServer:
    """http.server on 127.0.0.1:<free port>, one thread per connection, recording every POST.
    Answers are taken from `script` in turn, (status, hold) with hold None or a
    threading.Event to wait for before answering; once it is empty, 200 at once."""

    def __init__(self):
        self.posts = []
        self.script = []
        self.cond = threading.Condition()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"       # keep-alive, as evhttp asks

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server.cond:
                    server.posts.append(Post(self.path, self.headers, body, time.monotonic()))
                    status, hold = server.script.pop(0) if server.script else (200, None)
                    server.cond.notify_all()
                if hold is not None:
                    hold.wait(30)
                reply = b"noted\n"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:         # the plugin gave up or Outpost stopped
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/bounce?token=t1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_posts(self, n, timeout=15):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.posts) >= n, timeout), \
                f"{len(self.posts)} POST(s) within {timeout}s, expected {n}"
            return list(self.posts)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.stop()


@pytest.fixture
def dsn_sink(smtp_sink):
    return smtp_sink(DSN_HOST)


def with_webhook(outpost, url, settings="", plugins="relay\nbounce_webhook\n"):
    """Install the contrib .so into ROOT/plugins, list it, and write its config."""
    if not WEBHOOK_SO.exists():
        pytest.fail(f"{WEBHOOK_SO} missing: run `make {WEBHOOK_SO.relative_to(REPO)}`")
    (outpost.root / "plugins").mkdir(exist_ok=True)
    shutil.copy(WEBHOOK_SO, outpost.root / "plugins" / "bounce_webhook.so")
    outpost.write_config("plugins", plugins)
    outpost.write_config("bounce_webhook.ini", f"[main]\nurl={url}\n{settings}")


def entries_for(outpost, domain):
    """Names of the queue entries of mail to domain (not the DSNs)."""
    names = []
    for name in outpost.queue_files():
        try:
            if read_entry(outpost.entry_path(name))[0].get("domain") == domain:
                names.append(name)
        except (FileNotFoundError, ValueError):
            continue
    return names


def wait_gone(outpost, domain, timeout=15):
    deadline = time.monotonic() + timeout
    while entries_for(outpost, domain):
        assert time.monotonic() < deadline, f"{domain}'s entry still queued"
        time.sleep(0.05)


# --- the event ------------------------------------------------------------------------------

def test_one_post_per_bounce_with_the_bounced_recipient_only(mta, smtp_sink, dsn_sink,
                                                              webhook):
    sink = smtp_sink("127.0.0.2")
    with_webhook(mta, webhook.url)
    mta.start()
    before = datetime.now(timezone.utc)
    txn = send(mta, ["ok-1@single.test", "hard-1@single.test"])
    assert sink.wait_for_messages(1)[0].rcpt_tos == ("ok-1@single.test",)

    post = webhook.wait_posts(1)[0]
    assert post.path == "/hooks/bounce?token=t1"
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["Host"] == f"127.0.0.1:{webhook.port}"
    event = post.json()
    assert list(event) == ["type", "job_id", "domain", "from", "queue_time", "error",
                           "recipients"]
    assert event["type"] == "bounced"
    assert re.fullmatch(rf"{re.escape(txn)}\.\d+", event["job_id"]), event["job_id"]
    assert event["domain"] == "single.test" and event["from"] == SENDER
    assert ISO_MS.fullmatch(event["queue_time"]), event["queue_time"]
    queued = datetime.strptime(event["queue_time"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((queued - before).total_seconds()) < 30
    assert event["error"] is None or isinstance(event["error"], str)
    assert event["recipients"] == [{"address": "hard-1@single.test", "status": "5.1.1",
                                    "code": 550, "action": "failed",
                                    "response": "No such user"}]
    mta.wait_for_log(rf"\[INFO\] .*\[bounce_webhook\] posted bounce {re.escape(event['job_id'])}"
                     rf" to {re.escape(webhook.url)}: 200$")

    # An observer does not change the outcome: the sender still gets its DSN.
    dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
    assert [r["final-recipient"] for r in dsn_fields(dsn)[1]] == ["rfc822;hard-1@single.test"]
    wait_empty(mta)
    time.sleep(0.5)
    assert len(webhook.posts) == 1


def _raw_mx(reply):
    """A bare SMTP server on 127.0.0.2:25 answering every RCPT with the bytes of reply, so
    that replies no aiosmtpd sink would send (not UTF-8, control characters) reach Outpost.
    Serves one connection on a daemon thread; returns the listening socket."""
    listener = socket.create_server(("127.0.0.2", 25))
    listener.settimeout(20)

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 mx1.test ESMTP\r\n")
            for line in lines:
                verb = line[:4].upper()
                if verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                conn.sendall(reply if verb == b"RCPT" else b"250 OK\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_reply_text_is_escaped_into_valid_json(mta, dsn_sink, webhook):
    listener = _raw_mx(b'550 5.1.1 No "such" user \\ here\tnow \x01 caf\xc3\xa9 '
                       b'\xff bad \xe2\x82 cut\r\n')
    try:
        with_webhook(mta, webhook.url)
        mta.start()
        send(mta, ["someone@single.test"])
        event = webhook.wait_posts(1)[0].json()     # strict UTF-8, then JSON
    finally:
        listener.close()
    response = event["recipients"][0]["response"]
    # Every byte that is not part of a UTF-8 sequence is one U+FFFD.
    assert response == 'No "such" user \\ here\tnow \x01 caf\u00e9 \ufffd bad \ufffd\ufffd cut'
    assert event["recipients"][0]["code"] == 550


# --- wait=true / wait=false -----------------------------------------------------------------

def test_wait_retries_and_holds_the_queue_entry_until_posted(mta, smtp_sink, dsn_sink,
                                                             webhook):
    smtp_sink("127.0.0.2")
    release = threading.Event()
    webhook.script = [(500, None), (200, release)]
    with_webhook(mta, webhook.url, "timeout=5\nretries=2\nwait=true\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    first, second = webhook.wait_posts(2)
    assert second.at - first.at >= 0.9                  # the first retry waits 1 s
    assert first.body == second.body
    job = first.json()["job_id"]
    mta.wait_for_log(rf"\[WARN\] .*\[bounce_webhook\] bounce {re.escape(job)} to "
                     rf"{re.escape(webhook.url)}: HTTP 500 .*; retrying in 1 s$")
    # The second POST has no answer yet: the bounced mail's entry must still be there.
    time.sleep(1)
    assert entries_for(mta, "single.test"), "queue entry removed before the POST ended"
    release.set()
    mta.wait_for_log(rf"posted bounce {re.escape(job)} to {re.escape(webhook.url)}: 200$")
    wait_empty(mta)
    assert len(webhook.posts) == 2


def test_without_wait_the_entry_goes_at_once(mta, smtp_sink, dsn_sink, webhook):
    smtp_sink("127.0.0.2")
    release = threading.Event()
    webhook.script = [(200, release)]
    with_webhook(mta, webhook.url)
    mta.start()
    send(mta, ["hard-1@single.test"])
    webhook.wait_posts(1)
    wait_gone(mta, "single.test")           # while the POST still waits for its answer
    release.set()
    mta.wait_for_log(r"posted bounce \S+ to .*: 200$")


def test_unreachable_server_is_retried_then_given_up(mta, smtp_sink, dsn_sink):
    smtp_sink("127.0.0.2")
    with socket.socket() as s:              # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/bounce"
    with_webhook(mta, url, "retries=1\nwait=true\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    mta.wait_for_log(r"\[WARN\] .*\[bounce_webhook\] bounce \S+ to .*: connection failed; "
                     r"retrying in 1 s$")
    mta.wait_for_log(rf"\[WARN\] .*\[bounce_webhook\] bounce \S+ not posted to "
                     rf"{re.escape(url)}: connection failed \(2 tries\)$")
    wait_gone(mta, "single.test")
    assert dsn_sink.wait_for_messages(1)


def test_stop_waits_for_a_post_in_flight(mta, smtp_sink, dsn_sink, webhook):
    """SIGTERM lets in-flight work finish: with wait=true that includes the POST."""
    smtp_sink("127.0.0.2")
    release = threading.Event()
    webhook.script = [(200, release)]
    with_webhook(mta, webhook.url, "wait=true\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    webhook.wait_posts(1)
    mta.signal(signal.SIGTERM)
    mta.wait_for_log(r"SIGTERM: shutting down")
    time.sleep(1)
    assert mta.running and entries_for(mta, "single.test")
    release.set()
    assert mta.proc.wait(20) == 0
    assert re.search(r"posted bounce \S+ to .*: 200\n", mta.output())
    assert not entries_for(mta, "single.test")


def test_forced_stop_cancels_the_post_and_keeps_the_bounce(mta, smtp_sink, dsn_sink, webhook):
    """A second SIGTERM stops at once, with a wait=true POST unanswered: the plugin cancels it
    cleanly (the fixture checks for sanitizer reports), the mail's entry is kept, and the
    bounce is reported again after a restart."""
    smtp_sink("127.0.0.2")
    release = threading.Event()
    webhook.script = [(200, release)]
    with_webhook(mta, webhook.url, "wait=true\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    job = webhook.wait_posts(1)[0].json()["job_id"]
    mta.signal(signal.SIGTERM)
    mta.wait_for_log(r"SIGTERM: shutting down")
    mta.signal(signal.SIGTERM)
    assert mta.proc.wait(20) == 0
    release.set()
    assert re.search(rf"\[WARN\] .*\[bounce_webhook\] shutting down: bounce {re.escape(job)} "
                     rf"not posted", mta.output())
    assert entries_for(mta, "single.test")
    mta.start()
    posts = webhook.wait_posts(2)
    assert posts[1].json()["job_id"] == job
    wait_gone(mta, "single.test")


# --- alongside other plugins ----------------------------------------------------------------

def test_bounce_plugin_answering_ok_does_not_hide_the_event(mta, smtp_sink, dsn_sink, webhook):
    smtp_sink("127.0.0.2")
    with_hooks(mta, "[bounce]\nanswer=ok\n")
    # outbound_hooks comes first and ends the bounce chain with OK (no DSN).
    with_webhook(mta, webhook.url, plugins="relay\noutbound_hooks\nbounce_webhook\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    assert "rcpts=hard-1@single.test" in wait_hook(mta, "bounce")[0]
    event = webhook.wait_posts(1)[0].json()
    assert [r["address"] for r in event["recipients"]] == ["hard-1@single.test"]
    wait_empty(mta)
    time.sleep(0.5)
    assert not dsn_sink.messages()
    assert len(webhook.posts) == 1


# --- configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("ini, message", [
    ("url=https://127.0.0.1/bounce\n",
     "bounce_webhook.ini: url https://127.0.0.1/bounce: https is not supported by this "
     "example; use http://"),
    ("url=junk\n", "bounce_webhook.ini: url 'junk' is not http://host[:port]/path"),
    ("url=ftp://127.0.0.1/x\n",
     "bounce_webhook.ini: url 'ftp://127.0.0.1/x' is not http://host[:port]/path"),
    ("timeout=5\n", "bounce_webhook.ini: [main] url is required (http://host[:port]/path)"),
    ("url=http://127.0.0.1/\nretries=-1\n",
     "bounce_webhook.ini: retries: expected a whole number from 0 to 20, got '-1'"),
    ("url=http://127.0.0.1/\nwait=maybe\n",
     "bounce_webhook.ini: wait: expected true or false, got 'maybe'"),
], ids=["https", "junk", "ftp", "no-url", "retries", "wait"])
def test_bad_config_stops_start_up(mta, ini, message):
    with_webhook(mta, "unused")
    mta.write_config("bounce_webhook.ini", "[main]\n" + ini)
    rc, out, err = run_outpost("-c", mta.root, timeout=30)
    assert rc == 78
    assert err == f"outpost: plugin bounce_webhook: {message}\n"
    assert f"[ERROR] [-] [bounce_webhook] {message}" in out
