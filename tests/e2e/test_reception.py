"""Reception end to end: the ESMTP server, relay control, limits, SMTP smuggling, STARTTLS,
AUTH, the queue_outbound hook and what lands in the queue — with real clients (raw sockets,
smtplib, swaks) against the real daemon."""
import base64
import hashlib
import hmac
import re
import resource
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from harness.clients import smtp_client, swaks
from harness.queue import read_entry
from harness.smtpraw import RawSmtp

REPO = Path(__file__).resolve().parents[2]
VERDICT_SO = REPO / "build" / "asan" / "tests" / "plugins" / "queue_verdict.so"

MESSAGE = ("From: Sender <sender@client.test>\r\n"
           "To: ok-1@multi.test\r\n"
           "Subject: reception test\r\n"
           "Message-Id: <fixed-1@client.test>\r\n"
           "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
           "\r\n"
           "Hello.\r\n"
           ".A line that starts with a dot.\r\n"
           "..Two dots.\r\n"
           "Bye.\r\n")
QUEUED = re.compile(r"^250 2\.0\.0 Message Queued \(([0-9A-F-]{36}\.\d+)\)$")


def stuff(message):
    """SMTP dot-stuffing of a CRLF message."""
    return re.sub(r"(?m)^\.", "..", message)


@pytest.fixture
def server(daemon):
    """The daemon on its default configuration: relays for loopback clients."""
    daemon.start()
    return daemon


def send_raw(d, message=MESSAGE, rcpts=("ok-1@multi.test",), sender="sender@client.test",
             source=None):
    """One transaction over a raw connection; returns the final reply as 'code text'."""
    with RawSmtp(d.host, d.port, source=source) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.text(f"MAIL FROM:<{sender}>").startswith("250 ")
        for rcpt in rcpts:
            assert c.text(f"RCPT TO:<{rcpt}>").startswith("250 "), rcpt
        assert c.cmd("DATA")[0] == 354
        c.send(stuff(message) + ".\r\n")
        code, lines = c.reply()
        c.cmd("QUIT")
        return f"{code} {lines[-1]}"


def entries(d):
    return {name: read_entry(d.entry_path(name)) for name in d.queue_files()}


def client_part(message_bytes, original=MESSAGE):
    """The message as the client sent it must end the stored message, byte for byte."""
    assert message_bytes.endswith(original.encode()), message_bytes
    return message_bytes[:-len(original.encode())]


# --- accepting and queuing -----------------------------------------------------------------

def test_greeting_and_ehlo_keywords(server):
    with RawSmtp(server.host, server.port) as c:
        code, lines = c.reply()
        assert code == 220 and "ESMTP" in lines[0]
        keywords = c.ehlo()
        for k in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 26214400", "ENHANCEDSTATUSCODES"]:
            assert k in keywords
        # No tls or auth plugin configured: neither is offered.
        assert "STARTTLS" not in keywords
        assert not any(k.startswith("AUTH") for k in keywords)
        assert c.text("QUIT").startswith("221 2.0.0")


def test_message_is_queued_per_domain_and_read_back_byte_for_byte(server):
    reply = send_raw(server, rcpts=("ok-1@multi.test", "ok-2@multi.test", "ok-3@single.test"))
    txn = QUEUED.match(reply).group(1)
    got = entries(server)
    assert sorted(got) == [f"{txn}.1", f"{txn}.2"]
    fields, rcpts, message = got[f"{txn}.1"]
    assert fields["domain"] == "multi.test"
    assert rcpts == [("pending", "ok-1@multi.test"), ("pending", "ok-2@multi.test")]
    assert fields["mail_from"] == "sender@client.test"
    assert fields["helo"] == "client.test" and fields["client_ip"] == "127.0.0.1"
    assert fields["attempts"] == "0"
    fields2, rcpts2, message2 = got[f"{txn}.2"]
    assert fields2["domain"] == "single.test" and rcpts2 == [("pending", "ok-3@single.test")]
    assert message2 == message
    added = client_part(message).decode()
    # The outbound Received first, then the trace header; Message-Id and Date were present.
    assert re.fullmatch(
        r"Received: \(Haraka outbound\); \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n"
        rf"Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n"
        rf"\tby {re.escape(server_me(server))} \(Outpost\) with ESMTP id {re.escape(txn)}; "
        r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n", added), added


def server_me(d):
    return d.config_path("me").read_text().strip()


def test_single_recipient_trace_header_names_it(server):
    reply = send_raw(server)
    txn = QUEUED.match(reply).group(1)
    _, _, message = read_entry(server.entry_path(f"{txn}.1"))
    assert f"\r\n\tfor <ok-1@multi.test>; ".encode() in message


def test_always_split_makes_one_entry_per_recipient(daemon):
    daemon.write_config("outbound.ini", "always_split=true\n")
    daemon.start()
    reply = send_raw(daemon, rcpts=("ok-1@multi.test", "ok-2@multi.test", "ok-3@single.test"))
    txn = QUEUED.match(reply).group(1)
    got = entries(daemon)
    assert sorted(got) == [f"{txn}.1", f"{txn}.2", f"{txn}.3"]
    assert [got[f"{txn}.{i}"][1] for i in (1, 2, 3)] == [
        [("pending", "ok-1@multi.test")], [("pending", "ok-2@multi.test")],
        [("pending", "ok-3@single.test")]]


def test_missing_message_id_and_date_are_added(server):
    bare = "Subject: no id\r\n\r\nbody\r\n"
    txn = QUEUED.match(send_raw(server, message=bare)).group(1)
    _, _, message = read_entry(server.entry_path(f"{txn}.1"))
    head = client_part(message, bare).decode()
    assert f"\r\nMessage-Id: <{txn}@{server_me(server)}>\r\n" in head
    assert re.search(r"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n$", head)
    # Present ones are kept, not added twice.
    txn = QUEUED.match(send_raw(server)).group(1)
    _, _, message = read_entry(server.entry_path(f"{txn}.1"))
    assert message.count(b"Message-Id:") == 1 and message.count(b"\r\nDate:") == 1


@pytest.mark.parametrize("setting, expected", [
    ("received_header=disabled\n", []),
    ("received_header=My MTA\n", ["Received: (My MTA); "]),
])
def test_received_header_setting(daemon, setting, expected):
    daemon.write_config("outbound.ini", setting)
    daemon.start()
    txn = QUEUED.match(send_raw(daemon)).group(1)
    _, _, message = read_entry(daemon.entry_path(f"{txn}.1"))
    outbound = [line for line in message.decode().split("\r\n")
                if line.startswith("Received: (")]
    assert [line[:len(e)] for line, e in zip(outbound, expected)] == expected
    assert len(outbound) == len(expected)


def test_smtplib_sendmail_with_8bitmime_and_smtputf8(server):
    body = ("From: a@client.test\r\nTo: b@example.test\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
            "\r\nCaf\u00e9 \u2014 8-bit body\r\n").encode("utf-8")
    with smtp_client(server.host, server.port) as c:
        refused = c.sendmail("s\u00e9nder@client.test", ["r\u00e9cipient@example.test"], body,
                             mail_options=["BODY=8BITMIME", "SMTPUTF8"])
        assert refused == {}
    [(fields, rcpts, message)] = entries(server).values()
    assert rcpts == [("pending", "r\u00e9cipient@example.test")]
    assert fields["mail_from"] == "s\u00e9nder@client.test"
    assert message.endswith(body)
    assert "with UTF8SMTP id" in message.decode()


def test_swaks_relays_through_the_acl(server):
    rc, out = swaks("--server", f"{server.host}:{server.port}", "--helo", "client.test",
                    "--from", "sender@client.test", "--to", "ok-1@multi.test")
    assert rc == 0, out
    assert re.search(r"<-  250 2\.0\.0 Message Queued \([0-9A-F-]{36}\.1\)", out), out
    assert len(server.queue_files()) == 1


# --- relay control ---------------------------------------------------------------------------

def test_relay_denied_when_the_acl_does_not_match(daemon):
    daemon.write_config("relay_acl_allow", "192.0.2.0/24\n2001:db8::/32\n")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        assert c.text("MAIL FROM:<sender@client.test>").startswith("250 2.1.0")
        assert c.text("RCPT TO:<ok-1@multi.test>") == "550 5.7.1 Relaying denied"
        assert c.text("DATA").startswith("503 5.5.1")
    assert daemon.queue_files() == []


def test_no_relay_plugin_means_no_relaying(daemon):
    daemon.write_config("plugins", "")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("550 5.7.1")


def test_acl_matches_cidr_by_client_address(daemon):
    daemon.write_config("relay_acl_allow", "127.0.0.2/32\n")
    daemon.start()
    assert QUEUED.match(send_raw(daemon, source="127.0.0.2"))
    with RawSmtp(daemon.host, daemon.port, source="127.0.0.3") as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("550 5.7.1")


def test_ipv6_listener_and_acl(daemon):
    daemon.listen("::1", daemon.port)
    daemon.write_config("relay_acl_allow", "::1/128\n")
    daemon.start()
    assert QUEUED.match(send_raw(daemon))
    [(fields, _, message)] = entries(daemon).values()
    assert fields["client_ip"] == "::1"
    assert b"Received: from client.test ([IPv6:::1])" in message


@pytest.mark.parametrize("name, text, error", [
    ("relay_acl_allow", "0.0.0.0/0\n", "matches every address: an open relay"),
    ("relay_acl_allow", "::/0\n", "matches every address: an open relay"),
    ("relay.ini", "[relay]\nall=true\n", "all: relaying for every client makes an open relay"),
    ("relay_acl_allow", "not-a-network\n", "'not-a-network' is not an address or CIDR"),
    # A negative prefix is refused like any malformed one (it was once read as /32).
    ("relay_acl_allow", "192.0.2.1/-1\n", "'192.0.2.1/-1' is not an address or CIDR"),
])
def test_open_relay_configurations_are_refused(daemon, name, text, error):
    daemon.write_config(name, text)
    daemon.start(ready=False)
    assert daemon.proc.wait(20) == 78
    assert error in daemon.output()
    # The daemon's last words name the cause, not just the plugin.
    assert any(line.startswith("outpost: plugin relay: ") and error in line
               for line in daemon.output().splitlines())


# --- commands and replies ----------------------------------------------------------------------

def test_command_replies(server):
    with RawSmtp(server.host, server.port) as c:
        c.reply()
        assert c.text("MAIL FROM:<a@client.test>").startswith("503 5.5.1")
        assert c.text("HELO client.test").startswith("250 ")
        assert c.text("MAIL FROM:<a@client.test> SIZE=10").startswith("555 5.5.4")
        c.ehlo()
        assert c.text("NOOP") == "250 2.0.0 OK"
        assert c.text("VRFY someone").startswith("252 2.5.0")
        code, lines = c.cmd("HELP")
        assert code == 214 and len(lines) >= 2
        assert c.text("EXPN list").startswith("502 5.5.1")
        assert c.text("BDAT 10 LAST").startswith("502 5.5.1")
        assert c.text("FOO bar") == "500 5.5.1 Unrecognized command"
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("503 5.5.1")
        assert c.text("DATA").startswith("503 5.5.1")
        assert c.text("MAIL FROM:<bad address>").startswith("501 5.1.7")
        assert c.text("MAIL FROM:<a@client.test> FOO=1") == "555 5.5.4 Unsupported parameter FOO"
        assert c.text("MAIL FROM:<a@client.test> BODY=9BIT").startswith("555 5.5.4")
        assert c.text("MAIL FROM:<a@client.test> SIZE=999999999").startswith("552 5.3.4")
        assert c.text("MAIL FROM:<s\u00e9@client.test>").startswith("553 5.6.7")
        assert c.text("MAIL FROM:<a@client.test> SIZE=100 BODY=8BITMIME").startswith(
            "250 2.1.0")
        assert c.text("MAIL FROM:<a@client.test>").startswith("503 5.5.1")
        assert c.text("DATA").startswith("503 5.5.1")
        assert c.text("RCPT TO:<postmaster>") == \
            "550 5.1.3 <postmaster>: a recipient needs a domain"
        assert c.text("RCPT TO:<ok-1@multi.test> NOTIFY=NEVER").startswith("555 5.5.4")
        assert c.text("RCPT TO:<no-brackets@multi.test").startswith("501 5.1.3")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("250 2.1.5")
        assert c.text("DATA extra").startswith("501 5.5.4")
        assert c.text("RSET") == "250 2.0.0 Reset state"
        assert c.text("DATA").startswith("503 5.5.1")
        assert c.text("QUIT").startswith("221 2.0.0")
        assert c.closed()
    assert server.queue_files() == []


def test_pipelined_groups_are_answered_in_order(server):
    with RawSmtp(server.host, server.port) as c:
        c.reply()
        # The whole dialogue in two writes: RFC 2920 groups.
        c.send("EHLO client.test\r\nMAIL FROM:<sender@client.test>\r\n"
               "RCPT TO:<ok-1@multi.test>\r\nRCPT TO:<bad address>\r\n"
               "RCPT TO:<ok-2@single.test>\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(6)]
        assert codes == [250, 250, 250, 501, 250, 354]
        c.send(stuff(MESSAGE) + ".\r\nMAIL FROM:<>\r\nRCPT TO:<ok-3@multi.test>\r\n"
               "DATA\r\n" + stuff(MESSAGE) + ".\r\nNOOP\r\nQUIT\r\n")
        replies = [c.reply() for _ in range(6)]
        assert [r[0] for r in replies] == [250, 250, 250, 354, 250, 250]
        assert QUEUED.match(f"250 {replies[0][1][-1]}")
        assert QUEUED.match(f"250 {replies[4][1][-1]}")
        assert c.reply()[0] == 221
    assert len(server.queue_files()) == 3


def test_many_concurrent_connections(server):
    # From 25 client addresses, 40 each: within connection.ini's default of
    # 50 connections per address (test_abuse_limits.py tests that limit).
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(
                (server.host, server.port), timeout=20,
                source_address=(f"127.0.1.{len(socks) % 25 + 1}", 0)))
        banners = 0
        for s in socks:
            data = b""
            while not data.endswith(b"\r\n"):
                data += s.recv(512)
            banners += data.startswith(b"220 ")
        assert banners == n
        for s in socks:
            s.sendall(b"QUIT\r\n")
        for s in socks:
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"221 ")
    finally:
        for s in socks:
            s.close()
    # Still serving.
    assert QUEUED.match(send_raw(server))


# --- limits -------------------------------------------------------------------------------------

def test_message_size_limit(daemon):
    daemon.write_config("connection.ini", "[max]\nbytes=2000\n")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        assert "SIZE 2000" in c.ehlo()
        assert c.text("MAIL FROM:<a@client.test> SIZE=2001").startswith("552 5.3.4")
        c.cmd("MAIL FROM:<a@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        c.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 40 + ".\r\n")
        assert c.reply() == (552, ["5.3.4 Message size exceeds fixed maximum message size "
                                   "(2000 bytes)"])
        assert c.text("NOOP") == "250 2.0.0 OK"
        # A message under the limit still goes through on the same connection.
        c.cmd("MAIL FROM:<a@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        c.send("Subject: small\r\n\r\nsmall\r\n.\r\n")
        code, lines = c.reply()
        assert QUEUED.match(f"{code} {lines[0]}")
    assert len(daemon.queue_files()) == 1


def test_line_length_limits(daemon):
    daemon.write_config("connection.ini", "[max]\nline_length=512\ndata_line_length=100\n")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        assert c.text("NOOP " + "x" * 600) == "500 5.5.2 Line too long (limit 512 octets)"
        assert c.text("NOOP " + "x" * 500) == "250 2.0.0 OK"
        c.cmd("MAIL FROM:<a@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        # Over data_line_length (bytes with CRLF): folded as Haraka does.
        c.send("Subject: long\r\n\r\n" + "y" * 99 + "\r\n.\r\n")
        assert c.reply()[0] == 250
        c.cmd("MAIL FROM:<a@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        c.send("Subject: ok\r\n\r\n" + "y" * 98 + "\r\n.\r\n")
        assert c.reply()[0] == 250
    assert len(daemon.queue_files()) == 2


def test_recipient_limit(daemon):
    daemon.write_config("connection.ini", "[max]\nrecipients=2\n")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<a@client.test>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("250")
        assert c.text("RCPT TO:<ok-2@multi.test>").startswith("250")
        assert c.text("RCPT TO:<ok-3@multi.test>") == "452 4.5.3 Too many recipients"


def test_unrecognized_command_limit(daemon):
    daemon.write_config("connection.ini", "[max]\nunrecognized_commands=3\n")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        for _ in range(3):
            assert c.cmd("XYZZY")[0] == 500
        code, lines = c.cmd("XYZZY")
        assert code == 421 and lines[0].startswith("4.7.0")
        assert c.closed()


def test_idle_timeout(daemon):
    daemon.write_config("smtp.ini", daemon.config_path("smtp.ini").read_text() +
                        "inactivity_time=1\n")
    daemon.start()
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        code, lines = c.reply()    # nothing sent: the server gives up
        assert code == 421 and lines[0].startswith("4.4.2")
        assert c.closed()


def test_connection_limits(daemon):
    daemon.write_config("connection.ini", "[max]\nconnections=3\nconnections_per_ip=2\n")
    daemon.start()
    a = RawSmtp(daemon.host, daemon.port)
    b = RawSmtp(daemon.host, daemon.port)
    try:
        assert a.reply()[0] == 220 and b.reply()[0] == 220
        with RawSmtp(daemon.host, daemon.port) as c:   # a third from 127.0.0.1
            code, lines = c.reply()
            assert code == 421 and "from your address" in lines[0]
            assert c.closed()
        with RawSmtp(daemon.host, daemon.port, source="127.0.0.9") as c:
            assert c.reply()[0] == 220
            with RawSmtp(daemon.host, daemon.port, source="127.0.0.10") as d:
                code, lines = d.reply()
                assert code == 421 and lines[0] == "4.7.0 " + server_me(daemon) + \
                    " Too many connections, try again later"
    finally:
        a.close()
        b.close()
    time.sleep(0.3)
    assert QUEUED.match(send_raw(daemon))


# --- DATA: dot-stuffing, bare CR/LF, SMTP smuggling -------------------------------------------------

SMUGGLED = ("MAIL FROM:<admin@victim.test>\r\nRCPT TO:<ok-9@multi.test>\r\nDATA\r\n"
            "From: admin@victim.test\r\n\r\nsmuggled\r\n")


@pytest.mark.parametrize("sequence", [
    "\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\n", ".\n", "\r\n\x00.\r\n", "\n\n.\n\n",
    "\r\n.\r\r\n",
    # Found by fuzz_data: a bare LF or CR right after a complete line once ended DATA at the
    # dot that followed it, so what came next ran as commands (a relay that passes bare LF
    # through could have a second message sent under its identity).
    "\r\n\n.\r\n", "\r\n\r.\r\n",
], ids=repr)
def test_smuggling_sequences_are_refused(server, sequence):
    with RawSmtp(server.host, server.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: s\r\n\r\nhello" + sequence + SMUGGLED + "\r\n.\r\n")
        code, lines = c.reply()
        if "\x00" in sequence and "\r" not in sequence.replace("\r\n", ""):
            # NUL is not a line ending: one ordinary message, never two.
            assert code == 250
        else:
            assert (code, lines[0][:5]) == (550, "5.6.0"), lines
        # In step: the next reply is for the next command, nothing was smuggled.
        assert c.text("NOOP") == "250 2.0.0 OK"
    queued = entries(server)
    assert len(queued) == (1 if "\x00" in sequence else 0)
    for _, rcpts, _ in queued.values():
        assert rcpts == [("pending", "ok-1@multi.test")]


def test_bare_lf_and_bare_cr_in_data_are_refused(server):
    for body in ["line one\nline two\r\n", "line one\rline two\r\n"]:
        with RawSmtp(server.host, server.port) as c:
            c.reply()
            c.ehlo()
            c.cmd("MAIL FROM:<sender@client.test>")
            c.cmd("RCPT TO:<ok-1@multi.test>")
            c.cmd("DATA")
            c.send("Subject: bare\r\n\r\n" + body + ".\r\n")
            code, lines = c.reply()
            assert code == 550 and "bare CR or LF" in lines[0]
    assert server.queue_files() == []


def test_dot_unstuffing_and_end_only_at_crlf_dot_crlf(server):
    tricky = "Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.x\r\nend.\r\n. \r\n"
    txn = QUEUED.match(send_raw(server, message=tricky)).group(1)
    _, _, message = read_entry(server.entry_path(f"{txn}.1"))
    assert message.endswith(tricky.encode())


# --- queue_outbound hook ---------------------------------------------------------------------------

@pytest.fixture
def verdict(daemon, tmp_path):
    out = tmp_path / "verdict"
    out.mkdir()
    (daemon.root / "plugins").mkdir(exist_ok=True)
    shutil.copy(VERDICT_SO, daemon.root / "plugins" / "queue_verdict.so")
    daemon.write_config("plugins", "relay\nqueue_verdict\n")
    daemon.write_config("queue_verdict.ini", f"dir={out}\n")
    daemon.start()
    return out


def with_verdict(value, delay=None):
    extra = f"X-Verdict-Delay: {delay}\r\n" if delay else ""
    return f"X-Verdict: {value}\r\n{extra}" + MESSAGE


@pytest.mark.parametrize("value, reply", [
    ("OK", "250 2.0.0 Message Queued"),
    ("OK Taken by the plugin", "250 2.0.0 Taken by the plugin"),
    ("DENY No thanks", "550 5.7.1 No thanks"),
    ("DENYSOFT Later", "450 4.7.1 Later"),
    ("DENYSOFT", "450 4.7.1 Message denied temporarily"),
])
def test_queue_outbound_verdicts(daemon, verdict, value, reply):
    got = send_raw(daemon, message=with_verdict(value))
    assert got == reply
    assert daemon.queue_files() == []
    written = list(verdict.glob("*.eml"))
    if value.startswith("OK"):
        # The plugin got the message with the trace header and took it.
        [eml] = written
        data = eml.read_bytes()
        assert data.startswith(b"Received: from client.test") and data.endswith(
            with_verdict(value).encode())
    else:
        assert written == []


@pytest.mark.parametrize("value, code", [("DENYDISCONNECT", 550),
                                         ("DENYSOFTDISCONNECT", 450)])
def test_queue_outbound_disconnect_verdicts(daemon, verdict, value, code):
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        c.send(stuff(with_verdict(value)) + ".\r\n")
        assert c.reply()[0] == code
        assert c.closed()


def test_queue_outbound_cont_queues_and_pre_send_answer_is_ignored(daemon, verdict):
    reply = send_raw(daemon, message=with_verdict("CONT", delay=200))
    txn = QUEUED.match(reply).group(1)
    assert daemon.queue_files() == [f"{txn}.1"]
    assert (verdict / "pre_send.log").read_text() == f"{txn} 1 sender@client.test\n"


def test_client_gone_while_the_hook_is_pending(daemon, verdict):
    with RawSmtp(daemon.host, daemon.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        c.send(stuff(with_verdict("CONT", delay=500)) + ".\r\n")
    time.sleep(1.0)
    # The hook's late answer found no session: nothing queued, nothing crashed.
    assert daemon.running
    assert QUEUED.match(send_raw(daemon))


# --- STARTTLS ------------------------------------------------------------------------------------------

@pytest.fixture
def tls_server(daemon, tls_material):
    shutil.copy(tls_material.cert, daemon.config_path("tls_cert.pem"))
    shutil.copy(tls_material.key, daemon.config_path("tls_key.pem"))
    daemon.write_config("plugins", "relay\ntls\n")
    return daemon


def test_starttls_resets_the_session_and_is_not_offered_again(tls_server, tls_material):
    tls_server.start()
    with RawSmtp(tls_server.host, tls_server.port) as c:
        c.reply()
        assert "STARTTLS" in c.ehlo()
        c.starttls(ca_file=tls_material.ca_cert)
        # RFC 3207: the EHLO state is gone.
        assert c.text("MAIL FROM:<sender@client.test>").startswith("503 5.5.1")
        keywords = c.ehlo()
        assert "STARTTLS" not in keywords
        assert c.text("STARTTLS").startswith("502 5.5.1")
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        c.cmd("DATA")
        c.send(stuff(MESSAGE) + ".\r\n")
        code, lines = c.reply()
        assert code == 250
    [(_, _, message)] = entries(tls_server).values()
    assert re.search(rb"\r\n\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n\tby .* "
                     rb"with ESMTPS id ", message), message[:400]


def test_input_pipelined_behind_starttls_is_discarded(tls_server, tls_material):
    tls_server.start()
    with RawSmtp(tls_server.host, tls_server.port) as c:
        c.reply()
        c.ehlo()
        # A command injected behind STARTTLS in the same packet must not be run.
        c.send("STARTTLS\r\nMAIL FROM:<injected@client.test>\r\n")
        code, _ = c.reply()
        assert code == 220
        assert c.buf == b""
        ctx = ssl.create_default_context(cafile=str(tls_material.ca_cert))
        c.sock = ctx.wrap_socket(c.sock, server_hostname="mx1.test")
        c.ehlo()
        # Had the injected MAIL run, this would be 503 (nested MAIL).
        assert c.text("MAIL FROM:<sender@client.test>").startswith("250 2.1.0")


def test_tls_min_version(tls_server, tls_material):
    tls_server.write_config("tls.ini", "[main]\nminVersion=TLSv1.3\n")
    tls_server.start()
    with RawSmtp(tls_server.host, tls_server.port) as c:
        c.reply()
        c.ehlo()
        with pytest.raises(ssl.SSLError):
            c.starttls(ca_file=tls_material.ca_cert,
                       maximum_version=ssl.TLSVersion.TLSv1_2)
    # The daemon carries on.
    assert QUEUED.match(send_raw(tls_server))


@pytest.mark.parametrize("ini, error", [
    ("[main]\nciphers=NO-SUCH-CIPHER\n", "config/tls.ini:2: ciphers: no usable cipher in "
     "'NO-SUCH-CIPHER'"),
    ("[main]\nminVersion=SSLv3\n", "config/tls.ini:2: minVersion: expected TLSv1, TLSv1.1, "
     "TLSv1.2 or TLSv1.3, got 'SSLv3'"),
])
def test_tls_ini_errors_stop_start_up(tls_server, ini, error):
    tls_server.write_config("tls.ini", ini)
    tls_server.start(ready=False)
    assert tls_server.proc.wait(20) == 78
    assert error in tls_server.output()


def test_tls_plugin_without_a_key_stops_start_up(daemon):
    daemon.write_config("plugins", "tls\n")
    daemon.start(ready=False)
    assert daemon.proc.wait(20) == 78
    assert "tls: cannot load the certificate" in daemon.output()


# --- AUTH ----------------------------------------------------------------------------------------------

USERS = "[core]\nmethods=PLAIN,LOGIN,CRAM-MD5\n[users]\nalice=s3cret pass\nbob=hunter2\n"


@pytest.fixture
def auth_server(daemon, tls_material):
    shutil.copy(tls_material.cert, daemon.config_path("tls_cert.pem"))
    shutil.copy(tls_material.key, daemon.config_path("tls_key.pem"))
    daemon.write_config("plugins", "relay\ntls\nauth/flat_file\n")
    daemon.write_config("auth_flat_file.ini", USERS)
    # Nobody relays by address: only AUTH opens the door.
    daemon.write_config("relay_acl_allow", "192.0.2.1\n")
    daemon.write_config("connection.ini", "[auth]\nfailure_delay=1\n")
    daemon.start()
    return daemon


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_swaks_relays_with_auth_over_starttls(auth_server, tls_material):
    for method in ["PLAIN", "LOGIN", "CRAM-MD5"]:
        rc, out = swaks("--server", f"{auth_server.host}:{auth_server.port}",
                        "--helo", "client.test", "--from", "alice@client.test",
                        "--to", "ok-1@multi.test", "--tls", "--tls-verify",
                        "--tls-ca-path", tls_material.ca_cert, "--tls-sni", "mx1.test",
                        "--auth", method, "--auth-user", "alice",
                        "--auth-password", "s3cret pass")
        assert rc == 0, out
        assert "235 2.7.0 Authentication successful" in out, out
        assert "250 2.0.0 Message Queued" in out, out
    assert len(auth_server.queue_files()) == 3
    messages = [m for _, _, m in entries(auth_server).values()]
    assert all(b" with ESMTPSA id " in m for m in messages)


def test_relay_denied_without_auth(auth_server):
    with RawSmtp(auth_server.host, auth_server.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@client.test>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("550 5.7.1")


def test_auth_plain_and_login_over_loopback(auth_server):
    with RawSmtp(auth_server.host, auth_server.port) as c:
        c.reply()
        keywords = c.ehlo()
        # A loopback client may use clear-text mechanisms without TLS.
        assert "AUTH PLAIN LOGIN CRAM-MD5" in keywords
        assert c.text("AUTH PLAIN " + b64("\0alice\0s3cret pass")).startswith("235 2.7.0")
        assert c.text("AUTH PLAIN " + b64("\0alice\0s3cret pass")).startswith("503 5.5.1")
        assert "AUTH" not in " ".join(c.ehlo())
        c.cmd("MAIL FROM:<alice@client.test>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("250 2.1.5")
    with RawSmtp(auth_server.host, auth_server.port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("AUTH LOGIN") == (334, ["VXNlcm5hbWU6"])
        assert c.cmd(b64("bob")) == (334, ["UGFzc3dvcmQ6"])
        assert c.text(b64("hunter2")).startswith("235 2.7.0")


def test_auth_cram_md5_with_smtplib(auth_server):
    with smtp_client(auth_server.host, auth_server.port) as c:
        c.ehlo()
        c.user, c.password = "bob", "hunter2"
        code, _ = c.auth("CRAM-MD5", c.auth_cram_md5)
        assert code == 235
        c.sendmail("bob@client.test", ["ok-1@multi.test"], MESSAGE.encode())
    assert len(auth_server.queue_files()) == 1


def test_failed_auth_is_delayed_counted_and_ends_the_connection(auth_server):
    with RawSmtp(auth_server.host, auth_server.port) as c:
        c.reply()
        c.ehlo()
        for attempt in range(3):
            start = time.monotonic()
            code, lines = c.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
            assert (code, lines[0]) == (535, "5.7.8 Authentication credentials invalid")
            assert time.monotonic() - start >= 0.9     # failure_delay=1
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("4.7.0")
        assert c.closed()
    with RawSmtp(auth_server.host, auth_server.port) as c:
        c.reply()
        c.ehlo()
        # A wrong CRAM-MD5 digest and an unknown user fail the same way.
        code, lines = c.cmd("AUTH CRAM-MD5")
        challenge = base64.b64decode(lines[0])
        digest = hmac.new(b"not the password", challenge, hashlib.md5).hexdigest()
        assert c.cmd(b64("bob " + digest))[0] == 535
        assert c.cmd("AUTH PLAIN " + b64("\0mallory\0x"))[0] == 535
        assert c.text("AUTH PLAIN *") == "501 5.0.0 Authentication cancelled"
        assert c.cmd("AUTH XOAUTH2")[0] == 504
        assert c.cmd("AUTH LOGIN")[0] == 334
        assert c.text("*") == "501 5.0.0 Authentication cancelled"
        assert c.cmd("AUTH PLAIN !!!")[0] == 501


def test_tls_auth_plain_then_relay(auth_server, tls_material):
    with RawSmtp(auth_server.host, auth_server.port) as c:
        c.reply()
        c.ehlo()
        c.starttls(ca_file=tls_material.ca_cert)
        assert "AUTH PLAIN LOGIN CRAM-MD5" in c.ehlo()
        assert c.cmd("AUTH PLAIN")[0] == 334
        assert c.text(b64("alice\0alice\0s3cret pass")).startswith("235 2.7.0")
        c.cmd("MAIL FROM:<alice@client.test>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("250")


# --- shutdown --------------------------------------------------------------------------------------

def test_sigterm_says_421_to_idle_clients_and_finishes_a_transaction(server):
    idle = RawSmtp(server.host, server.port)
    busy = RawSmtp(server.host, server.port)
    try:
        idle.reply()
        idle.ehlo()
        busy.reply()
        busy.ehlo()
        busy.cmd("MAIL FROM:<sender@client.test>")
        busy.cmd("RCPT TO:<ok-1@multi.test>")
        assert busy.cmd("DATA")[0] == 354
        busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
        time.sleep(0.2)
        server.signal(15)
        code, lines = idle.reply()
        assert code == 421 and lines[0].startswith("4.3.2")
        time.sleep(0.2)
        busy.send("second half\r\n.\r\n")
        code, lines = busy.reply()
        assert code == 250, lines
        code, lines = busy.reply()
        assert code == 421
        assert server.proc.wait(20) == 0
    finally:
        idle.close()
        busy.close()
    assert len(server.queue_files()) == 1


# --- --qlist / --qstat ----------------------------------------------------------------------------

def test_qlist_and_qstat_read_the_queue(server):
    from harness.daemon import run_outpost
    first = QUEUED.match(send_raw(server, rcpts=("ok-1@multi.test", "ok-2@single.test"))).group(1)
    second = QUEUED.match(send_raw(server, sender="")).group(1)
    (server.entry_path("error.BROKEN.1.1")).write_bytes(b"junk")
    rc, out, err = run_outpost("-c", server.root, "--qlist")
    assert rc == 0, err
    lines = out.splitlines()
    assert any(line.startswith(f"{first}.1 multi.test rcpts=1 attempts=0 next=")
               and "from=<sender@client.test> to=<ok-1@multi.test>" in line for line in lines)
    assert any(line.startswith(f"{first}.2 single.test rcpts=1 ") for line in lines)
    assert any(line.startswith(f"{second}.1 multi.test ") and "from=<>" in line
               for line in lines)
    assert lines[-1].startswith("-- 3 entries, 3 recipients (3 pending)")
    rc, out, err = run_outpost("-c", server.root, "--qstat")
    assert rc == 0, err
    stats = dict(line.split(" ", 1) for line in out.splitlines())
    assert (stats["entries"], stats["recipients"], stats["recipients_pending"],
            stats["set_aside"], stats["deferred"]) == ("3", "3", "3", "1", "0")
    rc, out, err = run_outpost("--qstat")
    assert rc == 64 and "need -c ROOT" in err
