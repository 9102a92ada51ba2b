"""Test-time X.509 material made with the openssl command line.

make_ca() creates a CA, issue() signs an EC P-256 server certificate for the given host names
and IP addresses (subjectAltName). make_tls_material() does both into one directory and
returns the paths; the `tls_material` fixture calls it once per session.
"""
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Every name and address a test peer may be reached by: the MX hosts of the test zone, the
# loopback addresses the sinks listen on, and localhost.
DEFAULT_HOSTS = (
    "localhost", "mx1.test", "mx2.test", "mx3.test", "mx6.test", "implicit.test",
    *(f"127.0.0.{i}" for i in range(1, 11)), "::1",
)
DAYS = 7


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def _ec_key(path, cwd):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(path), cwd=cwd)


def _san(hosts):
    entries = []
    for host in hosts:
        try:
            entries.append(f"IP:{ipaddress.ip_address(host)}")
        except ValueError:
            entries.append(f"DNS:{host}")
    return ",".join(entries)


def make_ca(directory, name="Outpost Test CA"):
    """Create ca.key and ca.pem (self-signed, CA:TRUE) in directory; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "ca.key", directory / "ca.pem"
    _ec_key(key, directory)
    _openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", str(DAYS),
             "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return cert, key


def issue(directory, ca_cert, ca_key, name, hosts):
    """Create <name>.key and <name>.pem signed by the CA, valid for hosts; return their paths.

    The first host is the subject CN; all hosts go into subjectAltName (IPs as IP entries)."""
    directory = Path(directory)
    key, csr, cert = (directory / f"{name}.key", directory / f"{name}.csr",
                      directory / f"{name}.pem")
    ext = directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={_san(hosts)}\n"
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth,clientAuth\n")
    _ec_key(key, directory)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={hosts[0]}",
             cwd=directory)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", str(DAYS),
             "-extfile", str(ext), cwd=directory)
    return cert, key


@dataclass(frozen=True)
class TlsMaterial:
    dir: Path
    ca_cert: Path   # PEM, the trust anchor for clients
    ca_key: Path
    cert: Path      # PEM server certificate for DEFAULT_HOSTS (or the hosts given)
    key: Path       # its private key (PEM, unencrypted)

    def issue(self, name, hosts):
        """Sign another certificate with the same CA; returns (cert, key) paths."""
        return issue(self.dir, self.ca_cert, self.ca_key, name, tuple(hosts))


def make_tls_material(directory, hosts=DEFAULT_HOSTS):
    ca_cert, ca_key = make_ca(directory)
    cert, key = issue(directory, ca_cert, ca_key, "server", tuple(hosts))
    return TlsMaterial(Path(directory), ca_cert, ca_key, cert, key)
