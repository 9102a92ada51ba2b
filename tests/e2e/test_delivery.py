"""Delivery end to end: the real daemon, the test DNS server (nsd) answering MX/A/AAAA queries,
and real SMTP/LMTP sinks on 127.0.0.x:25. One test per row of the failure tables: DNS
outcomes, greeting/MAIL/RCPT/DATA/end-of-data replies, MX fallback, retries ending in a
bounce, DSNs parsed with the email package, TLS, AUTH to a smarthost, LMTP, SIGHUP,
`disabled` and restarts."""
import email
import email.policy
import os
import re
import shutil
import signal
import time

import pytest

from harness.clients import smtp_client
from harness.daemon import REPO
from harness.queue import read_entry

SENDER = "sender@bounces.test"      # bounces.test's MX is mxb.test = 127.0.0.8
DSN_HOST = "127.0.0.8"


def message(subject="delivery test", body="Hello.\r\n.leading dot\r\n"):
    return (f"From: <{SENDER}>\r\nTo: <someone@example.test>\r\nSubject: {subject}\r\n"
            f"Message-Id: <orig-1@client.test>\r\n\r\n{body}").encode()


def send(outpost, rcpts, sender=SENDER, data=None):
    """Submit one message; returns the transaction id of the 250 reply."""
    with smtp_client(outpost.host, outpost.port) as c:
        c.ehlo()
        return send_on(c, rcpts, sender, data)


def send_on(client, rcpts, sender=SENDER, data=None):
    """send() over an open session (after EHLO). Messages of one session are queued and
    delivered by one process: with smtp.ini nodes, by the worker that took the session."""
    assert client.mail(sender)[0] == 250
    for r in rcpts:
        assert client.rcpt(r)[0] == 250, r
    code, reply = client.data(data or message())
    assert code == 250, reply
    return re.search(rb"\((\S+)\)", reply).group(1).decode()


def wait_empty(outpost, timeout=15):
    """Until no entry is left, nor any message body (removed with its last entry)."""
    deadline = time.monotonic() + timeout
    while outpost.queue_files() or outpost.body_files():
        assert time.monotonic() < deadline, \
            f"queue not empty: {outpost.queue_files()} {outpost.body_files()}"
        time.sleep(0.05)


def wait_entry(outpost, pred, timeout=15):
    """The first (fields, rcpts, message) of a queue entry satisfying pred."""
    deadline = time.monotonic() + timeout
    while True:
        for name in outpost.queue_files():
            try:
                entry = read_entry(outpost.entry_path(name))
            except (FileNotFoundError, ValueError):
                continue
            if pred(entry):
                return name, entry
        assert time.monotonic() < deadline, "no queue entry matched"
        time.sleep(0.05)


def deferred(attempts):
    return lambda e: int(e[0]["attempts"]) >= attempts


def parse_dsn(msg):
    return email.message_from_bytes(msg.data, policy=email.policy.default)


def dsn_fields(dsn):
    """(per-message fields, [per-recipient fields]) of the delivery-status part."""
    part = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status")
    blocks = part.get_payload()
    fields = lambda m: {k.lower(): str(v) for k, v in m.items()}
    return fields(blocks[0]), [fields(b) for b in blocks[1:]]


@pytest.fixture
def dsn_sink(smtp_sink):
    return smtp_sink(DSN_HOST)


# --- DNS rows -------------------------------------------------------------------------------

def test_implicit_mx_delivers_to_the_a_record(mta, smtp_sink):
    sink = smtp_sink("127.0.0.5")
    mta.start()
    send(mta, ["ok-1@implicit.test"])
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == ("ok-1@implicit.test",) and got.mail_from == SENDER
    assert b"\r\n..leading dot" not in got.data and b"\r\n.leading dot" in got.data
    wait_empty(mta)
    line = mta.wait_for_log(r"\[NOTICE\] \[\S+\] \[outbound\] +delivered .*")
    assert "host=implicit.test ip=127.0.0.5 port=25 mode=SMTP" in line.group(0)


def test_nxdomain_bounces_at_once_with_5_1_2(mta, dsn_sink):
    mta.start()
    send(mta, ["user@nxdomain.test"])
    dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
    _, rcpts = dsn_fields(dsn)
    assert rcpts[0]["status"].startswith("5.1.2")
    assert rcpts[0]["final-recipient"] == "rfc822;user@nxdomain.test"
    assert "No Such Domain: nxdomain.test" in dsn.as_string()
    wait_empty(mta)


def test_servfail_defers_with_4_1_0(mta):
    mta.start()
    send(mta, ["user@servfail.test"])
    _, (fields, rcpts, _) = wait_entry(mta, deferred(1))
    assert rcpts == [("pending", "user@servfail.test")]
    assert fields["last_error"].startswith("450 4.1.0 DNS lookup failure: servfail.test")
    mta.wait_for_log(r"MX Lookup for servfail.test failed")


def test_null_mx_bounces_with_the_spec_text(mta, dsn_sink):
    mta.start()
    send(mta, ["user@nullmx.test"])
    dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
    _, rcpts = dsn_fields(dsn)
    assert rcpts[0]["status"].startswith("5.1.2")
    assert "Domain nullmx.test sends and receives no email (NULL MX)" in dsn.as_string()
    wait_empty(mta)


def test_lowest_preference_first_then_the_backup(mta, smtp_sink):
    backup = smtp_sink("127.0.0.4")
    mta.start()
    # mx1 and mx2 (preference 10) have no server: connection refused, so mx3 gets it.
    send(mta, ["ok-1@multi.test"])
    assert backup.wait_for_messages(1)[0].rcpt_tos == ("ok-1@multi.test",)
    wait_empty(mta)


def test_equal_preferences_are_both_used(mta, smtp_sink):
    a, b = smtp_sink("127.0.0.2"), smtp_sink("127.0.0.3")
    backup = smtp_sink("127.0.0.4")
    mta.start()
    for i in range(16):
        send(mta, [f"ok-{i}@multi.test"])
    deadline = time.monotonic() + 20
    while len(a.messages()) + len(b.messages()) < 16:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert a.messages() and b.messages(), "random order among equal preferences"
    assert not backup.messages()


@pytest.mark.parametrize("fault", ["drop", "refuse"])
def test_next_mx_when_the_first_drops_or_refuses(mta, smtp_sink, fault):
    first, second = smtp_sink("127.0.0.2"), smtp_sink("127.0.0.3")
    if fault == "drop":
        first.drop("greeting")
        second.drop("greeting")
    else:
        first.stop()
        second.stop()
    backup = smtp_sink("127.0.0.4")
    mta.start()
    send(mta, ["ok-1@multi.test"])
    assert backup.wait_for_messages(1)[0].rcpt_tos == ("ok-1@multi.test",)
    wait_empty(mta)


def test_every_mx_down_defers_tried_all_mxs(mta):
    mta.start()
    send(mta, ["ok-1@single.test"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "Tried all MXs single.test" in fields["last_error"]


# --- SMTP reply rows ----------------------------------------------------------------------

REPLY_ROWS = [
    # stage, reply, deferred (True) or bounced (False), expected status
    ("greeting", "421 4.3.2 Service not available", True, "4.3.2"),
    ("greeting", "554 5.3.2 No service here", False, "5.3.2"),
    ("mail", "451 4.3.0 Try again", True, "4.3.0"),
    ("mail", "550 5.7.1 Sender refused", False, "5.7.1"),
    ("data", "452 4.3.1 Out of storage", True, "4.3.1"),
    ("data", "554 5.6.0 No DATA for you", False, "5.6.0"),
    ("data_end", "451 4.7.26 Try later", True, "4.7.26"),
    ("data_end", "550 5.7.26 Unauthenticated email is not accepted", False, "5.7.26"),
    # No enhanced code: the DSN's Status is the derived X.0.0, its Diagnostic-Code the
    # remote's own words (no status the remote never sent).
    ("data_end", "554 Message refused", False, "5.0.0"),
]


@pytest.mark.parametrize("stage,reply,temp,status", REPLY_ROWS,
                         ids=[f"{r[0]}-{r[1][:3]}" for r in REPLY_ROWS])
def test_reply_at_each_stage(mta, smtp_sink, dsn_sink, stage, reply, temp, status):
    sink = smtp_sink("127.0.0.2")
    sink.fail(stage, reply)
    mta.start()
    send(mta, ["ok-1@single.test"])
    if temp:
        _, (fields, rcpts, _) = wait_entry(mta, deferred(1))
        assert rcpts == [("pending", "ok-1@single.test")]
        assert fields["last_error"].startswith(f"{reply[:3]} {status} ")
        assert not dsn_sink.messages()
    else:
        dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
        _, rcpts = dsn_fields(dsn)
        assert rcpts[0]["status"] == status
        assert rcpts[0]["action"] == "failed"
        assert rcpts[0]["diagnostic-code"] == f"smtp;{reply}"
        wait_empty(mta)


def test_rcpt_4xx_and_5xx_and_ok_in_one_message(mta, smtp_sink, dsn_sink):
    sink = smtp_sink("127.0.0.2")
    mta.start()
    send(mta, ["ok-1@single.test", "soft-1@single.test", "hard-1@single.test"])
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == ("ok-1@single.test",)
    # The hard bounce is reported at once, not held back by the deferred sibling.
    dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
    _, rcpts = dsn_fields(dsn)
    assert [r["final-recipient"] for r in rcpts] == ["rfc822;hard-1@single.test"]
    assert rcpts[0]["diagnostic-code"] == "smtp;550 5.1.1 No such user"
    _, (fields, entry_rcpts, _) = wait_entry(mta, deferred(1))
    assert entry_rcpts == [("delivered", "ok-1@single.test"), ("pending", "soft-1@single.test"),
                           ("bounced", "hard-1@single.test")]
    assert fields["last_error"] == "451 4.7.1 Temporary failure, try again"


def test_retries_run_out_into_a_bounce(mta, smtp_sink, dsn_sink):
    sink = smtp_sink("127.0.0.2")
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*2\n")
    mta.start()
    start = time.monotonic()
    send(mta, ["soft-1@single.test"])
    dsn = parse_dsn(dsn_sink.wait_for_messages(1, timeout=30)[0])
    assert time.monotonic() - start >= 9.5          # attempts at 0, 5 and 10 s
    assert sink.count("RCPT") == 3
    _, rcpts = dsn_fields(dsn)
    # 451 4.7.1 at the last attempt: the status becomes 5.7.1 in the DSN.
    assert rcpts[0]["status"] == "5.7.1" and rcpts[0]["action"] == "failed"
    assert "Too many failures" in dsn.as_string()
    wait_empty(mta)


def test_retries_run_out_on_a_reply_without_enhanced_code(mta, smtp_sink, dsn_sink):
    """450 mailbox busy until the retries ran out: Status is the derived 5.0.0, while the
    Diagnostic-Code and the reason are the remote's words, not "450 4.0.0 mailbox busy"."""
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "450 mailbox busy")
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*1\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    got = dsn_sink.wait_for_messages(1, timeout=30)[0]
    dsn = parse_dsn(got)
    _, rcpts = dsn_fields(dsn)
    assert rcpts[0]["status"] == "5.0.0" and rcpts[0]["action"] == "failed"
    assert rcpts[0]["diagnostic-code"] == "smtp;450 mailbox busy"
    assert b"4.0.0" not in got.data
    assert b"Too many failures (Upstream error: 450 mailbox busy)" in got.data
    wait_empty(mta)


# --- DSN ------------------------------------------------------------------------------------

def test_dsn_structure_fields_and_original(mta, smtp_sink, dsn_sink):
    smtp_sink("127.0.0.2")
    mta.start()
    original = message(subject="Quarterly report")
    send(mta, ["hard-1@single.test", "hard-2@single.test"], data=original)
    got = dsn_sink.wait_for_messages(1)[0]
    assert got.mail_from == "" and got.rcpt_tos == (SENDER,)
    dsn = parse_dsn(got)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["MIME-Version"] == "1.0"
    assert dsn["From"].startswith("MAILER-DAEMON@")
    assert dsn["To"].addresses[0].addr_spec == SENDER
    assert dsn["References"] == "<orig-1@client.test>"
    parts = dsn.get_payload()
    assert [p.get_content_type() for p in parts] == \
        ["text/plain", "message/delivery-status", "message/rfc822"]
    text = parts[0].get_content()
    assert '"Quarterly report"' in text
    assert "<hard-1@single.test>, <hard-2@single.test>" in text
    me = mta.config_path("me").read_text().strip()
    msg_fields, rcpts = dsn_fields(dsn)
    assert msg_fields["reporting-mta"] == f"dns;{me}"
    assert "arrival-date" in msg_fields
    assert len(rcpts) == 2
    for i, r in enumerate(rcpts, 1):
        assert r == {"final-recipient": f"rfc822;hard-{i}@single.test", "action": "failed",
                     "status": "5.1.1", "remote-mta": "dns;mx1.test",
                     "diagnostic-code": "smtp;550 5.1.1 No such user"}
    attached = parts[2].get_payload()[0]
    assert attached["Subject"] == "Quarterly report"
    assert attached["Message-Id"] == "<orig-1@client.test>"
    assert ".leading dot" in attached.get_content()
    wait_empty(mta)


def test_no_dsn_for_the_null_sender(mta, smtp_sink, dsn_sink):
    smtp_sink("127.0.0.2")
    mta.start()
    send(mta, ["hard-1@single.test"], sender="")
    mta.wait_for_log(r"Double bounce: Mail was already a bounce")
    wait_empty(mta)
    time.sleep(0.5)
    assert not dsn_sink.messages()


# --- TLS, AUTH, LMTP, routes ------------------------------------------------------------------

def test_starttls_used_when_offered(mta, smtp_sink, tls_material):
    sink = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    mta.start()
    send(mta, ["ok-1@single.test"])
    got = sink.wait_for_messages(1)[0]
    assert got.tls
    line = mta.wait_for_log(r"delivered .*")
    assert "tls=Y" in line.group(0)


def test_force_tls_host_without_starttls_defers(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    mta.write_config("tls.ini", "[outbound]\nforce_tls_hosts=mx1.test\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "No TLS available but required by configuration." in fields["last_error"]
    assert not sink.messages()


def test_force_tls_host_with_a_verified_certificate(mta, smtp_sink, tls_material):
    sink = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    mta.write_config("tls.ini", f"[outbound]\nforce_tls_hosts=mx1.test\n"
                                f"ca={tls_material.ca_cert}\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    assert sink.wait_for_messages(1)[0].tls
    wait_empty(mta)


def test_smarthost_with_auth(mta, smtp_sink):
    sink = smtp_sink("127.0.0.7", port=2587, auth=("relayuser", "s3cret"))
    mta.write_config("plugins", "relay\nqueue/smtp_forward\n")
    mta.write_config("smtp_forward.ini", "[main]\nenable_outbound=true\nhost=127.0.0.7\n"
                                         "port=2587\nauth_user=relayuser\nauth_pass=s3cret\n")
    mta.start()
    send(mta, ["anyone@example.com"])
    got = sink.wait_for_messages(1)[0]
    assert got.auth_user == "relayuser" and got.rcpt_tos == ("anyone@example.com",)
    line = mta.wait_for_log(r"delivered .*")
    assert "auth=Y" in line.group(0)
    wait_empty(mta)


def test_lmtp_route_with_per_recipient_results(mta, smtp_sink, dsn_sink):
    sink = smtp_sink("127.0.0.7", port=2424, lmtp=True)
    mta.write_config("plugins", "relay\nqueue/smtp_forward\n")
    mta.write_config("smtp_forward.ini", "[main]\nenable_outbound=true\nhost=127.0.0.7\nport=2424\n"
                                         "using_lmtp=true\n"
                                         "[bounces.test]\nhost=127.0.0.8\nport=25\nlmtp=false\n")
    mta.start()
    send(mta, ["ok-1@lmtp.test", "hard-1@lmtp.test"])
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == ("ok-1@lmtp.test",)
    assert sink.sessions()[0].ehlo and "LHLO" in " ".join(sink.sessions()[0].transcript)
    dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
    _, rcpts = dsn_fields(dsn)
    assert [r["final-recipient"] for r in rcpts] == ["rfc822;hard-1@lmtp.test"]
    assert "mode=LMTP" in mta.wait_for_log(r"delivered .*").group(0)
    wait_empty(mta)


def test_one_connection_carries_several_messages(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    mta.start()
    # One session: with smtp.ini nodes, one worker and so one pool of connections.
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        send_on(c, ["ok-1@single.test"])
        sink.wait_for_messages(1)
        send_on(c, ["ok-2@single.test"])
    sink.wait_for_messages(2)
    assert sink.count("connections") == 1
    assert sink.count("RSET") == 1
    wait_empty(mta)


# --- scheduling -----------------------------------------------------------------------------

def test_sighup_flushes_deferred_mail(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "451 4.3.0 Later", times=1)
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    wait_entry(mta, deferred(1))
    mta.signal(signal.SIGHUP)
    assert sink.wait_for_messages(1)[0].rcpt_tos == ("ok-1@single.test",)
    wait_empty(mta)


def test_disabled_toggled_while_running(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    mta.write_config("outbound.ini", "disabled=true\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    time.sleep(1.5)
    assert not sink.messages() and len(mta.queue_files()) == 1
    mark = mta.mark()
    mta.write_config("outbound.ini", "disabled=false\n")
    mta.wait_for_each_worker(r"reloaded outbound.ini", start=mark)
    assert sink.wait_for_messages(1)[0].rcpt_tos == ("ok-1@single.test",)
    wait_empty(mta)


def test_restart_in_the_middle_of_a_retry_schedule(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "451 4.3.0 Later", times=2)
    mta.write_config("outbound.ini", "temp_fail_intervals=5s*2, 1h\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    name, (fields, _, _) = wait_entry(mta, deferred(1))
    assert mta.stop() == 0
    assert read_entry(mta.entry_path(name))[0]["attempts"] == "1"
    mta.start()
    # attempt 2 at its recorded time (fails), attempt 3 five seconds later (delivered)
    name, (fields, _, _) = wait_entry(mta, deferred(2))
    due = int(fields["next_attempt"]) / 1000
    got = sink.wait_for_messages(1, timeout=15)[0]
    assert got.rcpt_tos == ("ok-1@single.test",)
    assert time.time() >= due - 0.5
    wait_empty(mta)


# --- hooks (tests/plugins/outbound_hooks.c) ---------------------------------------------------

HOOKS_SO = REPO / "build" / "asan" / "tests" / "plugins" / "outbound_hooks.so"


def with_hooks(outpost, ini=""):
    (outpost.root / "plugins").mkdir(exist_ok=True)
    shutil.copy(HOOKS_SO, outpost.root / "plugins" / "outbound_hooks.so")
    outpost.write_config("plugins", "relay\noutbound_hooks\n")
    outpost.write_config("outbound_hooks.ini", ini)


def hook_lines(outpost, hook):
    path = outpost.root / "hooks.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if line.startswith(hook + " ")]


def wait_hook(outpost, hook, n=1, timeout=15):
    deadline = time.monotonic() + timeout
    while len(hook_lines(outpost, hook)) < n:
        assert time.monotonic() < deadline, f"no {hook} hook call"
        time.sleep(0.05)
    return hook_lines(outpost, hook)


def test_delivered_hook_gets_host_ip_response_mode(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    with_hooks(mta)
    mta.start()
    send(mta, ["ok-1@single.test", "ok-2@single.test"])
    line = wait_hook(mta, "delivered")[0]
    assert "rcpts=ok-1@single.test,ok-2@single.test" in line
    assert "host=mx1.test ip=127.0.0.2 port=25 mode=SMTP response=OK queued as 1" in line
    assert "secured=0 authenticated=0" in line
    assert hook_lines(mta, "send_email") and hook_lines(mta, "get_mx")
    wait_empty(mta)


@pytest.mark.parametrize("answer,status", [("deny", "5.1.2"), ("denysoft", "4.1.2")])
def test_get_mx_deny_and_denysoft(mta, dsn_sink, answer, status):
    with_hooks(mta, f"[get_mx]\nanswer={answer}\ndomain=routed.test\n")
    mta.start()
    send(mta, ["user@routed.test"])
    if answer == "deny":
        dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
        assert dsn_fields(dsn)[1][0]["status"].startswith(status)
        assert "No MX for routed.test" in dsn.as_string()
    else:
        _, (fields, _, _) = wait_entry(mta, deferred(1))
        assert fields["last_error"] == "450 4.1.2 Temporary MX lookup error for routed.test"


@pytest.mark.parametrize("how", ["string", "struct"])
def test_get_mx_ok_with_a_list(mta, smtp_sink, how):
    sink = smtp_sink("127.0.0.7", port=2526)
    ini = ("[get_mx]\nanswer=ok\nmx=[127.0.0.7]:2526\n" if how == "string"
           else "[get_mx]\nanswer=ok\nstruct=127.0.0.7:2526\n")
    with_hooks(mta, ini)
    mta.start()
    send(mta, ["ok-1@routed.test"])
    assert sink.wait_for_messages(1)[0].rcpt_tos == ("ok-1@routed.test",)
    wait_empty(mta)


def test_deferred_hook_denysoft_sets_the_delay_and_ok_drops(mta, smtp_sink, dsn_sink):
    smtp_sink("127.0.0.2")
    with_hooks(mta, "[deferred]\nanswer=denysoft\nseconds=7200\n")
    mta.start()
    before = time.time()
    send(mta, ["soft-1@single.test"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert int(fields["next_attempt"]) / 1000 >= before + 7190
    line = wait_hook(mta, "deferred")[0]
    assert "attempts=1" in line and "statuses=4.7.1" in line and "delay=64.000" in line
    mta.write_config("outbound_hooks.ini", "[deferred]\nanswer=ok\n")
    mta.signal(signal.SIGHUP)
    wait_empty(mta)
    assert not dsn_sink.messages()


def test_bounce_hook_ok_suppresses_the_dsn(mta, smtp_sink, dsn_sink):
    smtp_sink("127.0.0.2")
    with_hooks(mta, "[bounce]\nanswer=ok\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    line = wait_hook(mta, "bounce")[0]
    assert "rcpts=hard-1@single.test" in line and "statuses=5.1.1" in line
    wait_empty(mta)
    time.sleep(0.5)
    assert not dsn_sink.messages()


def test_send_email_delay_postpones_without_a_failure(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    with_hooks(mta, "[send_email]\ndelay=2\n")
    mta.start()
    start = time.monotonic()
    send(mta, ["ok-1@single.test"])
    sink.wait_for_messages(1)
    assert time.monotonic() - start >= 1.8
    assert len(hook_lines(mta, "send_email")) == 2
    assert "attempts=0" in hook_lines(mta, "send_email")[1]
    wait_empty(mta)


def test_plugin_mail_goes_through_send_email(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    notices = smtp_sink("127.0.0.7", port=2526)
    with_hooks(mta, "[delivered]\nnotify=watcher@notify.test\nnext_hop=[127.0.0.7]:2526\n")
    mta.write_config("plugins", "relay\noutbound_hooks\nqueue/smtp_forward\n")
    mta.write_config("smtp_forward.ini", "[main]\nenable_outbound=false\n")
    mta.start()
    txn = send(mta, ["ok-1@single.test"])
    got = notices.wait_for_messages(1)[0]
    assert got.mail_from == "" and got.rcpt_tos == ("watcher@notify.test",)
    notice = email.message_from_bytes(got.data, policy=email.policy.default)
    assert notice["Subject"] == f"delivered {txn}.1"
    assert notice["Message-Id"] != "<old@plugin.test>" and notice["Date"]
    assert notice["Received"].startswith("(Haraka outbound);")
    assert got.data.endswith(b"\r\n.dot line\r\nlast line\r\n")
    assert any(line.startswith("sent 906 Message Queued (")
               for line in (mta.root / "hooks.log").read_text().splitlines())
    wait_empty(mta)


def test_an_entry_damaged_while_waiting_is_rewritten_from_its_state(mta, smtp_sink):
    """Delivery works from the entry it read intact (its state is in memory; the message is
    in the body file): damage to the entry's file while it waits does not lose the mail,
    and the next attempt's state replaces the damaged file with a whole one."""
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "451 4.3.0 Later")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h*3\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    name, _ = wait_entry(mta, deferred(1))
    path = mta.entry_path(name)
    path.write_bytes(path.read_bytes()[:-20])
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    wait_entry(mta, deferred(2))
    assert sink.count("RCPT") == 2
    assert not [line for line in mta.lines()[mark:] if re.search(r"corrupt|moved aside", line)]
    assert not (mta.entry_path(f"error.{name}")).exists()


def test_an_entry_removed_while_waiting_is_forgotten_with_its_body(mta, smtp_sink):
    """An operator removes a waiting entry to cancel that mail: it is never tried again, and
    its body (no other entry refers to it) goes too."""
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "451 4.3.0 Later")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    name, _ = wait_entry(mta, deferred(1))
    os.unlink(mta.entry_path(name))
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_log(rf"\[{re.escape(name)}\] \[outbound\] queue entry vanished; forgetting it",
                     start=mark)
    wait_empty(mta)
    assert sink.count("RCPT") == 1


def test_notes_survive_a_deferral(mta, smtp_sink):
    """The next_hop note of plugin mail is kept when its entry is rewritten after a
    temporary failure, so the retry goes the same way."""
    smtp_sink("127.0.0.2")
    notices = smtp_sink("127.0.0.7", port=2526)
    notices.fail("rcpt", "451 4.3.0 Later", times=1)
    with_hooks(mta, "[delivered]\nnotify=watcher@notify.test\nnext_hop=[127.0.0.7]:2526\n")
    mta.write_config("plugins", "relay\noutbound_hooks\nqueue/smtp_forward\n")
    mta.write_config("smtp_forward.ini", "[main]\nenable_outbound=false\n")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    mta.start()
    send(mta, ["ok-1@single.test"])
    name, (fields, _, _) = wait_entry(mta, lambda e: e[0]["domain"] == "notify.test"
                                      and int(e[0]["attempts"]) == 1)
    assert fields["note"] == "next_hop [127.0.0.7]:2526"
    mta.signal(signal.SIGHUP)
    assert notices.wait_for_messages(1)[0].rcpt_tos == ("watcher@notify.test",)
    wait_empty(mta)
