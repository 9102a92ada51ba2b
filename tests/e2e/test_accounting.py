"""Accounting end to end: outbound_logger's JSON lines and accounting_files' TSV/CSV files,
against the real daemon, the test DNS server and real SMTP sinks. Every field of both formats
against the seeds' samples and SPEC §8/§9; one record per recipient per event; the accounting
invariant over random outcomes with retries; archiving by size and by interval (crashes:
test_crash_points.py); escaping of awkward values; observers that other plugins cannot blind."""
import csv
import io
import json
import random
import re
import signal
import time

import pytest

from harness.clients import CLIENT_NAME, smtp_client
from test_delivery import SENDER, message, send, wait_empty, with_hooks

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}$")
FILE_NAME = re.compile(r"^(d|df|b)\.\d{4}-\d\d-\d\d-\d{6}(\.\d+)?\.(tsv|csv)$")

# Seed 000's three samples: the keys, in order (then Outpost appends smtp_host/smtp_ip to
# failures after a connection, and local_ip and vmta to both when known).
HEAD = ["level", "time", "pid", "hostname", "name", "type", "job_id", "queue_time"]
KEYS = {
    "delivered": HEAD + ["smtp_host", "smtp_ip", "smtp_response", "smtp_delay", "smtp_port",
                         "recipient", "from", "subject"],
    "deferred": HEAD + ["recipient", "from", "subject", "dsn_status", "dsn_action",
                        "undelivered_reason", "delay"],
    "bounced": HEAD + ["recipient", "from", "subject", "dsn_status", "dsn_action",
                       "undelivered_reason"],
}
APPENDED = ["smtp_host", "smtp_ip"]
SOURCE = ["local_ip", "vmta"]

# Seeds 001/004: the default fields per type.
DEFAULT_FIELDS = {
    "delivered": "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,vmta,jobId,dsnStatus,dsnMsg",
    "deferred": "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,vmta,jobId,dsnStatus,dsnMsg,delay",
    "bounce": "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,vmta,jobId,dsnStatus,dsnMsg,"
              "bounceCat",
}
ALL_FIELDS = ("type,timeLogged,timeQueued,rcpt,srcType,srcMta,srcIp,destIp,vmta,jobId,"
              "dsnStatus,dsnMsg,delay,bounceCat,custom_X-Campaign,custom_X-Absent,"
              "custom_Subject")
KINDS = ("delivered", "deferred", "bounce")


# --- set-up and readers --------------------------------------------------------------------

def recording(outpost, plugins="relay\noutbound_logger\naccounting_files\n", logger="",
              acct="", intervals="1h*3"):
    outpost.write_config("plugins", plugins)
    outpost.write_config("outbound_logger.ini",
                         "[file]\nenable=true\nlog_dir=logs\n" + logger)
    outpost.write_config("accounting_files.ini", acct)
    outpost.write_config("outbound.ini", f"temp_fail_intervals={intervals}\n")


def json_records(outpost):
    path = outpost.root / "logs" / "outbound.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def acct_dir(outpost, kind):
    return outpost.root / "accounting_files" / kind


def workers(outpost):
    """How many processes write records: smtp.ini nodes, 1 for a single process. Each
    worker has its own accounting file per type (docs/scale.md)."""
    return max(1, outpost.nodes())


def acct_files(outpost, kind):
    """Every file of a kind: the type directory's and its archive's."""
    d = acct_dir(outpost, kind)
    files = [p for p in d.iterdir() if p.is_file()] if d.exists() else []
    archive = d / "archive"
    if archive.exists():
        files += [p for p in archive.iterdir() if p.is_file()]
    return sorted(files)


def acct_text(outpost, kind):
    """The text of every file of a kind, one after the other (the rows of a message are in
    the file of the worker that delivered it)."""
    return "".join(p.read_text() for p in acct_files(outpost, kind))


def unescape(value):
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "r": "\r", "n": "\n"}.get(m[1], m[1]),
                  value)


def split_tsv(line):
    """Fields of a TSV line: split on TABs not escaped, then unescaped."""
    assert "\r" not in line
    return [unescape(f) for f in line.split("\t")]


def acct_rows(outpost, kind, sep="\t", n=None, timeout=10):
    """(header, rows as dicts) over every file of a kind; each file must start with the
    header line and every line must have as many fields as the header. With n, wait until
    there are n rows (the observers of an event answer independently: the JSON line may be
    on disk a moment before the accounting line)."""
    deadline = time.monotonic() + timeout
    while True:
        header, rows = _acct_rows(outpost, kind, sep)
        if n is None or len(rows) >= n:
            return header, rows
        assert time.monotonic() < deadline, f"{kind}: {len(rows)} rows, not {n}"
        time.sleep(0.05)


def _acct_rows(outpost, kind, sep):
    header, rows = None, []
    for path in acct_files(outpost, kind):
        text = path.read_text()
        assert text.endswith("\n"), path
        if sep == ",":
            lines = list(csv.reader(io.StringIO(text)))
        else:
            lines = [split_tsv(line) for line in text.split("\n")[:-1]]
        if header is None:
            header = lines[0]
        assert lines[0] == header, f"{path} does not start with the header"
        for fields in lines[1:]:
            assert len(fields) == len(header), (path, fields)
            rows.append(dict(zip(header, fields)))
    return header, rows


def wait_records(outpost, pred, timeout=20, what="records"):
    deadline = time.monotonic() + timeout
    while True:
        records = json_records(outpost)
        if pred(records):
            return records
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {records}"
        time.sleep(0.05)


def count(records, kind):
    return sum(1 for r in records if r["type"] == kind)


def check_shape(record):
    keys = list(record)
    want = KEYS[record["type"]]
    assert keys[:len(want)] == want, keys
    extra = keys[len(want):]
    if record["type"] != "delivered" and extra[:2] == APPENDED:
        extra = extra[2:]
    assert extra in ([], SOURCE[:1], SOURCE), keys
    assert record["level"] == "info" and record["name"] == "outbound_logger"
    assert isinstance(record["pid"], int) and isinstance(record["hostname"], str)
    assert ISO_MS.match(record["time"]) and ISO_MS.match(record["queue_time"])
    if record["type"] == "delivered":
        assert isinstance(record["smtp_delay"], (int, float))
        assert isinstance(record["smtp_port"], int)
    if record["type"] == "deferred":
        assert isinstance(record["delay"], (int, float))


# --- the formats --------------------------------------------------------------------------

def test_one_record_per_recipient_shaped_like_the_seed(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    dsn = smtp_sink("127.0.0.8")
    recording(mta)
    mta.start()
    mta.wait_for_log(r"\[INFO\] \[-\] \[accounting_files\] Plugin is Ready!")
    subject = "=?UTF-8?Q?Caf=C3=A9?= menu"
    txn = send(mta, ["ok-1@single.test", "ok-2@single.test", "soft-1@single.test",
                     "hard-1@single.test"], data=message(subject=subject))
    records = wait_records(mta, lambda r: len(r) == 4)
    for r in records:
        check_shape(r)
        assert r["job_id"] == f"{txn}.1"
        assert r["from"] == SENDER and r["subject"] == "Café menu"
    by_rcpt = {r["recipient"]: r for r in records}
    for ok in ("ok-1@single.test", "ok-2@single.test"):
        d = by_rcpt[ok]
        assert d["type"] == "delivered"
        assert (d["smtp_host"], d["smtp_ip"], d["smtp_port"]) == ("mx1.test", "127.0.0.2", 25)
        assert d["smtp_response"] == "OK queued as 1"
        assert 0 <= d["smtp_delay"] < 30
    df = by_rcpt["soft-1@single.test"]
    assert df["type"] == "deferred" and df["delay"] == 3600
    assert (df["dsn_status"], df["dsn_action"]) == ("4.7.1", "delayed")
    assert df["undelivered_reason"] == "4.7.1 Temporary failure, try again"
    assert (df["smtp_host"], df["smtp_ip"]) == ("mx1.test", "127.0.0.2")
    b = by_rcpt["hard-1@single.test"]
    assert b["type"] == "bounced"
    assert (b["dsn_status"], b["dsn_action"]) == ("5.1.1", "failed")
    assert b["undelivered_reason"] == "5.1.1 No such user"

    # The same events in the accounting files, with the same job id.
    for kind, n in (("delivered", 2), ("deferred", 1), ("bounce", 1)):
        header, rows = acct_rows(mta, kind, n=n)
        assert header == DEFAULT_FIELDS[kind].split(",")
        assert len(rows) == n
        for row in rows:
            assert row["type"] == {"delivered": "d", "deferred": "df", "bounce": "b"}[kind]
            assert LOCAL_TIME.match(row["timeLogged"]) and LOCAL_TIME.match(row["timeQueued"])
            assert row["srcMta"] == CLIENT_NAME and row["srcIp"] == "127.0.0.1"
            assert row["vmta"] == "" and row["jobId"] == f"{txn}.1"
    _, d = acct_rows(mta, "delivered", n=2)
    assert {r["rcpt"] for r in d} == {"ok-1@single.test", "ok-2@single.test"}
    assert {(r["dsnStatus"], r["dsnMsg"]) for r in d} == {("2.0.0", "OK queued as 1")}
    _, (df_row,) = acct_rows(mta, "deferred", n=1)
    assert (df_row["rcpt"], df_row["dsnStatus"], df_row["delay"]) == \
        ("soft-1@single.test", "4.7.1", "3600")
    assert df_row["dsnMsg"] == "Temporary failure, try again"
    _, (b_row,) = acct_rows(mta, "bounce", n=1)
    assert (b_row["rcpt"], b_row["dsnStatus"], b_row["bounceCat"]) == \
        ("hard-1@single.test", "5.1.1", "bad-mailbox")
    # stop_at_bounce (the default): the bounce is handled, no DSN goes out.
    mta.wait_for_log(r"Not sending bounce")
    time.sleep(0.5)
    assert dsn.messages() == []


def test_own_failures_read_code_dash_message(mta, smtp_sink):
    recording(mta)
    mta.start()
    txn = send(mta, ["someone@nullmx.test"])
    (b,) = wait_records(mta, lambda r: len(r) == 1)
    check_shape(b)
    assert list(b) == KEYS["bounced"]           # no server was reached: nothing appended
    assert (b["type"], b["job_id"], b["dsn_status"]) == ("bounced", f"{txn}.1", "5.1.2")
    assert b["undelivered_reason"] == \
        "550 - Domain nullmx.test sends and receives no email (NULL MX)"
    _, (row,) = acct_rows(mta, "bounce", n=1)
    assert row["bounceCat"] == "bad-domain" and row["dsnStatus"] == "5.1.2"
    assert row["dsnMsg"] == "Domain nullmx.test sends and receives no email (NULL MX)"


@pytest.mark.parametrize("reply,status,reason,text", [
    # No enhanced status: dsn_status derives 4.0.0 from the code, the reason does not.
    ("450 mailbox busy", "4.0.0", "mailbox busy", "mailbox busy"),
    ("452 4.2.2 Mailbox full", "4.2.2", "4.2.2 Mailbox full", "Mailbox full"),
], ids=["no-enhanced-code", "enhanced-code"])
def test_reasons_are_the_remotes_words(mta, smtp_sink, reply, status, reason, text):
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", reply)
    recording(mta, intervals="1h*1")
    mta.start()
    txn = send(mta, ["someone@single.test"])
    (df,) = wait_records(mta, lambda r: len(r) == 1)
    check_shape(df)
    assert (df["type"], df["job_id"]) == ("deferred", f"{txn}.1")
    assert (df["dsn_status"], df["undelivered_reason"]) == (status, reason)
    _, (row,) = acct_rows(mta, "deferred", n=1)
    assert (row["dsnStatus"], row["dsnMsg"]) == (status, text)
    # Retries ran out: the status becomes permanent, the remote's words stay as sent.
    flush_until(mta, lambda: count(json_records(mta), "bounced") == 1)
    (b,) = [r for r in json_records(mta) if r["type"] == "bounced"]
    check_shape(b)
    assert (b["dsn_status"], b["undelivered_reason"]) == ("5" + status[1:], reason)
    _, (row,) = acct_rows(mta, "bounce", n=1)
    assert (row["dsnStatus"], row["dsnMsg"], row["bounceCat"]) == \
        ("5" + status[1:], text, "message-expired")


def test_a_permanent_reply_without_enhanced_code(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "550 no such user here")
    recording(mta, acct="[fields]\nbounce=rcpt,dsnStatus,dsnMsg,dsnDiag,dsnAction\n")
    mta.start()
    send(mta, ["someone@single.test"])
    (b,) = wait_records(mta, lambda r: len(r) == 1)
    assert (b["type"], b["dsn_status"], b["dsn_action"]) == ("bounced", "5.0.0", "failed")
    assert b["undelivered_reason"] == "no such user here"
    _, (row,) = acct_rows(mta, "bounce", n=1)
    assert row == {"rcpt": "someone@single.test", "dsnStatus": "5.0.0",
                   "dsnMsg": "no such user here", "dsnDiag": "550 no such user here",
                   "dsnAction": "failed"}


def test_files_exist_with_headers_from_start_up(daemon):
    recording(daemon, acct="[main]\nextension=log\n")
    daemon.start()
    daemon.wait_for_log(r"^\[INFO\] \[-\] \[accounting_files\] Plugin is Ready!$")
    # One file per worker: workers started in the same second number theirs.
    seq = r"(\.\d+)?" if workers(daemon) > 1 else ""
    for kind, prefix in zip(KINDS, ("d", "df", "b")):
        paths = acct_files(daemon, kind)
        assert len(paths) == workers(daemon), paths
        for path in paths:
            assert re.match(rf"^{prefix}\.\d{{4}}-\d\d-\d\d-\d{{6}}{seq}\.log$", path.name)
            assert path.read_text() == DEFAULT_FIELDS[kind].replace(",", "\t") + "\n"


FEEDBACK_FIELDS = {
    "remote_bounce": ("rb", "type,timeLogged,timeQueued,orig,rcpt,vmta,jobId,msgId,dsnAction,"
                            "dsnStatus,dsnDiag,dsnReportingMta,dsnMta,bounceCat"),
    "feedback": ("f", "type,timeLogged,timeQueued,orig,rcpt,vmta,jobId,msgId,feedbackType,"
                      "userAgent,srcIp,dsnReportingMta"),
}


def test_remote_bounce_and_feedback_files_and_archives(daemon):
    """PowerMTA's rb and f types: their own directories ([location]), files with their default
    header from start-up, and archiving like the seed's types. (Their lines: the feedback
    tests and tests/unit/records/test_feedback.c.)"""
    recording(daemon, acct="[main]\narchiving=true\narchive_interval=1\n"
                           "[location]\nfeedback=fbl\n[archive_to]\nremote_bounce=old\n")
    daemon.start()
    daemon.wait_for_log(r"\[accounting_files\] Plugin is Ready!")
    dirs = {"remote_bounce": acct_dir(daemon, "remote_bounce"),
            "feedback": acct_dir(daemon, "fbl")}
    assert not acct_dir(daemon, "feedback").exists()
    for kind, (prefix, fields) in FEEDBACK_FIELDS.items():
        paths = [p for p in dirs[kind].iterdir() if p.is_file()]
        assert len(paths) == workers(daemon), paths
        for path in paths:
            assert re.match(rf"^{prefix}\.\d{{4}}-\d\d-\d\d-\d{{6}}(\.\d+)?\.tsv$",
                            path.name)
            assert path.read_text() == fields.replace(",", "\t") + "\n"
    for kind in KINDS:              # the seed's types are unchanged
        paths = [p for p in acct_dir(daemon, kind).iterdir() if p.is_file()]
        assert len(paths) == workers(daemon), paths
        for path in paths:
            assert path.read_text() == DEFAULT_FIELDS[kind].replace(",", "\t") + "\n"
    time.sleep(1.5)
    for kind, sub in (("remote_bounce", "old"), ("feedback", "archive")):
        old = list((dirs[kind] / sub).iterdir())
        assert old, kind
        assert all(p.read_text() == FEEDBACK_FIELDS[kind][1].replace(",", "\t") + "\n"
                   for p in old)


def test_feedback_location_outside_its_directory_is_refused(daemon):
    recording(daemon, acct="[location]\nremote_bounce=../../elsewhere\n")
    daemon.start(ready=False)
    assert daemon.proc.wait(20) == 78
    assert re.search(r"location\] remote_bounce: '\.\./\.\./elsewhere' leaves", daemon.output())


def test_every_field_and_awkward_values_tsv(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    fields = "\n".join(f"{k}={ALL_FIELDS}" for k in KINDS)
    recording(mta, acct=f"[fields]\n{fields}\n")
    mta.start()
    data = ("From: <a@b.test>\r\nSubject: Grüße, \"friends\"\r\n"
            "X-Campaign: spring\r\n\t2024\\q3\r\n\r\nbody\r\n").encode()
    rcpts = ['"odd\\"one,x"@single.test', "ok-2@single.test", "hard-1@single.test"]
    txn = send(mta, rcpts, data=data)
    wait_records(mta, lambda r: len(r) == 3)
    header, rows = acct_rows(mta, "delivered", n=2)
    assert header == ALL_FIELDS.split(",")
    assert len(rows) == 2
    for row in rows:
        assert row["srcType"] == "smtp" and row["destIp"] == "127.0.0.2"
        assert row["jobId"] == f"{txn}.1" and row["delay"] == "" and row["bounceCat"] == ""
        # A folded value is unfolded (CRLF removed, the TAB after it kept and escaped).
        assert row["custom_X-Campaign"] == "spring\t2024\\q3"
        assert row["custom_X-Absent"] == ""
        assert row["custom_Subject"] == 'Grüße, "friends"'
    assert {r["rcpt"] for r in rows} == {'"odd\\"one,x"@single.test', "ok-2@single.test"}
    raw = acct_text(mta, "delivered")
    assert "spring\\t2024\\\\q3" in raw
    _, (b,) = acct_rows(mta, "bounce", n=1)
    assert b["bounceCat"] == "bad-mailbox" and b["delay"] == ""


def test_csv_mode_quotes_as_rfc4180(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    recording(mta, acct="[main]\nseparator=,\nextension=csv\n[fields]\n"
                        "delivered=rcpt,custom_X-Note,dsnMsg,jobId\n")
    mta.start()
    data = ('Subject: s\r\nX-Note: He said "hi", then\r\n left\r\n\r\nbody\r\n').encode()
    send(mta, ['"a,b"@single.test', "ok-1@single.test"], data=data)
    wait_records(mta, lambda r: len(r) == 2)
    header, rows = acct_rows(mta, "delivered", sep=",", n=2)
    assert header == ["rcpt", "custom_X-Note", "dsnMsg", "jobId"]
    assert {r["rcpt"] for r in rows} == {'"a,b"@single.test', "ok-1@single.test"}
    assert {r["custom_X-Note"] for r in rows} == {'He said "hi", then left'}
    raw = acct_text(mta, "delivered")
    assert '"He said ""hi"", then left"' in raw
    assert all(FILE_NAME.match(p.name) for p in acct_files(mta, "delivered"))


def test_any_separator_is_escaped_in_every_field(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    recording(mta, acct="[main]\nseparator=-\n[fields]\n"
                        "delivered=type,timeLogged,rcpt,custom_X-Note,delay\n")
    mta.start()
    send(mta, ["ok-1@single.test"], data=b"Subject: s\r\nX-Note: a-b\\c\r\n\r\nbody\r\n")
    wait_records(mta, lambda r: len(r) == 1)
    deadline = time.monotonic() + 10
    while True:
        # The file with the row (with nodes, the others hold their header only).
        files = [p.read_text().splitlines() for p in acct_files(mta, "delivered")]
        full = [lines for lines in files if len(lines) >= 2]
        if full:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(files) == workers(mta)
    ((header, row),) = full
    assert all(lines == [header] for lines in files if lines is not full[0])
    assert header == "type-timeLogged-rcpt-custom_X\\-Note-delay"
    fields = [unescape(f) for f in re.split(r"(?<!\\)-", row)]
    assert len(fields) == 5, row
    assert fields[0] == "d" and LOCAL_TIME.match(fields[1])
    assert fields[2:] == ["ok-1@single.test", "a-b\\c", ""]


def test_a_tab_in_an_address_is_refused_at_the_door(mta):
    recording(mta)
    mta.start()
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt('"a\tb"@single.test')[0] == 501
        assert c.rcpt("ok-1@single.test")[0] == 250
    assert mta.running


# --- what other plugins answer does not hide events ------------------------------------------

def test_observers_see_events_other_plugins_swallow(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    with_hooks(mta, "[deferred]\nanswer=ok\n[bounce]\nanswer=ok\n")
    # outbound_hooks answers OK first: later chain links would not run; observers still do.
    recording(mta, plugins="relay\noutbound_hooks\naccounting_files\noutbound_logger\n")
    mta.start()
    send(mta, ["soft-1@single.test", "hard-1@single.test", "ok-1@single.test"])
    records = wait_records(mta, lambda r: len(r) == 3)
    types = {r["recipient"]: r["type"] for r in records}
    assert types == {"soft-1@single.test": "bounced", "hard-1@single.test": "bounced",
                     "ok-1@single.test": "delivered"}
    dropped = next(r for r in records if r["recipient"] == "soft-1@single.test")
    # Dropped by the deferred chain: final, never retried.
    assert (dropped["dsn_status"], dropped["dsn_action"]) == ("5.7.1", "failed")
    _, rows = acct_rows(mta, "bounce", n=2)
    assert {r["rcpt"] for r in rows} == {"soft-1@single.test", "hard-1@single.test"}
    wait_empty(mta)


def test_stop_at_bounce_false_and_accounting_files_leave_the_dsn(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    dsn = smtp_sink("127.0.0.8")
    recording(mta, logger="[main]\nstop_at_bounce=false\n")
    mta.start()
    send(mta, ["hard-1@single.test"])
    got = dsn.wait_for_messages(1)[0]
    assert got.rcpt_tos == (SENDER,)
    records = wait_records(mta, lambda r: len(r) == 2)
    assert count(records, "bounced") == 1
    # Outpost's own DSN is recorded like any mail (Haraka's plugins cannot).
    (own,) = [r for r in records if r["type"] == "delivered"]
    assert (own["recipient"], own["from"], own["subject"]) == (SENDER, "", "failure notice")


# --- the accounting invariant -------------------------------------------------------------------

def flush_until(outpost, done, timeout=90):
    """SIGHUP (retry deferred mail now) until done() is true."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "outcomes did not settle"
        outpost.signal(signal.SIGHUP)
        time.sleep(0.3)


def test_every_recipient_has_exactly_one_final_record(mta, smtp_sink):
    sinks = [smtp_sink("127.0.0.2"), smtp_sink("127.0.0.5")]
    recording(mta, logger="[main]\nstop_at_bounce=false\n")
    smtp_sink("127.0.0.8")          # DSNs to the sender
    mta.start()
    rng = random.Random(5)
    # kind: (deferred records, final type)
    kinds = {"ok": (0, "delivered"), "hard": (0, "bounced"), "soft": (3, "bounced"),
             "flaky1": (1, "delivered"), "flaky2": (2, "delivered")}
    expect = {}
    for m in range(12):
        rcpts = []
        for j in range(4):
            kind = rng.choice(list(kinds))
            domain = rng.choice(["single.test", "implicit.test"])
            rcpts.append(f"{kind}-m{m}r{j}@{domain}")
            expect[rcpts[-1]] = kinds[kind]
        send(mta, rcpts)

    def settled():
        finals = [r for r in json_records(mta)
                  if r["type"] != "deferred" and r["recipient"] in expect]
        return len(finals) >= len(expect) and not mta.queue_files()
    flush_until(mta, settled)
    wait_empty(mta)
    records = json_records(mta)
    for rcpt, (deferrals, final) in expect.items():
        mine = [r["type"] for r in records if r["recipient"] == rcpt]
        assert sorted(mine) == sorted(["deferred"] * deferrals + [final]), (rcpt, mine)
    # The accounting files say the same, with the same job ids.
    by_type = {"delivered": "delivered", "deferred": "deferred", "bounce": "bounced"}
    for kind, rtype in by_type.items():
        _, rows = acct_rows(mta, kind)
        want = sorted((r["recipient"], r["job_id"]) for r in records if r["type"] == rtype)
        assert sorted((r["rcpt"], r["jobId"]) for r in rows) == want, kind
    # And the sinks received exactly the delivered recipients, once each.
    received = [rc for s in sinks for msg in s.messages() for rc in msg.rcpt_tos]
    delivered = [r for r, (_, final) in expect.items() if final == "delivered"]
    assert sorted(received) == sorted(delivered)
    expired = [r for r in records if r["type"] == "bounced" and r["recipient"].startswith("soft")]
    assert expired and all(r["dsn_status"] == "5.7.1" for r in expired)
    _, rows = acct_rows(mta, "bounce")
    cats = {r["rcpt"].partition("-")[0]: r["bounceCat"] for r in rows if "@" in r["rcpt"]}
    assert cats.get("soft") == "message-expired" and cats.get("hard") == "bad-mailbox", cats


# --- archiving --------------------------------------------------------------------------------

def check_archive(outpost, kind, expected_rows):
    header, rows = acct_rows(outpost, kind)
    assert len(rows) == expected_rows
    names = [p.name for p in acct_files(outpost, kind)]
    assert len(names) == len(set(names)), "a file name was reused"
    assert all(FILE_NAME.match(n) for n in names), names
    return rows


def test_archiving_by_size_under_load(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    recording(mta, acct="[main]\narchiving=true\nmax_size=0.002\n")
    mta.start()
    rcpts = [f"ok-s{m}r{j}@single.test" for m in range(40) for j in range(3)]
    for m in range(40):
        send(mta, rcpts[3 * m:3 * m + 3])
    wait_records(mta, lambda r: len(r) == len(rcpts), timeout=60)
    wait_empty(mta)
    rows = check_archive(mta, "delivered", len(rcpts))
    assert sorted(r["rcpt"] for r in rows) == sorted(rcpts)
    archived = list((acct_dir(mta, "delivered") / "archive").iterdir())
    assert len(archived) >= 3
    assert all(p.stat().st_size >= 2000 for p in archived)


def test_archiving_by_interval_under_load(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    recording(mta, acct="[main]\narchiving=true\narchive_interval=1\n"
                        "[archive_to]\ndelivered=/old\n")
    mta.start()
    rcpts = []
    end = time.monotonic() + 3.5
    m = 0
    while time.monotonic() < end:
        batch = [f"ok-i{m}r{j}@single.test" for j in range(2)]
        send(mta, batch)
        rcpts += batch
        m += 1
        time.sleep(0.1)
    wait_records(mta, lambda r: len(r) == len(rcpts), timeout=60)
    time.sleep(1.2)                 # one more tick: every record is in an archived file
    d = acct_dir(mta, "delivered")
    archived = sorted((d / "old").iterdir())    # a leading '/' is under the type directory
    assert len(archived) >= 3
    header, rows = acct_rows_in(archived + [p for p in d.iterdir() if p.is_file()])
    assert sorted(r["rcpt"] for r in rows) == sorted(rcpts)
    assert len({p.name for p in archived}) == len(archived)
    for kind in ("deferred", "bounce"):       # empty files rotate too, each with its header
        old = list((acct_dir(mta, kind) / "archive").iterdir())
        assert old and all(p.read_text() == DEFAULT_FIELDS[kind].replace(",", "\t") + "\n"
                           for p in old)


def acct_rows_in(paths):
    header, rows = None, []
    for path in paths:
        lines = [split_tsv(line) for line in path.read_text().split("\n")[:-1]]
        header = header or lines[0]
        assert lines[0] == header, path
        rows += [dict(zip(header, f)) for f in lines[1:]]
    return header, rows


def test_files_of_an_earlier_run_are_archived_at_start_up(daemon):
    recording(daemon, acct="[main]\narchiving=true\n")
    daemon.start()
    first = {kind: acct_files(daemon, kind) for kind in KINDS}
    stray = acct_dir(daemon, "delivered") / "notes.txt"
    stray.write_text("not ours\n")
    daemon.stop()
    time.sleep(1.1)                 # the next files get another name
    daemon.start()
    for kind in KINDS:
        olds = first[kind]
        assert len(olds) == workers(daemon), olds
        for old in olds:
            assert not old.exists()
            assert (old.parent / "archive" / old.name).exists()
        current = [p for p in acct_dir(daemon, kind).iterdir()
                   if p.is_file() and FILE_NAME.match(p.name)]
        assert len(current) == workers(daemon)
        assert not {p.name for p in current} & {p.name for p in olds}
    assert stray.exists()           # only the plugin's own files move


def test_archive_to_outside_its_directory_is_refused(daemon):
    recording(daemon, acct="[main]\narchiving=true\n[archive_to]\nbounce=../../elsewhere\n")
    daemon.start(ready=False)
    assert daemon.proc.wait(20) == 78
    assert re.search(r"archive_to\] bounce: '\.\./\.\./elsewhere' leaves", daemon.output())


# --- signals ----------------------------------------------------------------------------------

def test_sigusr1_reopens_both_outputs(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    recording(mta)
    mta.start()
    send(mta, ["ok-1@single.test"])
    wait_records(mta, lambda r: len(r) == 1)
    log = mta.root / "logs" / "outbound.log"
    log.rename(log.with_name("outbound.log.1"))
    currents = acct_files(mta, "delivered")      # one per worker
    assert len(currents) == workers(mta)
    for i, current in enumerate(currents):
        current.rename(current.with_name(f"moved.{i}.tsv"))
    mta.signal(signal.SIGUSR1)
    time.sleep(0.5)
    send(mta, ["ok-2@single.test"])
    (record,) = wait_records(mta, lambda r: len(r) == 1)
    assert record["recipient"] == "ok-2@single.test"
    assert len(log.with_name("outbound.log.1").read_text().splitlines()) == 1
    deadline = time.monotonic() + 10
    while not all(p.exists() for p in currents) or \
            "ok-2" not in "".join(p.read_text() for p in currents):
        assert time.monotonic() < deadline, "the accounting file was not reopened"
        time.sleep(0.05)
    header = DEFAULT_FIELDS["delivered"].replace(",", "\t")
    texts = sorted((p.read_text().splitlines() for p in currents), key=len)
    assert [len(lines) for lines in texts] == [1] * (len(texts) - 1) + [2]
    assert all(lines[0] == header for lines in texts)


# --- outputs ----------------------------------------------------------------------------------

def test_stdout_records_are_whole_json_lines_among_the_log(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    mta.write_config("plugins", "relay\noutbound_logger\n")
    mta.write_config("outbound_logger.ini", "[stdout]\nenable=true\n[file]\nenable=true\n")
    mta.write_config("outbound.ini", "")
    mta.start()
    # [file] without log_dir: Haraka's error, and the daemon goes on with stdout only.
    mta.wait_for_log(r"^\[ERROR\] \[-\] \[outbound_logger\] file path is not defined\.$")
    rcpts = [f"ok-{i}@single.test" for i in range(30)]
    for i in range(0, 30, 10):
        send(mta, rcpts[i:i + 10])
    deadline = time.monotonic() + 20
    while True:
        records = [json.loads(line) for line in mta.lines() if line.startswith("{")]
        if len(records) >= 30:
            break
        assert time.monotonic() < deadline, f"{len(records)} records on stdout"
        time.sleep(0.05)
    assert sorted(r["recipient"] for r in records) == sorted(rcpts)
    for r in records:
        check_shape(r)
    assert not (mta.root / "logs").exists()
