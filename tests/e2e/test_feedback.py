"""Feedback end to end: VERP return paths at delivery, then bounces (RFC 3464) and complaints
(RFC 5965 ARF) mailed back to Outpost become exactly one OP_HOOK_FEEDBACK event each, seen by
a recording test plugin (tests/plugins/feedback_capture.c) and by outbound_logger /
accounting_files when they record feedback; forged tokens and non-reports are quarantined and
logged, never bounced; a flood of 10,000 reports loses none; a kill -9 in the middle of
processing loses none (the spool is read again, duplicates keep their event_id)."""
import json
import re
import shutil
import smtplib
import threading
import time
from pathlib import Path

import pytest

from harness.clients import CLIENT_NAME, smtp_client

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "feedback"
CAPTURE_SO = REPO / "build" / "asan" / "tests" / "plugins" / "feedback_capture.so"
BOUNCE_DOMAIN = "bounces.example.net"
SENDER = "news@example.org"
RCPT = "user@single.test"               # single.test's MX is mx1.test = 127.0.0.2
SUBMITTER = "127.0.0.9"                 # the only client that may relay
VERP_RE = re.compile(r"^b\+([a-z2-7]{13})-(u[a-z2-7]{26}[0-9.]*)(?:-(\S+))?@"
                     + re.escape(BOUNCE_DOMAIN) + "$")



# --- set-up and helpers --------------------------------------------------------------------

def configure(mta, records=True, extra=""):
    (mta.root / "plugins").mkdir(exist_ok=True)
    shutil.copy(CAPTURE_SO, mta.root / "plugins" / "feedback_capture.so")
    plugins = "relay\n"
    if records:
        plugins += "outbound_logger\naccounting_files\n"
    mta.write_config("plugins", plugins + "feedback_capture\n")
    mta.write_config("relay_acl_allow", SUBMITTER + "/32\n")
    mta.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=logs\n")
    mta.write_config("feedback.ini", f"bounce_domain={BOUNCE_DOMAIN}\n" + extra)
    mta.write_config("outbound.ini", "")


def submit(mta, rcpts=(RCPT,), msgid="orig-1@example.org"):
    """The original mail, from the one client that relays; returns the transaction id."""
    data = (f"From: <{SENDER}>\r\nTo: <{rcpts[0]}>\r\nSubject: December newsletter\r\n"
            f"Message-ID: <{msgid}>\r\n\r\nHello.\r\n").encode()
    with smtplib.SMTP(mta.host, mta.port, local_hostname=CLIENT_NAME, timeout=10,
                      source_address=(SUBMITTER, 0)) as c:
        c.ehlo()
        assert c.mail(SENDER)[0] == 250
        for rcpt in rcpts:
            assert c.rcpt(rcpt)[0] == 250
        code, reply = c.data(data)
        assert code == 250, reply
    return re.search(rb"\((\S+)\)", reply).group(1).decode()


def records(mta):
    path = mta.root / "feedback.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        out.append(dict(f.split("=", 1) for f in line.split("\t")))
    return out


def wait_records(mta, n, timeout=20):
    deadline = time.monotonic() + timeout
    while len(records(mta)) < n:
        assert time.monotonic() < deadline, f"{len(records(mta))} feedback records, not {n}"
        time.sleep(0.05)
    return records(mta)


def spool_parts(mta):
    """The spool's files by directory: feedback/spool and, with smtp.ini nodes, each
    worker's feedback/spool/w<i>."""
    d = mta.root / "feedback" / "spool"
    if not d.exists():
        return {}
    dirs = [d] + sorted(p for p in d.iterdir() if p.is_dir() and re.fullmatch(r"w\d+", p.name))
    return {p: sorted(f.name for f in p.iterdir() if f.is_file()) for p in dirs}


def spool(mta):
    return sorted(f for files in spool_parts(mta).values() for f in files)


def quarantine(mta):
    d = mta.root / "feedback" / "quarantine"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def wait_spool_empty(mta, timeout=20):
    deadline = time.monotonic() + timeout
    while spool(mta):
        assert time.monotonic() < deadline, f"spool not empty: {len(spool(mta))} files"
        time.sleep(0.05)


def dsn(verp, rcpt, msgid):
    """tests/data/feedback's Postfix DSN, rewritten to speak of our message."""
    text = (DATA / "dsn-postfix.eml").read_text()
    text = text.replace("b+q7f3kx2mzx9a1@bounces.example.org", verp)
    text = text.replace("info+2Bnews@example.com", rcpt)
    text = text.replace("info+news@example.com", rcpt)
    text = text.replace("news-2026-12.8841@example.org", msgid)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def arf(verp, rcpt, msgid):
    """tests/data/feedback's Yahoo-style ARF complaint, rewritten likewise."""
    text = (DATA / "arf-yahoo.eml").read_text()
    text = text.replace("b+z7c1mq4hv8n2x@bounces.example.org", verp)
    text = text.replace("shopper@example.net", rcpt)
    text = text.replace("sale-spring-2026-000417@example.org", msgid)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def mail_back(mta, rcpt, data, sender=""):
    """One report to Outpost from a client without relay rights (127.0.0.1)."""
    with smtp_client(mta.host, mta.port, timeout=10) as c:
        c.ehlo()
        assert c.mail(sender)[0] == 250
        code, reply = c.rcpt(rcpt)
        assert code == 250, reply
        code, reply = c.data(data)
        assert code == 250, reply
    return reply.decode()


def delivered(mta, smtp_sink):
    """Sends the original mail; returns (job id, the VERP address the sink saw)."""
    sink = smtp_sink("127.0.0.2")
    mta.start()
    txn = submit(mta)
    sink.wait_for_messages(1, timeout=20)
    m = sink.messages()[0]
    assert list(m.rcpt_tos) == [RCPT]
    verp = m.mail_from
    assert VERP_RE.match(verp), verp
    # The message itself and the records keep the original sender.
    assert f"From: <{SENDER}>".encode() in m.data
    return txn + ".1", verp


def rewrite(name, verp, pairs):
    text = re.sub(r"b\+[a-z0-9]+@bounces\.example\.org", verp, (DATA / name).read_text())
    for a, b in pairs:
        text = text.replace(a, b)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def json_records(mta, kind):
    path = mta.root / "logs" / "outbound.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r.get("type") == kind]


def acct_lines(mta, kind, prefix):
    """Rows (dicts by the header) of accounting_files' <kind>/<prefix>.*.tsv files."""
    d = mta.root / "accounting_files" / kind
    rows = []
    for p in sorted(d.glob(prefix + ".*")) if d.exists() else []:
        lines = p.read_text().splitlines()
        rows += [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    return rows


def wait_for(what, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while not (got := pred()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return got


# --- tests -------------------------------------------------------------------------------

def test_verp_at_delivery_then_a_dsn_gives_one_remote_bounce(mta, smtp_sink):
    configure(mta)
    job, verp = delivered(mta, smtp_sink)
    m = VERP_RE.match(verp)
    assert m.group(3) == "user=single.test"        # one recipient: per-recipient VERP
    # The delivered record keeps the original sender.
    deadline = time.monotonic() + 10
    while not (rec := json_records(mta, "delivered")):
        assert time.monotonic() < deadline, "no delivered record"
        time.sleep(0.05)
    assert rec and rec[0]["from"] == SENDER and rec[0]["job_id"] == job

    # Mail for other domains from this client is still refused: no relay rights.
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        c.mail("")
        assert c.rcpt("someone@single.test")[0] == 550
    reply = mail_back(mta, verp, dsn(verp, RCPT, "orig-1@example.org"))
    assert "Feedback accepted" in reply
    got = wait_records(mta, 1)
    wait_spool_empty(mta)
    time.sleep(0.5)
    got = records(mta)
    assert len(got) == 1, got
    r = got[0]
    assert r["type"] == "remote_bounce"
    assert r["id"] == job
    assert r["recipient"] == RCPT
    assert r["correlation"] == "verp"
    assert r["action"] == "failed"
    assert r["status"] == "5.1.1"
    assert r["category"] == "bad-mailbox"
    assert r["message_id"] == "orig-1@example.org"
    assert r["reporting_mta"] == "mx.example.com"
    assert r["report_from"] == "-" or r["report_from"] == ""
    assert re.fullmatch(r"[0-9a-f]{32}\.\d+", r["event_id"])
    # outbound_logger and accounting_files record it once, with the original's ids.
    rb = wait_for("remote_bounce JSON record", lambda: json_records(mta, "remote_bounce"))
    line = wait_for("rb accounting line", lambda: acct_lines(mta, "remote_bounce", "rb"))
    time.sleep(0.3)
    rb, line = json_records(mta, "remote_bounce"), acct_lines(mta, "remote_bounce", "rb")
    assert len(rb) == 1 and len(line) == 1, (rb, line)
    assert rb[0]["job_id"] == job and rb[0]["recipient"] == RCPT
    assert rb[0]["bounce_category"] == "bad-mailbox"
    assert rb[0]["event_id"] == r["event_id"]
    assert line[0]["type"] == "rb" and line[0]["jobId"] == job and line[0]["rcpt"] == RCPT
    assert line[0]["bounceCat"] == "bad-mailbox"
    # Not queued for delivery: nothing but the original ever reached a sink.
    assert not mta.queue_files()
    assert not quarantine(mta)


def test_arf_complaint_gives_one_complaint(mta, smtp_sink):
    configure(mta)
    job, verp = delivered(mta, smtp_sink)
    mail_back(mta, f"fbl@{BOUNCE_DOMAIN}", arf(verp, RCPT, "orig-1@example.org"),
              sender="abuse@mailbox.example")
    got = wait_records(mta, 1)
    wait_spool_empty(mta)
    time.sleep(0.5)
    got = records(mta)
    assert len(got) == 1, got
    r = got[0]
    assert r["type"] == "complaint"
    assert r["category"] == "complaint"
    assert r["feedback_type"] == "abuse"
    assert r["recipient"] == RCPT
    assert r["message_id"] == "orig-1@example.org"
    assert r["id"] == job and r["correlation"] == "verp"   # Original-Mail-From's token
    assert r["report_from"] == "abuse@mailbox.example"
    f = wait_for("complaint JSON record", lambda: json_records(mta, "complaint"))
    line = wait_for("f accounting line", lambda: acct_lines(mta, "feedback", "f"))
    time.sleep(0.3)
    f, line = json_records(mta, "complaint"), acct_lines(mta, "feedback", "f")
    assert len(f) == 1 and len(line) == 1, (f, line)
    assert f[0]["job_id"] == job and f[0]["recipient"] == RCPT
    assert f[0]["feedback_type"] == "abuse"
    assert line[0]["type"] == "f" and line[0]["jobId"] == job and line[0]["rcpt"] == RCPT


def test_forged_token_and_non_report_are_quarantined(mta, smtp_sink):
    configure(mta)
    job, verp = delivered(mta, smtp_sink)
    # One letter of the MAC changed: a forged token.
    local, domain = verp.split("@")
    forged = local[:2] + ("b" if local[2] != "b" else "c") + local[3:] + "@" + domain
    mark = mta.mark()
    mail_back(mta, forged, dsn(forged, RCPT, "orig-1@example.org"))
    mta.wait_for_log(r"quarantined \S+: forged or unknown VERP token", timeout=20,
                     start=mark)
    # A valid token, but not a report at all: kept, not bounced back.
    mark = mta.mark()
    mail_back(mta, verp, b"From: <x@y.example>\r\nSubject: hi\r\n\r\nJust a note.\r\n",
              sender="x@y.example")
    mta.wait_for_log(r"quarantined \S+: not a report", timeout=20, start=mark)
    wait_spool_empty(mta)
    assert len(quarantine(mta)) == 2
    time.sleep(0.5)
    assert records(mta) == []
    assert json_records(mta, "remote_bounce") == [] == json_records(mta, "complaint")
    assert not mta.queue_files()                       # no backscatter


def flood(mta, verp, total, sessions, tag=""):
    """total reports over sessions concurrent SMTP sessions (many per session); their
    Message-IDs flood-<tag><n>@example.org."""
    per = total // sessions
    errors = []

    def one(s):
        try:
            with smtp_client(mta.host, mta.port, timeout=60) as c:
                c.ehlo()
                for i in range(per):
                    n = s * per + i
                    assert c.mail("")[0] == 250
                    assert c.rcpt(verp)[0] == 250
                    code, reply = c.data(dsn(verp, RCPT, f"flood-{tag}{n}@example.org"))
                    assert code == 250, reply
        except Exception as e:                  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=one, args=(s,)) for s in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return per * sessions


def test_flood_of_10000_reports_loses_none(mta, smtp_sink):
    configure(mta, records=False)
    job, verp = delivered(mta, smtp_sink)
    t0 = time.monotonic()
    sent = flood(mta, verp, 10000, 4)
    t_sent = time.monotonic() - t0
    wait_records(mta, sent, timeout=600)
    wait_spool_empty(mta, timeout=60)
    got = records(mta)
    elapsed = time.monotonic() - t0
    print(f"\n{sent} reports: accepted in {t_sent:.1f}s, recorded in {elapsed:.1f}s")
    assert len(got) == sent
    assert len({r["event_id"] for r in got}) == sent
    assert len({r["message_id"] for r in got}) == sent
    assert all(r["type"] == "remote_bounce" and r["id"] == job for r in got)
    assert not quarantine(mta)


def test_kill_9_mid_processing_loses_nothing(mta, smtp_sink):
    """Records written but not yet answered (the plugin holds its answers) when Outpost is
    killed: every report is processed again at restart, none lost, and a report recorded
    twice gives the same event (event_id) both times."""
    configure(mta, records=False)
    job, verp = delivered(mta, smtp_sink)
    hold = mta.root / "feedback.hold"
    hold.write_text("")
    sent = flood(mta, verp, 1500, 3)
    # The worker reads ahead a bounded number of reports (64) while their observers
    # have not answered; the rest wait in the spool. With smtp.ini nodes each worker
    # reads its own spool, so each holds 64 of those it took (or all, when fewer).
    deadline = time.monotonic() + 30
    while len(records(mta)) < 64:
        assert time.monotonic() < deadline, len(records(mta))
        time.sleep(0.05)
    time.sleep(0.5)
    held = len(records(mta))
    parts = spool_parts(mta)
    assert held == sum(min(64, len(files)) for files in parts.values()), (held, parts.keys())
    assert held >= 64, held
    assert len(spool(mta)) == sent
    mta.kill9()
    hold.unlink()
    mta.start()
    wait_spool_empty(mta, timeout=300)
    got = records(mta)
    ids = {r["event_id"] for r in got}
    assert len(ids) == sent                            # none lost
    assert len(got) == sent + held                     # the held ones twice
    assert {r["message_id"] for r in got} == {f"flood-{i}@example.org" for i in range(sent)}
    by_id = {}
    for r in got:
        assert by_id.setdefault(r["event_id"], r) == r  # a duplicate is the same event


def test_secret_created_once_0600_and_bad_config_stops_with_78(daemon):
    daemon.write_config("feedback.ini", f"bounce_domain={BOUNCE_DOMAIN}\n")
    daemon.start()
    secret = daemon.root / "config" / "feedback.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    key = secret.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", key)
    daemon.stop()
    daemon.start()                                     # kept, not made again
    assert secret.read_text() == key
    daemon.stop()
    for text, want in [("verp=sometimes\n", r"feedback\.ini: line 2: verp: expected"),
                       ("sender_domains[]=not a domain\n", r"sender_domains"),
                       ("secret_file=config/short\n", r"short: expected 32 to 128")]:
        (daemon.root / "config" / "short").write_text("abcd\n")
        daemon.write_config("feedback.ini", f"bounce_domain={BOUNCE_DOMAIN}\n" + text)
        daemon.start(ready=False)
        deadline = time.monotonic() + 20
        while daemon.exit_code is None:
            assert time.monotonic() < deadline, "still running"
            time.sleep(0.05)
        assert daemon.exit_code == 78, text
        assert re.search(want, "\n".join(daemon.lines())), text


def test_multi_recipient_token_names_the_job_and_delayed_dsns_give_no_record(mta, smtp_sink):
    """Three recipients in one transaction: the token names the job only, and the report's
    recipients say who failed; a delayed recipient, or a delayed DSN, is not recorded."""
    configure(mta, records=False)
    sink = smtp_sink("127.0.0.2")
    mta.start()
    rcpts = ["ann@single.test", "bob@single.test", "carol@single.test"]
    job = submit(mta, rcpts, msgid="team-1@example.org") + ".1"
    sink.wait_for_messages(1, timeout=20)
    m = sink.messages()[0]
    assert sorted(m.rcpt_tos) == rcpts
    v = VERP_RE.match(m.mail_from)
    assert v and v.group(3) is None, m.mail_from
    verp = m.mail_from
    pairs = [("ann@example.com", rcpts[0]), ("bob@example.com", rcpts[1]),
             ("carol@example.com", rcpts[2]), ("team-update-77@example.org", "team-1@example.org")]
    mail_back(mta, verp, rewrite("dsn-multi.eml", verp, pairs))
    got = wait_records(mta, 2)
    wait_spool_empty(mta)
    mark = mta.mark()
    mail_back(mta, verp, rewrite("dsn-delayed.eml", verp, [("slow@example.net", rcpts[2])]))
    mta.wait_for_log(r"no record: a delayed DSN", timeout=20, start=mark)
    wait_spool_empty(mta)
    time.sleep(0.3)
    got = records(mta)
    assert sorted(r["recipient"] for r in got) == rcpts[:2], got
    assert all(r["id"] == job and r["correlation"] == "verp" for r in got)
    assert {r["status"] for r in got} == {"5.1.1", "5.2.2"}
    assert {r["category"] for r in got} == {"bad-mailbox", "quota-issues"}
    assert len({r["event_id"] for r in got}) == 2
    assert not quarantine(mta)


def test_outposts_own_dsn_is_not_verped(mta, smtp_sink):
    """The attempt that fails carries a VERP return path; the DSN Outpost then sends keeps
    the null sender <>."""
    configure(mta, records=False)
    sink = smtp_sink("127.0.0.2")
    dsn_sink = smtp_sink("127.0.0.8")                  # bounces.test's MX
    mta.start()
    data = (b"From: <sender@bounces.test>\r\nSubject: x\r\nMessage-ID: <o-1@bounces.test>"
            b"\r\n\r\nHello.\r\n")
    with smtplib.SMTP(mta.host, mta.port, local_hostname=CLIENT_NAME, timeout=10,
                      source_address=(SUBMITTER, 0)) as c:
        c.ehlo()
        assert c.mail("sender@bounces.test")[0] == 250
        assert c.rcpt("hard-x@single.test")[0] == 250
        assert c.data(data)[0] == 250
    dsn_sink.wait_for_messages(1, timeout=20)
    tries = [re.match(r"> MAIL FROM:<([^>]*)>", line).group(1)
             for s in sink.sessions() for line in s.transcript
             if line.startswith("> MAIL FROM:")]
    d = dsn_sink.messages()[0]
    assert d.mail_from == ""
    assert list(d.rcpt_tos) == ["sender@bounces.test"]
    assert b"hard-x@single.test" in d.data
    assert tries and all(VERP_RE.match(t) for t in tries), tries


# --- feedback → suppression list -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["remote_bounce", "complaint"])
def test_feedback_suppresses_the_next_message(mta, smtp_sink, tmp_path, kind):
    """A remote bounce of a hard category (bad-mailbox), or an ARF complaint, puts the
    recipient on the suppression list (source remote_bounce / complaint; global, as the VERP
    token does not name the original sender): the next message to it is not attempted (no RCPT at the sink) and bounces at
    once as suppressed, recorded so."""
    from test_admin_api import Api
    configure(mta)
    sock = str(tmp_path / "admin.sock")
    mta.write_config("http.ini", f"listen={sock}\n")
    api = Api(sock=sock)
    sink = smtp_sink("127.0.0.2")
    mta.start()
    submit(mta)
    sink.wait_for_messages(1, timeout=20)
    verp = sink.messages()[0].mail_from
    assert VERP_RE.match(verp), verp
    assert sink.count("RCPT") == 1
    assert api.get("/api/suppressions")[1]["total"] == 0
    if kind == "remote_bounce":
        mail_back(mta, verp, dsn(verp, RCPT, "orig-1@example.org"))
    else:
        mail_back(mta, f"fbl@{BOUNCE_DOMAIN}", arf(verp, RCPT, "orig-1@example.org"),
                  sender="abuse@mailbox.example")
    wait_for(f"{kind} JSON record", lambda: json_records(mta, kind))
    listed = wait_for("the suppression entry",
                      lambda: api.get("/api/suppressions")[1]["suppressions"])
    assert len(listed) == 1, listed
    e = listed[0]
    assert e["address"] == RCPT and e["source"] == kind and e["active"], e
    assert e["scope"] == "global", e
    reason = "5.1.1" if kind == "remote_bounce" else "complaint (abuse)"
    assert reason in e["reason"], e
    # The next message to that address: not attempted, bounced as suppressed.
    submit(mta, msgid="orig-2@example.org")
    wait_for("the suppressed bounce", lambda: json_records(mta, "bounced"))
    time.sleep(0.5)
    assert sink.count("RCPT") == 1, "the suppressed recipient was sent a RCPT"
    assert len(sink.messages()) == 1
    (b,) = json_records(mta, "bounced")
    assert b["recipient"] == RCPT and b["dsn_status"] == "5.7.1", b
    assert "Recipient suppressed: " in b["undelivered_reason"], b
    assert f"({kind}, since 20" in b["undelivered_reason"], b
    (line,) = wait_for("the b accounting line", lambda: acct_lines(mta, "bounce", "b"))
    assert line["rcpt"] == RCPT and line["bounceCat"] == "policy-related", line
    mta.wait_for_log(rf"<{re.escape(RCPT)}> suppressed for \S+ .*not attempted")


def test_a_spool_left_by_a_worker_beyond_nodes_is_processed(mta, smtp_sink):
    """smtp.ini nodes lowered from 2 to 1 while reports wait in the workers' spools
    (feedback/spool/w<i>, each worker its own): the single process takes them over at
    start-up and processes every one; the workers' directories go."""
    from test_nodes import set_nodes
    configure(mta, records=False)
    set_nodes(mta, 2)
    job, verp = delivered(mta, smtp_sink)
    hold = mta.root / "feedback.hold"
    hold.write_text("")
    # Rounds of 4 sessions until worker 1 holds reports too (the kernel spreads the
    # sessions over the workers at random: all 4 go to one about once in 8 rounds).
    sent = 0
    for r in range(12):
        sent += flood(mta, verp, 100, 4, tag=f"r{r}-")
        if [f for d, f in spool_parts(mta).items() if d.name == "w1" and f]:
            break
    else:
        pytest.fail("worker 1 took none of 12 rounds of sessions")
    mta.kill9()
    hold.unlink()
    set_nodes(mta, 1)
    mark = mta.mark()
    mta.start()
    mta.wait_for_log(r"\[feedback\] \d+ feedback mails? taken over from .*/w1 "
                     r"\(smtp\.ini nodes changed\)", start=mark)
    wait_spool_empty(mta, timeout=120)
    got = records(mta)
    assert len({r["event_id"] for r in got}) == sent                # none lost
    assert all(r["id"] == job for r in got)
    spool_dir = mta.root / "feedback" / "spool"
    assert not (spool_dir / "w0").exists() and not (spool_dir / "w1").exists()
