"""A raw, scriptable SMTP server that misbehaves on purpose, for the hostile-server tests.

RawSink listens on host:port (e.g. 127.0.0.2:25) with its own asyncio loop in its own thread
and speaks just enough SMTP by hand (no library that would refuse to send a broken reply):
greeting, EHLO/HELO, MAIL, RCPT, DATA (the body read up to its final dot), RSET, NOOP, QUIT.
Each stage answers a well-formed default unless the test scripts it with `on(stage, action)`:
an action is bytes or str (sent exactly as given: an invalid code, a mixed multiline reply, a
1 MB line...) or one of Drip, Endless, Late, Silent, Stall below. Everything is bounded in time, so a
test never hangs on its own sink: a connection lasts at most CONNECTION_MAX seconds.

Records, behind one lock: connections (peer, open and close times, transcript) and messages
(the envelope and the raw data of every DATA that reached its final dot, whatever was
answered after it) — what a test counts to prove "delivered exactly once".
"""
import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

STAGES = ("greeting", "ehlo", "mail", "rcpt", "data", "data_end", "rset", "noop", "quit")
VERB_STAGE = {"EHLO": "ehlo", "HELO": "ehlo", "LHLO": "ehlo", "MAIL": "mail", "RCPT": "rcpt",
              "DATA": "data", "RSET": "rset", "NOOP": "noop", "QUIT": "quit"}
DEFAULTS = {
    "greeting": b"220 raw.test ESMTP raw sink\r\n",
    "ehlo": b"250-raw.test\r\n250-8BITMIME\r\n250 SIZE 10000000\r\n",
    "mail": b"250 2.1.0 OK\r\n",
    "rcpt": b"250 2.1.5 OK\r\n",
    "data": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    "data_end": b"250 2.0.0 OK queued\r\n",
    "rset": b"250 2.0.0 OK\r\n",
    "noop": b"250 2.0.0 OK\r\n",
    "quit": b"221 2.0.0 Bye\r\n",
}
CONNECTION_MAX = 60.0     # seconds: no connection is kept longer, whatever the script
READ_LIMIT = 16 << 20     # bytes of one command line or message
STOP_TIMEOUT = 5.0


def _bytes(data):
    return data.encode() if isinstance(data, str) else bytes(data)


@dataclass
class Drip:
    """Send data one byte every `interval` seconds (while the client listens)."""
    data: bytes
    interval: float = 1.0


@dataclass
class Endless:
    """Send `line` again and again (e.g. b"250-more\\r\\n", a continuation that never
    ends) until the client closes, for at most `seconds`."""
    line: bytes
    seconds: float = 30.0


@dataclass
class Late:
    """Answer `data`, but only after `seconds`."""
    data: bytes
    seconds: float


@dataclass
class Silent:
    """Never answer: wait for the client to give up (at most `seconds`)."""
    seconds: float = 30.0


@dataclass
class Stall:
    """Answer `data` (e.g. 354 to DATA), then stop reading for `seconds`: what the client
    sends next piles up in the socket buffers."""
    data: bytes
    seconds: float = 30.0


@dataclass
class Connection:
    index: int
    peer: tuple
    opened: float                          # time.monotonic()
    closed: Optional[float] = None
    transcript: list = field(default_factory=list)    # "> line", "< stage: what was sent"


@dataclass
class Message:
    connection: int
    mail_from: str
    rcpt_tos: tuple
    data: bytes                            # as received, final "." line excluded


class _Closed(Exception):
    """The client went away (or the script ends the connection)."""


class RawSink:
    def __init__(self, host, port=25):
        self.host, self.port = host, port
        self.address = f"{host}:{port}"
        self._actions = {}
        self._lock = threading.Lock()
        self._connections = []
        self._messages = []
        self._errors = []
        self._loop = None
        self._server = None
        self._thread = None
        self._tasks = set()

    # --- scripting -------------------------------------------------------------------------

    def on(self, stage, action):
        """What `stage` answers from now on: bytes/str sent as they are, or Drip, Endless,
        Late, Silent, Stall. Returns self."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {STAGES}")
        self._actions[stage] = action
        return self

    # --- records ---------------------------------------------------------------------------

    def connections(self):
        with self._lock:
            return list(self._connections)

    def messages(self):
        with self._lock:
            return list(self._messages)

    def errors(self):
        with self._lock:
            return list(self._errors)

    def wait_until(self, predicate, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw sink {self.address}: no {what} within {timeout}s:\n"
                                   f"{self.describe()}")
            time.sleep(0.05)

    def describe(self):
        out = []
        for c in self.connections():
            out.append(f"connection {c.index} from {c.peer} "
                       f"({'open' if c.closed is None else f'{c.closed - c.opened:.1f}s'})")
            out += [f"  {line}" for line in c.transcript[-40:]]
        out.append(f"messages: {len(self.messages())}")
        return "\n".join(out)

    # --- running ---------------------------------------------------------------------------

    def start(self):
        ready = threading.Event()
        failure = []

        def run():
            self._loop = asyncio.new_event_loop()
            try:
                self._server = self._loop.run_until_complete(asyncio.start_server(
                    self._client, self.host, self.port, reuse_address=True,
                    limit=READ_LIMIT))
            except OSError as error:
                failure.append(error)
                ready.set()
                self._loop.close()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"rawsink-{self.address}",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError(f"raw sink cannot listen on {self.address}: {failure[0]}")
        if self._server is None:
            raise RuntimeError(f"raw sink on {self.address} did not start")
        return self

    def stop(self):
        if self._loop is None or self._thread is None:
            return

        async def shutdown():
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=STOP_TIMEOUT)
            await self._server.wait_closed()
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(STOP_TIMEOUT + 5)
        if self._thread.is_alive():
            raise RuntimeError(f"raw sink {self.address} did not stop")
        self._thread = None

    # --- the dialogue ----------------------------------------------------------------------

    async def _client(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        with self._lock:
            conn = Connection(len(self._connections), writer.get_extra_info("peername"),
                              time.monotonic())
            self._connections.append(conn)
        try:
            await asyncio.wait_for(self._dialogue(conn, reader, writer), CONNECTION_MAX)
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                asyncio.CancelledError):
            pass
        except Exception as error:   # a bug of the sink: fails the test at teardown
            with self._lock:
                self._errors.append(f"raw sink {self.address}: {error!r}")
        finally:
            conn.closed = time.monotonic()
            writer.close()
            self._tasks.discard(task)

    async def _dialogue(self, conn, reader, writer):
        await self._answer(conn, "greeting", reader, writer)
        mail_from, rcpts = "", []
        while True:
            line = await reader.readline()
            if not line:
                raise _Closed()
            text = line.decode("latin-1").rstrip("\r\n")
            conn.transcript.append(f"> {text[:200]}")
            verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
            stage = VERB_STAGE.get(verb)
            if stage is None:
                writer.write(b"500 5.5.2 Unrecognized command\r\n")
                await writer.drain()
                continue
            if stage == "mail":
                mail_from, rcpts = text[10:].strip("<> "), []
            elif stage == "rcpt":
                rcpts.append(text[8:].strip("<> "))
            await self._answer(conn, stage, reader, writer)
            if stage == "data" and self._sent_354(stage):
                data = await reader.readuntil(b"\r\n.\r\n")
                conn.transcript.append(f"> (message, {len(data) - 3} bytes) .")
                with self._lock:
                    self._messages.append(Message(conn.index, mail_from, tuple(rcpts),
                                                  data[:-3]))
                await self._answer(conn, "data_end", reader, writer)
            elif stage == "quit":
                raise _Closed()

    def _sent_354(self, stage):
        action = self._actions.get(stage, DEFAULTS[stage])
        data = action.data if isinstance(action, (Late, Drip, Stall)) else action
        return isinstance(data, (bytes, str)) and _bytes(data).startswith(b"354")

    async def _answer(self, conn, stage, reader, writer):
        action = self._actions.get(stage, DEFAULTS[stage])
        if isinstance(action, (bytes, str)):
            data = _bytes(action)
            conn.transcript.append(f"< {stage}: {data[:120]!r}"
                                   f"{' (%d bytes)' % len(data) if len(data) > 120 else ''}")
            writer.write(data)
            await writer.drain()
        elif isinstance(action, Late):
            conn.transcript.append(f"< {stage}: {action.seconds}s later {action.data!r}")
            if await self._client_left(reader, action.seconds):
                raise _Closed()
            writer.write(_bytes(action.data))
            await writer.drain()
        elif isinstance(action, Drip):
            conn.transcript.append(f"< {stage}: dripping {action.data!r}")
            for i in range(len(action.data)):
                writer.write(action.data[i:i + 1])
                await writer.drain()
                if await self._client_left(reader, action.interval):
                    conn.transcript.append(f"  client left after {i + 1} bytes")
                    raise _Closed()
        elif isinstance(action, Endless):
            conn.transcript.append(f"< {stage}: {action.line!r} endlessly")
            end = time.monotonic() + action.seconds
            chunk = _bytes(action.line) * max(1, 4096 // len(action.line))
            sent = 0
            while time.monotonic() < end:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                if reader.at_eof():
                    break
                await asyncio.sleep(0.001)
            conn.transcript.append(f"  sent {sent} bytes")
            raise _Closed()
        elif isinstance(action, Stall):
            conn.transcript.append(f"< {stage}: {action.data!r}, then not reading")
            writer.write(_bytes(action.data))
            await writer.drain()
            # asyncio would go on reading into its own buffer: stop the socket's reads.
            writer.transport.pause_reading()
            await asyncio.sleep(action.seconds)
            raise _Closed()
        elif isinstance(action, Silent):
            conn.transcript.append(f"< {stage}: (silence)")
            await self._client_left(reader, action.seconds)
            raise _Closed()
        else:
            raise TypeError(f"unknown action {action!r}")

    @staticmethod
    async def _client_left(reader, seconds):
        """Wait up to `seconds`; True when the client closed meanwhile (what it sends
        meanwhile is ignored: these servers are not listening)."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                data = await asyncio.wait_for(reader.read(4096), left)
            except asyncio.TimeoutError:
                return False
            if not data:
                return True
