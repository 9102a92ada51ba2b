"""Hostile and slow remote servers (issue 14, items 2 and 3), end to end: the real daemon,
the test DNS server, and raw scripted servers (harness/rawsink.py) on 127.0.0.x:25 that send
what no SMTP library would — endless continuations, a 1 MB reply line, invalid codes, mixed
multiline replies, one byte a second, a final-dot reply slower than every other stage, no
reply to the final dot, a server that stops reading the message.

What must hold: a server's protocol error is a temporary failure of that MX (the next MX is
tried, then the mail is deferred and recorded with the reason), never a bounce; every stage
has a deadline for its whole reply that trickling bytes do not extend; the final dot has the
longest one, so a slow but working server gets the message exactly once; no reply after the
final dot is deferred on that MX alone ("may have been delivered"), never sent elsewhere.

Zone: single.test → mx1 (127.0.0.2); multi.test → mx1, mx2 (127.0.0.2/.3, preference 10),
mx3 (127.0.0.4, preference 20). DSNs would go to 127.0.0.8."""
import json
import time

import pytest

from harness.daemon import run_outpost
from harness.rawsink import Drip, Endless, Late, RawSink, Silent, Stall
from test_delivery import DSN_HOST, send, wait_empty

ONE_MB = 1 << 20


@pytest.fixture
def raw_sink(request):
    """Factory: raw_sink(host, port=25) -> a started RawSink, stopped (and checked for sink
    errors) at teardown; a failed test gets its transcript."""
    sinks = []

    def start(host, port=25):
        sink = RawSink(host, port).start()
        sinks.append(sink)
        return sink

    yield start
    report = "\n".join(s.describe() for s in sinks)
    problems = []
    for sink in sinks:
        try:
            sink.stop()
        except Exception as error:
            problems.append(f"raw sink {sink.address} did not stop: {error!r}")
        problems += sink.errors()
    assert not problems, "\n".join(problems) + "\n" + report


def configure(mta, **outbound):
    """outbound_logger on (records in ROOT/logs/outbound.log), one attempt per test (the
    retry is an hour away), plus the given outbound.ini keys."""
    mta.write_config("plugins", "relay\noutbound_logger\n")
    mta.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=logs\n")
    keys = {"temp_fail_intervals": "1h*3", **outbound}
    mta.write_config("outbound.ini", "".join(f"{k}={v}\n" for k, v in keys.items()))


def records(mta):
    path = mta.root / "logs" / "outbound.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_record(mta, kind, timeout=20):
    """The first record of a kind; fails (showing every record) after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in records(mta) if r["type"] == kind]
        if got:
            return got[0]
        assert time.monotonic() < deadline, f"no {kind} record: {records(mta)}"
        time.sleep(0.05)


def assert_deferred_only(mta, dsn_sink, status, *reason_parts):
    """Deferred (once per recipient) with status and a reason holding every part; no bounce
    record, no DSN, the entry still queued."""
    rec = wait_record(mta, "deferred")
    assert rec["dsn_status"] == status, rec
    assert rec["dsn_action"] == "delayed", rec
    reason = rec["undelivered_reason"]
    assert reason.startswith("421 - "), rec
    for part in reason_parts:
        assert part in reason, (part, reason)
    time.sleep(0.3)                       # anything wrong would show by now
    kinds = [r["type"] for r in records(mta)]
    assert kinds == ["deferred"], kinds
    assert not dsn_sink.messages()
    assert len(mta.queue_files()) == 1
    return rec


@pytest.fixture
def dsn_sink(smtp_sink):
    return smtp_sink(DSN_HOST)


# --- item 2: malformed and oversized replies ---------------------------------------------

def test_endless_continuation_tries_every_mx_then_defers(mta, raw_sink, dsn_sink):
    sinks = [raw_sink(ip) for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    for sink in sinks:
        sink.on("ehlo", Endless(b"250-and more\r\n"))
    configure(mta)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    rec = assert_deferred_only(mta, dsn_sink, "4.5.0", "Malformed reply from mx",
                               "while waiting for the reply to EHLO",
                               "reply of more than 100 lines: 250-and more")
    assert rec["recipient"] == "ok-1@multi.test"
    for sink in sinks:                    # each MX tried once, none held
        assert len(sink.connections()) == 1, sink.describe()
        sink.wait_until(lambda s: s.connections()[0].closed is not None, 10, "close")
    mta.wait_for_log(r"\[NOTICE\] .*Malformed reply from mx\d\.test \[127\.0\.0\.\d\] "
                     r".*; trying the next MX")


def test_endless_continuation_then_the_next_mx_delivers(mta, raw_sink, smtp_sink, dsn_sink):
    for ip in ("127.0.0.2", "127.0.0.3"):
        raw_sink(ip).on("greeting", Endless(b"220-hello again\r\n"))
    backup = smtp_sink("127.0.0.4")
    configure(mta)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    assert backup.wait_for_messages(1)[0].rcpt_tos == ("ok-1@multi.test",)
    wait_empty(mta)
    assert [r["type"] for r in records(mta)] == ["delivered"]
    assert not dsn_sink.messages()


def test_a_megabyte_reply_line_defers(mta, raw_sink, dsn_sink):
    sink = raw_sink("127.0.0.2")
    sink.on("mail", b"250 " + b"x" * ONE_MB + b"\r\n")
    configure(mta)
    mta.start()
    started = time.monotonic()
    send(mta, ["ok-1@single.test"])
    assert_deferred_only(mta, dsn_sink, "4.5.0",
                         "Malformed reply from mx1.test [127.0.0.2] while waiting for the "
                         "reply to MAIL FROM: reply line longer than 4096 bytes: 250 xxx")
    assert time.monotonic() - started < 10
    assert not sink.messages()


@pytest.mark.parametrize("stage, reply, fault", [
    ("mail", b"999 what\r\n", "no valid reply code: 999 what"),
    ("mail", b"2x0 sure\r\n", "no valid reply code: 2x0 sure"),
    ("mail", b"150 go on\r\n", "no valid reply code: 150 go on"),
    ("greeting", b"999 hello\r\n", "no valid reply code: 999 hello"),
    ("rcpt", b"250-2.1.5 fine\r\n550 5.1.1 no such user\r\n",
     "reply codes differ between lines: 550 5.1.1 no such user"),
    ("data_end", b"250-queued\r\n451 oops\r\n", "reply codes differ between lines: 451 oops"),
], ids=["999-to-MAIL", "2x0-to-MAIL", "150-to-MAIL", "999-greeting", "mixed-RCPT",
        "mixed-dot"])
def test_invalid_or_mixed_codes_defer_never_bounce(mta, raw_sink, dsn_sink, stage, reply,
                                                   fault):
    sink = raw_sink("127.0.0.2")
    sink.on(stage, reply)
    configure(mta)
    mta.start()
    send(mta, ["hard-1@single.test"])    # a 5xx anywhere would bounce it
    rec = assert_deferred_only(mta, dsn_sink, "4.5.0", "Malformed reply from mx1.test "
                               "[127.0.0.2]", fault)
    if stage == "data_end":
        # The server had the whole message: it may have been delivered, so no other MX
        # gets it now; the record says so.
        assert "may have been delivered" in rec["undelivered_reason"]
        assert len(sink.messages()) == 1
    else:
        assert "may have been delivered" not in rec["undelivered_reason"]
        assert not sink.messages()


# --- item 3: a deadline per stage ----------------------------------------------------------

STAGE_TIMEOUTS = dict(connect_timeout=2, timeout_greeting=3, timeout_ehlo=3, timeout_mail=3,
                      timeout_rcpt=3, timeout_data=3, timeout_data_block=3, timeout_rset=3)


@pytest.mark.parametrize("stage, waiting", [
    ("greeting", "the greeting"),
    ("mail", "the reply to MAIL FROM"),
])
def test_one_byte_a_second_is_cut_at_the_deadline(mta, raw_sink, dsn_sink, stage, waiting):
    sink = raw_sink("127.0.0.2")
    # 40 bytes: 40 s at one byte a second, each byte arriving well inside any idle timer.
    sink.on(stage, Drip(b"250 slowly slowly slowly slowly, ok?\r\n"
                        if stage == "mail" else b"220 slowly slowly slowly slowly here\r\n",
                        1.0))
    configure(mta, **STAGE_TIMEOUTS, timeout_dot=30)
    mta.start()
    send(mta, ["ok-1@single.test"])
    sink.wait_until(lambda s: s.connections() and s.connections()[0].transcript, 10,
                    "connection")
    rec = assert_deferred_only(mta, dsn_sink, "4.4.2", "Conversation with mx1.test "
                               f"[127.0.0.2] timed out while waiting for {waiting} (3 s)")
    assert "may have been delivered" not in rec["undelivered_reason"]
    conn = sink.connections()[0]
    sink.wait_until(lambda s: s.connections()[0].closed is not None, 5, "close")
    # Cut at the 3 s deadline (+ the greeting's and EHLO's round trips), not after 40 s.
    assert conn.closed - conn.opened < 8, sink.describe()
    assert not sink.messages()


def test_a_slow_final_dot_reply_is_delivered_exactly_once(mta, raw_sink):
    # Slower than every other stage's deadline (and connect_timeout), inside timeout_dot.
    sinks = [raw_sink(ip) for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    for sink in sinks:
        sink.on("data_end", Late(b"250 2.0.0 took my time\r\n", 6))
    configure(mta, **STAGE_TIMEOUTS, timeout_dot=20)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    rec = wait_record(mta, "delivered", timeout=30)
    assert rec["smtp_response"] == "took my time"
    wait_empty(mta)
    time.sleep(1)
    got = [m for s in sinks for m in s.messages()]
    assert len(got) == 1, [s.describe() for s in sinks]
    assert got[0].rcpt_tos == ("ok-1@multi.test",)
    assert sum(len(s.connections()) for s in sinks) == 1
    assert [r["type"] for r in records(mta)] == ["delivered"]


def test_no_reply_after_the_dot_defers_on_that_mx_only(mta, raw_sink, dsn_sink):
    sinks = [raw_sink(ip) for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]
    for sink in sinks:
        sink.on("data_end", Silent(60))
    configure(mta, **STAGE_TIMEOUTS, timeout_dot=3)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    rec = assert_deferred_only(mta, dsn_sink, "4.4.2", "timed out while waiting for the "
                               "reply to the final dot (3 s); the message may have been "
                               "delivered")
    assert rec["recipient"] == "ok-1@multi.test"
    # The one server that has the message keeps it alone: no other MX was tried.
    got = [m for s in sinks for m in s.messages()]
    assert len(got) == 1
    assert sum(len(s.connections()) for s in sinks) == 1
    mta.wait_for_log(r"\[WARN\] .*may have been delivered; deferring, not trying another MX")


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_big_message_leaves_block_by_block(mta, smtp_sink, tls_material, tls):
    """Many 64 KiB blocks, each with its own (short) deadline, plain and through the TLS
    filter: the whole message arrives byte-exact, once."""
    options = {"tls": (tls_material.cert, tls_material.key)} if tls else {}
    sink = smtp_sink("127.0.0.2", **options)
    configure(mta, **STAGE_TIMEOUTS, timeout_dot=30)
    mta.start()
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
    body = line * (3 * ONE_MB // len(line)) + b".a dot-stuffed line\r\n"
    data = (b"From: <sender@bounces.test>\r\nTo: <ok-1@single.test>\r\n"
            b"Subject: big\r\nMessage-Id: <big-1@client.test>\r\n\r\n" + body)
    send(mta, ["ok-1@single.test"], data=data)
    got = sink.wait_for_messages(1, timeout=30)
    assert got[0].tls == tls
    assert got[0].data.endswith(body)
    wait_empty(mta)
    time.sleep(0.5)
    assert len(sink.messages()) == 1
    assert [r["type"] for r in records(mta)] == ["delivered"]



def test_a_server_that_stops_reading_the_message_is_cut(mta, raw_sink, dsn_sink):
    """354, then the server reads nothing: once the socket buffers are full the block being
    written misses its deadline (the dot never left: not "may have been delivered")."""
    sink = raw_sink("127.0.0.2")
    sink.on("data", Stall(b"354 go ahead\r\n", 60))
    configure(mta, **STAGE_TIMEOUTS, timeout_dot=30)
    mta.start()
    line = b"x" * 998 + b"\r\n"
    data = (b"From: <sender@bounces.test>\r\nSubject: huge\r\n\r\n" +
            line * (16 * ONE_MB // len(line)))
    send(mta, ["ok-1@single.test"], data=data)
    rec = assert_deferred_only(mta, dsn_sink, "4.4.2", "Conversation with mx1.test "
                               "[127.0.0.2] timed out while waiting for the server to take "
                               "the message (3 s)")
    assert "may have been delivered" not in rec["undelivered_reason"]
    assert not sink.messages()


# --- configuration ---------------------------------------------------------------------------

TIMEOUT_KEYS = {"timeout_greeting": 300, "timeout_ehlo": 300, "timeout_starttls": 300,
                "timeout_auth": 300, "timeout_rset": 20, "timeout_mail": 300,
                "timeout_rcpt": 300, "timeout_data": 120, "timeout_data_block": 180,
                "timeout_dot": 600, "timeout_quit": 5}


def test_init_documents_every_stage_timeout(tmp_path):
    rc, _, err = run_outpost("-i", tmp_path / "root")
    assert rc == 0, err
    text = (tmp_path / "root" / "config" / "outbound.ini").read_text()
    for key, default in TIMEOUT_KEYS.items():
        assert f"\n;{key}={default}\n" in text, key


def test_a_stage_timeout_is_reloaded_with_outbound_ini(mta, raw_sink, dsn_sink):
    sink = raw_sink("127.0.0.2")
    sink.on("greeting", Drip(b"220 slowly slowly slowly slowly here\r\n", 1.0))
    configure(mta, timeout_greeting=60)
    mta.start()
    mark = mta.mark()
    configure(mta, timeout_greeting=2)
    mta.wait_for_each_worker(r"\[NOTICE\] \[-\] \[core\] reloaded outbound.ini$", start=mark)
    send(mta, ["ok-1@single.test"])
    assert_deferred_only(mta, dsn_sink, "4.4.2", "timed out while waiting for the greeting "
                         "(2 s)")
