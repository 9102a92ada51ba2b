#!/usr/bin/python3
"""bench/wan.py: the Python half of bench/wan.sh (run by it; not a test).

  plan    the bench's world from the MX host profiles: the DNS zone (domains d0001.wan.test ...
          spread over the MX hosts, each MX on its own 127.0.x.y), the sinks' settings, and
          the same limits for both MTAs: Postfix's transport map and main.cf/master.cf lines,
          Outpost's shaping.ini
  sink    one asyncio process serving every MX address on port 25: a small raw SMTP server
          (no aiosmtpd: it must outrun both MTAs on a shared 2-core machine) that answers the
          final dot after the host's DATA delay, and with a throttle refuses a connection that
          arrives while N sessions are open (421, closed); it counts connections, the most
          open at once (refused ones included), 421s, messages and the peak msg/s, writes a
          one-line status file every 50 ms and a JSON report when told to stop
  inject  the load: MESSAGES messages, each to one recipient, round-robin over the domains,
          over CLIENTS parallel connections into an MTA on 127.0.0.1
  wait-dns  wait until the bench's nsd answers (dnspython, straight to it)
  report  the per-MX table of one or more sink reports, side by side

Every name comes from the bench's own nsd; this file never asks the system resolver (the
clients and servers use IP addresses only, dnspython is pointed at the nsd).
"""
import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

ZONE = "wan.test"
SENDER = f"bench@sender.{ZONE}"
OVER_REPLY = b"421 4.7.0 Too many connections\r\n"
STATUS_EVERY = 0.05
RATE_WINDOW = 1.0


# --- plan -----------------------------------------------------------------------------------


def parse_hosts(text):
    """MX host profiles: words DELAY_MS[:THROTTLE[:RATE_DELAY[:WEIGHT]]]."""
    hosts = []
    for n, word in enumerate(text.split(), 1):
        parts = word.split(":")
        if not 1 <= len(parts) <= 4:
            raise SystemExit(f"wan.py: bad MX profile {word!r} "
                             f"(DELAY_MS[:THROTTLE[:RATE_DELAY[:WEIGHT]]])")
        try:
            delay = int(parts[0])
            throttle = int(parts[1]) if len(parts) > 1 else 0
            rate_delay = int(parts[2]) if len(parts) > 2 else 0
            weight = float(parts[3]) if len(parts) > 3 else 1.0
        except ValueError:
            raise SystemExit(f"wan.py: bad MX profile {word!r}: numbers expected")
        if delay < 0 or throttle < 0 or rate_delay < 0 or weight <= 0:
            raise SystemExit(f"wan.py: bad MX profile {word!r}: negative or zero weight")
        hosts.append({"name": f"mx{n:02d}", "delay_ms": delay, "throttle": throttle,
                      "rate_delay": rate_delay, "weight": weight})
    if not hosts:
        raise SystemExit("wan.py: no MX host profile")
    return hosts


def spread(hosts, domains):
    """Domain i (0-based) -> host index: domains shared by weight, interleaved so that
    consecutive domains (and so consecutive messages) go to different hosts."""
    total = sum(h["weight"] for h in hosts)
    counts = [max(1, round(domains * h["weight"] / total)) for h in hosts]
    while sum(counts) > domains:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < domains:
        counts[counts.index(min(counts))] += 1
    slots = sorted(((k + 0.5) / c, i) for i, c in enumerate(counts) for k in range(c))
    return [i for _, i in slots]


def message_rate(rate_delay):
    """Outpost's max_message_rate for Postfix's *_destination_rate_delay (whole seconds)."""
    for unit, seconds in (("s", 1), ("m", 60), ("h", 3600)):
        if (seconds % rate_delay) == 0:
            return f"{seconds // rate_delay}/{unit}"
    return f"{3600 / rate_delay:.3f}/h"


def plan(args):
    hosts = parse_hosts(args.hosts)
    if len(hosts) > 250:
        raise SystemExit("wan.py: at most 250 MX hosts")
    owner = spread(hosts, args.domains)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, h in enumerate(hosts):
        h["addr"] = f"{args.net}.{i + 1}"
        h["domains"] = owner.count(i)
        h["limit"] = h["throttle"]      # both MTAs are told the throttle as their limit
    serial = int(time.time()) % 2000000000
    zone = ["$TTL 3600",
            f"{ZONE}. IN SOA ns.{ZONE}. hostmaster.{ZONE}. {serial} 3600 600 86400 60",
            f"{ZONE}. IN NS ns.{ZONE}.",
            f"ns.{ZONE}. IN A {args.dns_ip}"]
    zone += [f"{h['name']}.{ZONE}. IN A {h['addr']}" for h in hosts]
    transport, postfix_main, postfix_master = [], [], []
    for d, i in enumerate(owner):
        name = f"d{d + 1:04d}.{ZONE}"
        h = hosts[i]
        zone.append(f"{name}. IN MX 10 {h['name']}.{ZONE}.")
        if h["limit"] or h["rate_delay"]:
            # Postfix limits a destination, which is the domain unless the nexthop names the
            # host: this host's domains go to it as [mxNN], so that its limits are per host,
            # as Outpost's [mx:] section.
            transport.append(f"{name} {h['name']}:[{h['name']}.{ZONE}]")
    shaping = ["; shaping.ini written by bench/wan.sh: the limits the private Postfix gets",
               "; (its main.cf), one for one.",
               "[domain]",
               f"; default_destination_concurrency_limit = {args.domain_limit}",
               f"max_connections={args.domain_limit}"]
    for h in hosts:
        if not (h["limit"] or h["rate_delay"]):
            continue
        t = h["name"]
        postfix_master.append(f"{t:9s} unix  - - y - - smtp")
        shaping += ["", f"[mx:{t}.{ZONE}]"]
        if h["limit"]:
            postfix_main.append(f"{t}_destination_concurrency_limit = {h['limit']}")
            shaping += [f"; {t}_destination_concurrency_limit = {h['limit']}",
                        f"max_connections={h['limit']}"]
        if h["rate_delay"]:
            # Postfix's advice with a rate delay: a failed cohort of 10, not 1, before the
            # destination is declared dead.
            postfix_main += [f"{t}_destination_rate_delay = {h['rate_delay']}s",
                             f"{t}_destination_concurrency_failed_cohort_limit = 10"]
            shaping += [f"; {t}_destination_rate_delay = {h['rate_delay']}s",
                        f"max_message_rate={message_rate(h['rate_delay'])}"]
    (out / f"{ZONE}.zone").write_text("\n".join(zone) + "\n")
    (out / "transport").write_text("\n".join(transport) + "\n")
    (out / "main.cf").write_text("\n".join(postfix_main) + "\n")
    (out / "master.cf").write_text("\n".join(postfix_master) + "\n")
    (out / "shaping.ini").write_text("\n".join(shaping) + "\n")
    (out / "hosts.json").write_text(json.dumps(hosts, indent=1) + "\n")
    print(" ".join(h["addr"] for h in hosts))


# --- sink -----------------------------------------------------------------------------------


class Host:
    """One MX address: its settings and what its sink saw."""

    def __init__(self, spec):
        self.name, self.addr = spec["name"], spec["addr"]
        self.delay = spec["delay_ms"] / 1000.0
        self.throttle = spec["throttle"]
        self.greeting = f"220 {self.name}.{ZONE} ESMTP wan sink\r\n".encode()
        self.ehlo = (f"250-{self.name}.{ZONE}\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                     f"250-ENHANCEDSTATUSCODES\r\n250 SIZE 52428800\r\n").encode()
        self.live = 0           # connections open now, refused ones included
        self.sessions = 0       # connections open now that were not refused
        self.max_seen = 0
        self.connections = 0
        self.refused = 0
        self.messages = 0
        self.arrivals = []      # time.time() of each 250 after the final dot

    def report(self):
        times, best, first = self.arrivals, 0, 0
        for last, t in enumerate(times):
            while t - times[first] >= RATE_WINDOW:
                first += 1
            best = max(best, last - first + 1)
        return {"name": self.name, "addr": self.addr, "connections": self.connections,
                "refused": self.refused, "max_seen": self.max_seen,
                "messages": self.messages, "max_rate_1s": best,
                "first": times[0] if times else None, "last": times[-1] if times else None}


class Totals:
    messages = 0
    refused = 0
    connections = 0


class SinkProtocol(asyncio.Protocol):
    """The server side of one connection: commands answered at once (PIPELINING: every
    complete line in a read, one write), the final dot after the host's delay; the body is
    counted, not kept."""

    def __init__(self, host, totals, loop):
        self.host, self.totals, self.loop = host, totals, loop
        self.transport = None
        self.refused = False
        self.buf = bytearray()
        self.in_data = False
        self.waiting = None     # the timer of a delayed reply to the final dot
        self.closing = False

    def connection_made(self, transport):
        h = self.host
        self.transport = transport
        h.connections += 1
        self.totals.connections += 1
        h.live += 1
        h.max_seen = max(h.max_seen, h.live)
        if h.throttle and h.sessions >= h.throttle:
            self.refused = True
            h.refused += 1
            self.totals.refused += 1
            transport.write(OVER_REPLY)
            transport.close()
            return
        h.sessions += 1
        transport.write(h.greeting)

    def connection_lost(self, exc):
        h = self.host
        h.live -= 1
        if not self.refused:
            h.sessions -= 1
        if self.waiting is not None:
            self.waiting.cancel()
            self.waiting = None
        self.closing = True

    def data_received(self, data):
        if self.refused or self.closing:
            return
        self.buf += data
        if self.waiting is None:
            self.process()

    def process(self):
        out = []
        buf = self.buf
        while not self.closing:
            if self.in_data:
                end = buf.find(b"\r\n.\r\n")
                if end < 0:
                    if len(buf) > 4:
                        del buf[:-4]     # the body is not kept; the end may straddle reads
                    break
                del buf[:end + 5]
                self.in_data = False
                if out:
                    self.transport.write(b"".join(out))
                self.waiting = self.loop.call_later(self.host.delay, self.data_done)
                return
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > 4096:
                    out.append(b"500 5.5.2 Line too long\r\n")
                    self.closing = True
                break
            line = bytes(buf[:nl]).rstrip(b"\r")
            del buf[:nl + 1]
            verb = line[:4].upper()
            if verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                out.append(b"250 2.1.0 Ok\r\n" if verb == b"MAIL" else
                           b"250 2.1.5 Ok\r\n" if verb == b"RCPT" else b"250 2.0.0 Ok\r\n")
            elif verb == b"DATA":
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                self.in_data = True
                buf[0:0] = b"\r\n"      # the DATA line's CRLF: an empty body ends at ".\r\n"
            elif verb == b"EHLO":
                out.append(self.host.ehlo)
            elif verb == b"HELO":
                out.append(f"250 {self.host.name}.{ZONE}\r\n".encode())
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 Bye\r\n")
                self.closing = True
            else:
                out.append(b"502 5.5.2 Command not recognized\r\n")
        if out:
            self.transport.write(b"".join(out))
        if self.closing:
            self.transport.close()

    def data_done(self):
        self.waiting = None
        if self.closing:
            return
        h = self.host
        h.messages += 1
        self.totals.messages += 1
        h.arrivals.append(time.time())
        self.transport.write(b"250 2.0.0 Ok: queued\r\n")
        self.process()


async def serve(args):
    hosts = [Host(spec) for spec in json.loads(Path(args.plan, "hosts.json").read_text())]
    totals = Totals()
    loop = asyncio.get_running_loop()
    servers = []
    for h in hosts:
        servers.append(await loop.create_server(
            lambda h=h: SinkProtocol(h, totals, loop), h.addr, args.port,
            reuse_address=True, backlog=65535))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    status, tmp = Path(args.status), Path(args.status + ".tmp")

    def write_status():
        tmp.write_text(f"{totals.messages} {totals.refused} {totals.connections}\n")
        os.replace(tmp, status)

    write_status()      # also says: every address is bound
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), STATUS_EVERY)
        except asyncio.TimeoutError:
            pass
        write_status()
    for s in servers:
        s.close()
    write_status()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.report).write_text(json.dumps(
        {"cpu": round(usage.ru_utime + usage.ru_stime, 2),
         "hosts": [h.report() for h in hosts]}, indent=1) + "\n")


def sink(args):
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print(f"wan.py sink: {e}", file=sys.stderr)
        return 1
    return 0


# --- inject ---------------------------------------------------------------------------------


class SmtpError(Exception):
    pass


async def read_reply(reader):
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise SmtpError("connection closed: " + b"".join(lines).decode(errors="replace"))
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), b"".join(lines).decode(errors="replace").strip()


async def expect(reader, codes, what):
    code, text = await read_reply(reader)
    if code not in codes:
        raise SmtpError(f"{what}: {text}")
    return code


def body_of(n, rcpt, size):
    head = (f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: wan bench {n}\r\n"
            f"Message-ID: <wan.{n}@sender.{ZONE}>\r\n\r\n")
    line = "x" * 76 + "\r\n"
    return (head + line * max(1, round(size / len(line)))).encode() + b".\r\n"


async def inject_client(args, queue, stats):
    host, _, port = args.server.rpartition(":")
    while True:
        batch = []
        while len(batch) < args.per_conn and not queue.empty():
            batch.append(queue.get_nowait())
        if not batch:
            return
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError as e:
            stats["errors"].append(f"connect: {e}")
            for n in batch:
                queue.put_nowait(n)
            await asyncio.sleep(0.2)
            continue
        done = 0
        try:
            await expect(reader, (220,), "greeting")
            writer.write(b"EHLO inject.wan.test\r\n")
            await writer.drain()
            _, text = await read_reply(reader)
            pipelining = "PIPELINING" in text.upper()
            for n in batch:
                d = n % args.domains + 1
                rcpt = f"u{n + 1}@d{d:04d}.{ZONE}"
                cmds = [f"MAIL FROM:<{SENDER}>\r\n", f"RCPT TO:<{rcpt}>\r\n", "DATA\r\n"]
                if pipelining:
                    writer.write("".join(cmds).encode())
                    await expect(reader, (250,), "MAIL")
                    await expect(reader, (250,), "RCPT")
                    await expect(reader, (354,), "DATA")
                else:
                    for cmd, code in zip(cmds, (250, 250, 354)):
                        writer.write(cmd.encode())
                        await expect(reader, (code,), cmd.split()[0])
                writer.write(body_of(n + 1, rcpt, args.size))
                await expect(reader, (250,), "end of data")
                done += 1
                stats["sent"] += 1
            writer.write(b"QUIT\r\n")
            await writer.drain()
        except (SmtpError, OSError, asyncio.IncompleteReadError) as e:
            stats["errors"].append(str(e))
            for n in batch[done:]:
                queue.put_nowait(n)
            if len(stats["errors"]) > args.max_errors:
                raise SystemExit(f"wan.py inject: too many errors; last: {e}")
            await asyncio.sleep(0.1)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def inject_all(args):
    queue = asyncio.Queue()
    for n in range(args.messages):
        queue.put_nowait(n)
    stats = {"sent": 0, "errors": []}
    t0 = time.monotonic()
    await asyncio.gather(*(inject_client(args, queue, stats) for _ in range(args.clients)))
    secs = time.monotonic() - t0
    print(f"sent {stats['sent']} of {args.messages} in {secs:.3f}s; "
          f"{len(stats['errors'])} errors (retried)"
          + (f"; first: {stats['errors'][0]}" if stats["errors"] else ""))
    return 0 if stats["sent"] == args.messages else 1


def inject(args):
    return asyncio.run(inject_all(args))


# --- DNS wait, report -----------------------------------------------------------------------


def wait_dns(args):
    import dns.message
    import dns.query
    import dns.rcode
    ip, _, port = args.server.rpartition(":")
    deadline = time.monotonic() + args.timeout
    query = dns.message.make_query(args.name, "MX")
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = dns.query.udp(query, ip, timeout=0.5, port=int(port))
            if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                return 0
            last = dns.rcode.to_text(answer.rcode())
        except Exception as e:      # timeouts, refused: nsd not up yet
            last = repr(e)
        time.sleep(0.1)
    print(f"wan.py wait-dns: {args.name} MX from {args.server}: {last}", file=sys.stderr)
    return 1


def report(args):
    """Per MX host: what each run made its sink see; then the most connections open at once
    per host as ratios, the last run over the first."""
    hosts = json.loads(Path(args.plan, "hosts.json").read_text())
    runs = []
    for item in args.runs:
        name, _, rest = item.partition("=")
        path, _, t0 = rest.partition("@")
        try:
            rows = {r["name"]: r for r in json.loads(Path(path).read_text())["hosts"]}
        except (OSError, ValueError):
            rows = {}
        runs.append((name, rows, int(t0) / 1e6 if t0 else None))
    cols = ("msgs", "conns", "421s", "maxconc", "peak/s", "done s")
    head = f"{'MX':4s} {'DATA':>5s} {'421>':>4s} {'limit':>7s} {'doms':>4s}"
    sub = " " * len(head)
    for name, _, _ in runs:
        head += " | " + f"{name:^{7 * len(cols) - 1}s}"
        sub += " | " + " ".join(f"{c:>6s}" for c in cols)
    print(head)
    print(sub)
    totals = {name: [0, 0, 0] for name, _, _ in runs}
    for h in hosts:
        limit = (f"{h['limit']}" if h["limit"] else "-") + \
                (f",1/{h['rate_delay']}s" if h["rate_delay"] else "")
        line = (f"{h['name']:4s} {h['delay_ms']:>3d}ms {h['throttle'] or '-':>4} {limit:>7s} "
                f"{h['domains']:>4d}")
        for name, rows, t0 in runs:
            r = rows.get(h["name"])
            if r is None:
                line += " | " + " ".join(f"{'-':>6s}" for _ in cols)
                continue
            for i, key in enumerate(("messages", "connections", "refused")):
                totals[name][i] += r[key]
            done = f"{r['last'] - t0:.2f}" if t0 and r.get("last") else "-"
            line += " | " + " ".join(f"{v:>6}" for v in (
                r["messages"], r["connections"], r["refused"], r["max_seen"],
                r["max_rate_1s"], done))
        print(line)
    line = f"{'all':4s} {'':5s} {'':4s} {'':7s} {sum(h['domains'] for h in hosts):>4d}"
    for name, _, _ in runs:
        line += " | " + " ".join(f"{v:>6}" for v in (*totals[name], "", "", ""))
    print(line)
    print("(" + ", ".join(f"{h['name']} {h['addr']}" for h in hosts) + ")")
    if len(runs) >= 2:
        (first, a, _), (last, b, _) = runs[0], runs[-1]
        parts = []
        for h in hosts:
            x, y = a.get(h["name"]), b.get(h["name"])
            if x is None or y is None:
                continue
            parts.append(f"{h['name']} " + (f"{y['max_seen'] / x['max_seen']:.2f}"
                                            if x["max_seen"] else f"{y['max_seen']}/0"))
        print(f"\nmost connections open at once per MX host, {last}/{first}:")
        for i in range(0, len(parts), 6):
            print("  " + ", ".join(parts[i:i + 6]))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("plan")
    a.add_argument("--hosts", required=True)
    a.add_argument("--domains", type=int, default=1000)
    a.add_argument("--domain-limit", type=int, default=20)
    a.add_argument("--net", default="127.0.10")
    a.add_argument("--dns-ip", default="127.0.10.53")
    a.add_argument("--out", required=True)
    a = sub.add_parser("sink")
    a.add_argument("--plan", required=True)
    a.add_argument("--port", type=int, default=25)
    a.add_argument("--status", required=True)
    a.add_argument("--report", required=True)
    a = sub.add_parser("inject")
    a.add_argument("--server", required=True, help="ip:port")
    a.add_argument("--messages", type=int, required=True)
    a.add_argument("--domains", type=int, default=1000)
    a.add_argument("--clients", type=int, default=20)
    a.add_argument("--per-conn", type=int, default=100)
    a.add_argument("--size", type=int, default=2048)
    a.add_argument("--max-errors", type=int, default=1000)
    a = sub.add_parser("wait-dns")
    a.add_argument("--server", required=True, help="ip:port")
    a.add_argument("--name", required=True)
    a.add_argument("--timeout", type=float, default=10)
    a = sub.add_parser("report")
    a.add_argument("--plan", required=True)
    a.add_argument("runs", nargs="+", help="NAME=sink report JSON[@release time, epoch us]")
    args = p.parse_args()
    if args.command == "plan":
        if args.domains < 1 or args.domains > 9999:
            raise SystemExit("wan.py: --domains must be 1..9999")
        return plan(args)
    return {"sink": sink, "inject": inject, "wait-dns": wait_dns, "report": report}[
        args.command](args)


if __name__ == "__main__":
    sys.exit(main())
