"""IDN and SMTPUTF8 end to end: the real daemon, the test DNS server (nsd) serving only the
A-label name xn--bcher-kva.test, and real SMTP sinks with and without SMTPUTF8. A U-label
recipient domain is delivered through its A-label's MX; the records show the domain as the
client sent it; SMTPUTF8 is used when the server offers it; without it, mail is sent with an
A-label envelope when that loses nothing, and fails with 5.6.7 (record and DSN) otherwise;
an invalid IDN bounces with 5.1.2."""
import email
import email.policy
import json
import re
import time

import pytest

from harness.clients import smtp_client
from test_delivery import SENDER, DSN_HOST, wait_empty

ULABEL = "bücher.test"
ALABEL = "xn--bcher-kva.test"
MX_IP = "127.0.0.2"                 # mx1.test


@pytest.fixture
def idn_zone(dns_records):
    dns_records([f"{ALABEL}. MX 10 mx1.test."])


def logging_mta(mta):
    mta.write_config("plugins", "relay\noutbound_logger\n")
    mta.write_config("outbound_logger.ini", "[main]\nstop_at_bounce=false\n[file]\nenable=true\nlog_dir=logs\n")
    return mta


def records(outpost, n, kind="delivered", timeout=20):
    """The first n records of that type (the DSN's own delivery has one too)."""
    path = outpost.root / "logs" / "outbound.log"
    deadline = time.monotonic() + timeout
    while True:
        got = [json.loads(line) for line in path.read_text("utf-8").splitlines()] \
            if path.exists() else []
        got = [r for r in got if r["type"] == kind]
        if len(got) >= n:
            return got[:n]
        assert time.monotonic() < deadline, f"records: {got}"
        time.sleep(0.05)


def message(subject="idn test", extra=""):
    return (f"From: <{SENDER}>\r\nTo: <someone@example.test>\r\nSubject: {subject}\r\n"
            f"Message-Id: <idn-1@client.test>\r\n{extra}\r\nHello.\r\n").encode()


def send(outpost, rcpts, sender=SENDER, data=None, smtputf8=True):
    """Submit one message (MAIL FROM ... SMTPUTF8 when smtputf8); returns its transaction id."""
    with smtp_client(outpost.host, outpost.port) as c:
        c.command_encoding = "utf-8"
        c.ehlo()
        assert c.mail(sender, ["SMTPUTF8"] if smtputf8 else [])[0] == 250
        for r in rcpts:
            code, reply = c.rcpt(r)
            assert code == 250, (r, reply)
        code, reply = c.data(data or message())
        assert code == 250, reply
    return re.search(rb"\((\S+)\)", reply).group(1).decode()


def dsn_report(msg):
    """(the DSN, its report's content type, per-message fields, [per-recipient fields]).
    The report part is read by hand: message/global-delivery-status is not a type the email
    package splits into blocks."""
    dsn = email.message_from_bytes(msg.data, policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    part = next(p for p in dsn.walk()
                if p.get_content_type() in ("message/delivery-status",
                                            "message/global-delivery-status"))
    # The part's body as sent, from the raw message (the email package parses both types
    # as encapsulated messages and keeps only the first block).
    text = msg.data.decode("utf-8")
    boundary = dsn.get_boundary()
    body = next(chunk for chunk in text.split(f"--{boundary}")
                if re.match(r"\r\nContent-Type: message/(global-)?delivery-status\r\n", chunk))
    body = body.split("\r\n\r\n", 1)[1]
    blocks = []
    for chunk in body.strip().split("\r\n\r\n"):
        fields = {}
        for line in chunk.split("\r\n"):
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        blocks.append(fields)
    return dsn, part.get_content_type(), blocks[0], blocks[1:]


def test_u_label_domain_goes_through_its_a_label_mx(mta, smtp_sink, idn_zone):
    sink = smtp_sink(MX_IP)                     # offers SMTPUTF8 (aiosmtpd's default)
    logging_mta(mta).start()
    # Both spellings of the domain: one entry, one transaction.
    rcpts = [f"ok-1@{ULABEL}", f"ok-2@{ALABEL}", f"ok-3@{ULABEL}"]
    txn = send(mta, rcpts)
    got = sink.wait_for_messages(1)[0]
    # The name has no MX but through its A-label (the zone has only that): delivered as sent.
    assert got.rcpt_tos == tuple(rcpts)
    assert "SMTPUTF8" in got.mail_options
    recs = records(mta, 3)
    assert sorted(r["recipient"] for r in recs) == sorted(rcpts)
    assert all(r["job_id"] == f"{txn}.1" for r in recs)
    assert all((r["smtp_host"], r["smtp_ip"]) == ("mx1.test", MX_IP) for r in recs)
    wait_empty(mta)
    assert len(sink.messages()) == 1
    mta.wait_for_log(r"delivered .*" + re.escape(ULABEL))


def test_downgrade_to_a_labels_when_the_server_lacks_smtputf8(mta, smtp_sink, idn_zone):
    sink = smtp_sink(MX_IP, smtputf8=False)
    logging_mta(mta).start()
    send(mta, [f"ok-1@{ULABEL}"])
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == (f"ok-1@{ALABEL}",) and got.mail_from == SENDER
    assert "SMTPUTF8" not in got.mail_options
    (rec,) = records(mta, 1)
    assert rec["type"] == "delivered" and rec["recipient"] == f"ok-1@{ULABEL}"
    wait_empty(mta)


def test_ascii_mail_sent_with_smtputf8_goes_without_it(mta, smtp_sink):
    sink = smtp_sink(MX_IP, smtputf8=False)
    mta.start()
    send(mta, ["ok-1@single.test"])
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == ("ok-1@single.test",) and "SMTPUTF8" not in got.mail_options
    wait_empty(mta)


def test_utf8_local_part_uses_smtputf8_when_offered(mta, smtp_sink):
    sink = smtp_sink(MX_IP)
    mta.start()
    send(mta, ["ok-jürgen@single.test"], sender="grüße@bounces.test")
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == ("ok-jürgen@single.test",)
    assert got.mail_from == "grüße@bounces.test" and "SMTPUTF8" in got.mail_options
    wait_empty(mta)


@pytest.mark.parametrize("what", ["local part", "header"])
def test_needs_smtputf8_and_not_offered_fails_with_5_6_7(mta, smtp_sink, what):
    sink = smtp_sink(MX_IP, smtputf8=False)
    dsn_sink = smtp_sink(DSN_HOST)
    logging_mta(mta).start()
    if what == "local part":
        rcpt, data = "ok-jürgen@single.test", message()
    else:                           # ASCII envelope, raw UTF-8 in a header
        rcpt, data = "ok-1@single.test", message(subject="Grüße aus Köln")
    txn = send(mta, [rcpt], data=data)
    (rec,) = records(mta, 1, "bounced")
    assert rec["type"] == "bounced" and rec["recipient"] == rcpt
    assert rec["job_id"] == f"{txn}.1"
    assert (rec["dsn_status"], rec["dsn_action"]) == ("5.6.7", "failed")
    assert "SMTPUTF8 is required, but was not offered by host mx1.test[127.0.0.2]" in \
        rec["undelivered_reason"]
    got = dsn_sink.wait_for_messages(1)[0]
    assert got.mail_from == "" and got.rcpt_tos == (SENDER,)
    dsn, report_type, msg_fields, (r,) = dsn_report(got)
    # RFC 6533: internationalized mail gets the global types.
    assert report_type == "message/global-delivery-status"
    assert [p.get_content_type() for p in dsn.get_payload()][2] == "message/global"
    assert r["status"].startswith("5.6.7")
    assert "SMTPUTF8 is required" in r["status"]
    want = "utf-8;" if what == "local part" else "rfc822;"
    assert r["final-recipient"] == want + rcpt
    assert r["action"] == "failed"
    # Nothing of the message reached the server.
    assert sink.messages() == []
    assert not any("MAIL FROM" in line for s in sink.sessions() for line in s.transcript)
    wait_empty(mta)


def test_invalid_idn_bounces_with_5_1_2(mta, smtp_sink):
    dsn_sink = smtp_sink(DSN_HOST)
    logging_mta(mta).start()
    send(mta, ["user@☃.test"])
    (rec,) = records(mta, 1, "bounced")
    assert rec["type"] == "bounced" and rec["recipient"] == "user@☃.test"
    assert rec["dsn_status"] == "5.1.2"
    assert "not a valid internationalized domain name" in rec["undelivered_reason"]
    got = dsn_sink.wait_for_messages(1)[0]
    _, report_type, _, (r,) = dsn_report(got)
    assert report_type == "message/global-delivery-status"
    assert r["status"].startswith("5.1.2") and r["final-recipient"] == "utf-8;user@☃.test"
    wait_empty(mta)
    mta.wait_for_log(r"\[outbound\] .*bounced|Bad destination domain")


def test_dsn_to_an_idn_sender_goes_through_its_a_label_mx(mta, smtp_sink, dns_records):
    # The sender's domain in U-labels; its A-label's MX is the DSN sink, without SMTPUTF8.
    dns_records([f"{ALABEL}. MX 10 mxb.test."])
    smtp_sink(MX_IP)
    dsn_sink = smtp_sink(DSN_HOST, smtputf8=False)
    logging_mta(mta).start()
    send(mta, ["hard-1@single.test"], sender=f"sender@{ULABEL}")
    got = dsn_sink.wait_for_messages(1)[0]
    # Downgraded: A-labels in the envelope and in the DSN's To:, no SMTPUTF8.
    assert got.mail_from == "" and got.rcpt_tos == (f"sender@{ALABEL}",)
    assert "SMTPUTF8" not in got.mail_options
    dsn, report_type, _, (r,) = dsn_report(got)
    assert dsn["To"].addresses[0].addr_spec == f"sender@{ALABEL}"
    assert f"\r\nTo: <sender@{ALABEL}>\r\n".encode() in got.data
    assert report_type == "message/global-delivery-status"
    assert r["status"] == "5.1.1" and r["final-recipient"] == "rfc822;hard-1@single.test"
    (rec,) = records(mta, 1, "bounced")
    assert rec["from"] == f"sender@{ULABEL}"
    wait_empty(mta)
