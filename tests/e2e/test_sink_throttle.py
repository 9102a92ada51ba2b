"""The sink's throttle and load records (max_concurrent, max_seen, refused, max_rate), checked
with plain smtplib clients; the daemon is not needed."""
import smtplib
import threading
import time

import pytest

from harness.clients import smtp_client
from harness.sink import OVER_REPLY, SmtpSink

MX = "127.0.0.2"
MESSAGE = b"Subject: throttle\r\n\r\nhello\r\n"


def _greeted(host=MX):
    """A client that got the 220 greeting (its session is open at the sink)."""
    client = smtp_client(host)
    client.ehlo()
    return client


def _send(client, rcpt="ok-1@b.test"):
    assert client.sendmail("a@b.test", [rcpt], MESSAGE) == {}


def test_throttle_refuses_over_the_limit(smtp_sink):
    sink = smtp_sink(MX, max_concurrent=2)
    first, second = _greeted(), _greeted()
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtp_client(MX)
    assert refused.value.smtp_code == 421
    assert refused.value.smtp_error == b"4.7.0 Too many connections"
    sink.wait_until(lambda s: s.sessions()[2].closed, what="the refused connection closed")
    assert sink.refused() == 1
    assert sink.max_seen() == 3          # the refused one counts while it is open
    third = sink.sessions()[2]
    assert third.refused and third.transcript == ["< " + OVER_REPLY]
    assert not any(s.refused for s in sink.sessions()[:2])
    # The open sessions still work; a slot freed by QUIT is taken again.
    _send(first)
    first.quit()
    sink.wait_until(lambda s: s.sessions()[0].closed, what="the first session closed")
    again = _greeted()
    _send(again)
    again.quit()
    second.quit()
    assert len(sink.wait_for_messages(2)) == 2
    assert sink.refused() == 1 and sink.count("connections") == 4


def test_throttle_custom_reply_and_zero_limit(smtp_sink):
    sink = smtp_sink(MX, max_concurrent=0, over_reply="554-5.7.0 Go away\n554 5.7.0 for now")
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtp_client(MX)
    assert refused.value.smtp_code == 554
    assert refused.value.smtp_error == b"5.7.0 Go away\n5.7.0 for now"
    assert sink.refused() == 1 and sink.max_seen() == 1 and not sink.messages()


def test_throttle_under_parallel_clients(smtp_sink):
    limit, clients = 3, 12
    sink = smtp_sink(MX, max_concurrent=limit)
    sink.delay("data_end", 0.3)          # each session stays open a while
    outcome, lock = [], threading.Lock()

    def client(i):
        try:
            with smtp_client(MX) as c:
                _send(c, f"ok-{i}@b.test")
            result = "sent"
        except smtplib.SMTPConnectError as e:
            result = e.smtp_code
        with lock:
            outcome.append(result)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    sent, refused = outcome.count("sent"), outcome.count(421)
    assert sent + refused == clients and sent >= limit and refused >= 1
    assert sink.refused() == refused
    assert len(sink.messages()) == sent
    assert sink.max_seen() > limit       # the refused connections were counted too
    sessions = sink.sessions()
    assert sum(s.refused for s in sessions) == refused


def test_max_seen_without_throttle(smtp_sink):
    sink = smtp_sink(MX)
    assert sink.max_seen() == 0 and sink.refused() == 0
    clients = [_greeted() for _ in range(4)]
    sink.wait_until(lambda s: s.count("EHLO") == 4, what="4 EHLO")
    for c in clients:
        c.quit()
    sink.wait_until(lambda s: all(x.closed for x in s.sessions()), what="all closed")
    one = _greeted()
    one.quit()
    sink.wait_until(lambda s: all(x.closed for x in s.sessions()), what="all closed")
    assert sink.max_seen() == 4 and sink.refused() == 0
    sink.reset()
    assert sink.max_seen() == 0 and sink.refused() == 0 and sink.max_rate(1) == 0


def test_arrival_times_and_max_rate(smtp_sink):
    sink = smtp_sink(MX)
    before = time.monotonic()
    with _greeted() as client:
        _send(client, "ok-1@b.test")
        _send(client, "ok-2@b.test")
        time.sleep(1.0)
        _send(client, "ok-4@b.test")
    after = time.monotonic()
    messages = sink.wait_for_messages(3)
    arrivals = sink.arrivals()
    assert arrivals == [m.arrived for m in messages]
    assert before <= arrivals[0] <= arrivals[1] < arrivals[2] <= after
    assert arrivals[2] - arrivals[1] >= 0.9
    assert sink.max_rate(0.5) == 2
    assert sink.max_rate(60) == 3
    with pytest.raises(ValueError):
        sink.max_rate(0)


def test_max_rate_counts_accepted_messages_only(smtp_sink):
    sink = smtp_sink(MX)
    sink.fail("data_end", "451 4.3.0 Not now", times=2)
    with _greeted() as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError):
                _send(client)
            client.rset()
        _send(client)
    assert len(sink.messages(include_rejected=True)) == 3
    assert sink.max_rate(60) == 1 and len(sink.arrivals()) == 1


def test_throttle_bad_limit():
    with pytest.raises(ValueError):
        SmtpSink(MX, max_concurrent=-1)


def test_refused_sessions_show_in_describe(smtp_sink):
    sink = smtp_sink(MX, max_concurrent=1)
    with _greeted():
        with pytest.raises(smtplib.SMTPConnectError):
            smtp_client(MX)
    assert "refused (max_concurrent)" in sink.describe()
