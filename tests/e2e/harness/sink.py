"""Scriptable SMTP/LMTP sinks for the tests, built on aiosmtpd.

A SmtpSink listens on host:port (e.g. 127.0.0.2:25) with its own event loop in its own thread.
RCPT is answered by the recipient's local part (RCPT_RULES). A fault makes one stage (STAGES)
answer another reply, drop the connection, stall then drop, or answer late. Everything is
recorded, behind one lock: sessions (transcript, EHLO name, TLS, AUTH user), messages (envelope,
raw data, arrival time) and counters of connections and commands, and the load the sink saw: the
most connections open at once, and when each message arrived. With max_concurrent=N the sink
throttles: a connection that arrives while N sessions are open gets over_reply as its greeting
and is closed (a refusal).

The aiosmtpd SMTP class does the protocol; _SinkSMTP adds faults and records around it and
_Handler holds the policy hooks (EHLO, MAIL, RCPT, DATA). aiosmtpd's own Controller is not used:
it opens a probe connection at start (counted as a client, and stuck on a greeting fault) and
leaves client connections open when stopped.
"""
import asyncio
import collections
import dataclasses
import functools
import ssl
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Optional

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, TLSSetupException

STAGES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data_end", "rset",
          "noop", "quit")
_STAGE_OF_VERB = {"HELO": "ehlo", "EHLO": "ehlo", "LHLO": "ehlo"}

# RCPT reply by the recipient's local part prefix; any other recipient gets RCPT_DEFAULT.
RCPT_RULES = (
    ("ok-", "250 2.1.5 OK"),
    ("soft-", "451 4.7.1 Temporary failure, try again"),
    ("hard-", "550 5.1.1 No such user"),
)
RCPT_DEFAULT = "250 2.1.5 OK"
# "flaky<N>-...": 451 4.7.1 for the first N RCPTs of that address at this sink, then OK.
FLAKY_PREFIX = "flaky"
FLAKY_REPLY = "451 4.7.1 Greylisted, try again"
DATA_OK = "250 2.0.0 OK queued as {id}"   # after the final dot; id counts messages from 1

OVER_REPLY = "421 4.7.0 Too many connections"   # greeting above max_concurrent sessions

HANG_UP_GRACE = 5.0   # seconds to wait for connection_lost() after closing our side
STOP_TIMEOUT = 5.0


def rcpt_reply(address):
    """The RCPT reply for address by RCPT_RULES."""
    local = address.rpartition("@")[0].lower()
    for prefix, reply in RCPT_RULES:
        if local.startswith(prefix):
            return reply
    return RCPT_DEFAULT


@dataclass
class Fault:
    action: str               # "reply", "drop", "stall" (then drop) or "delay" (then go on)
    reply: Optional[str] = None
    seconds: float = 0.0
    times: Optional[int] = None   # applies this many more times; None: every time


@dataclass
class Session:
    """One client connection."""
    index: int                      # 0-based, in connection order
    peer: tuple                     # (ip, port)
    ehlo: Optional[str] = None      # last HELO/EHLO/LHLO argument
    tls: bool = False
    tls_version: Optional[str] = None
    auth_user: Optional[str] = None
    transcript: list = field(default_factory=list)   # "> command", "< reply"; AUTH data elided
    closed: bool = False
    refused: bool = False           # over max_concurrent: got over_reply as greeting, closed


@dataclass
class Message:
    """One transaction that reached the end of DATA."""
    id: int
    session: int                    # Session.index
    mail_from: str                  # "" for the null sender <>
    rcpt_tos: tuple                 # accepted recipients, in order
    data: bytes                     # as received, dot-unstuffed, final "." excluded
    mail_options: tuple
    rcpt_options: tuple
    peer: tuple
    ehlo: Optional[str]
    tls: bool
    auth_user: Optional[str]
    reply: str = ""                 # sent after the final dot; "" if dropped or stalled
    arrived: float = 0.0            # time.monotonic() when the final dot was received

    @property
    def accepted(self):
        return self.reply.startswith("2")


def _reply_lines(reply):
    """Multi-line replies may be given with \\n between lines."""
    return reply.replace("\r\n", "\n").replace("\n", "\r\n")


class _Handler:
    """aiosmtpd hooks: the sink's policy for EHLO, MAIL, RCPT and end of data."""

    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname    # the 5-argument hook must set it itself
        lines = [r[4:] for r in responses]
        if not self.sink.auth:
            lines = [line for line in lines if not line.startswith("AUTH")]
        lines[-1:-1] = self.sink.extensions
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        # aiosmtpd 1.4.3 accepts MAIL FROM:<> and passes the address as "<>" (kept as is so
        # that RCPT sees a sender; Message.mail_from gives "").
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == "<>":
            return "501 5.1.3 Bad recipient address syntax"
        reply = self.sink._flaky_reply(address) or rcpt_reply(address)
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply

    async def handle_DATA(self, server, session, envelope):
        message = self.sink._add_message(server.record, envelope)
        reply = await server.fault("data_end")
        if reply is None:
            reply = DATA_OK.format(id=message.id)
        self.sink._set_reply(message, reply)
        if reply.startswith("421"):
            await server.send_fault_reply(reply)    # replies, closes; does not return
        if server.lmtp:
            return "\r\n".join([_reply_lines(reply)] * len(envelope.rcpt_tos))
        return _reply_lines(reply)

    async def handle_exception(self, error):
        if not isinstance(error, TLSSetupException):   # a client's failed handshake is not ours
            self.sink._add_error("".join(traceback.format_exception(error)))
        return "500 5.3.0 Sink error"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not self.sink.auth:
            return AuthResult(success=False, handled=False)
        user, password = self.sink.auth
        ok = (auth_data.login == user.encode() and auth_data.password == password.encode())
        if ok:
            self.sink._update(server.record, auth_user=user)
        return AuthResult(success=ok, handled=False)


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP with faults, records and a clean hang-up."""

    lmtp = False
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, sink, handler, **kwargs):
        super().__init__(handler, **kwargs)
        self.sink = sink
        self.record = None
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._guarded(verb, method)

    def _guarded(self, verb, method):
        stage = _STAGE_OF_VERB.get(verb, verb.lower())

        @functools.wraps(method)    # keeps the @syntax attributes HELP reads
        async def run(arg):
            shown = arg.split()[0] if verb == "AUTH" and arg else arg
            self.sink._note_command(self.record, verb, shown)
            if verb in _STAGE_OF_VERB:
                self.sink._update(self.record, ehlo=arg)
            reply = await self.fault(stage)
            if reply is not None:
                await self.send_fault_reply(reply)
                return
            await method(arg)
            if verb == "STARTTLS" and self._tls_protocol is not None:
                ssl_object = self.transport.get_extra_info("ssl_object")
                self.sink._update(self.record, tls=True, tls_version=ssl_object.version())
        return run

    async def _handle_client(self):
        self.record = self.sink._open_session(self)
        try:
            if self.record.refused:
                await self.push(_reply_lines(self.sink.over_reply))
                await self.hang_up(abort=False)
            reply = await self.fault("greeting")
            if reply is None:
                await super()._handle_client()
                return
            await self.send_fault_reply(reply)
            await self._refuse_all()
        except ConnectionResetError:
            pass    # the client went away; nothing to answer

    async def _refuse_all(self):
        """After a failed greeting (RFC 5321 3.1): 503 to everything until QUIT."""
        while True:
            line = await self._reader.readline()
            if not line:
                break
            command = line.decode("ascii", "replace").strip()
            self.sink._note_command(self.record, command.split(" ")[0].upper(), None)
            if command.upper() == "QUIT":
                await self.push("221 2.0.0 Bye")
                break
            await self.push("503 5.5.1 Bad sequence of commands")
        await self.hang_up(abort=False)

    async def fault(self, stage):
        """Carry out the fault set for stage. None: go on normally; else the reply to send
        instead. A drop or stall does not return (see hang_up)."""
        fault = self.sink._take_fault(stage)
        if fault is None:
            return None
        if fault.action == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.action == "reply":
            return fault.reply
        if fault.action == "stall":
            await asyncio.sleep(fault.seconds)
        await self.hang_up()

    async def send_fault_reply(self, reply):
        await self.push(_reply_lines(reply))
        if reply.startswith("421"):     # service closing: the server closes the connection
            await self.hang_up(abort=False)

    async def hang_up(self, abort=True):
        """Close the connection (abort: at once, no TLS goodbye). Never returns: this task is
        cancelled by connection_lost(), or ends with ConnectionResetError after a grace time."""
        if self.transport is not None:
            if abort:
                (self._original_transport or self.transport).abort()
            else:
                self.transport.close()
        await asyncio.sleep(HANG_UP_GRACE)
        raise ConnectionResetError("connection closed by the sink")

    def abort(self):
        """Drop the connection at once (used when the sink stops)."""
        transport = self._original_transport or self.transport
        if transport is not None:
            transport.abort()

    async def push(self, status):
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        self.sink._note(self.record, "< " + text)
        await super().push(status)

    def connection_lost(self, error):
        if self.record is not None:
            self.sink._close_session(self)
        super().connection_lost(error)


class _SinkLMTP(_SinkSMTP, LMTP):
    """LMTP (RFC 2033): LHLO instead of HELO/EHLO, one reply per recipient after the dot."""
    lmtp = True


class SmtpSink:
    """An SMTP (or LMTP) server on host:port that records everything it receives.

    hostname: name in the greeting and EHLO reply (never looked up).
    tls: (cert_path, key_path) or an ssl.SSLContext to offer STARTTLS; None: no STARTTLS.
    require_tls: refuse commands other than EHLO/NOOP/QUIT/STARTTLS before STARTTLS.
    auth: (user, password) to offer AUTH PLAIN/LOGIN and require it before MAIL.
    auth_require_tls: offer AUTH only under TLS.
    lmtp: speak LMTP (LHLO; after the dot, one reply per accepted recipient).
    extensions: EHLO keywords added to aiosmtpd's (SIZE, 8BITMIME, SMTPUTF8, STARTTLS, AUTH).
    size_limit: the SIZE advertised and enforced (552); smtputf8: offer SMTPUTF8.
    timeout: idle seconds before the sink closes a connection.
    max_concurrent: throttle: a connection that arrives while this many sessions are open gets
        over_reply as its greeting and is closed (counted by refused()); None: no limit.
    over_reply: that greeting (a 421 by default; may be multi-line with \\n).
    """

    def __init__(self, host, port=25, *, hostname="sink.test", tls=None, require_tls=False,
                 auth=None, auth_require_tls=False, lmtp=False,
                 extensions=("PIPELINING", "ENHANCEDSTATUSCODES"), size_limit=33554432,
                 smtputf8=True, timeout=30, max_concurrent=None, over_reply=OVER_REPLY):
        if max_concurrent is not None and max_concurrent < 0:
            raise ValueError(f"max_concurrent must be >= 0 (got {max_concurrent})")
        self.host, self.port, self.hostname = host, port, hostname
        self.max_concurrent, self.over_reply = max_concurrent, over_reply
        self.auth = auth
        self.extensions = list(extensions)
        if isinstance(tls, ssl.SSLContext) or tls is None:
            tls_context = tls
        else:
            tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls_context.load_cert_chain(*map(str, tls))
        self._protocol_class = _SinkLMTP if lmtp else _SinkSMTP
        self._smtp_kwargs = dict(
            hostname=hostname, ident="ESMTP test sink", tls_context=tls_context,
            require_starttls=require_tls, auth_require_tls=auth_require_tls,
            data_size_limit=size_limit,
            enable_SMTPUTF8=smtputf8, timeout=timeout)
        self._handler = _Handler(self)
        self._cond = threading.Condition()  # guards everything below; reentrant
        self._faults = {}
        self._sessions = []
        self._messages = []
        self._counts = collections.Counter()
        self._flaky = collections.Counter()
        self._live = set()
        self._open_sessions = 0     # live connections that were not refused
        self._max_seen = 0          # most live connections at once, refused ones included
        self._refused = 0
        self._arrivals = []         # Message.arrived of each accepted message, in order
        self._errors = []
        self._loop = self._server = self._thread = None

    @property
    def address(self):
        """host:port, as in smtp_forward.ini or a swaks --server argument."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    # --- lifecycle -------------------------------------------------------------------

    def start(self, timeout=5.0):
        """Listen; returns self once bound (raises the bind error otherwise)."""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure = []

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(self._loop.create_server(
                    self._new_protocol, self.host, self.port, reuse_address=True))
            except OSError as error:
                failure.append(error)
                self._loop.close()
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"sink {self.address}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"sink {self.address} did not start")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop listening, drop every open connection, end the thread. Idempotent."""
        if self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"sink {self.address} did not stop")
        self._thread = None

    def _new_protocol(self):
        return self._protocol_class(self, self._handler, loop=self._loop,
                                    authenticator=self._handler.authenticate,
                                    **self._smtp_kwargs)

    async def _shutdown(self):
        self._server.close()
        with self._cond:
            live = list(self._live)
        tasks = [p._handler_coroutine for p in live if p._handler_coroutine is not None]
        for protocol in live:
            protocol.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT / 2)
        await self._server.wait_closed()

    # --- faults ----------------------------------------------------------------------

    def _flaky_reply(self, address):
        """FLAKY_REPLY while a flaky<N>- address has been refused fewer than N times."""
        local = address.rpartition("@")[0].lower()
        digits = local[len(FLAKY_PREFIX):].partition("-")[0]
        if not local.startswith(FLAKY_PREFIX) or not digits.isdigit():
            return None
        with self._cond:
            seen = self._flaky[address.lower()]
            self._flaky[address.lower()] += 1
        return FLAKY_REPLY if seen < int(digits) else None

    def fail(self, stage, reply, times=None):
        """At stage, answer reply (e.g. "451 4.3.0 Try later") instead of the normal one.
        "greeting": the banner (then 503 to all but QUIT); "data": instead of 354;
        "data_end": after the final dot. A 421 reply closes the connection."""
        self._set_fault(stage, Fault("reply", reply=reply, times=times))

    def drop(self, stage, times=None):
        """At stage, close the connection without a reply."""
        self._set_fault(stage, Fault("drop", times=times))

    def stall(self, stage, seconds, times=None):
        """At stage, say nothing for seconds, then close the connection."""
        self._set_fault(stage, Fault("stall", seconds=seconds, times=times))

    def delay(self, stage, seconds, times=None):
        """At stage, wait seconds, then answer normally."""
        self._set_fault(stage, Fault("delay", seconds=seconds, times=times))

    def clear_faults(self):
        with self._cond:
            self._faults.clear()

    def _set_fault(self, stage, fault):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        with self._cond:
            self._faults[stage] = fault

    def _take_fault(self, stage):
        with self._cond:
            fault = self._faults.get(stage)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[stage]
            return fault

    # --- records (called on the sink thread) -------------------------------------------

    def _open_session(self, protocol):
        """A new connection: its record, refused when max_concurrent sessions are open."""
        with self._cond:
            refused = (self.max_concurrent is not None
                       and self._open_sessions >= self.max_concurrent)
            record = Session(index=len(self._sessions), peer=tuple(protocol.session.peer[:2]),
                             refused=refused)
            self._sessions.append(record)
            self._live.add(protocol)
            self._counts["connections"] += 1
            if refused:
                self._refused += 1
            else:
                self._open_sessions += 1
            self._max_seen = max(self._max_seen, len(self._live))
            self._cond.notify_all()
            return record

    def _close_session(self, protocol):
        with self._cond:
            if protocol in self._live:
                self._live.discard(protocol)
                if not protocol.record.refused:
                    self._open_sessions -= 1
            protocol.record.closed = True
            self._cond.notify_all()

    def _note(self, record, line):
        with self._cond:
            record.transcript.append(line)

    def _note_command(self, record, verb, arg):
        with self._cond:
            record.transcript.append(f"> {verb} {arg}" if arg else f"> {verb}")
            self._counts[verb] += 1
            self._cond.notify_all()

    def _update(self, record, **changes):
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)

    def _add_message(self, record, envelope):
        with self._cond:
            message = Message(
                id=len(self._messages) + 1, session=record.index,
                mail_from="" if envelope.mail_from == "<>" else envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos), data=bytes(envelope.original_content),
                mail_options=tuple(envelope.mail_options),
                rcpt_options=tuple(envelope.rcpt_options), peer=record.peer,
                ehlo=record.ehlo, tls=record.tls, auth_user=record.auth_user,
                arrived=time.monotonic())
            self._messages.append(message)
            return message

    def _add_error(self, text):
        with self._cond:
            self._errors.append(text)

    def _set_reply(self, message, reply):
        with self._cond:
            message.reply = reply
            if message.accepted:
                self._arrivals.append(message.arrived)
            self._cond.notify_all()

    # --- accessors (any thread) ---------------------------------------------------------

    def messages(self, include_rejected=False):
        """Copies of the messages accepted after the final dot (all of them when
        include_rejected: also those refused, dropped or stalled at data_end)."""
        with self._cond:
            return [dataclasses.replace(m) for m in self._messages
                    if include_rejected or m.accepted]

    def sessions(self):
        """Copies of the session records, in connection order."""
        with self._cond:
            return [dataclasses.replace(s, transcript=list(s.transcript))
                    for s in self._sessions]

    def count(self, what):
        """Number of "connections", or of a command verb received ("MAIL", "RCPT", ...)."""
        with self._cond:
            return self._counts[what]

    def counts(self):
        with self._cond:
            return dict(self._counts)

    def max_seen(self):
        """The most connections open at once so far, each counted from its accept to its close,
        refused ones included: with max_concurrent=N, N + 1 or more means a client tried to
        go over the limit."""
        with self._cond:
            return self._max_seen

    def refused(self):
        """Connections refused for max_concurrent (greeted with over_reply and closed)."""
        with self._cond:
            return self._refused

    def arrivals(self):
        """time.monotonic() at the final dot of each accepted message, in acceptance order."""
        with self._cond:
            return list(self._arrivals)

    def max_rate(self, window_seconds):
        """The most messages accepted within any window_seconds (a half-open interval
        [t, t + window_seconds) that starts at an arrival): the peak rate a client reached."""
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0 (got {window_seconds})")
        times = sorted(self.arrivals())
        best, first = 0, 0
        for last, t in enumerate(times):
            while t - times[first] >= window_seconds:
                first += 1
            best = max(best, last - first + 1)
        return best

    def errors(self):
        """Tracebacks of exceptions in the sink's own code (should stay empty)."""
        with self._cond:
            return list(self._errors)

    def wait_until(self, predicate, timeout=10.0, what="condition"):
        """Wait until predicate(sink) is true; TimeoutError after timeout seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"sink {self.address}: timed out after {timeout}s "
                                   f"waiting for {what}; counts {dict(self._counts)}")

    def wait_for_messages(self, n, timeout=10.0):
        """Wait until at least n messages were accepted; returns them all."""
        self.wait_until(lambda sink: len(sink.messages()) >= n, timeout, f"{n} message(s)")
        return self.messages()

    def reset(self):
        """Forget recorded sessions, messages and counters (faults stay); max_seen() starts
        again from the connections open now."""
        with self._cond:
            self._sessions.clear()
            self._messages.clear()
            self._counts.clear()
            self._arrivals.clear()
            self._refused = 0
            self._max_seen = len(self._live)

    def describe(self):
        """Transcripts of every session, for failure reports."""
        out = []
        for s in self.sessions():
            out.append(f"session {s.index} from {s.peer[0]}:{s.peer[1]} tls={s.tls} "
                       f"auth={s.auth_user} closed={s.closed}"
                       + (" refused (max_concurrent)" if s.refused else ""))
            out.extend("    " + line for line in s.transcript)
        return f"sink {self.address}:\n" + ("\n".join(out) or "no connections")


def wait_all(sinks, n, timeout=10.0):
    """Wait until the sinks together accepted at least n messages; returns them all."""
    deadline = time.monotonic() + timeout
    while True:
        messages = [m for sink in sinks for m in sink.messages()]
        if len(messages) >= n:
            return messages
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{len(messages)} of {n} messages after {timeout}s")
        time.sleep(0.05)
