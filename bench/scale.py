#!/usr/bin/python3
"""bench/scale.py: the measuring half of bench/scale.sh (loopback only,
every wait bounded).

  scale.py serving START LOG PID PORT TIMEOUT
      Waits until LOG (the daemon's) has its "ready" line and until a
      connection to 127.0.0.1:PORT is answered with a 220 greeting;
      prints "ready_s R" and "serving_s S", seconds since START (an
      epoch time, float). Exit 1 when PID exits or TIMEOUT passes first.

  scale.py hold PORT N SOURCES TIMEOUT
      Opens N SMTP connections to 127.0.0.1:PORT from the source
      addresses SOURCES (a comma list, e.g. 127.0.0.2,127.0.0.3: taken in
      turn), reads each one's greeting, prints "held N", "greeted M",
      "refused R" (a 421 or a closed socket), "seconds S", then "HOLDING"
      and keeps them open until its stdin closes (or TIMEOUT). One
      process, one selector, no thread per connection.

  scale.py sink ADDR PORT DELAY STATUS
      A small SMTP sink on ADDR:PORT (asyncio, one process, any number
      of sessions) that answers the final dot of each message DELAY
      seconds late, so that every session stays open meanwhile; writes
      "open N max M messages K" to the file STATUS every 0.2 s. Runs
      until killed.

  scale.py get URL TOKEN
      Times one GET with a bearer token: "seconds S", "bytes B",
      "status C".
"""
import os
import resource
import selectors
import socket
import sys
import time
import urllib.request


def serving(start, log, pid, port, timeout):
    start, pid, port, timeout = float(start), int(pid), int(port), float(timeout)
    ready = served = None
    while time.time() - start < timeout:
        if ready is None:
            try:
                with open(log, errors="replace") as f:
                    if "] ready" in f.read():
                        ready = time.time() - start
            except OSError:
                pass
        if served is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.settimeout(timeout)
                    if s.recv(512).startswith(b"220"):
                        served = time.time() - start
                        s.sendall(b"QUIT\r\n")
            except OSError:
                pass
        if ready is not None and served is not None:
            print("ready_s %.2f" % ready)
            print("serving_s %.2f" % served)
            return 0
        try:
            os.kill(pid, 0)
        except OSError:
            print("daemon exited", file=sys.stderr)
            return 1
        time.sleep(0.02)
    print("timed out after %ss (ready %s, serving %s)" % (timeout, ready, served),
          file=sys.stderr)
    return 1


def hold(port, n, sources, timeout):
    port, n, timeout = int(port), int(n), float(timeout)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64 and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < n + 64:
        print("open-file limit %d is below %d connections" %
              (resource.getrlimit(resource.RLIMIT_NOFILE)[0], n), file=sys.stderr)
        return 1
    srcs = [s for s in sources.split(",") if s]
    sel = selectors.DefaultSelector()
    socks, greeted, refused = [], 0, 0
    start = time.time()
    pending = {}
    i = 0
    # At most 500 connects in flight: the listen backlog is finite.
    while (i < n or pending) and time.time() - start < timeout:
        while i < n and len(pending) < 500:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((srcs[i % len(srcs)], 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_READ)
            pending[s] = b""
            socks.append(s)
            i += 1
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                data = s.recv(512)
            except OSError:
                data = b""
            buf = pending[s] + data
            if not data or buf.startswith(b"421") or (b"\n" in buf and not buf.startswith(b"220")):
                refused += 1
            elif b"\n" in buf:
                greeted += 1
            else:
                pending[s] = buf
                continue
            sel.unregister(s)
            del pending[s]
    secs = time.time() - start
    print("held %d" % (greeted,))
    print("greeted %d" % greeted)
    print("refused %d" % refused)
    print("unanswered %d" % len(pending))
    print("seconds %.2f" % secs)
    print("HOLDING", flush=True)
    sel2 = selectors.DefaultSelector()
    sel2.register(sys.stdin, selectors.EVENT_READ)
    end = time.time() + timeout
    while time.time() < end:
        if sel2.select(timeout=1):
            if not sys.stdin.buffer.read1(4096):
                break
    for s in socks:
        s.close()
    return 0


def sink(addr, port, delay, status):
    import asyncio
    delay = float(delay)
    st = {"open": 0, "max": 0, "messages": 0}

    async def session(reader, writer):
        st["open"] += 1
        st["max"] = max(st["max"], st["open"])
        try:
            writer.write(b"220 sink ESMTP\r\n")
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-sink\r\n250 PIPELINING\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go on\r\n")
                    await writer.drain()
                    while True:
                        data = await reader.readline()
                        if not data or data == b".\r\n":
                            break
                    if not data:
                        break
                    await asyncio.sleep(delay)
                    st["messages"] += 1
                    writer.write(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            st["open"] -= 1
            writer.close()

    async def report():
        while True:
            with open(status + ".tmp", "w") as f:
                f.write("open %d max %d messages %d\n" % (st["open"], st["max"], st["messages"]))
            os.replace(status + ".tmp", status)
            await asyncio.sleep(0.2)

    async def main():
        server = await asyncio.start_server(session, addr, int(port), backlog=4096)
        asyncio.ensure_future(report())
        async with server:
            await server.serve_forever()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main())
    return 0


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    t = time.time()
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
        status = r.status
    print("seconds %.3f" % (time.time() - t))
    print("bytes %d" % len(body))
    print("status %d" % status)
    return 0


def main():
    cmds = {"serving": (serving, 5), "hold": (hold, 4), "sink": (sink, 4),
            "get": (get, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or \
            len(sys.argv) - 2 != cmds[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 64
    return cmds[sys.argv[1]][0](*sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
