"""A real authoritative DNS server for the tests: Debian's nsd on 127.0.0.1:<free port>.

nsd runs in the foreground as root (no chroot, no privilege drop) with every file in its own
directory, serving ZONE (the records below, plus any extra records a test adds) and
SERVFAIL_ZONE, a zone whose file has no SOA: nsd refuses to load it and answers SERVFAIL for
every name in it. Changing the records rewrites the zone files and restarts nsd on the same port.
Nothing here touches the system resolver.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from .util import free_port

ZONE = "test."
SERVFAIL_ZONE = "servfail.test."
NXDOMAIN_NAME = "nxdomain.test."

# The test zone, in zone-file syntax with absolute names. SOA and NS are added when written.
ZONE_RECORDS = """
; multi.test: two MX at preference 10 (to be tried in random order) and a backup at 20
multi.test.          MX    10 mx1.test.
multi.test.          MX    10 mx2.test.
multi.test.          MX    20 mx3.test.
mx1.test.            A     127.0.0.2
mx2.test.            A     127.0.0.3
mx3.test.            A     127.0.0.4
; single.test: one MX, mx1
single.test.         MX    10 mx1.test.
; nullmx.test: RFC 7505 null MX, the domain accepts no mail
nullmx.test.         MX    0 .
; implicit.test: no MX, only an A record (implicit MX, RFC 5321 section 5.1)
implicit.test.       A     127.0.0.5
; v6.test: one MX with an AAAA (::1) and an A (127.0.0.6)
v6.test.             MX    10 mx6.test.
mx6.test.            AAAA  ::1
mx6.test.            A     127.0.0.6
; bounces.test: where the tests' senders live (DSNs go to mxb, 127.0.0.8)
bounces.test.        MX    10 mxb.test.
mxb.test.            A     127.0.0.8
; nxdomain.test: deliberately absent, answers NXDOMAIN
"""

# servfail.test.: no SOA, so nsd does not load the zone and answers SERVFAIL.
SERVFAIL_RECORDS = """
servfail.test.       A     127.0.0.9
"""

START_ATTEMPTS = 5


def _soa_and_ns(zone, serial):
    return (f"$TTL 60\n"
            f"{zone} IN SOA ns.{ZONE} hostmaster.{ZONE} {serial} 3600 600 86400 60\n"
            f"{zone} IN NS ns.{ZONE}\n")


class DnsServer:
    """nsd serving ZONE (+ extra records/zones) and SERVFAIL_ZONE on ip:port."""

    zone = ZONE
    servfail_zone = SERVFAIL_ZONE
    nxdomain_name = NXDOMAIN_NAME

    def __init__(self, workdir, ip="127.0.0.1"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ip = ip
        self.port = None
        self._proc = None
        # A serial of our own: the readiness check cannot be fooled by another server.
        self._serial = int.from_bytes(os.urandom(3), "big")
        self._extra_records = ()
        self._extra_zones = {}

    @property
    def servers(self):
        """The value for Outpost's config/net-utils.ini `[dns] servers`."""
        return f"{self.ip}:{self.port}"

    @property
    def log_path(self):
        return self.dir / "nsd.log"

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, extra_records=(), extra_zones=None, timeout=10):
        """Start nsd on a port free for UDP and TCP; returns once it answers SOA queries.

        extra_records: zone-file lines (absolute names) added to ZONE.
        extra_zones: {"example.": [lines]} more zones; SOA and NS are added to each."""
        assert self._proc is None, "nsd is already running"
        self._extra_records = tuple(extra_records)
        self._extra_zones = dict(extra_zones or {})
        for _ in range(START_ATTEMPTS):
            self.port = free_port(self.ip, udp=True)
            if self._launch(timeout):
                return self
        raise RuntimeError(f"nsd did not start in {START_ATTEMPTS} attempts:\n{self.log()}")

    def set_records(self, extra_records=(), extra_zones=None, timeout=10):
        """Replace the extra records/zones: rewrite the zone files and restart nsd on the
        same port (a query sent during the restart, ~0.1 s, gets no answer)."""
        self._extra_records = tuple(extra_records)
        self._extra_zones = dict(extra_zones or {})
        self._halt()
        for _ in range(START_ATTEMPTS):
            if self._launch(timeout):
                return
            time.sleep(0.2)
        raise RuntimeError(f"nsd did not restart on port {self.port}:\n{self.log()}")

    def stop(self, timeout=5):
        """Stop nsd; returns when none of its processes is left (not even as a zombie)."""
        pgid = self._halt(timeout)
        if pgid is None:
            return
        # nsd's server child outlives its parent as a zombie until init reaps it.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise RuntimeError(f"nsd processes of group {pgid} still exist")

    def _halt(self, timeout=5):
        """SIGTERM nsd, then SIGKILL whatever is left of its process group (nsd forks server
        and xfrd processes). Returns the process group id, None if nsd was not running."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout)
        return proc.pid

    def _launch(self, timeout):
        """Write the files, run nsd, wait until it serves the current serial. False when nsd
        exited because it could not bind its port."""
        self._serial += 1
        self._write_files()
        self.log_path.unlink(missing_ok=True)
        # setpriv: nsd gets SIGTERM should the test process die without stopping it.
        command = ["setpriv", "--pdeathsig", "TERM",
                   "nsd", "-d", "-c", str(self.dir / "nsd.conf")]
        with open(self.dir / "nsd.out", "wb") as out:
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self._proc.poll()
            if rc is not None:
                log = self.log() + (self.dir / "nsd.out").read_text(errors="replace")
                self._halt()
                if "bind" in log:
                    return False
                raise RuntimeError(f"nsd exited with code {rc}:\n{log}")
            if self._serving_current_serial():
                return True
            time.sleep(0.05)
        self._halt()
        raise RuntimeError(f"nsd did not answer within {timeout}s:\n{self.log()}")

    def _serving_current_serial(self):
        try:
            # TCP first: refused at once while nsd is not listening, where UDP would time out.
            for tcp in (True, False):
                answer = resolve(self, ZONE, "SOA", tcp=tcp, timeout=0.5)
                if answer.rcode() != dns.rcode.NOERROR or not answer.answer:
                    return False
                if answer.answer[0][0].serial != self._serial:
                    return False
        except (OSError, dns.exception.DNSException):
            return False
        return True

    def _write_files(self):
        zones = {ZONE: _soa_and_ns(ZONE, self._serial) + ZONE_RECORDS
                 + "".join(line + "\n" for line in self._extra_records),
                 SERVFAIL_ZONE: SERVFAIL_RECORDS}
        for name, lines in self._extra_zones.items():
            zones[name] = _soa_and_ns(name, self._serial) + "".join(line + "\n" for line in lines)
        conf = [
            "server:",
            f"    ip-address: {self.ip}@{self.port}",
            "    do-ip4: yes",
            "    do-ip6: no",
            '    username: ""',
            '    chroot: ""',
            '    database: ""',
            f'    zonesdir: "{self.dir}"',
            f'    zonelistfile: "{self.dir}/zone.list"',
            f'    xfrdfile: "{self.dir}/xfrd.state"',
            f'    xfrdir: "{self.dir}"',
            f'    pidfile: "{self.dir}/nsd.pid"',
            f'    logfile: "{self.log_path}"',
            "    server-count: 1",
            "    verbosity: 1",
            "    hide-version: yes",
            "remote-control:",
            "    control-enable: no",
        ]
        for name, text in zones.items():
            filename = f"{name.rstrip('.')}.zone"
            (self.dir / filename).write_text(text)
            conf += ["zone:", f"    name: {name}", f"    zonefile: {filename}"]
        (self.dir / "nsd.conf").write_text("\n".join(conf) + "\n")


def resolve(server, name, rdtype, tcp=False, timeout=2.0):
    """Ask our DNS server (a DnsServer or "ip:port") directly; returns the dns.message.Message
    response (check .rcode() and .answer). Never uses the system resolver."""
    if isinstance(server, str):
        ip, _, port = server.rpartition(":")
        server_ip, server_port = ip, int(port)
    else:
        server_ip, server_port = server.ip, server.port
    query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server_ip, timeout=timeout, port=server_port)
