"""smtp.ini nodes: worker processes under a supervisor. The listeners are shared
(SO_REUSEPORT), the queue is partitioned (ROOT/queue/w<i>, one owner per entry), partitions
no worker owns are adopted when nodes changes, a worker killed with -9 is restarted and its
queued mail delivered (nothing lost, nothing twice), records stay one set of files, SIGTERM
stops everything; nodes=1 is the single process it always was; connection.ini's limits per
client address hold across the workers, and a killed worker's connections are forgotten."""
import http.client
import json
import os
import re
import signal
import stat
import threading
import time

from harness.clients import smtp_client
from harness.daemon import run_outpost
from harness.smtpraw import RawSmtp
from harness.util import free_port
from test_admin_api import TOKEN as ADMIN_TOKEN, Api

SENDER = "sender@bounces.test"
ALL_READY = r"nodes: all (\d+) workers ready"


def message(n):
    return (f"From: <{SENDER}>\r\nTo: <someone@single.test>\r\nSubject: nodes {n}\r\n"
            f"Message-Id: <nodes-{n}@client.test>\r\n\r\nmessage {n}\r\n").encode()


def send_one(outpost, n, rcpt):
    with smtp_client(outpost.host, outpost.port) as c:
        c.ehlo()
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt(rcpt)[0] == 250
        code, reply = c.data(message(n))
        assert code == 250, reply


def send_many(outpost, first, count, clients=8, rcpt="ok-{n}@single.test"):
    """count messages from `clients` concurrent clients, one connection per message."""
    errors = []

    def client(k):
        try:
            for n in range(first + k, first + count, clients):
                send_one(outpost, n, rcpt.format(n=n))
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def entries(d):
    """The queue entries directly in directory d (no body, temp, set-aside, partition)."""
    if not d.exists():
        return []
    return [p.name for p in d.iterdir() if p.is_file()
            and not p.name.startswith(("tmp.", "error.", "msg."))]


def workers(outpost, start=0):
    """{worker: pid} from the supervisor's log, the latest start of each."""
    pids = {}
    for line in outpost.lines()[start:]:
        m = re.search(r"nodes: worker (\d+) started \(pid (\d+)\)", line)
        if m:
            pids[int(m[1])] = int(m[2])
    return pids


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def set_nodes(outpost, value):
    path = outpost.config_path("smtp.ini")
    text = re.sub(r"^;?nodes=.*\n", "", path.read_text(), flags=re.M)
    path.write_text(text.replace("[main]\n", f"[main]\nnodes={value}\n", 1))


def start_nodes(outpost, n):
    mark = outpost.mark()
    outpost.start()
    outpost.wait_for_log(ALL_READY, timeout=30, start=mark)
    pids = workers(outpost, mark)
    assert sorted(pids) == list(range(n))
    return pids


def test_workers_share_the_listener_and_partition_the_queue(daemon):
    """Delivery off: what each worker accepted stays in its partition. 40 messages from 8
    clients land in both; TERM stops all; nodes=1 adopts them, nodes=3 hands them to w0."""
    set_nodes(daemon, 2)
    pids = start_nodes(daemon, 2)
    # The pid file names the supervisor, which is the process started.
    assert int((daemon.root / "outpost.pid").read_text()) == daemon.pid
    assert all(alive(p) for p in pids.values())
    send_many(daemon, 0, 40)
    q = daemon.queue_dir
    w0, w1 = entries(q / "w0"), entries(q / "w1")
    assert len(w0) + len(w1) == 40 and not entries(q)
    assert w0 and w1, f"one worker accepted everything: w0 {len(w0)}, w1 {len(w1)}"
    assert not set(w0) & set(w1)
    # --qstat and --qlist see every partition.
    rc, out, err = run_outpost("-c", daemon.root, "--qstat")
    assert rc == 0, err
    assert re.search(r"^entries 40$", out, re.M) and re.search(r"^other 0$", out, re.M), out
    rc, out, err = run_outpost("-c", daemon.root, "--qlist")
    assert rc == 0 and "-- 40 entries" in out, out + err
    assert daemon.stop() == 0
    assert not any(alive(p) for p in pids.values())
    assert not (daemon.root / "outpost.pid").exists()

    # nodes=1: the single process adopts both partitions and serves them as before.
    set_nodes(daemon, 1)
    mark = daemon.mark()
    daemon.start()
    daemon.wait_for_log(r"queue: 40 entries loaded", start=mark)
    assert int((daemon.root / "outpost.pid").read_text()) == daemon.pid
    assert sorted(entries(q)) == sorted(w0 + w1)
    assert not entries(q / "w0") and not entries(q / "w1")
    assert not any("nodes: worker" in line for line in daemon.lines()[mark:])
    assert daemon.stop() == 0

    # nodes=3: worker 0 adopts the top directory's entries; w1 and w2 start empty.
    set_nodes(daemon, "3")
    start_nodes(daemon, 3)
    assert sorted(entries(q / "w0")) == sorted(w0 + w1) and not entries(q)
    send_many(daemon, 40, 30)
    w2 = entries(q / "w2")
    assert w2, "worker 2 accepted nothing"
    assert daemon.stop() == 0
    # nodes=2 again: w2's partition goes to w0; nothing is orphaned.
    set_nodes(daemon, 2)
    start_nodes(daemon, 2)
    assert not entries(q / "w2") and set(w2) <= set(entries(q / "w0"))
    assert len(entries(q / "w0")) + len(entries(q / "w1")) == 70
    assert daemon.stop() == 0


def test_bad_nodes_value_is_a_config_error(daemon):
    set_nodes(daemon, "many")
    daemon.start(ready=False)
    deadline = time.monotonic() + 20
    while daemon.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.exit_code == 78
    assert re.search(r"config/smtp.ini:\d+: nodes: 'many'", daemon.output())


def json_records(outpost):
    path = outpost.root / "logs" / "outbound.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def acct_delivered(outpost):
    d = outpost.root / "accounting_files" / "delivered"
    files = [p for p in d.rglob("*") if p.is_file()] if d.exists() else []
    rows = []
    for p in files:
        lines = p.read_text().split("\n")
        assert lines[-1] == "", f"{p}: a partial line"
        rows += [line.split("\t") for line in lines[1:-1]]
    return rows


def test_kill9_of_a_worker_loses_nothing(mta, smtp_sink):
    """Mail queued in both partitions while the receiver is down; worker 1 is killed with
    -9, restarted by the supervisor; a HUP to the supervisor reaches both workers (retry
    now), and every message reaches the sink exactly once, with
    exactly one delivered record per recipient in outbound.log and the accounting files."""
    mta.write_config("plugins", "relay\noutbound_logger\naccounting_files\n")
    mta.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=logs\n")
    mta.write_config("accounting_files.ini", "")
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    set_nodes(mta, 2)
    pids = start_nodes(mta, 2)
    total = 30
    send_many(mta, 0, total)            # no sink on 127.0.0.2 yet: all deferred
    q = mta.queue_dir
    assert entries(q / "w0") and entries(q / "w1")
    queued_w1 = len(entries(q / "w1"))

    mark = mta.mark()
    os.kill(pids[1], signal.SIGKILL)
    mta.wait_for_log(r"nodes: worker 1 \(pid \d+\) killed by signal 9", start=mark)
    mta.wait_for_log(r"nodes: worker 1 ready", timeout=20, start=mark)
    new = workers(mta, mark)[1]
    assert new != pids[1] and alive(new) and alive(pids[0])
    assert len(entries(q / "w1")) == queued_w1      # its partition, intact

    sink = smtp_sink("127.0.0.2")
    mta.signal(signal.SIGHUP)           # forwarded: every worker retries its deferred now
    more = 10
    send_many(mta, total, more, clients=4)
    sink.wait_for_messages(total + more, timeout=60)
    time.sleep(1)
    ids = [m.data.split(b"Message-Id: <", 1)[1].split(b">", 1)[0] for m in sink.messages()]
    assert sorted(ids) == sorted(f"nodes-{n}@client.test".encode()
                                 for n in range(total + more)), "lost or duplicated"
    deadline = time.monotonic() + 20
    while entries(q / "w0") or entries(q / "w1"):
        assert time.monotonic() < deadline, "queue not empty"
        time.sleep(0.1)

    delivered = [r["recipient"] for r in json_records(mta) if r["type"] == "delivered"]
    assert sorted(delivered) == sorted(f"ok-{n}@single.test" for n in range(total + more))
    deadline = time.monotonic() + 10
    while len(acct_delivered(mta)) < total + more and time.monotonic() < deadline:
        time.sleep(0.1)
    rows = acct_delivered(mta)
    assert len(rows) == total + more
    assert len({tuple(r) for r in rows}) == total + more

    live = list(workers(mta).values())
    assert mta.stop() == 0
    assert not any(alive(p) for p in live)


def test_a_hung_worker_is_killed_and_restarted(mta, smtp_sink):
    """A worker whose event loop stops coming back (here: stopped with SIGSTOP) is killed
    by the supervisor once smtp.ini worker_timeout has passed without its heartbeat, and
    restarted like a dead one; the mail in its partition is delivered, once, and the other
    worker is left alone."""
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    set_nodes(mta, 2)
    path = mta.config_path("smtp.ini")
    path.write_text(path.read_text().replace("[main]\n", "[main]\nworker_timeout=3\n", 1))
    pids = start_nodes(mta, 2)
    total = 30
    send_many(mta, 0, total)            # no sink on 127.0.0.2 yet: all deferred
    q = mta.queue_dir
    assert entries(q / "w0") and entries(q / "w1")

    mark = mta.mark()
    t0 = time.monotonic()
    os.kill(pids[1], signal.SIGSTOP)
    mta.wait_for_log(r"nodes: worker 1 \(pid %d\) has not come back to its event loop for "
                     r"\d+s \(smtp\.ini worker_timeout=3\): killing it" % pids[1],
                     timeout=20, start=mark)
    assert time.monotonic() - t0 >= 2.5       # not before its timeout (one beat's slack)
    mta.wait_for_log(r"nodes: worker 1 \(pid %d\) killed by signal 9" % pids[1], start=mark)
    mta.wait_for_log(r"nodes: worker 1 ready", timeout=20, start=mark)
    new = workers(mta, mark)[1]
    assert new != pids[1] and alive(new) and alive(pids[0])
    assert not any("nodes: worker 0" in line for line in mta.lines()[mark:])

    sink = smtp_sink("127.0.0.2")
    mta.signal(signal.SIGHUP)           # every worker retries its deferred now
    sink.wait_for_messages(total, timeout=60)
    time.sleep(1)
    ids = [m.data.split(b"Message-Id: <", 1)[1].split(b">", 1)[0] for m in sink.messages()]
    assert sorted(ids) == sorted(f"nodes-{n}@client.test".encode() for n in range(total))
    assert mta.stop() == 0


def test_admin_api_answers_for_every_worker(daemon):
    """Delivery off, mail in both partitions: the admin API's public listener (worker 0's,
    with the token) counts and lists every entry, pages over all of them by id, acts on an
    entry of w1, reports the supervisor's pid and every worker's, sums /metrics; the
    workers' own sockets are 0600; a worker that does not answer makes a clear 503."""
    port = free_port()
    daemon.write_config("admin.token", ADMIN_TOKEN + "\n")
    daemon.write_config("http.ini", f"listen=127.0.0.1:{port}\ntoken_file=admin.token\n")
    set_nodes(daemon, 2)
    pids = start_nodes(daemon, 2)
    api = Api(port=port, token=ADMIN_TOKEN)
    total = 30
    send_many(daemon, 0, total)
    q = daemon.queue_dir
    w0, w1 = entries(q / "w0"), entries(q / "w1")
    assert w0 and w1, f"one worker accepted everything: w0 {len(w0)}, w1 {len(w1)}"
    for i in (0, 1):
        sock = daemon.root / "run" / f"admin.w{i}.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600

    status, s = api.get("/api/queue")
    assert status == 200 and s["entries"] == total and s["recipients"] == total, s
    (d,) = s["destinations"]
    assert d["destination"] == "single.test" and d["entries"] == total, s
    status, listing = api.get("/api/queue/entries?limit=1000")
    ids = [e["id"] for e in listing["entries"]]
    assert listing["total"] == total and ids == sorted(w0 + w1), listing["total"]
    status, page = api.get("/api/queue/entries?offset=7&limit=9")
    assert status == 200 and page["total"] == total and (page["offset"], page["limit"]) == (7, 9)
    assert [e["id"] for e in page["entries"]] == ids[7:16]
    status, res = api.get("/api/queue/entries?limit=10001")
    assert status == 400 and "limit" in res["error"], res

    # An action on an entry of w1, through worker 0's listener.
    target = sorted(w1)[0]
    status, res = api.post("/api/queue/hold", {"ids": [target, "no-such-id"]})
    assert status == 200 and (res["matched"], res["done"]) == (1, 1), res
    assert res["skipped"] == [{"id": "no-such-id", "reason": "unknown id"}], res
    assert "\nheld 1\n" in (q / "w1" / target).read_text(errors="replace")
    status, res = api.post("/api/queue/hold", {"ids": [target]})
    assert status == 409 and res["skipped"][0]["reason"] == "already held", res
    status, res = api.post("/api/queue/delete", {"ids": ["no-such-id"]})
    assert status == 404 and res["error"] == "no such entry", res
    status, held = api.get("/api/queue/entries?state=held")
    assert [e["id"] for e in held["entries"]] == [target]
    status, s = api.get("/api/queue")
    assert s["held"] == 1 and s["entries"] == total

    status, st = api.get("/api/status")
    assert status == 200 and st["pid"] == daemon.pid, st
    assert {w["worker"]: w["pid"] for w in st["workers"]} == pids, st
    status, ov = api.get("/api/overview")       # the status page's data
    assert status == 200 and ov["status"]["pid"] == daemon.pid, ov
    assert ov["queue"]["recipients"] == total, ov["queue"]

    text = metrics_text(port)
    queued = sum(float(v) for k, v in re.findall(r"^outpost_queue_entries(\{[^}]*\})? (\S+)$",
                                                 text, re.M))
    assert queued == total, text
    received = re.search(r"^outpost_received_messages_total (\S+)$", text, re.M)
    assert received and float(received[1]) == total, text
    assert len(re.findall(r"^# TYPE outpost_received_messages_total ", text, re.M)) == 1

    # Worker 1 stopped: no hang, a 503 naming it, within the bound.
    os.kill(pids[1], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        status, res = api.get("/api/queue")
        assert status == 503 and "worker 1: no answer" in res["error"], res
        assert time.monotonic() - t0 < 25
    finally:
        os.kill(pids[1], signal.SIGCONT)
    status, s = api.get("/api/queue")
    assert status == 200 and s["entries"] == total
    assert daemon.stop() == 0
    assert not (daemon.root / "run" / "admin.w1.sock").exists()


def metrics_text(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status == 200, text
    return text


def held_from(pid, source):
    """How many TCP connections from IPv4 address `source` process pid holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m:
            inodes.add(m[1])
    want = "".join(f"{int(b):02X}" for b in reversed(source.split(".")))
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    # rem_address, state 01 (established), inode
    return sum(1 for r in rows if r[2].split(":")[0] == want and r[3] == "01"
               and r[9] in inodes)


def dropped(c):
    """True when the server side of c is gone (EOF or reset)."""
    try:
        return c.closed(timeout=0.2)
    except ConnectionError:
        return True


def refused_from_address(d):
    with RawSmtp(d.host, d.port, source="127.0.0.2") as c:
        return c.reply() == (421, [f"4.7.0 {d.config_path('me').read_text().strip()} Too many "
                                   "connections from your address, try again later"])


def test_kill9_of_a_worker_forgets_its_connections(daemon):
    """[max] connections_per_ip=10 holds across both workers (one client table): ten
    connections from 127.0.0.2, spread over the workers, and the eleventh is refused.
    Worker 1 is killed with -9 holding k of them; once it is restarted, the address counts
    only the 10 - k still open: k new connections are taken, the next is refused."""
    limit = 10
    daemon.write_config("connection.ini", f"[max]\nconnections_per_ip={limit}\n")
    set_nodes(daemon, 2)
    pids = start_nodes(daemon, 2)
    held = []
    try:
        for _ in range(5):      # until both workers hold some (the kernel's hash decides)
            held = [RawSmtp(daemon.host, daemon.port, source="127.0.0.2") for _ in range(limit)]
            assert all(c.reply()[0] == 220 for c in held)
            on1 = held_from(pids[1], "127.0.0.2")
            if 0 < on1 < limit:
                break
            for c in held:
                c.close()
            deadline = time.monotonic() + 10
            while held_from(pids[0], "127.0.0.2") + held_from(pids[1], "127.0.0.2"):
                assert time.monotonic() < deadline, "connections not closed"
                time.sleep(0.05)
            time.sleep(0.2)
        assert 0 < on1 < limit, "one worker took every connection, five times"
        assert held_from(pids[0], "127.0.0.2") == limit - on1
        mark = daemon.mark()
        assert refused_from_address(daemon)
        daemon.wait_for_log(rf"refused ip=127\.0\.0\.2: {limit} connections from 127\.0\.0\.2 "
                            r"\(connection\.ini \[max\] connections_per_ip\)", start=mark)

        mark = daemon.mark()
        os.kill(pids[1], signal.SIGKILL)
        daemon.wait_for_log(r"nodes: worker 1 \(pid \d+\) killed by signal 9", start=mark)
        daemon.wait_for_log(r"nodes: worker 1 ready", timeout=20, start=mark)
        gone = [c for c in held if dropped(c)]
        assert len(gone) == on1
        for c in gone:
            held.remove(c)
            c.close()
        # Its connections count no more: exactly on1 new ones fit, whichever worker.
        for _ in range(on1):
            c = RawSmtp(daemon.host, daemon.port, source="127.0.0.2")
            held.append(c)
            assert c.reply()[0] == 220
        mark = daemon.mark()
        assert refused_from_address(daemon)
        daemon.wait_for_log(rf"refused ip=127\.0\.0\.2: {limit} connections from 127\.0\.0\.2",
                            start=mark)
    finally:
        for c in held:
            c.close()
    assert daemon.stop() == 0
