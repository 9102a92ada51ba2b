"""DNSSEC-signed zones for the DANE tests: ldns-keygen and ldns-signzone (package ldnsutils).

sign_zone() writes a zone (SOA, NS and the given records), makes a key-signing key and signs
the zone with it (NSEC, signatures valid from now for 4 weeks); it returns the signed zone text
and the key's DS record, the trust anchor a validating resolver is given.
SignedDnsServer is the harness's nsd serving the base test zone plus such signed zones, whose
text is written as signed (the base server would add its own SOA and NS to each zone).
tlsa_hex() gives the data of a TLSA record for a PEM certificate.
"""
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .dns import DnsServer, _soa_and_ns

ALGORITHM = "ECDSAP256SHA256"


def _need(tool):
    if shutil.which(tool) is None:
        raise RuntimeError(f"{tool} is missing: install Debian's ldnsutils")


def _run(args, cwd):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


@dataclass(frozen=True)
class SignedZone:
    name: str           # "dane.test."
    text: str           # the signed zone file
    ds: str             # its key's DS record, one line: the trust anchor


def make_key(directory, zone):
    """A key-signing key for zone in directory; returns its file base name."""
    _need("ldns-keygen")
    return _run(["ldns-keygen", "-a", ALGORITHM, "-k", zone.rstrip(".")], directory).strip()


def sign_zone(directory, zone, records, key=None):
    """Sign zone (absolute name) holding records (zone-file lines, absolute names); a new key
    unless key (a make_key() base name in directory) is given."""
    _need("ldns-signzone")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = key or make_key(directory, zone)
    source = directory / f"{zone.rstrip('.')}.zone"
    source.write_text(f"$TTL 60\n{zone} IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
                      f"{zone} IN NS ns.test.\n" + "".join(line + "\n" for line in records))
    _run(["ldns-signzone", "-f", str(source) + ".signed", str(source), key], directory)
    ds = (directory / f"{key}.ds").read_text().strip()
    return SignedZone(zone, (directory / f"{source.name}.signed").read_text(), ds)


def tlsa_hex(pem_path, selector=1, mtype=1):
    """TLSA data for the certificate: selector 0 (certificate) or 1 (SPKI), matching type 0
    (full), 1 (SHA-256) or 2 (SHA-512)."""
    cert = x509.load_pem_x509_certificate(Path(pem_path).read_bytes())
    if selector == 0:
        data = cert.public_bytes(serialization.Encoding.DER)
    else:
        data = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return data.hex()


class SignedDnsServer(DnsServer):
    """DnsServer serving signed zones too (SignedZone, written as they are) and unsigned zones
    ({name: [lines]}, SOA and NS added) that, unlike extra_zones, survive set_records()."""

    def __init__(self, workdir, signed_zones=(), plain_zones=None, ip="127.0.0.1"):
        super().__init__(workdir, ip)
        self.signed_zones = {z.name: z.text for z in signed_zones}
        self.plain_zones = dict(plain_zones or {})

    def _write_files(self):
        super()._write_files()
        conf = []
        zones = dict(self.signed_zones)
        for name, lines in self.plain_zones.items():
            zones[name] = _soa_and_ns(name, 1) + "".join(line + "\n" for line in lines)
        for name, text in zones.items():
            filename = f"{name.rstrip('.')}.fixed.zone"
            (self.dir / filename).write_text(text)
            conf += ["zone:", f"    name: {name}", f"    zonefile: {filename}"]
        with open(self.dir / "nsd.conf", "a") as f:
            f.write("\n".join(conf) + "\n")
