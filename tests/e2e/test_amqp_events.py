"""amqp_events end to end: a real rabbitmq-server on loopback (harness/rabbitmq.py, one per
module), the real daemon relaying to SMTP sinks, outbound_logger's JSON file as the reference.
Every record arrives on a bound queue as a persistent JSON message whose message_id is its
event_id; after de-duplication by event_id the messages are exactly the file's records. A
broker outage spools the events (the queue entries go on: sync=false) and they are published
in order once it is back; kill -9 of Outpost loses none; with sync=true a delivered mail's
queue entry stays until the broker confirmed its event."""
import json
import subprocess
import threading
import time

import pytest

from harness.rabbitmq import Rabbit
from test_delivery import send, wait_empty

EXCHANGE = "outpost.events"


def broker_cert(tls_material):
    """A certificate for 127.0.0.1 by the test CA with the address as its CN and no
    subjectAltName: librabbitmq matches DNS names and the CN, never IP entries."""
    d = tls_material.dir
    key, csr, cert = d / "amqp-broker.key", d / "amqp-broker.csr", d / "amqp-broker.pem"
    for args in (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", key],
                 ["req", "-new", "-key", key, "-subj", "/CN=127.0.0.1", "-out", csr],
                 ["x509", "-req", "-in", csr, "-CA", tls_material.ca_cert, "-CAkey",
                  tls_material.ca_key, "-CAcreateserial", "-days", "7", "-out", cert]):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True,
                       timeout=30)
    return cert, key


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory, tls_material):
    tls = (*broker_cert(tls_material), tls_material.ca_cert)
    broker = Rabbit(tmp_path_factory.mktemp("rabbit"), tls=tls)
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
def broker(rabbit, tls_material):
    """The module's broker, running (a test may have left it stopped)."""
    if rabbit.proc is None:
        rabbit.start()
    rabbit.ca = tls_material.ca_cert
    return rabbit


def configure(mta, rabbit, extra=""):
    mta.write_config("plugins", "relay\noutbound_logger\namqp_events\n")
    mta.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=logs\n")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h*3\n")
    mta.write_config("amqp_events.ini",
                     f"[main]\nhost=127.0.0.1\nport={rabbit.port}\nexchange={EXCHANGE}\n"
                     "routing_key=outpost.{type}.{domain}\nspool_dir=spool/amqp\n"
                     "reconnect_min=0.2\nreconnect_max=1\nconfirm_timeout=5\n" + extra)


def log_records(mta):
    path = mta.root / "logs" / "outbound.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_log(mta, n, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        records = log_records(mta)
        if len(records) >= n:
            return records
        assert time.monotonic() < deadline, f"{len(records)} log records, not {n}"
        time.sleep(0.05)


def key(record):
    return (record["type"], record["job_id"], record["recipient"])


class Consumer:
    """Everything taken from one queue so far, in arrival order."""

    def __init__(self, rabbit, queue):
        self.rabbit, self.queue, self.messages = rabbit, queue, []
        assert rabbit.drain(queue, EXCHANGE, "outpost.#") == []   # declared and bound

    def take(self):
        self.messages += self.rabbit.drain(self.queue)
        return self.messages

    def unique(self):
        """The messages with the repeats of an event_id dropped (the first kept)."""
        seen, out = set(), []
        for m in self.messages:
            if m["message_id"] not in seen:
                seen.add(m["message_id"])
                out.append(m)
        return out

    def wait_keys(self, keys, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            self.take()
            got = {key(m["body"]) for m in self.unique()}
            if keys <= got:
                return self.unique()
            assert time.monotonic() < deadline, f"missing events: {sorted(keys - got)[:5]}"
            time.sleep(0.2)


def settle(mta, quiet=2.0, timeout=30):
    """The log records once none was added for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        records = log_records(mta)
        if len(records) != last:
            last, since = len(records), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return records
        assert time.monotonic() < deadline, "the log does not settle"
        time.sleep(0.1)


def spool_lines(mta):
    return sum(len(p.read_bytes().splitlines())
               for p in (mta.root / "spool" / "amqp").rglob("*.spool"))


def spooled_ids(mta):
    """The event ids of each spool directory (with nodes, one per worker), in spool order
    (a spool line: CRC, routing key, event id, JSON, tab-separated)."""
    out = {}
    for p in sorted((mta.root / "spool" / "amqp").rglob("*.spool")):
        out.setdefault(p.parent, []).extend(
            line.split(b"\t")[2].decode() for line in p.read_bytes().splitlines())
    return out


def test_every_record_once_matching_the_log(mta, smtp_sink, broker):
    smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_every")
    configure(mta, broker)
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker")
    jobs = [send(mta, [f"ok-{i}@single.test", f"soft-{i}@single.test", f"hard-{i}@single.test"])
            for i in range(5)]
    records = wait_log(mta, 15)
    unique = consumer.wait_keys({key(r) for r in records})
    assert len(records) == 15 and len({key(r) for r in records}) == 15
    assert len(unique) == 15, [m["body"] for m in unique]
    # No event twice without a failure in between (same broker, no reconnect).
    assert len(consumer.messages) == 15
    log_by_key = {key(r): r for r in records}
    for m in unique:
        body = m["body"]
        assert m["message_id"] == body["event_id"]
        assert m["delivery_mode"] == 2 and m["content_type"] == "application/json"
        assert m["routing_key"] == f"outpost.{body['type']}.single.test"
        log = log_by_key[key(body)]
        for field in ("job_id", "queue_time", "recipient", "from", "subject"):
            assert body[field] == log[field], field
        if body["type"] != "delivered":
            for field in ("dsn_status", "dsn_action", "undelivered_reason"):
                assert body[field] == log[field], field
        else:
            assert body["smtp_response"] == log["smtp_response"]
        assert body["job_id"].split(".")[0] in {j.split(".")[0] for j in jobs}
        assert body["event_id"].startswith(f"{body['job_id']}-{body['type']}-")
    assert {m["body"]["type"] for m in unique} == {"delivered", "deferred", "bounced"}
    mta.stop()
    # Everything was confirmed: the spool is emptied at exit.
    assert list((mta.root / "spool" / "amqp").rglob("*.spool")) == []


def test_broker_outage_spools_then_publishes_in_order(mta, smtp_sink, broker):
    smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_outage")
    # A small window: the backlog goes out in several rounds of confirms.
    configure(mta, broker, "window=4\n")
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker")
    send(mta, ["ok-a@single.test"])
    consumer.wait_keys({key(r) for r in wait_log(mta, 1)})

    broker.stop()
    mta.wait_for_log(r"\[amqp_events\] broker 127\.0\.0\.1:\d+: .*events are spooled")
    for i in range(8):
        send(mta, [f"ok-{i}@single.test", f"ok-{i}b@single.test"])
    records = wait_log(mta, 17)
    # sync=false: the outcomes went on (the events are on disk in the spool).
    wait_empty(mta)
    assert spool_lines(mta) >= 16
    spooled = spooled_ids(mta)
    time.sleep(1.5)          # a few reconnect attempts fail meanwhile
    assert mta.running

    mark = mta.mark()
    broker.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker", start=mark, timeout=15)
    unique = consumer.wait_keys({key(r) for r in records}, timeout=10)
    assert len(unique) == 17
    # In the order of the events (the log file's). With nodes, each worker publishes its
    # own spool: in the order of its own events (the workers' interleave as they may).
    if len(spooled) <= 1:
        assert [key(m["body"]) for m in unique] == [key(r) for r in records]
    else:
        assert sum(map(len, spooled.values())) >= 16
        for ids in spooled.values():
            published = [key(m["body"]) for m in unique if m["message_id"] in ids]
            assert published == [key(r) for r in records if key(r) in set(published)]


def test_kill9_loses_nothing(mta, smtp_sink, broker):
    smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_kill")
    configure(mta, broker)
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker")

    # Spooled while the broker is away, then the process dies.
    broker.stop()
    for i in range(5):
        send(mta, [f"ok-s{i}@single.test"])
    wait_log(mta, 5)
    wait_empty(mta)
    mta.kill9()
    broker.start()
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] spool .*: \d+ bytes of events from an earlier run")
    consumer.wait_keys({key(r) for r in log_records(mta)})

    # Killed while relaying and publishing.
    stop = threading.Event()
    errors = []

    def sender():
        i = 0
        while not stop.is_set():
            try:
                send(mta, [f"ok-k{i}@single.test", f"soft-k{i}@single.test"])
            except Exception as error:  # the kill cuts a session
                errors.append(error)
                return
            i += 1

    t = threading.Thread(target=sender)
    t.start()
    wait_log(mta, 5 + 20, timeout=30)
    mta.kill9()
    stop.set()
    t.join()
    mta.start()
    records = settle(mta)
    unique = consumer.wait_keys({key(r) for r in records})
    # De-duplication by event_id leaves one message per event: an event repeated after the
    # crash has the same id.
    assert len({key(m["body"]) for m in unique}) == len(unique)
    assert {key(m["body"]) for m in unique} == {key(r) for r in records}


def test_sync_holds_the_queue_entry_until_confirmed(mta, smtp_sink, broker):
    sink = smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_sync")
    configure(mta, broker, "sync=true\n")
    mta.write_config("amqp_events.timeout", "0\n")
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker")
    send(mta, ["ok-1@single.test"])
    consumer.wait_keys({key(r) for r in wait_log(mta, 1)})
    wait_empty(mta)

    broker.stop()
    mta.wait_for_log(r"\[amqp_events\] broker 127\.0\.0\.1:\d+: .*events are spooled")
    send(mta, ["ok-2@single.test"])
    sink.wait_for_messages(2)
    records = wait_log(mta, 2)
    # Delivered, recorded in the file and the spool, but not confirmed: the entry stays.
    time.sleep(3)
    assert mta.queue_files(), "the queue entry went before the broker confirmed"
    assert spool_lines(mta) >= 1
    broker.start()
    consumer.wait_keys({key(r) for r in records})
    wait_empty(mta, timeout=20)


def test_tls(mta, smtp_sink, broker):
    """tls=true speaks AMQPS, verifying the broker: a certificate the CA file does not vouch
    for is refused and the events wait in the spool; with the right CA they go out."""
    smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_tls")
    configure(mta, broker, "tls=true\ntls_verify=true\n")
    mta.write_config("amqp_events.ini", mta.config_path("amqp_events.ini").read_text()
                     .replace(f"port={broker.port}", f"port={broker.tls_port}"))
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] broker 127\.0\.0\.1:\d+: connect: .*events are "
                     r"spooled")
    send(mta, ["ok-t1@single.test"])
    records = wait_log(mta, 1)
    time.sleep(1.5)
    assert consumer.take() == []
    assert spool_lines(mta) == 1
    mta.stop()
    # The test CA: the spooled event and the next go out over TLS.
    mta.write_config("amqp_events.ini", mta.config_path("amqp_events.ini").read_text()
                     + f"tls_ca_file={broker.ca}\n")
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker 127\.0\.0\.1:%d" % broker.tls_port)
    # The spooled one first (with workers, its spool's owner may connect after the other).
    consumer.wait_keys({key(r) for r in records}, timeout=10)
    send(mta, ["ok-t2@single.test"])
    records = wait_log(mta, 2)
    unique = consumer.wait_keys({key(r) for r in records}, timeout=10)
    assert [key(m["body"]) for m in unique] == [key(r) for r in records]


def test_feedback_events_published_once_with_the_log_event_id(mta, smtp_sink, broker):
    """A remote bounce and a complaint mailed back to the VERP address (test_feedback's
    DSN and ARF): each is one AMQP message, its message_id the event_id of its JSON line."""
    import test_feedback as fb
    sink = smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_feedback")
    configure(mta, broker)
    mta.write_config("relay_acl_allow", fb.SUBMITTER + "/32\n")
    mta.write_config("feedback.ini", f"bounce_domain={fb.BOUNCE_DOMAIN}\n")
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] connected to broker")
    fb.submit(mta)
    sink.wait_for_messages(1, timeout=20)
    verp = sink.messages()[0].mail_from
    assert fb.VERP_RE.match(verp), verp
    fb.mail_back(mta, verp, fb.dsn(verp, fb.RCPT, "orig-1@example.org"))
    fb.mail_back(mta, f"fbl@{fb.BOUNCE_DOMAIN}", fb.arf(verp, fb.RCPT, "orig-1@example.org"),
                 sender="abuse@mailbox.example")
    settle(mta)
    log = {r["event_id"]: r for r in log_records(mta)
           if r["type"] in ("remote_bounce", "complaint")}
    assert sorted(r["type"] for r in log.values()) == ["complaint", "remote_bounce"], log
    deadline = time.monotonic() + 20
    while True:
        got = [m for m in consumer.take()
               if m["body"].get("type") in ("remote_bounce", "complaint")]
        if len(got) >= 2:
            break
        assert time.monotonic() < deadline, f"{len(got)} feedback messages, not 2"
        time.sleep(0.2)
    time.sleep(1)
    got = [m for m in consumer.take() if m["body"].get("type") in ("remote_bounce", "complaint")]
    assert len(got) == 2, [m["body"] for m in got]          # one message per event
    for m in got:
        body = m["body"]
        assert m["message_id"] == body["event_id"] and body["event_id"] in log, body
        line = log[body["event_id"]]
        assert body["type"] == line["type"] and body["recipient"] == fb.RCPT
        assert body["job_id"] == line["job_id"], (body, line)
        assert m["delivery_mode"] == 2


def test_a_spool_left_by_a_worker_beyond_nodes_is_published(mta, smtp_sink, broker):
    """smtp.ini nodes lowered from 2 to 1 while events wait in the workers' spools (each
    has its own, spool/amqp/w<i>): the single process takes both over at start-up and
    publishes every event; nothing stays in spool/amqp/w<i>."""
    from test_nodes import set_nodes
    smtp_sink("127.0.0.2")
    consumer = Consumer(broker, "q_nodes")
    configure(mta, broker)
    set_nodes(mta, 2)
    mta.start()
    mta.wait_for_lines(r"\[amqp_events\] connected to broker", 2)
    broker.stop()
    # One client connection a message: the kernel spreads them over both workers, at
    # random; more until worker 1 spooled some too.
    spool = mta.root / "spool" / "amqp"
    sent = 0
    while sent < 12 or spool / "w1" not in spooled_ids(mta):
        assert sent < 40, "worker 1 took none of 40 connections"
        send(mta, [f"ok-n{sent}@single.test"])
        sent += 1
        wait_log(mta, sent)
    records = wait_log(mta, sent)
    wait_empty(mta)
    assert mta.stop() == 0
    assert sum(map(len, spooled_ids(mta).values())) >= sent     # not published
    set_nodes(mta, 1)
    broker.start()
    mark = mta.mark()
    mta.start()
    mta.wait_for_log(r"\[amqp_events\] spool .*: \d+ events taken over from .*/w1 "
                     r"\(smtp\.ini nodes changed\)", start=mark)
    unique = consumer.wait_keys({key(r) for r in records})
    assert len(unique) == sent
    assert not (spool / "w0").exists() and not (spool / "w1").exists()
