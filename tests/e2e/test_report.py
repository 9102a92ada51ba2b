"""`outpost report`: totals, destinations, bounce categories, deferral reasons, hourly volume and
delivery-delay percentiles over the record files. Two ways: a generated set of accounting files
(TSV, CSV, a custom field list, an archive, a compressed one, malformed lines) and JSON logs with
totals the test computes itself, against the text report's numbers and the HTML file; then a
real run of the daemon (sinks that accept, defer and refuse, archiving by size) whose records
`outpost report -c ROOT` must count exactly."""
import calendar
import gzip
import html.parser
import json
import re
import subprocess

import pytest

from harness.daemon import check_sanitizers, outpost_binary, outpost_env
from test_accounting import acct_files, acct_rows, json_records, recording, wait_records
from test_delivery import send

ACCT_HEADER = {
    "d": "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,vmta,jobId,dsnStatus,dsnMsg",
    "df": "type,timeLogged,timeQueued,rcpt,srcMta,srcIp,vmta,jobId,dsnStatus,dsnMsg,delay",
}
XSS = "<script>alert(1)</script>"


def report(*args, stdin=None, tz="UTC"):
    """Runs `outpost report ARGS` (TZ=tz); (rc, stdout, stderr)."""
    env = outpost_env()
    env["TZ"] = tz
    proc = subprocess.run([str(outpost_binary()), "report", *map(str, args)], input=stdin,
                          capture_output=True, env=env, timeout=60)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    check_sanitizers(out + err, "outpost report")
    return proc.returncode, out, err


def sections(text):
    """{title: [lines]} of the text report (a title is underlined with dashes)."""
    lines = text.splitlines()
    out, title = {}, None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and lines[i + 1] and set(lines[i + 1]) == {"-"} \
                and len(lines[i + 1]) == len(line):
            title = line
            out[title] = []
        elif title is not None and line and set(line) != {"-"}:
            out[title].append(line)
    return out


def section(text, prefix):
    found = [v for k, v in sections(text).items() if k.startswith(prefix)]
    assert len(found) == 1, (prefix, list(sections(text)))
    return found[0]


def pairs(lines):
    """'  name   123' lines as {name: value}."""
    out = {}
    for line in lines:
        m = re.match(r"^  (\S.*?)\s+(-?[\d.]+)(\s.*)?$", line)
        if m:
            out[m[1]] = m[2]
    return out


def rows3(lines):
    """'  d df b  key' lines as {key: (d, df, b)} (the header line is left out)."""
    out = {}
    for line in lines:
        m = re.match(r"^\s+(\d+)\s+(\d+)\s+(\d+)  (.*)$", line)
        if m:
            out[m[4]] = (int(m[1]), int(m[2]), int(m[3]))
    return out


def counts(lines):
    """'  123  key' lines as {key: 123}."""
    return {m[2]: int(m[1]) for m in (re.match(r"^\s+(\d+)  (.*)$", l) for l in lines) if m}


def totals(text):
    return {k: int(v) for k, v in pairs(section(text, "Grand Totals")).items()}


class Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


# --- a generated set with known totals --------------------------------------------------------

def ts(epoch, offset_min=0):
    """accounting_files' local time: 'yyyy-mm-dd HH:MM:SS+hhmm' at a UTC offset."""
    import datetime
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    return datetime.datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S%z")


def iso(epoch):
    import datetime
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


BASE = calendar.timegm((2026, 12, 3, 0, 0, 0))


def generate(root):
    """Writes the set; returns what a report of it must say."""
    acct = root / "accounting_files"
    for d in ("delivered/archive", "deferred", "bounce"):
        (acct / d).mkdir(parents=True)
    logs = root / "logs"
    logs.mkdir()
    want = {"hours": {h: [0, 0, 0] for h in range(24)}, "domains": {}, "delays": [],
            "days": {}}

    def note(kind, epoch, rcpt):
        want["hours"][(epoch // 3600) % 24][kind] += 1
        day = ts(epoch)[:10]
        want["days"].setdefault(day, [0, 0, 0])[kind] += 1
        dom = rcpt.rpartition("@")[2].lower()
        want["domains"].setdefault(dom, [0, 0, 0])[kind] += 1

    # 40 delivered, delays 1..40 s; 25 in the current file (written at +0100), 15 archived.
    delivered, json_lines = [], []
    for i in range(40):
        logged = BASE + i * 5400 + 7          # every 1.5 h over 2.5 days
        delay = i + 1
        rcpt = f"user{i}@{'Example.COM' if i % 4 == 0 else 'dest%d.test' % (i % 3)}"
        delivered.append((logged, delay, rcpt, f"J{i}"))
        note(0, logged, rcpt)
        want["delays"].append(delay)
        json_lines.append(json.dumps({
            "level": "info", "time": iso(logged), "pid": 1, "hostname": "h",
            "name": "outbound_logger", "type": "delivered", "job_id": f"J{i}",
            "queue_time": iso(logged - delay), "smtp_host": "mx", "smtp_ip": "127.0.0.2",
            "smtp_response": "OK", "smtp_delay": delay + 0.5, "smtp_port": 25,
            "recipient": rcpt, "from": "s@x.test", "subject": "s"}))

    def d_line(logged, delay, rcpt, job, offset):
        return "\t".join(["d", ts(logged, offset), ts(logged - delay, offset), rcpt, "client",
                          "127.0.0.1", "", job, "2.0.0", "OK queued"])
    current = [d_line(*r, 60) for r in delivered[:25]]
    archived = [d_line(*r, -300) for r in delivered[25:]]
    # malformed: free text, one field short, an unknown type
    current[3:3] = ["this is not a record", "d\t2026-12-03 00:00:00+0000\tx",
                    "zz" + current[0][1:]]
    (acct / "delivered" / "d.2026-12-04-000000.tsv").write_text(
        ACCT_HEADER["d"].replace(",", "\t") + "\n" + "\n".join(current) + "\n")
    (acct / "delivered" / "archive" / "d.2026-12-03-000000.tsv").write_text(
        ACCT_HEADER["d"].replace(",", "\t") + "\n" + "\n".join(archived) + "\n")
    # A compressed old file is listed, not read (it holds 3 more delivered records).
    old = ACCT_HEADER["d"].replace(",", "\t") + "\n" + "\n".join(
        d_line(BASE - 86400, 1, f"old{i}@old.test", "O", 0) for i in range(3)) + "\n"
    (acct / "delivered" / "archive" / "d.2026-12-02-000000.tsv.gz").write_bytes(
        gzip.compress(old.encode()))
    want["gz"] = gzip.compress(old.encode())

    # 12 deferred, CSV: 8 greylisted (addresses and numbers differ), 4 mailbox full, one of
    # them with a line break and quotes in its quoted value.
    lines = [ACCT_HEADER["df"]]
    for i in range(12):
        logged = BASE + 3600 * 20 + i * 60
        rcpt = f"r{i}@grey.test"
        if i < 8:
            status, msg = "4.7.1", f"<{rcpt}>: Greylisted, retry in {30 * (i + 1)} seconds"
        else:
            status, msg = "4.2.2", "Mailbox full" if i != 11 else 'Mailbox\nfull "really"'
        note(1, logged, rcpt)
        q = '"' + msg.replace('"', '""') + '"' if any(c in msg for c in ',"\n') else msg
        lines.append(",".join(["df", ts(logged), ts(logged - 100), rcpt, "c", "", "", f"D{i}",
                               status, q, "600"]))
    lines.append('df,"a last line cut short')     # as a crash mid-write leaves it
    (acct / "deferred" / "df.2026-12-04-000000.csv").write_text("\n".join(lines) + "\n")

    # 6 bounced: a custom field list without a type column (the file name tells), ';'.
    lines = ["rcpt;timeLogged;dsnStatus;dsnMsg;bounceCat;custom_X-Campaign"]
    for i in range(6):
        logged = BASE + 3600 * 30 + i
        rcpt = f"x{i}@{XSS}.test" if i == 0 else f"b{i}@bounce.test"
        cat = "bad-mailbox" if i < 4 else "spam-related"
        note(2, logged, rcpt)
        lines.append(";".join([rcpt, ts(logged), "5.1.1" if i < 4 else "5.7.1",
                               f"<{rcpt}>: no such user\\; sorry" if i < 4 else "spam",
                               cat, "c\\;1"]))
    (acct / "bounce" / "b.2026-12-04-000000.txt").write_text("\n".join(lines) + "\n")

    # The JSON log: the same 40 delivered events, plus 2 malformed lines.
    json_lines[10:10] = ['{"type":"delivered",', '["not", "an", "object"]']
    (logs / "outbound.log").write_text("\n".join(json_lines) + "\n")
    return want


def nearest_rank(values, p):
    values = sorted(values)
    import math
    return values[max(1, math.ceil(p * len(values) / 100)) - 1]


def test_generated_set_known_totals(tmp_path):
    want = generate(tmp_path)
    out_html = tmp_path / "report.html"
    rc, text, err = report("--html", out_html, "--top", "50", tmp_path)
    assert rc == 0, err
    t = totals(text)
    assert (t["delivered"], t["deferred"], t["bounced"], t["records"]) == (40, 12, 6, 58)
    assert t["queue ids"] == 40 + 12 + 0     # the bounce file has no jobId column
    assert t["recipients"] == 58
    assert "Source:  accounting files" in text
    assert "Not counted: JSON logs (the same events): 40 delivered, 0 deferred, 0 bounced" \
        in text
    # Delays: timeLogged - timeQueued of the delivered lines, nearest rank.
    d = pairs(section(text, "Delivery Delays"))
    assert int(d["count"]) == 40
    for p in (50, 90, 99):
        assert float(d[f"p{p}"]) == nearest_rank(want["delays"], p), p
    assert float(d["max"]) == 40.0
    assert (int(d["< 1s"]), int(d["1-2s"]), int(d["2-5s"]), int(d["5-10s"]),
            int(d["10-30s"]), int(d["30-60s"])) == (0, 1, 3, 5, 20, 11)
    # Hours (UTC here), days, domains (folded to lower case).
    hours = rows3(section(text, "Per-Hour"))
    assert len(hours) == 24
    assert {int(k[:2]): list(v) for k, v in hours.items()} == want["hours"]
    days = rows3(section(text, "Per-Day"))
    assert {k: list(v) for k, v in days.items()} == want["days"]
    assert list(days) == sorted(want["days"]) and len(days) == 3
    domains = rows3(section(text, "Recipient Domains"))
    assert {k: list(v) for k, v in domains.items()} == \
        {k: v for k, v in want["domains"].items()}
    assert domains["example.com"] == (10, 0, 0)
    # Bounce categories; reasons with addresses and numbers masked.
    assert counts(section(text, "Bounce Categories")) == {"bad-mailbox": 4, "spam-related": 2}
    assert counts(section(text, "Deferral Reasons")) == {
        "4.7.1 <addr>: Greylisted, retry in # seconds": 8,
        "4.2.2 Mailbox full": 3, '4.2.2 Mailbox full "really"': 1}
    assert counts(section(text, "Bounce Reasons")) == {
        "5.1.1 <addr>: no such user; sorry": 4, "5.7.1 spam": 2}
    # What was wrong with the input, file by file.
    assert re.search(r"^  3 malformed lines in .*/delivered/d\.2026-12-04-000000\.tsv$", text,
                     re.M)
    assert re.search(r"^  1 malformed line in .*/deferred/df\.2026-12-04-000000\.csv$", text,
                     re.M)
    assert re.search(r"^  2 malformed lines in .*/logs/outbound\.log$", text, re.M)
    assert re.search(r"d\.2026-12-02-000000\.tsv\.gz: skipped: compressed", text)
    assert re.search(r"archive/d\.2026-12-03-000000\.tsv: accounting, 15 records", text)

    # The HTML: parses, has the plots, escapes what came from the records.
    page = out_html.read_text()
    parser = Tags()
    parser.feed(page)
    parser.close()
    assert parser.tags.count("svg") == 2 and "rect" in parser.tags
    assert "script" not in parser.tags
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.test" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)    # self-contained
    assert "&lt;addr&gt;: no such user; sorry" in page
    assert "<h2>Per day</h2>" in page and "<td>2026-12-05</td>" in page


def test_generated_set_json_source_period_and_stdin(tmp_path):
    generate(tmp_path)
    # The JSON log instead: its delays are smtp_delay (to the ms).
    rc, text, err = report("--source", "json", tmp_path)
    assert rc == 0, err
    t = totals(text)
    assert (t["delivered"], t["deferred"], t["bounced"]) == (40, 0, 0)
    d = pairs(section(text, "Delivery Delays"))
    assert (float(d["p50"]), float(d["p90"]), float(d["max"])) == (20.5, 36.5, 40.5)
    assert "Not counted: accounting files (the same events): 40 delivered, 12 deferred, " \
           "6 bounced" in text
    # A period: [--since, --until), local time (UTC here) or with a zone.
    rc, text, _ = report("--since", "2026-12-03 12:00", "--until", "2026-12-04T00:00:00+00:00",
                         tmp_path / "accounting_files" / "delivered")
    assert rc == 0
    inside = [i for i in range(40) if 12 * 3600 <= i * 5400 + 7 < 24 * 3600]
    assert totals(text)["delivered"] == len(inside)
    assert "records outside the period" in text
    # Timezones move the hours, not the counts.
    rc, text, _ = report(tmp_path / "accounting_files", tz="Asia/Kolkata")
    assert totals(text)["delivered"] == 40
    # A compressed archive, decompressed into standard input.
    zipped = next((tmp_path / "accounting_files").rglob("*.gz")).read_bytes()
    rc, text, _ = report("-", stdin=gzip.decompress(zipped))
    assert rc == 0
    assert totals(text)["delivered"] == 3
    assert rows3(section(text, "Recipient Domains")) == {"old.test": (3, 0, 0)}
    # Files joined on standard input: each header maps the lines under it.
    joined = b"".join(p.read_bytes() for p in (
        tmp_path / "accounting_files" / "delivered" / "d.2026-12-04-000000.tsv",
        tmp_path / "logs" / "outbound.log",
        tmp_path / "accounting_files" / "deferred" / "df.2026-12-04-000000.csv"))
    rc, text, _ = report("-", stdin=joined)
    assert rc == 0
    t = totals(text)
    assert (t["delivered"], t["deferred"], t["bounced"]) == (25, 12, 0)
    assert "Not counted: JSON logs (the same events): 40 delivered" in text
    assert re.search(r"^  -: json\+accounting, 77 records$", text, re.M)
    assert re.search(r"^  6 malformed lines in -$", text, re.M)


def test_bad_input_and_usage(tmp_path):
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 64 + b"\n" + b"x" * (2 << 20))
    (tmp_path / "empty.log").write_text("")
    rc, text, err = report(tmp_path / "junk.bin", tmp_path / "empty.log")
    assert rc == 0, err
    assert "junk.bin: skipped: not a record file" in text
    assert totals(text)["records"] == 0
    rc, _, err = report(tmp_path / "missing")
    assert rc == 66 and "missing" in err
    rc, _, err = report()
    assert rc == 64
    rc, _, err = report("--since", "yesterday", tmp_path)
    assert rc == 64 and "--since" in err
    rc, _, err = report("-c", tmp_path / "nope")
    assert rc == 66
    rc, _, err = report("--html", tmp_path / "no" / "such" / "dir.html", tmp_path)
    assert rc == 73


# --- a real run -----------------------------------------------------------------------------

def test_real_run_totals_match_the_records(mta, smtp_sink):
    smtp_sink("127.0.0.2")
    smtp_sink("127.0.0.5")
    recording(mta, acct="[main]\narchiving=true\nmax_size=0.0006\n")
    mta.start()
    rcpts = [f"ok-{i}@single.test" for i in range(8)] + \
        ["soft-1@single.test", "soft-2@implicit.test", "hard-1@single.test",
         "hard-2@implicit.test", "hard-3@single.test"]
    for i in range(0, len(rcpts), 3):
        send(mta, rcpts[i:i + 3])
    wait_records(mta, lambda r: len(r) == len(rcpts), timeout=30)
    for kind, n in (("delivered", 8), ("deferred", 2), ("bounce", 3)):
        acct_rows(mta, kind, n=n)
    assert any("archive" in str(p) for p in acct_files(mta, "delivered")), \
        "no file was archived: the test would not cover archives"
    records = json_records(mta)
    by_type = {t: sum(1 for r in records if r["type"] == t)
               for t in ("delivered", "deferred", "bounced")}
    assert by_type == {"delivered": 8, "deferred": 2, "bounced": 3}

    rc, text, err = report("-c", mta.root, "--html", mta.root / "r.html")
    assert rc == 0, err
    t = totals(text)
    assert (t["delivered"], t["deferred"], t["bounced"]) == (8, 2, 3)
    assert t["recipients"] == 13
    assert t["queue ids"] == len({r["job_id"] for r in records})
    assert "Source:  accounting files" in text
    assert "Not counted: JSON logs (the same events): 8 delivered, 2 deferred, 3 bounced" in text
    assert counts(section(text, "Bounce Categories")) == {"bad-mailbox": 3}
    assert counts(section(text, "Deferral Reasons")) == \
        {"4.7.1 Temporary failure, try again": 2}
    assert rows3(section(text, "Recipient Domains")) == \
        {"single.test": (8, 1, 2), "implicit.test": (0, 1, 1)}
    d = pairs(section(text, "Delivery Delays"))
    assert int(d["count"]) == 8 and 0 <= float(d["max"]) < 30
    assert "malformed" not in text
    # The JSON log says the same, its bounces classified by the same rules.
    rc, text, err = report("-c", mta.root, "--source", "json")
    assert rc == 0, err
    t = totals(text)
    assert (t["delivered"], t["deferred"], t["bounced"]) == (8, 2, 3)
    assert counts(section(text, "Bounce Categories")) == {"bad-mailbox": 3}
    assert counts(section(text, "Deferral Reasons")) == \
        {"4.7.1 Temporary failure, try again": 2}
    d = pairs(section(text, "Delivery Delays"))
    delays = sorted(r["smtp_delay"] for r in records if r["type"] == "delivered")
    assert float(d["max"]) == pytest.approx(delays[-1], abs=0.001)
    assert float(d["p50"]) == pytest.approx(nearest_rank(delays, 50), abs=0.001)
    parser = Tags()
    parser.feed((mta.root / "r.html").read_text())
    assert "svg" in parser.tags


# --- feedback: remote bounces and complaints ------------------------------------------------

RB_HEADER = ("type,timeLogged,timeQueued,orig,rcpt,vmta,jobId,msgId,dsnAction,dsnStatus,"
             "dsnDiag,dsnReportingMta,dsnMta,bounceCat")
F_HEADER = ("type,timeLogged,timeQueued,orig,rcpt,vmta,jobId,msgId,feedbackType,userAgent,"
            "srcIp,dsnReportingMta")


def test_feedback_totals_per_domain_category_and_type(tmp_path):
    """rb and f accounting files (accounting_files' default fields) and remote_bounce /
    complaint JSON lines are counted apart from the delivery outcomes: totals, per
    recipient domain, per bounce category and per feedback type, in text and HTML."""
    acct = tmp_path / "accounting_files"
    for d in ("remote_bounce", "feedback", "delivered"):
        (acct / d).mkdir(parents=True)
    rbs = [("a@Ex.com", "bad-mailbox"), ("b@ex.com", "bad-mailbox"), ("c@ex.com", "bad-mailbox"),
           ("d@ex.com", "quota-issues"), ("e@other.test", "bad-mailbox")]
    fs = [("f@ex.com", "abuse"), ("g@ex.com", "abuse"), ("h@other.test", "fraud")]
    lines = [RB_HEADER.replace(",", "\t")]
    for i, (rcpt, cat) in enumerate(rbs):
        lines.append("\t".join(["rb", ts(BASE + i * 60), ts(BASE), "s@example.org", rcpt, "",
                                f"J{i}.1", f"m{i}@example.org", "failed", "5.1.1",
                                "smtp; 550 5.1.1 no", "mx.test", "mx.test", cat]))
    (acct / "remote_bounce" / "rb.2026-12-03-000000.tsv").write_text("\n".join(lines) + "\n")
    lines = [F_HEADER.replace(",", "\t")]
    for i, (rcpt, ftype) in enumerate(fs):
        lines.append("\t".join(["f", ts(BASE + i * 60), ts(BASE), "s@example.org", rcpt, "",
                                f"K{i}.1", f"n{i}@example.org", ftype, "Agent/1", "", "fbl.test"]))
    (acct / "feedback" / "f.2026-12-03-000000.tsv").write_text("\n".join(lines) + "\n")
    lines = [ACCT_HEADER["d"].replace(",", "\t"),
             "\t".join(["d", ts(BASE + 5), ts(BASE), "x@ex.com", "", "", "", "J9.1", "2.0.0",
                        "250 ok"])]
    (acct / "delivered" / "d.2026-12-03-000000.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "outbound.log").write_text("".join(json.dumps(r) + "\n" for r in [
        {"type": "remote_bounce", "time": iso(BASE), "job_id": "J0.1", "recipient": "a@ex.com",
         "bounce_category": "bad-mailbox", "event_id": "e1"},
        {"type": "remote_bounce", "time": iso(BASE), "job_id": "J1.1", "recipient": "b@x.test",
         "bounce_category": "spam-related", "event_id": "e2"},
        {"type": "complaint", "time": iso(BASE), "job_id": "K0.1", "recipient": "f@ex.com",
         "feedback_type": "abuse", "event_id": "e3"},
    ]))
    out_html = tmp_path / "report.html"
    rc, text, err = report("--html", out_html, "--top", "50", tmp_path / "accounting_files")
    assert rc == 0, err
    t = totals(text)
    assert (t["delivered"], t["deferred"], t["bounced"], t["records"]) == (1, 0, 0, 1)
    assert pairs(section(text, "Feedback After Delivery")) == \
        {"remote bounces": "5", "complaints": "3"}
    by_domain = {m[3]: (int(m[1]), int(m[2])) for m in (
        re.match(r"^\s+(\d+)\s+(\d+)  (.*)$", line)
        for line in section(text, "Feedback by Recipient Domain")) if m}
    assert by_domain == {"ex.com": (4, 2), "other.test": (1, 1)}
    assert counts(section(text, "Remote Bounce Categories")) == \
        {"bad-mailbox": 4, "quota-issues": 1}
    assert counts(section(text, "Complaint Feedback Types")) == {"abuse": 2, "fraud": 1}
    page = out_html.read_text()
    assert "<h2>Feedback after delivery</h2>" in page
    assert re.search(r"<tr><td class=\"n\">4</td><td class=\"n\">2</td><td>ex\.com</td></tr>",
                     page)
    assert re.search(r"<td class=\"n\">4</td><td>bad-mailbox</td>", page)
    assert re.search(r"<td class=\"n\">1</td><td>fraud</td>", page)
    # The JSON log's feedback lines, as the source.
    rc, text, err = report("--source", "json", tmp_path / "logs")
    assert rc == 0, err
    assert pairs(section(text, "Feedback After Delivery")) == \
        {"remote bounces": "2", "complaints": "1"}
    assert counts(section(text, "Remote Bounce Categories")) == \
        {"bad-mailbox": 1, "spam-related": 1}
    assert counts(section(text, "Complaint Feedback Types")) == {"abuse": 1}
