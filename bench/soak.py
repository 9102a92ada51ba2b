#!/usr/bin/python3
"""bench/soak.py: a fault soak of the real daemon (run by bench/soak.sh; not a test).

For --minutes, client threads send mail to recipients whose local parts choose the outcome
(ok-, hard-, soft-, flaky2-) across three MX hosts: one plain, one that resets connections in
bursts, one that throttles with 421 in bursts. Meanwhile the daemon is killed (kill -9) every
--kill-every seconds and started again, the DNS server is frozen (SIGSTOP) for a few seconds
every --dns-every seconds (every lookup times out), and the queue's small tmpfs is filled
every --disk-every seconds (new mail gets 452, commits fail with ENOSPC) for a few seconds.
Then the faults stop, deferred mail is flushed (SIGHUP) until the queue is empty, and:

  - every recipient that got a 250 has a final record (delivered or bounced) in the JSON
    log and a row in the accounting files, and the right one for its local part
    (an ok-/flaky2- recipient whose retries ran out under the faults bounces with
    its last temporary reason: counted and reported, not an error);
  - the sinks received every recipient recorded as delivered;
  - what is recorded twice is counted (a kill between a record and the dequeue repeats it,
    as docs/architecture.md says) and reported, never an error by itself;
  - the daemon's output holds no sanitizer report.

Exit status 0 when all of that holds, 1 otherwise, 2 when a component cannot start. All
traffic stays on loopback; every loop is bounded by --minutes and the drain timeout.
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

from harness.daemon import Daemon  # noqa: E402
from harness.dns import DnsServer  # noqa: E402
from harness.sink import SmtpSink  # noqa: E402

SENDER = "soak@bounces.test"
# local part prefix → final record type
# A bounce for want of time, not a refusal: what ok-/flaky- may get when a
# recipient's retries run out during the faults on a loaded machine.
TEMPORARY = re.compile(r"^(421 - Tried all MXs|450 - DNS lookup failure|4\.7\.1 |"
                       r"421 4\.[45]\.\d )")
OUTCOME = {"ok": "delivered", "flaky2": "delivered", "hard": "bounced", "soft": "bounced"}
MIX = [("ok", "single.test", 60), ("ok", "multi.test", 20), ("flaky2", "single.test", 8),
       ("hard", "single.test", 7), ("soft", "single.test", 5)]


def log(*words):
    print(time.strftime("%H:%M:%S"), *words, flush=True)


class Soak:
    def __init__(self, args, workdir):
        self.args = args
        self.work = Path(workdir)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted = []          # recipients that got a 250
        self.refused = collections.Counter()
        self.events = collections.Counter()
        self.seq = 0
        self.daemon = None
        self.dns = None
        self.sinks = []
        self.tmpfs = None

    # --- set-up ---------------------------------------------------------------------------

    def start(self):
        self.dns = DnsServer(self.work / "dns").start()
        plain = SmtpSink("127.0.0.2").start()        # mx1: single.test, multi.test's first
        self.resetting = SmtpSink("127.0.0.3").start()  # mx2
        self.throttling = SmtpSink("127.0.0.4").start()  # mx3: the backup
        dsn = SmtpSink("127.0.0.8").start()           # bounces.test: the DSNs
        self.sinks = [plain, self.resetting, self.throttling, dsn]
        root = self.work / "outpost"
        self.daemon = Daemon(root, binary=self.args.binary, delivery=True)
        self.daemon.init(dns=self.dns.servers)
        self.daemon.write_config("plugins", "relay\noutbound_logger\naccounting_files\n")
        self.daemon.write_config("outbound_logger.ini", "[file]\nenable=true\nlog_dir=logs\n")
        self.daemon.write_config("accounting_files.ini", "")
        # Enough retries that no fault outlasts them: only soft- expires.
        self.daemon.write_config("outbound.ini", "temp_fail_intervals=5s*40\n")
        self.daemon.write_config("log.ini", "[main]\nlevel=notice\n")
        queue = root / "queue"
        queue.mkdir(parents=True, exist_ok=True)
        if self.args.disk_every > 0:
            rc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.args.queue_mb}m",
                                 "soak-queue", str(queue)], capture_output=True, text=True)
            if rc.returncode != 0:
                raise RuntimeError(f"cannot mount a tmpfs for the queue ({rc.stderr.strip()});"
                                   f" run as root, or --disk-every 0")
            self.tmpfs = queue
        self.daemon.start()

    def close(self):
        if self.daemon is not None and self.daemon.running:
            self.daemon.stop(60)
        for sink in self.sinks:
            sink.stop()
        if self.dns is not None:
            self.resume_dns()
            self.dns.stop()
        if self.tmpfs is not None:
            subprocess.run(["umount", str(self.tmpfs)], check=False)

    # --- load -----------------------------------------------------------------------------

    def recipients(self, rnd):
        out = []
        for _ in range(rnd.choice((1, 1, 2, 3))):
            prefix, domain, _ = rnd.choices(MIX, weights=[w for *_, w in MIX])[0]
            with self.lock:
                self.seq += 1
                n = self.seq
            out.append(f"{prefix}-s{n}@{domain}")
        return out

    def client(self, index):
        rnd = random.Random(index)
        body = ("Subject: soak\r\n\r\n" + "x" * 60 + "\r\n") * 10
        pause = self.args.clients / self.args.rate
        while not self.stop.wait(pause * rnd.uniform(0.5, 1.5)):
            rcpts = self.recipients(rnd)
            try:
                with smtplib.SMTP(self.daemon.host, self.daemon.port, timeout=30) as c:
                    c.ehlo("soak.test")
                    refused = c.sendmail(SENDER, rcpts, body)
                    ok = [r for r in rcpts if r not in refused]
                with self.lock:
                    self.accepted += ok
            except (smtplib.SMTPException, OSError) as e:
                key = getattr(e, "smtp_code", None) or type(e).__name__
                with self.lock:
                    self.refused[key] += 1
                time.sleep(0.2)

    # --- faults ---------------------------------------------------------------------------

    def every(self, seconds, action):
        def run():
            while not self.stop.wait(seconds * random.uniform(0.8, 1.2)):
                action()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def kill(self):
        # The main thread starts it again: the daemon runs under setpriv
        # --pdeathsig, which fires when the *thread* that started it ends.
        self.daemon.kill9()
        self.events["kill -9"] += 1

    def freeze_dns(self):
        os.killpg(self.dns._proc.pid, signal.SIGSTOP)
        self.events["DNS frozen"] += 1
        self.stop.wait(5)
        self.resume_dns()

    def resume_dns(self):
        if self.dns is not None and self.dns._proc is not None:
            try:
                os.killpg(self.dns._proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def fill_disk(self):
        filler = self.tmpfs / "soak-filler"
        st = os.statvfs(self.tmpfs)
        try:
            with open(filler, "wb") as f:
                f.truncate(0)
                os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize)
        except OSError:
            pass        # full enough
        self.events["queue disk full"] += 1
        self.stop.wait(4)
        filler.unlink(missing_ok=True)

    def sink_bursts(self):
        if random.random() < 0.5:
            self.resetting.drop(random.choice(("greeting", "mail", "rcpt", "data_end")),
                                times=random.randint(3, 15))
            self.events["reset burst"] += 1
        else:
            self.throttling.fail("greeting", "421 4.7.0 Too many connections, slow down",
                                 times=random.randint(5, 30))
            self.resetting.fail("rcpt", "451 4.7.1 Throttled, try later",
                                times=random.randint(3, 10))
            self.events["throttle burst"] += 1

    # --- the run --------------------------------------------------------------------------

    def run(self):
        args = self.args
        clients = [threading.Thread(target=self.client, args=(i,), daemon=True)
                   for i in range(args.clients)]
        for t in clients:
            t.start()
        faults = [self.every(3, self.sink_bursts)]
        if args.kill_every > 0:
            faults.append(self.every(args.kill_every, self.kill))
        if args.dns_every > 0:
            faults.append(self.every(args.dns_every, self.freeze_dns))
        if args.disk_every > 0:
            faults.append(self.every(args.disk_every, self.fill_disk))
        deadline = time.monotonic() + args.minutes * 60
        report = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not self.daemon.running:
                self.daemon.start(timeout=60)
            if time.monotonic() >= report:
                report += 15
                log(f"accepted {len(self.accepted)} recipients; faults {dict(self.events)}")
            time.sleep(0.1)
        self.stop.set()
        for t in clients + faults:
            t.join(120)
        for sink in self.sinks:
            sink.clear_faults()
        self.resume_dns()
        if not self.daemon.running:
            self.daemon.start(timeout=60)
        self.drain()

    def drain(self):
        deadline = time.monotonic() + self.args.drain_timeout
        while self.daemon.queue_files():
            if time.monotonic() > deadline:
                raise AssertionError(f"the queue did not drain within "
                                     f"{self.args.drain_timeout}s: "
                                     f"{len(self.daemon.queue_files())} entries left")
            self.daemon.signal(signal.SIGHUP)
            time.sleep(2)
        log("queue empty")

    # --- the verdict ----------------------------------------------------------------------

    def check(self):
        root = self.daemon.root
        finals = collections.defaultdict(list)
        reasons = {}
        for line in (root / "logs" / "outbound.log").read_text().splitlines():
            r = json.loads(line)            # every line parses: nothing torn
            if r["type"] in ("delivered", "bounced"):
                finals[r["recipient"]].append(r["type"])
                reasons[r["recipient"]] = r.get("undelivered_reason", "")
        rows = collections.Counter()
        for kind in ("delivered", "bounce"):
            for path in sorted((root / "accounting_files" / kind).rglob("*.tsv")):
                lines = path.read_text().split("\n")[:-1]
                for line in lines[1:]:
                    rows[line.split("\t")[3]] += 1      # rcpt, the 4th default field
        received = {rc for s in self.sinks for m in s.messages() for rc in m.rcpt_tos}
        problems, repeated, expired = [], 0, 0
        for rcpt in self.accepted:
            want = OUTCOME[rcpt.split("-")[0]]
            got = finals.get(rcpt, [])
            if not got:
                problems.append(f"{rcpt}: no final record")
            elif want == "delivered" and got == ["bounced"] and \
                    TEMPORARY.match(reasons.get(rcpt, "")):
                expired += 1        # its retries ran out under the faults
                continue
            elif set(got) != {want}:
                problems.append(f"{rcpt}: recorded {got}, expected {want}")
            repeated += len(got) > 1
            if rows[rcpt] == 0:
                problems.append(f"{rcpt}: no accounting row")
            if want == "delivered" and rcpt not in received:
                problems.append(f"{rcpt}: recorded delivered, never received")
        try:
            self.daemon.check_sanitizers()
        except BaseException as e:          # pytest's Failed is a BaseException
            problems.append(str(e))
        log(f"{len(self.accepted)} recipients accepted, {len(finals)} with final records, "
            f"{repeated} recorded more than once (after a kill -9), {expired} "
            f"bounced when their retries ran out under the faults, refusals "
            f"{dict(self.refused)}, faults {dict(self.events)}")
        for p in problems[:50]:
            log("PROBLEM", p)
        if len(problems) > 50:
            log(f"... and {len(problems) - 50} more")
        return not problems


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rate", type=float, default=100, help="messages per second, in all")
    p.add_argument("--kill-every", type=float, default=30)
    p.add_argument("--dns-every", type=float, default=75)
    p.add_argument("--disk-every", type=float, default=90)
    p.add_argument("--queue-mb", type=int, default=32)
    p.add_argument("--drain-timeout", type=float, default=600)
    p.add_argument("--binary", default=str(HERE.parent / "build" / "asan" / "outpost"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="outpost-soak.")
    soak = Soak(args, work)
    ok = False
    try:
        try:
            soak.start()
        except (RuntimeError, OSError) as e:
            log(f"cannot start: {e}")
            soak.close()
            return 2
        soak.run()
        ok = soak.check()
    except AssertionError as e:
        log("FAILED", e)
        ok = False
    if not ok and soak.daemon is not None:
        log("the daemon's last lines:\n" + soak.daemon.tail(40))
    try:
        soak.close()
    finally:
        if args.keep or not ok:
            log("kept", work)
        else:
            subprocess.run(["rm", "-rf", work], check=False)
    log("soak passed" if ok else "soak FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
