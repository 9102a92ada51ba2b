"""A raw SMTP client for protocol tests: exact bytes out, whole replies in."""
import re
import socket
import ssl
import time

_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")


class RawSmtp:
    """One connection; send() writes bytes as given, reply() reads one (multi-line) reply."""

    def __init__(self, host, port, source=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _line(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """(code, [text lines]) of the next reply."""
        lines = []
        while True:
            line = self._line()
            match = _LINE.match(line)
            assert match, f"not an SMTP reply line: {line!r}"
            lines.append(match.group(3).decode("utf-8", "replace"))
            if match.group(2) == b" ":
                return int(match.group(1)), lines

    def cmd(self, line):
        """Send one command line (CRLF added) and return its reply."""
        self.send(line + "\r\n")
        return self.reply()

    def text(self, line):
        """'code text' of the reply to one command (single-line replies)."""
        code, lines = self.cmd(line)
        return f"{code} {lines[-1]}"

    def ehlo(self, name="client.test"):
        code, lines = self.cmd(f"EHLO {name}")
        assert code == 250, lines
        return [line.upper() for line in lines[1:]]

    def starttls(self, ca_file=None, server_hostname="mx1.test", **ctx_options):
        code, lines = self.cmd("STARTTLS")
        assert code == 220, lines
        ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else \
            ssl._create_unverified_context()
        for key, value in ctx_options.items():
            setattr(ctx, key, value)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        assert not self.buf, f"bytes after the 220 to STARTTLS: {self.buf!r}"
        return self.sock

    def closed(self, timeout=5):
        """True once the server has closed the connection (nothing more to read)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
