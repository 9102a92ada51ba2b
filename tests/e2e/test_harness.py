"""The harness's own peers work: DNS answers, sink behaviours through real clients, TLS
material, and the daemon runner (against a stand-in script; the real daemon is not needed)."""
import os
import signal
import smtplib
import socket
import ssl
import sys
import time

import dns.rcode
import dns.rdatatype
import pytest

from harness.clients import CLIENT_NAME, smtp_client, swaks
from harness.daemon import (ALL_READY_RE, READY_RE, Daemon, check_sanitizers, outpost_binary,
                            run_outpost)
from harness.dns import resolve
from harness.sink import SmtpSink, wait_all
from harness.util import free_port

MX1, MX2 = "127.0.0.2", "127.0.0.3"
MESSAGE = b"Subject: harness\r\nFrom: a@b.test\r\n\r\nhello\r\n"


def _rrset(response, rdtype):
    return sorted(str(rdata) for rrset in response.answer
                  if rrset.rdtype == dns.rdatatype.from_text(rdtype) for rdata in rrset)


# --- DNS -----------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dns_mx_priorities(dns_server, tcp):
    answer = resolve(dns_server, "multi.test", "MX", tcp=tcp)
    assert answer.rcode() == dns.rcode.NOERROR
    assert _rrset(answer, "MX") == ["10 mx1.test.", "10 mx2.test.", "20 mx3.test."]
    for host, ip in [("mx1", "127.0.0.2"), ("mx2", "127.0.0.3"), ("mx3", "127.0.0.4")]:
        assert _rrset(resolve(dns_server, f"{host}.test", "A", tcp=tcp), "A") == [ip]


def test_dns_null_mx(dns_server):
    assert _rrset(resolve(dns_server, "nullmx.test", "MX"), "MX") == ["0 ."]


def test_dns_implicit_mx(dns_server):
    no_mx = resolve(dns_server, "implicit.test", "MX")
    assert no_mx.rcode() == dns.rcode.NOERROR and not no_mx.answer
    assert _rrset(resolve(dns_server, "implicit.test", "A"), "A") == ["127.0.0.5"]


def test_dns_v6_mx(dns_server):
    assert _rrset(resolve(dns_server, "v6.test", "MX"), "MX") == ["10 mx6.test."]
    assert _rrset(resolve(dns_server, "mx6.test", "AAAA"), "AAAA") == ["::1"]
    assert _rrset(resolve(dns_server, "mx6.test", "A"), "A") == ["127.0.0.6"]


@pytest.mark.parametrize("rdtype", ["MX", "A"])
def test_dns_nxdomain(dns_server, rdtype):
    assert resolve(dns_server, dns_server.nxdomain_name, rdtype).rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("name", ["servfail.test", "mail.servfail.test"])
def test_dns_servfail(dns_server, name, tcp):
    assert resolve(dns_server, name, "MX", tcp=tcp).rcode() == dns.rcode.SERVFAIL


def test_dns_servers_value(dns_server):
    assert dns_server.servers == f"127.0.0.1:{dns_server.port}"
    assert _rrset(resolve(dns_server.servers, "single.test", "MX"), "MX") == ["10 mx1.test."]


def test_dns_extra_records_and_zones(dns_server, dns_records):
    port = dns_server.port
    dns_records(["extra.test. MX 10 mx2.test."],
                zones={"example.": ["example. MX 5 mx1.test.", "www.example. A 127.0.0.7"]})
    assert dns_server.port == port
    assert _rrset(resolve(dns_server, "extra.test", "MX"), "MX") == ["10 mx2.test."]
    assert _rrset(resolve(dns_server, "example", "MX"), "MX") == ["5 mx1.test."]
    assert _rrset(resolve(dns_server, "www.example", "A"), "A") == ["127.0.0.7"]
    assert _rrset(resolve(dns_server, "multi.test", "MX"), "MX")  # base zone still served


def test_dns_extra_records_are_reset(dns_server):
    # Runs after the test above: its records are gone.
    assert resolve(dns_server, "extra.test", "MX").rcode() == dns.rcode.NXDOMAIN


# --- SMTP sink: recipients, senders, data ---------------------------------------------


def test_sink_rcpt_replies_by_local_part(smtp_sink):
    sink = smtp_sink(MX1)
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.mail("sender@a.test") == (250, b"2.1.0 OK")
        assert client.rcpt("ok-1@b.test") == (250, b"2.1.5 OK")
        assert client.rcpt("soft-1@b.test") == (451, b"4.7.1 Temporary failure, try again")
        assert client.rcpt("hard-1@b.test") == (550, b"5.1.1 No such user")
        assert client.rcpt("Someone@b.test") == (250, b"2.1.5 OK")
        assert client.data(MESSAGE) == (250, b"2.0.0 OK queued as 1")
    [message] = sink.wait_for_messages(1)
    assert message.mail_from == "sender@a.test"
    assert message.rcpt_tos == ("ok-1@b.test", "Someone@b.test")
    assert message.ehlo == CLIENT_NAME and message.peer[0] == "127.0.0.1"
    assert not message.tls and message.auth_user is None


def test_sink_null_sender_smtplib(smtp_sink):
    sink = smtp_sink(MX1)
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.mail("")[0] == 250          # MAIL FROM:<>
        assert client.rcpt("<>")[0] == 501        # a null recipient is not an address
        assert client.rcpt("ok-bounce@b.test")[0] == 250
        assert client.data(MESSAGE)[0] == 250
    [message] = sink.wait_for_messages(1)
    assert message.mail_from == "" and message.rcpt_tos == ("ok-bounce@b.test",)
    assert "> MAIL FROM:<>" in sink.sessions()[0].transcript


def test_sink_swaks_delivery_and_null_sender(smtp_sink):
    sink = smtp_sink(MX2)
    rc, out = swaks("--server", f"{MX2}:25", "--helo", "swaks.test", "--from", "<>",
                    "--to", "ok-a@b.test,hard-b@b.test,c@b.test", "--body", "swaks body")
    assert rc == 0, out
    [message] = sink.wait_for_messages(1)
    assert message.mail_from == "" and message.ehlo == "swaks.test"
    assert message.rcpt_tos == ("ok-a@b.test", "c@b.test")
    assert b"\r\n\r\nswaks body\r\n" in message.data


def test_sink_data_byte_exact(smtp_sink):
    sink = smtp_sink(MX1)
    body = (b"Subject: exact\r\n\r\n"
            b".leading dot\r\n..two dots\r\n.\tdot tab\r\n"
            b"trailing space \r\n\r\n"
            b"8bit \xe9\xff\x00 bytes\r\n"
            + b"x" * 990 + b"\r\n"
            b"last line")                     # smtplib adds the final CRLF
    with smtp_client(MX1) as client:
        client.ehlo()
        client.sendmail("a@b.test", ["ok-x@b.test"], body, mail_options=["BODY=8BITMIME"])
    [message] = sink.wait_for_messages(1)
    assert message.data == body + b"\r\n"
    assert "BODY=8BITMIME" in message.mail_options   # aiosmtpd upper-cases options


def test_sink_pipelining(smtp_sink):
    """Commands sent in one write get their replies in order (PIPELINING is advertised)."""
    sink = smtp_sink(MX1)
    with socket.create_connection((MX1, 25), timeout=5) as conn:
        reader = conn.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        conn.sendall(b"EHLO pipe.test\r\n")
        ehlo = [reader.readline()]
        while ehlo[-1].startswith(b"250-"):
            ehlo.append(reader.readline())
        assert b"250-PIPELINING\r\n" in ehlo and ehlo[-1] == b"250 HELP\r\n"
        conn.sendall(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<ok-1@c.test>\r\n"
                     b"RCPT TO:<hard-2@c.test>\r\nDATA\r\n")
        replies = [reader.readline()[:3] for _ in range(4)]
        assert replies == [b"250", b"250", b"550", b"354"]
        conn.sendall(b"Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        assert reader.readline().startswith(b"250 2.0.0")
        assert reader.readline().startswith(b"221")
    assert sink.wait_for_messages(1)[0].rcpt_tos == ("ok-1@c.test",)


def test_sink_counters_and_sessions(smtp_sink):
    sink = smtp_sink(MX1)
    for n in range(2):
        with smtp_client(MX1) as client:
            client.sendmail("a@b.test", [f"ok-{n}@c.test", f"soft-{n}@c.test"], MESSAGE)
    sink.wait_for_messages(2)
    counts = sink.counts()
    assert counts["connections"] == 2
    assert (counts["EHLO"], counts["MAIL"], counts["RCPT"], counts["DATA"]) == (2, 2, 4, 2)
    sink.wait_until(lambda s: all(session.closed for session in s.sessions()), 5)
    assert [s.index for s in sink.sessions()] == [0, 1]
    assert [m.session for m in sink.messages()] == [0, 1]


def test_sink_several_messages_per_connection(smtp_sink):
    sink = smtp_sink(MX1)
    with smtp_client(MX1) as client:
        client.sendmail("a@b.test", ["ok-1@c.test"], MESSAGE)
        client.rset()
        client.sendmail("", ["ok-2@c.test"], MESSAGE + b"second\r\n")
    first, second = sink.wait_for_messages(2)
    assert (first.session, second.session) == (0, 0)
    assert (first.mail_from, second.mail_from) == ("a@b.test", "")
    assert second.rcpt_tos == ("ok-2@c.test",) and second.data.endswith(b"second\r\n")
    assert sink.count("connections") == 1 and sink.count("RSET") == 1


def test_sink_reset_and_wait_all(smtp_sink):
    mx1, mx2 = smtp_sink(MX1), smtp_sink(MX2)
    for host in (MX1, MX2):
        with smtp_client(host) as client:
            client.sendmail("a@b.test", [f"ok-{host}@c.test"], MESSAGE)
    assert sorted(m.rcpt_tos[0] for m in wait_all([mx1, mx2], 2)) == [
        f"ok-{MX1}@c.test", f"ok-{MX2}@c.test"]
    mx1.reset()
    assert mx1.messages() == [] and mx1.sessions() == [] and mx1.counts() == {}
    with pytest.raises(TimeoutError):
        wait_all([mx1, mx2], 3, timeout=0.2)


def test_sink_wait_for_messages_times_out(smtp_sink):
    sink = smtp_sink(MX1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sink.wait_for_messages(1, timeout=0.2)
    assert time.monotonic() - started < 1


# --- SMTP sink: failure injection -------------------------------------------------------


@pytest.mark.parametrize("stage, reply, swaks_rc", [
    ("greeting", "554 5.3.2 No service", 21),
    ("ehlo", "550 5.7.1 Go away", 22),
    ("mail", "451 4.3.0 Try later", 23),
    ("rcpt", "452 4.5.3 Too many recipients", 24),
    ("data", "554 5.5.1 No valid recipients", 25),
    ("data_end", "552 5.3.4 Message too big", 26),
])
def test_sink_fail_at_stage(smtp_sink, stage, reply, swaks_rc):
    sink = smtp_sink(MX1)
    sink.fail(stage, reply)
    rc, out = swaks("--server", f"{MX1}:25", "--helo", "f.test", "--from", "a@b.test",
                    "--to", "ok-1@c.test")
    assert rc == swaks_rc, out
    assert f"<** {reply}" in out
    assert f"< {reply}" in sink.sessions()[0].transcript
    assert sink.messages() == []
    if stage == "data_end":
        [rejected] = sink.messages(include_rejected=True)
        assert rejected.reply == reply and not rejected.accepted


def test_sink_failed_greeting_then_only_quit(smtp_sink):
    """After a 554 banner the sink answers 503 to everything but QUIT (RFC 5321 3.1)."""
    sink = smtp_sink(MX1)
    sink.fail("greeting", "554 5.3.2 Not now")
    with socket.create_connection((MX1, 25), timeout=5) as conn:
        reader = conn.makefile("rb")
        assert reader.readline() == b"554 5.3.2 Not now\r\n"
        conn.sendall(b"EHLO x.test\r\n")
        assert reader.readline().startswith(b"503 ")
        conn.sendall(b"QUIT\r\n")
        assert reader.readline().startswith(b"221 ")
        assert reader.readline() == b""               # then the sink closes
    assert sink.count("EHLO") == 1 and sink.count("QUIT") == 1


def test_sink_fault_times_and_clear(smtp_sink):
    sink = smtp_sink(MX1)
    sink.fail("mail", "451 4.3.0 Once", times=1)
    sink.fail("rcpt", "451 4.3.0 Always")
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.mail("a@b.test")[0] == 451
        assert client.mail("a@b.test")[0] == 250
        assert client.rcpt("ok-1@c.test")[0] == 451
        assert client.rcpt("ok-1@c.test")[0] == 451
        sink.clear_faults()
        assert client.rcpt("ok-1@c.test")[0] == 250


def test_sink_421_closes_connection(smtp_sink):
    sink = smtp_sink(MX1)
    sink.fail("mail", "421 4.3.2 Shutting down")
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.mail("a@b.test") == (421, b"4.3.2 Shutting down")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    sink.wait_until(lambda s: s.sessions()[0].closed, 5)


def test_sink_multiline_fault_reply(smtp_sink):
    sink = smtp_sink(MX1)
    sink.fail("rcpt", "550-5.7.26 Unauthenticated mail\n550 5.7.26 is refused")
    with smtp_client(MX1) as client:
        client.ehlo()
        client.mail("a@b.test")
        assert client.rcpt("ok-1@c.test") == (550, b"5.7.26 Unauthenticated mail\n"
                                                   b"5.7.26 is refused")


@pytest.mark.parametrize("stage", ["greeting", "ehlo", "mail", "rcpt", "data", "data_end"])
def test_sink_drop_at_stage(smtp_sink, stage):
    sink = smtp_sink(MX1)
    sink.drop(stage)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        with smtp_client(MX1) as client:
            client.sendmail("a@b.test", ["ok-1@c.test"], MESSAGE)
    sink.wait_until(lambda s: s.sessions() and s.sessions()[0].closed, 5, "the drop")
    assert sink.messages() == []
    if stage == "data_end":           # the data arrived, no reply was sent
        [dropped] = sink.messages(include_rejected=True)
        assert dropped.data == MESSAGE and dropped.reply == ""


def test_sink_drop_with_swaks(smtp_sink):
    sink = smtp_sink(MX1)
    sink.drop("rcpt")
    rc, out = swaks("--server", f"{MX1}:25", "--helo", "d.test", "--from", "a@b.test",
                    "--to", "ok-1@c.test")
    assert rc != 0, out
    assert sink.count("RCPT") == 1 and sink.messages() == []


def test_sink_stall_at_greeting(smtp_sink):
    """The connection is accepted, nothing is said, and it is closed after the stall."""
    sink = smtp_sink(MX1)
    sink.stall("greeting", 0.6)
    started = time.monotonic()
    with socket.create_connection((MX1, 25), timeout=0.3) as conn:
        with pytest.raises(socket.timeout):
            conn.recv(100)
        conn.settimeout(3)
        assert conn.recv(100) == b""
    assert 0.5 < time.monotonic() - started < 2.5
    assert sink.count("connections") == 1


def test_sink_stall_mid_session(smtp_sink):
    sink = smtp_sink(MX1)
    sink.stall("data", 0.6)
    with smtp_client(MX1, timeout=0.3) as client:
        client.ehlo()
        client.mail("a@b.test")
        client.rcpt("ok-1@c.test")
        with pytest.raises((socket.timeout, smtplib.SMTPServerDisconnected)):
            client.data(MESSAGE)
    sink.wait_until(lambda s: s.sessions()[0].closed, 3)
    assert sink.messages(include_rejected=True) == []


def test_sink_delay(smtp_sink):
    sink = smtp_sink(MX1)
    sink.delay("mail", 0.4)
    with smtp_client(MX1) as client:
        client.ehlo()
        started = time.monotonic()
        assert client.mail("a@b.test")[0] == 250
        assert time.monotonic() - started >= 0.35


def test_sink_stop_closes_open_connections():
    sink = SmtpSink(MX1, free_port(MX1)).start()
    client = smtp_client(MX1, sink.port)
    client.ehlo()
    started = time.monotonic()
    sink.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((MX1, sink.port), timeout=2)


# --- SMTP sink: addresses, TLS, AUTH, LMTP --------------------------------------------


def test_sink_other_port_and_ipv6(smtp_sink):
    port = free_port("::1")
    v6 = smtp_sink("::1", port)
    with smtp_client("::1", port) as client:
        client.sendmail("a@b.test", ["ok-6@c.test"], MESSAGE)
    [message] = v6.wait_for_messages(1)
    assert message.peer[0] == "::1" and v6.address == f"[::1]:{port}"


def test_sink_without_starttls(smtp_sink):
    smtp_sink(MX1)
    with smtp_client(MX1) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.starttls()


def test_sink_starttls_verified_against_test_ca(smtp_sink, tls_material):
    sink = smtp_sink(MX1, tls=(tls_material.cert, tls_material.key))
    context = ssl.create_default_context(cafile=str(tls_material.ca_cert))
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert client.starttls(context=context)[0] == 220   # verifies the cert for 127.0.0.2
        client.ehlo()
        assert not client.has_extn("starttls")              # not offered again under TLS
        client.sendmail("a@b.test", ["ok-tls@c.test"], MESSAGE)
    [message] = sink.wait_for_messages(1)
    assert message.tls and message.data == MESSAGE
    assert sink.sessions()[0].tls_version.startswith("TLSv1.")


def test_sink_certificate_not_trusted_without_test_ca(smtp_sink, tls_material):
    smtp_sink(MX1, tls=(tls_material.cert, tls_material.key))
    with smtp_client(MX1) as client:
        client.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())


def test_sink_certificate_for_another_name(smtp_sink, tls_material):
    cert, key = tls_material.issue("other", ["other.test"])
    smtp_sink(MX1, tls=(cert, key))
    context = ssl.create_default_context(cafile=str(tls_material.ca_cert))
    with smtp_client(MX1) as client:
        client.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            client.starttls(context=context)


def test_sink_starttls_with_swaks(smtp_sink, tls_material):
    sink = smtp_sink(MX2, tls=(tls_material.cert, tls_material.key))
    rc, out = swaks("--server", f"{MX2}:25", "--helo", "t.test", "--from", "a@b.test",
                    "--to", "ok-1@c.test", "--tls", "--tls-verify",
                    "--tls-ca-path", tls_material.ca_cert)
    assert rc == 0, out
    assert sink.wait_for_messages(1)[0].tls


def test_sink_require_tls(smtp_sink, tls_material):
    smtp_sink(MX1, tls=(tls_material.cert, tls_material.key), require_tls=True)
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.mail("a@b.test")[0] == 530


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_sink_auth_required(smtp_sink, mechanism):
    sink = smtp_sink(MX1, auth=("relay-user", "s3cret"))
    with smtp_client(MX1) as client:
        client.ehlo()
        assert client.has_extn("auth") and mechanism in client.esmtp_features["auth"]
        assert client.mail("a@b.test")[0] == 530
        client.user, client.password = "relay-user", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        client.password = "s3cret"
        assert client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))[0] == 235
        client.sendmail("a@b.test", ["ok-auth@c.test"], MESSAGE)
    [message] = sink.wait_for_messages(1)
    assert message.auth_user == "relay-user"
    assert f"> AUTH {mechanism}" in sink.sessions()[0].transcript   # credentials not kept


def test_sink_auth_with_swaks(smtp_sink):
    sink = smtp_sink(MX1, auth=("u", "p"))
    base = ("--server", f"{MX1}:25", "--helo", "a.test", "--from", "a@b.test",
            "--to", "ok-1@c.test", "--auth", "LOGIN", "--auth-user", "u")
    rc, out = swaks(*base, "--auth-password", "bad")
    assert rc == 28, out
    rc, out = swaks(*base, "--auth-password", "p")
    assert rc == 0, out
    assert sink.wait_for_messages(1)[0].auth_user == "u"


def test_sink_auth_only_under_tls(smtp_sink, tls_material):
    sink = smtp_sink(MX1, auth=("u", "p"), auth_require_tls=True,
                     tls=(tls_material.cert, tls_material.key))
    context = ssl.create_default_context(cafile=str(tls_material.ca_cert))
    with smtp_client(MX1) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN")[0] == 538
        client.starttls(context=context)
        client.ehlo()
        assert client.has_extn("auth")
        client.login("u", "p")
        client.sendmail("a@b.test", ["ok-1@c.test"], MESSAGE)
    [message] = sink.wait_for_messages(1)
    assert message.tls and message.auth_user == "u"


def test_sink_lmtp_one_reply_per_recipient(smtp_sink):
    port = free_port(MX1)
    sink = smtp_sink(MX1, port, lmtp=True)
    with socket.create_connection((MX1, port), timeout=5) as conn:
        reader = conn.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        conn.sendall(b"EHLO no.test\r\n")
        assert reader.readline().startswith(b"500 ")    # LMTP wants LHLO
        conn.sendall(b"LHLO lmtp.test\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        conn.sendall(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<ok-1@c.test>\r\n"
                     b"RCPT TO:<ok-2@c.test>\r\nDATA\r\n")
        assert [reader.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
        conn.sendall(b"Subject: l\r\n\r\nbody\r\n.\r\n")
        assert [reader.readline()[:3] for _ in range(2)] == [b"250", b"250"]
    [message] = sink.wait_for_messages(1)
    assert message.rcpt_tos == ("ok-1@c.test", "ok-2@c.test") and message.ehlo == "lmtp.test"


def test_sink_lmtp_with_clients(smtp_sink):
    port = free_port(MX1)
    sink = smtp_sink(MX1, port, lmtp=True)
    with smtp_client(MX1, port, lmtp=True) as client:
        client.sendmail("a@b.test", ["ok-1@c.test"], MESSAGE)
    rc, out = swaks("--server", f"{MX1}:{port}", "--protocol", "LMTP", "--helo", "s.test",
                    "--from", "a@b.test", "--to", "ok-2@c.test")
    assert rc == 0, out
    assert [m.rcpt_tos for m in sink.wait_for_messages(2)] == [("ok-1@c.test",),
                                                               ("ok-2@c.test",)]


# --- daemon runner, against a stand-in script -------------------------------------------

FAKE_OUTPOST = """\
import os, re, signal, sys, time
mode, root = sys.argv[1], sys.argv[2]
if mode == "-i":
    os.makedirs(os.path.join(root, "config"))
    open(os.path.join(root, "config", "me"), "w").write("fake.test\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, lambda *_: (print("[NOTICE] [-] [core] stopping", flush=True),
                                          sys.exit(0)))
signal.signal(signal.SIGHUP, lambda *_: print("[INFO] [-] [core] got HUP", flush=True))
print("[INFO] [-] [core] starting", flush=True)
print("2026-01-01T00:00:00.000Z [NOTICE] [-] [core] ready", flush=True)
# smtp.ini nodes=N (OUTPOST_TEST_NODES): the supervisor's line once every worker is ready.
smtp_ini = os.path.join(root, "config", "smtp.ini")
nodes = re.search(r"^nodes=(\\d+)", open(smtp_ini).read(), re.M) \\
    if os.path.exists(smtp_ini) else None
if nodes and int(nodes[1]) > 1:
    print(f"[NOTICE] [-] [core] nodes: all {nodes[1]} workers ready", flush=True)
if os.environ.get("FAKE_REPORT"):
    print("==1==ERROR: AddressSanitizer: heap-use-after-free", file=sys.stderr, flush=True)
time.sleep(60)
"""


@pytest.fixture
def fake_outpost(tmp_path):
    path = tmp_path / "fake-outpost"
    path.write_text(f"#!{sys.executable}\n{FAKE_OUTPOST}")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("line", [
    "[NOTICE] [-] [core] ready",
    "2026-11-21T08:18:20.357Z [NOTICE] [-] [core] ready",
    "level=NOTICE uuid=- source=core message=ready",
    "2026-11-21T08:18:20.357Z level=NOTICE uuid=- origin=core message=ready pid=1",
    '{"level":"NOTICE","uuid":"-","source":"core","message":"ready"}',
    '{"timestamp":"2026-11-21T08:18:20.357Z","level":"NOTICE","message": "ready"}',
])
def test_ready_regex_accepts_all_formats(line):
    assert READY_RE.search(line)


@pytest.mark.parametrize("line", [
    "[NOTICE] [-] [core] ready to go", "[INFO] [-] [core] not ready",
    "level=NOTICE message=readyish", '{"message":"not ready"}',
])
def test_ready_regex_rejects_other_lines(line):
    assert not READY_RE.search(line)


def test_check_sanitizers():
    check_sanitizers("[INFO] [-] [core] all good\n")
    for report in ["==12==ERROR: AddressSanitizer: heap-buffer-overflow",
                   "==12==ERROR: LeakSanitizer: detected memory leaks",
                   "src/queue.c:10:5: runtime error: signed integer overflow"]:
        with pytest.raises(pytest.fail.Exception, match="sanitizer report"):
            check_sanitizers(f"ok\n{report}\n")


def test_missing_binary_says_make_asan(monkeypatch, tmp_path):
    monkeypatch.setenv("OUTPOST_BIN", str(tmp_path / "nope"))
    with pytest.raises(pytest.fail.Exception, match="make asan"):
        outpost_binary()


def test_daemon_runner_lifecycle(fake_outpost, tmp_path):
    outpost = Daemon(tmp_path / "root", binary=fake_outpost)
    outpost.init()
    assert (tmp_path / "root" / "config" / "me").read_text() == "fake.test\n"
    outpost.write_config("outbound.ini", "[main]\nlocal_mx_ok=true\n")
    assert outpost.config_path("outbound.ini").read_text().endswith("local_mx_ok=true\n")
    outpost.start(timeout=10)
    assert outpost.running and outpost.exit_code is None
    mark = outpost.mark()
    outpost.signal(signal.SIGHUP)
    assert outpost.wait_for_log(r"got (\w+)", timeout=5, start=mark).group(1) == "HUP"
    assert outpost.stop(timeout=5) == 0
    assert outpost.lines()[-1] == "[NOTICE] [-] [core] stopping"
    outpost.check_sanitizers()
    outpost.start(timeout=10)                     # a second run appends to the same log
    assert outpost.kill9() == -signal.SIGKILL
    ready = ALL_READY_RE if outpost.nodes() > 1 else READY_RE
    assert sum(bool(ready.search(line)) for line in outpost.lines()) == 2


def test_daemon_runner_reports(fake_outpost, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_REPORT", "1")
    outpost = Daemon(tmp_path / "root", binary=fake_outpost)
    outpost.init()
    outpost.start(timeout=10)
    with pytest.raises(pytest.fail.Exception, match="no log line"):
        outpost.wait_for_log("never printed", timeout=0.3)
    outpost.wait_for_log("AddressSanitizer", timeout=5)
    outpost.stop(timeout=5)
    with pytest.raises(pytest.fail.Exception, match="heap-use-after-free"):
        outpost.check_sanitizers()


def test_run_outpost_one_shot(fake_outpost, tmp_path):
    rc, out, err = run_outpost("-i", tmp_path / "r", binary=fake_outpost)
    assert (rc, out, err) == (0, "", "")
    rc, out, err = run_outpost("-i", tmp_path / "r", binary=fake_outpost)  # exists: error
    assert rc == 1 and "FileExistsError" in err
    assert os.path.isdir(tmp_path / "r" / "config")
