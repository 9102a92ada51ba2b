"""A refusing greeting, end to end (SPEC, "Departures from Haraka"): a 4xx or 5xx greeting is a
failure of that MX host, so the next MX is tried (Postfix smtp_skip_4xx_greeting and
smtp_skip_5xx_greeting); only when every MX failed is the message deferred, or bounced when
every failure was a permanent reply. The records (outbound_logger, accounting_files), the
queue entry's last_error and the DSN carry the remote reply.

Zone: multi.test → mx1, mx2 (127.0.0.2/.3, preference 10), mx3 (127.0.0.4, preference 20);
DSNs go to mxb.test (127.0.0.8)."""
import time

import pytest

from test_accounting import acct_rows, json_records, wait_records
from test_delivery import (DSN_HOST, deferred, dsn_fields, parse_dsn, send, wait_empty,
                           wait_entry)

MX = {"mx1.test": "127.0.0.2", "mx2.test": "127.0.0.3", "mx3.test": "127.0.0.4"}
TEMP = "421 4.7.0 Try later"
PERM = "554 5.3.2 No service here"


def configure(mta, intervals="1h*3"):
    """Both record plugins on; outbound_logger lets the bounce go on to the DSN."""
    mta.write_config("plugins", "relay\noutbound_logger\naccounting_files\n")
    mta.write_config("outbound_logger.ini",
                     "[main]\nstop_at_bounce=false\n[file]\nenable=true\nlog_dir=logs\n")
    mta.write_config("accounting_files.ini", "")
    mta.write_config("outbound.ini", f"temp_fail_intervals={intervals}\n")


def sinks_failing(smtp_sink, replies):
    """A sink on each MX, failing its greeting with its reply (None: accepting); an MX whose
    reply is "down" gets no server (connection refused)."""
    sinks = {}
    for host, reply in zip(MX, replies):
        if reply == "down":
            continue
        sinks[host] = smtp_sink(MX[host])
        if reply is not None:
            sinks[host].fail("greeting", reply)
    return sinks


@pytest.fixture
def dsn_sink(smtp_sink):
    return smtp_sink(DSN_HOST)


def test_4xx_greeting_on_the_first_mxs_then_the_backup_delivers(mta, smtp_sink, dsn_sink):
    sinks = sinks_failing(smtp_sink, [TEMP, TEMP, None])
    configure(mta)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    got = sinks["mx3.test"].wait_for_messages(1)
    assert got[0].rcpt_tos == ("ok-1@multi.test",)
    wait_empty(mta)
    for host in ("mx1.test", "mx2.test"):
        mta.wait_for_log(rf"\[NOTICE\] .*{host}: Try later; trying the next MX")
        assert sinks[host].count("connections") == 1
        assert sinks[host].count("EHLO") == sinks[host].count("MAIL") == 0
    (rec,) = wait_records(mta, lambda r: len(r) == 1)
    assert rec["type"] == "delivered"
    assert (rec["smtp_host"], rec["smtp_ip"]) == ("mx3.test", "127.0.0.4")
    time.sleep(0.3)                       # a stray record or second copy would show by now
    assert [r["type"] for r in json_records(mta)] == ["delivered"]
    assert len(sinks["mx3.test"].messages()) == 1
    _, rows = acct_rows(mta, "deferred")
    assert rows == []
    assert not dsn_sink.messages()


def test_4xx_greeting_everywhere_defers_and_retries(mta, smtp_sink, dsn_sink):
    sinks = sinks_failing(smtp_sink, [TEMP, TEMP, TEMP])
    configure(mta, intervals="5s*5")      # 5 s: the shortest allowed
    # The 421 greetings put multi.test in backoff (shaping_rules); its attempts are then
    # spaced by backoff_interval (60 s by default): 1 s here, so the 5 s retry goes.
    mta.write_config("shaping.ini", "[main]\nbackoff_interval=1\n")
    mta.start()
    send(mta, ["ok-1@multi.test"])
    _, (fields, rcpts, _) = wait_entry(mta, deferred(1))
    assert rcpts == [("pending", "ok-1@multi.test")]
    assert fields["last_error"].startswith(TEMP)
    # Retried: every MX tried again at the next attempt, deferred again.
    records = wait_records(mta, lambda r: len(r) >= 2, what="a second deferral")
    _, (fields, _, _) = wait_entry(mta, deferred(2))
    assert fields["last_error"].startswith(TEMP)
    for host, sink in sinks.items():
        assert sink.count("connections") >= 2, host
        assert sink.count("MAIL") == 0
    for rec in records:
        assert rec["type"] == "deferred", records
        assert (rec["dsn_status"], rec["dsn_action"]) == ("4.7.0", "delayed")
        assert rec["undelivered_reason"] == "4.7.0 Try later"
        # The last MX tried (preference 20) gave the reply recorded.
        assert (rec["smtp_host"], rec["smtp_ip"]) == ("mx3.test", "127.0.0.4")
    _, rows = acct_rows(mta, "deferred", n=2)
    for row in rows:
        assert (row["rcpt"], row["dsnStatus"], row["dsnMsg"]) == \
            ("ok-1@multi.test", "4.7.0", "Try later")
        assert row["srcIp"] == "127.0.0.1"
    _, bounced = acct_rows(mta, "bounce")
    assert bounced == []
    assert not dsn_sink.messages()
    assert len(mta.queue_files()) == 1


def test_5xx_greeting_everywhere_bounces(mta, smtp_sink, dsn_sink):
    sinks = sinks_failing(smtp_sink, [PERM, PERM, PERM])
    configure(mta)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    dsn = parse_dsn(dsn_sink.wait_for_messages(1)[0])
    _, rcpts = dsn_fields(dsn)
    assert rcpts[0]["final-recipient"] == "rfc822;ok-1@multi.test"
    assert (rcpts[0]["action"], rcpts[0]["status"]) == ("failed", "5.3.2")
    assert rcpts[0]["diagnostic-code"] == f"smtp;{PERM}"
    assert rcpts[0]["remote-mta"] == "dns;mx3.test"
    wait_empty(mta)
    for sink in sinks.values():           # each MX tried once, at the greeting only
        assert sink.count("connections") == 1
        assert sink.count("EHLO") == sink.count("MAIL") == 0
    # Two records: this bounce, and the DSN's own delivery to mxb.test.
    records = wait_records(mta, lambda r: len(r) == 2)
    (rec,) = [r for r in records if r["recipient"] == "ok-1@multi.test"]
    assert rec["type"] == "bounced"
    assert (rec["dsn_status"], rec["dsn_action"]) == ("5.3.2", "failed")
    assert rec["undelivered_reason"] == "5.3.2 No service here"
    assert (rec["smtp_host"], rec["smtp_ip"]) == ("mx3.test", "127.0.0.4")
    _, (row,) = acct_rows(mta, "bounce", n=1)
    assert (row["rcpt"], row["dsnStatus"], row["dsnMsg"]) == \
        ("ok-1@multi.test", "5.3.2", "No service here")
    _, rows = acct_rows(mta, "deferred")
    assert rows == []


@pytest.mark.parametrize("replies, last_error, reason, server", [
    # A temporary failure anywhere: deferred, with the last temporary reply...
    ([PERM, PERM, TEMP], TEMP, "4.7.0 Try later", ("mx3.test", "127.0.0.4")),
    ([TEMP, TEMP, PERM], TEMP, "4.7.0 Try later", None),
    # ... or, when it had none (connection refused), Haraka's "Tried all MXs".
    ([PERM, PERM, "down"], "421 4.4.1 Tried all MXs multi.test",
     "421 - Tried all MXs multi.test", None),
], ids=["5xx-5xx-4xx", "4xx-4xx-5xx", "5xx-5xx-refused"])
def test_mixed_greetings_defer_never_bounce(mta, smtp_sink, dsn_sink, replies, last_error,
                                            reason, server):
    sinks = sinks_failing(smtp_sink, replies)
    configure(mta)
    mta.start()
    send(mta, ["ok-1@multi.test"])
    _, (fields, rcpts, _) = wait_entry(mta, deferred(1))
    assert rcpts == [("pending", "ok-1@multi.test")]
    assert fields["last_error"].startswith(last_error)
    (rec,) = wait_records(mta, lambda r: len(r) == 1)
    assert rec["type"] == "deferred"
    assert rec["dsn_status"] == last_error.split()[1]
    assert rec["undelivered_reason"] == reason
    if server is not None:
        assert (rec["smtp_host"], rec["smtp_ip"]) == server
    elif replies[0] == TEMP:              # mx1 or mx2, whichever was tried last
        assert MX.get(rec["smtp_host"]) == rec["smtp_ip"] != "127.0.0.4"
    for sink in sinks.values():
        assert sink.count("connections") == 1
    time.sleep(0.3)                       # a bounce would show by now
    assert [r["type"] for r in json_records(mta)] == ["deferred"]
    _, bounced = acct_rows(mta, "bounce")
    assert bounced == []
    assert not dsn_sink.messages()
    assert len(mta.queue_files()) == 1
