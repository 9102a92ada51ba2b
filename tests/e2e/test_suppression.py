"""The suppression list (issue 18, item 4), end to end against the real daemon, the test DNS
server and real SMTP sinks: a recipient that bounced hard (550 5.1.1) is not attempted again —
the sink receives no RCPT for it — and its next mail bounces at once with 5.7.1 "Recipient
suppressed", recorded as such (JSON and accounting, bounce category policy-related) and
reported in a DSN; the other recipients of the same message are delivered. Entries are per
sender domain by default; the admin API and outpostctl list, add and remove them; the list
survives a restart and a kill -9 once the bounce is recorded; entries expire; --qstat counts
them; suppression.ini enabled=false turns it off."""
import json
import time

from harness.daemon import run_outpost
from test_accounting import acct_rows, json_records, recording, wait_records
from test_admin_api import Api, ctl
from test_delivery import SENDER, DSN_HOST, dsn_fields, parse_dsn, send, wait_empty

HARD = "hard-1@single.test"          # the sink answers 550 5.1.1 (single.test → 127.0.0.2)
OTHER_SENDER = "news@other.test"     # another sender domain


def bounced(records):
    return [r for r in records if r["type"] == "bounced"]


def qstat(outpost):
    rc, out, err = run_outpost("-c", str(outpost.root), "--qstat")
    assert rc == 0, err
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def api_for(outpost, tmp_path):
    path = str(tmp_path / "admin.sock")
    outpost.write_config("http.ini", f"listen={path}\n")
    return Api(sock=path)


def delete(api, path):
    return api.call("DELETE", path)


def test_hard_bounce_then_not_attempted_bounced_as_suppressed(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    dsn = smtp_sink(DSN_HOST)
    recording(mta, logger="[main]\nstop_at_bounce=false\n")     # DSNs too
    mta.start()
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 1, what="the hard bounce")
    wait_empty(mta)
    assert sink.count("RCPT") == 1
    assert qstat(mta)["suppressions"] == "1"
    # The next message: the suppressed recipient is not attempted, the other one delivered.
    send(mta, [HARD, "ok-2@single.test"])
    records = wait_records(mta, lambda r: len(bounced(r)) == 2 and any(
        d["type"] == "delivered" and d["recipient"] == "ok-2@single.test" for d in r),
        what="the suppressed bounce")
    wait_empty(mta)
    assert sink.count("RCPT") == 2, "the suppressed recipient was sent a RCPT"
    assert [list(m.rcpt_tos) for m in sink.messages()] == [["ok-2@single.test"]]
    first, second = bounced(records)
    assert first["recipient"] == second["recipient"] == HARD
    assert first["dsn_status"] == "5.1.1"
    assert second["dsn_status"] == "5.7.1"
    reason = second["undelivered_reason"]
    assert "Recipient suppressed: 550 5.1.1 No such user" in reason, reason
    assert "(bounce, since 20" in reason, reason
    _, rows = acct_rows(mta, "bounce", n=2)     # with workers, in two workers' files
    assert sorted((r["dsnStatus"], r["bounceCat"]) for r in rows) == [
        ("5.1.1", "bad-mailbox"), ("5.7.1", "policy-related")]
    mta.wait_for_log(r"<hard-1@single.test> suppressed for bounces.test .*not attempted")
    # A DSN for each bounce, the second naming the suppression.
    dsn.wait_for_messages(2, timeout=15)
    _, per_rcpt = dsn_fields(parse_dsn(dsn.messages()[1]))
    assert [p["status"].split()[0] for p in per_rcpt] == ["5.7.1"]
    assert "Recipient suppressed" in " ".join(per_rcpt[0].values())
    # A third one: still suppressed, the entry untouched (not renewed by its own bounce).
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 3)
    assert sink.count("RCPT") == 2
    assert qstat(mta)["suppressions"] == "1"


def test_scope_per_sender_domain_admin_api_and_outpostctl(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    smtp_sink(DSN_HOST)
    recording(mta)
    api = api_for(mta, tmp_path)
    mta.start()
    # An entry for one sender domain, added by the administrator.
    status, body = api.post("/api/suppressions", {"address": "ok-1@SINGLE.test",
                                                  "scope": "bounces.test",
                                                  "reason": "asked to stop",
                                                  "expires": "30d"})
    assert status == 201, body
    assert body["address"] == "ok-1@single.test" and body["scope"] == "bounces.test"
    assert body["source"] == "admin" and body["expires"] is not None
    mta.wait_for_log(r"<ok-1@single.test> suppressed for bounces.test by the administrator")
    status, body = api.get("/api/suppressions?address=ok-1@single.test")
    assert status == 200 and body["total"] == 1
    assert body["suppressions"][0]["reason"] == "asked to stop"
    # Mail from that domain bounces; mail from another domain is delivered.
    send(mta, ["ok-1@single.test"])
    records = wait_records(mta, lambda r: len(bounced(r)) == 1)
    assert "Recipient suppressed: asked to stop (admin, since" in \
        bounced(records)[0]["undelivered_reason"]
    send(mta, ["ok-1@single.test"], sender=OTHER_SENDER)
    sink.wait_for_messages(1, timeout=15)
    assert sink.messages()[0].mail_from == OTHER_SENDER
    assert sink.count("RCPT") == 1
    # A global entry, through outpostctl; listed as a table and as JSON.
    sock = ("--socket", api.sock)
    rc, out, err = ctl(*sock, "suppression", "add", "ok-3@single.test", "--scope", "global",
                       "--reason", "complained by phone")
    assert rc == 0, err
    assert "suppressed ok-3@single.test for global (admin), expires never" in out
    rc, out, err = ctl(*sock, "suppression", "list")
    assert rc == 0, err
    assert "ok-1@single.test" in out and "ok-3@single.test" in out and "-- 2 of 2" in out
    rc, out, err = ctl(*sock, "--json", "suppression", "list", "--source", "admin",
                       "--limit", "1", "--offset", "1")
    assert rc == 0, err
    listed = json.loads(out)
    assert listed["total"] == 2 and len(listed["suppressions"]) == 1
    assert listed["suppressions"][0]["address"] == "ok-3@single.test"
    assert listed["suppressions"][0]["scope"] == "global"
    send(mta, ["ok-3@single.test"], sender=OTHER_SENDER)
    wait_records(mta, lambda r: len(bounced(r)) == 2)
    assert sink.count("RCPT") == 1
    status, body = api.get("/api/suppressions?domain=single.test&source=admin&scope=global")
    assert status == 200 and body["total"] == 1
    # Removal: by API (one scope), by outpostctl (every scope).
    status, body = delete(api, "/api/suppressions/ok-1@single.test?scope=bounces.test")
    assert status == 200 and body["removed"] == 1, body
    mta.wait_for_log(r"suppression of <ok-1@single.test> \(bounces.test\) removed")
    rc, out, err = ctl(*sock, "suppression", "remove", "ok-3@single.test")
    assert rc == 0 and "removed 1 entry" in out, (out, err)
    rc, out, err = ctl(*sock, "suppression", "remove", "ok-3@single.test")
    assert rc == 1 and "not on the suppression list" in err
    send(mta, ["ok-1@single.test"])
    sink.wait_for_messages(2, timeout=15)
    assert qstat(mta)["suppressions"] == "0"
    # Bad input: 4xx with a JSON error, nothing written.
    for body, word in (({"address": "no-at-sign"}, "address"),
                       ({"address": "a@b.test", "scope": "not a domain"}, "scope"),
                       ({"address": "a@b.test", "expires": "soon"}, "expires"),
                       ({"address": "a@b.test", "reason": ""}, "reason"),
                       ({"address": "a@b.test", "colour": "red"}, "unknown key")):
        status, answer = api.post("/api/suppressions", body)
        assert status == 400 and word in answer["error"], (body, answer)
    status, answer = api.post("/api/suppressions", raw=b"{not json")
    assert status == 400
    status, answer = api.get("/api/suppressions?source=spam")
    assert status == 400 and "source" in answer["error"]
    status, answer = api.get("/api/suppressions?limit=-1")
    assert status == 400
    status, answer = delete(api, "/api/suppressions/nobody@single.test")
    assert status == 404 and "not on the suppression list" in answer["error"]
    status, answer = delete(api, "/api/suppressions/not-an-address")
    assert status == 400
    assert api.get("/api/suppressions")[1]["total"] == 0


def test_survives_kill9_after_the_bounce_and_a_restart(mta, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    smtp_sink(DSN_HOST)
    recording(mta)
    mta.start()
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 1)
    # The entry is removed only once every observer answered: the suppression is on disk.
    wait_empty(mta)
    mta.kill9()
    mta.start()
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 2)
    assert "Recipient suppressed" in bounced(json_records(mta))[1]["undelivered_reason"]
    assert sink.count("RCPT") == 1
    mta.stop()
    assert qstat(mta)["suppressions"] == "1"
    mta.start()
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 3)
    assert sink.count("RCPT") == 1
    # kill -9 as soon as the bounce record is written, before the queue entry is gone: either
    # the entry is durable already, or the queue entry is still there and bounces again.
    send(mta, ["hard-2@single.test"])
    wait_records(mta, lambda r: len(bounced(r)) == 4)
    mta.kill9()
    mta.start()
    wait_empty(mta)
    rcpts = sink.count("RCPT")
    send(mta, ["hard-2@single.test"])
    wait_records(mta, lambda r: any(
        b["recipient"] == "hard-2@single.test" and "Recipient suppressed" in
        b["undelivered_reason"] for b in bounced(r)))
    assert sink.count("RCPT") == rcpts


def test_expiry_stops_suppressing_and_is_purged(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    smtp_sink(DSN_HOST)
    recording(mta)
    mta.write_config("suppression.ini", "[main]\npurge_interval=1\n[expiry]\nbounce=3\n")
    api = api_for(mta, tmp_path)
    mta.start()
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 1)
    wait_empty(mta)
    (e,) = api.get("/api/suppressions")[1]["suppressions"]
    assert e["source"] == "bounce" and e["expires"] is not None and e["active"]
    send(mta, [HARD])
    wait_records(mta, lambda r: len(bounced(r)) == 2)
    assert sink.count("RCPT") == 1
    # Three seconds on (times are whole seconds): attempted again, bounced by the sink again.
    time.sleep(3.2)
    send(mta, [HARD])
    records = wait_records(mta, lambda r: len(bounced(r)) == 3)
    assert bounced(records)[2]["dsn_status"] == "5.1.1"
    assert sink.count("RCPT") == 2
    # An entry of the administrator with 1 s: gone from the store within the purge interval.
    status, _ = api.post("/api/suppressions", {"address": "ok-5@single.test", "expires": 1})
    assert status == 201
    deadline = time.monotonic() + 10
    while api.get("/api/suppressions?address=ok-5@single.test&expired=1")[1]["total"]:
        assert time.monotonic() < deadline, "the expired entry was not purged"
        time.sleep(0.2)
    mta.wait_for_log(r"expired entr(y|ies) purged")


def test_disabled_attempts_every_time(mta, smtp_sink, tmp_path):
    sink = smtp_sink("127.0.0.2")
    smtp_sink(DSN_HOST)
    recording(mta)
    mta.write_config("suppression.ini", "[main]\nenabled=false\n")
    api = api_for(mta, tmp_path)
    mta.start()
    for n in (1, 2):
        send(mta, [HARD])
        wait_records(mta, lambda r: len(bounced(r)) == n)
    assert sink.count("RCPT") == 2
    status, body = api.get("/api/suppressions")
    assert status == 503 and "off" in body["error"]
    stats = qstat(mta)
    assert stats["suppressions"] == "0" and stats["suppression"] == "off"


def test_bad_configuration_exits_78(daemon):
    daemon.write_config("suppression.ini", "[main]\ncategories=bad-mailbox, no-such-thing\n")
    rc, out, err = run_outpost("-c", str(daemon.root), timeout=20)
    assert rc == 78, (out, err)
    assert "suppression.ini: categories: unknown bounce category 'no-such-thing'" in err
    daemon.write_config("suppression.ini", "[expiry]\nbounce=whenever\n")
    rc, out, err = run_outpost("-c", str(daemon.root), timeout=20)
    assert rc == 78 and "suppression.ini: [expiry] bounce" in err, err
