"""DKIM signing (issue 16): every signature Outpost writes is checked by two independent
verifiers, dkimpy (python3-dkim) and libopendkim's opendkim-testmsg, against the public key
served as a TXT record by the test DNS server (nsd).

- RSA-SHA256 and Ed25519-SHA256, relaxed and simple: a message with trailing blank lines, a
  long folded header, an 8-bit body and lines that start with a dot verifies; the same message
  with one body byte changed fails in both verifiers.
- a message deferred by the sink (451 after the dot) and delivered at the retry still verifies.
- several signatures: an RSA and an Ed25519 key of the author's domain and an ESP's key
  (additional_domains); each verifies.
- a Haraka-style config/dkim/<domain>/ (openssl genrsa's PKCS#1 key, selector, public, dns)
  and Haraka's dkim.ini are used unchanged.
- --dkim-keygen writes private (0600), public, selector, dns, and never overwrites.
- an unusable key stops start-up with exit 78 and a line naming the file.
- SIGHUP loads keys added while running; a bad key added later is logged and the running keys
  kept.
- a 300 KB message (streamed from disk by delivery) verifies.
- a plugin chooses the signing domain and selector (op_txn_set_note: dkim_domain, dkim_selector).

dkimpy is handed a dnsfunc that asks the session's nsd. opendkim-testmsg has no resolver
option (libopendkim reads /etc/resolv.conf, which cannot name a port), so it runs in a private
mount namespace (unshare -m) whose /etc/resolv.conf names a second nsd, serving the same
records on 127.0.0.153:53: no query ever reaches the system resolver.
"""
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import dkim
import pytest

from harness.daemon import run_outpost
from harness.dns import DnsServer, resolve
from test_delivery import SENDER, send, wait_empty

OPENDKIM_DNS_IP = "127.0.0.153"
DOMAIN = "bounces.test"           # SENDER's domain (From is aligned with it)
ESP = "esp.test"


def tricky_message(subject="DKIM test"):
    """Trailing blank lines, a long folded header, 8-bit bytes, lines starting with dots,
    blanks at line ends and runs of blanks (relaxed and simple differ on them)."""
    long_to = ",\r\n ".join(f"Recipient Number {i} <rcpt{i}@example.test>" for i in range(12))
    body = ("Hello  there,\t \r\n"
            ".a line that starts with a dot\r\n"
            "..two dots\r\n"
            ".\r\n"
            "caf\u00e9 \u00fcber na\u00efve \u2014 8-bit\r\n"
            "   indented line   \r\n"
            "\r\n\r\n\r\n")
    return (f"From: Sender Name <{SENDER}>\r\n"
            f"To: {long_to}\r\n"
            f"Subject:   {subject}   with   blanks\r\n"
            f"X-Long-Header: {'word ' * 40}\r\n"
            f"\tcontinued\r\n"
            f"Message-Id: <dkim-{os.urandom(4).hex()}@client.test>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n"
            f"\r\n{body}").encode()


# --- verifiers --------------------------------------------------------------------------------

def dnsfunc_for(dns_server):
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        answer = resolve(dns_server, name.rstrip(".") + ".", "TXT").answer
        for rrset in answer:
            for rd in rrset:
                return b"".join(rd.strings)
        return None
    return dnsfunc


def dkimpy_verify(data, dns_server, idx=0):
    try:
        return dkim.DKIM(data).verify(idx=idx, dnsfunc=dnsfunc_for(dns_server))
    except dkim.DKIMException:      # a body hash mismatch is raised, not returned
        return False


def signatures(data):
    return [v for k, v in dkim.rfc822_parse(data)[0] if k.lower() == b"dkim-signature"]


def opendkim_verify(data, tmp_path):
    """(exit status, output) of opendkim-testmsg over data, resolving through the port-53 nsd."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {OPENDKIM_DNS_IP}\noptions timeout:2 attempts:1\n")
    script = f"mount --bind {resolv} /etc/resolv.conf && exec opendkim-testmsg"
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], input=data,
                       capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def tampered(data):
    """One byte of the body changed."""
    i = data.index(b"Hello")
    return data[:i] + b"J" + data[i + 1:]


@pytest.fixture(scope="module")
def dns53(tmp_path_factory):
    """A second nsd on 127.0.0.153:53 for opendkim-testmsg (see the module's docstring)."""
    for tool in ("unshare", "opendkim-testmsg"):
        assert subprocess.run(["which", tool], capture_output=True).returncode == 0, \
            f"{tool} is needed (util-linux, opendkim-tools)"
    server = DnsServer(tmp_path_factory.mktemp("dns53"), ip=OPENDKIM_DNS_IP)
    server.port = 53
    assert server._launch(10), f"nsd cannot bind {OPENDKIM_DNS_IP}:53"
    yield server
    server.stop()


@pytest.fixture
def publish(dns_records, dns53):
    """publish(lines): TXT lines on both DNS servers."""
    def set_records(lines):
        dns_records(lines)
        dns53.set_records(lines)
    yield set_records
    dns53.set_records(())


def keygen(outpost, domain, selector, kind="rsa", *extra):
    rc, out, err = run_outpost("-c", outpost.root, "--dkim-keygen", domain, selector,
                               "--type", kind, *extra)
    assert rc == 0, out + err
    return next(line for line in out.splitlines() if "._domainkey." in line)


def check_all(data, dns_server, tmp_path, expect):
    """Every signature of data verifies with dkimpy; opendkim-testmsg agrees; one changed body
    byte fails both."""
    sigs = signatures(data)
    assert len(sigs) == expect, sigs
    for i in range(len(sigs)):
        assert dkimpy_verify(data, dns_server, i), f"dkimpy: signature {i} fails:\n{sigs[i]}"
        assert not dkimpy_verify(tampered(data), dns_server, i)
    rc, out = opendkim_verify(data, tmp_path)
    assert rc == 0, f"opendkim-testmsg: {rc} {out}"
    rc, out = opendkim_verify(tampered(data), tmp_path)
    assert rc != 0, "opendkim-testmsg accepted a changed body"


def start_signing(mta, ini=""):
    mta.write_config("plugins", "relay\ndkim\n")
    mta.write_config("dkim.ini", ini)
    mta.start()


# --- tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
@pytest.mark.parametrize("canon", ["relaxed/relaxed", "simple/simple", "relaxed/simple"])
def test_signature_verifies_and_tampering_fails(mta, smtp_sink, dns_server, publish, tmp_path,
                                                kind, canon):
    publish([keygen(mta, DOMAIN, "s1", kind)])
    sink = smtp_sink("127.0.0.2")
    header, body = canon.split("/")
    start_signing(mta, f"[canon]\nheader={header}\nbody={body}\n")
    send(mta, ["ok-1@single.test"], data=tricky_message())
    data = sink.wait_for_messages(1)[0].data
    sig = signatures(data)[0].decode()
    alg = "rsa-sha256" if kind == "rsa" else "ed25519-sha256"
    assert f"a={alg}" in sig and f"c={canon}" in sig and f"d={DOMAIN}" in sig
    assert "s=s1" in sig
    # Oversigned: From, To, Subject, Date, Message-ID once more than present.
    h = re.search(r"h=([^;]*);", sig).group(1).replace("\r\n\t", "").split(":")
    assert h.count("from") == 2 and h.count("subject") == 2 and h.count("date") == 2
    check_all(data, dns_server, tmp_path, 1)
    mta.wait_for_log(r"signed: d=bounces\.test s=s1 a=" + alg, timeout=5)
    wait_empty(mta)


def test_retried_message_still_verifies(mta, smtp_sink, dns_server, publish, tmp_path):
    publish([keygen(mta, DOMAIN, "retry")])
    sink = smtp_sink("127.0.0.2")
    # (a reply that the default shaping rules do not turn into a backoff)
    sink.fail("data_end", "451 4.3.0 Temporary local problem", times=1)
    start_signing(mta)
    send(mta, ["ok-1@single.test"], data=tricky_message())
    mta.wait_for_log(r"Temp failing .* 451 4\.3\.0 Temporary local problem", timeout=10)
    mta.signal(signal.SIGHUP)          # retry now
    data = sink.wait_for_messages(1, timeout=20)[0].data
    assert len(sink.messages(include_rejected=True)) == 2
    check_all(data, dns_server, tmp_path, 1)
    wait_empty(mta)


def test_multiple_signatures(mta, smtp_sink, dns_server, publish, tmp_path):
    lines = [keygen(mta, DOMAIN, "r1"), keygen(mta, DOMAIN, "e1", "ed25519"),
             keygen(mta, ESP, "esp1", "rsa", "--bits", "1024")]
    publish(lines)
    sink = smtp_sink("127.0.0.2")
    start_signing(mta, f"[sign]\nadditional_domains={ESP}\n")
    send(mta, ["ok-1@single.test"], data=tricky_message())
    data = sink.wait_for_messages(1)[0].data
    sigs = b"\n".join(signatures(data)).decode()
    for want in ("d=bounces.test; s=r1", "d=bounces.test; s=e1", "d=esp.test; s=esp1"):
        assert want in sigs, sigs
    check_all(data, dns_server, tmp_path, 3)
    wait_empty(mta)


def test_haraka_directory_and_ini_unchanged(mta, smtp_sink, dns_server, publish, tmp_path):
    # What Haraka's dkim_key_gen.sh makes, with the openssl command.
    d = mta.root / "config" / "dkim" / DOMAIN
    d.mkdir(parents=True)
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(d / "private"), "2048"],
                   check=True, capture_output=True)
    os.chmod(d / "private", 0o400)
    subprocess.run(["openssl", "rsa", "-in", str(d / "private"), "-out", str(d / "public"),
                    "-pubout"], check=True, capture_output=True)
    assert b"BEGIN RSA PRIVATE KEY" in (d / "private").read_bytes()
    (d / "selector").write_text("dec2026\n")
    pub = "".join(l for l in (d / "public").read_text().splitlines() if not l.startswith("-"))
    (d / "dns").write_text(f"dec2026._domainkey IN TXT v=DKIM1;p={pub};\n")
    record = "v=DKIM1;p=" + pub
    chunks = " ".join(f'"{record[i:i + 255]}"' for i in range(0, len(record), 255))
    publish([f"dec2026._domainkey.{DOMAIN}. IN TXT {chunks}"])
    sink = smtp_sink("127.0.0.2")
    # Haraka's shipped dkim.ini with signing on.
    start_signing(mta, "[main]\n\n[sign]\nenabled = true\nselector = mail\n"
                       "domain = example.com\nheaders = From, Sender, Reply-To, Subject, "
                       "Date, Message-ID, To, Cc, MIME-Version, List-Unsubscribe, "
                       "List-Unsubscribe-Post\n\n[canon]\n; body = relaxed\n\n"
                       "[verify]\nenabled = true\n")
    send(mta, ["ok-1@single.test"], data=tricky_message())
    data = sink.wait_for_messages(1)[0].data
    assert b"s=dec2026" in signatures(data)[0]
    check_all(data, dns_server, tmp_path, 1)
    wait_empty(mta)


def test_keygen_files_and_no_overwrite(daemon):
    line = keygen(daemon, "example.test", "k1")
    assert line.startswith('k1._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=')
    d = daemon.root / "config" / "dkim" / "example.test"
    assert sorted(p.name for p in d.iterdir()) == ["dns", "private", "public", "selector"]
    assert stat.S_IMODE((d / "private").stat().st_mode) == 0o600
    assert (d / "selector").read_text() == "k1\n"
    before = (d / "private").read_bytes()
    rc, out, err = run_outpost("-c", daemon.root, "--dkim-keygen", "example.test", "k2")
    assert rc == 73 and "never overwritten" in err, (rc, out, err)
    assert (d / "private").read_bytes() == before
    line = keygen(daemon, "example.test", "k2", "ed25519")
    assert 'k=ed25519; p=' in line
    assert (d / "ed25519.selector").read_text() == "k2\n"
    rc, out, err = run_outpost("-c", daemon.root, "--dkim-keygen", "../x", "k2")
    assert rc == 64 and "not a domain name" in err


@pytest.mark.parametrize("problem", ["garbage", "directory", "no selector"])
def test_unusable_key_stops_start_up(daemon, problem):
    d = daemon.root / "config" / "dkim" / DOMAIN
    d.mkdir(parents=True)
    (d / "selector").write_text("s1\n")
    if problem == "garbage":
        (d / "private").write_text("not a key\n")
        why = r"config/dkim/bounces\.test/private: not a PEM private key"
    elif problem == "directory":
        (d / "private").mkdir()
        why = r"config/dkim/bounces\.test/private: cannot read the private key"
    else:
        keygen(daemon, DOMAIN, "s1", "ed25519")
        (d / "ed25519.selector").unlink()
        why = r"config/dkim/bounces\.test/ed25519\.selector: missing or empty"
    daemon.write_config("plugins", "relay\ndkim\n")
    rc, out, err = run_outpost("-c", str(daemon.root), timeout=20)
    assert rc == 78, (rc, out, err)
    assert re.search(why, out + err), out + err


def test_sighup_loads_new_keys(mta, smtp_sink, dns_server, publish, tmp_path):
    sink = smtp_sink("127.0.0.2")
    start_signing(mta)
    send(mta, ["ok-1@single.test"], data=tricky_message())
    assert signatures(sink.wait_for_messages(1)[0].data) == []
    publish([keygen(mta, DOMAIN, "late", "ed25519")])
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_each_worker(r"dkim.*reloaded: signing, 1 key for 1 domain", timeout=5, start=mark)
    send(mta, ["ok-2@single.test"], data=tricky_message())
    data = sink.wait_for_messages(2)[1].data
    check_all(data, dns_server, tmp_path, 1)
    # A bad key added later: logged, the running keys kept.
    bad = mta.root / "config" / "dkim" / "broken.test"
    bad.mkdir()
    (bad / "private").write_text("not a key\n")
    (bad / "selector").write_text("x\n")
    mark = mta.mark()
    mta.signal(signal.SIGHUP)
    mta.wait_for_each_worker(r"not reloaded: config/dkim/broken\.test/private: not a PEM private key.*; "
                     r"keeping the running keys", timeout=5, start=mark)
    send(mta, ["ok-3@single.test"], data=tricky_message())
    data = sink.wait_for_messages(3)[2].data
    check_all(data, dns_server, tmp_path, 1)
    wait_empty(mta)


def test_large_message_streamed_from_disk(mta, smtp_sink, dns_server, publish, tmp_path):
    """A 300 KB 8-bit message (delivery streams it from its body file in 64 KiB blocks)."""
    publish([keygen(mta, DOMAIN, "big")])
    sink = smtp_sink("127.0.0.2")
    start_signing(mta)
    line = "d\u00e9j\u00e0 vu, \t trailing blanks   \r\n.dotted line\r\n"
    big = tricky_message().replace(b"Hello  there", ("x" * 70 + "\r\n" + line * 7000).encode()
                                   + b"Hello  there")
    assert len(big) > 300_000
    send(mta, ["ok-1@single.test"], data=big)
    data = sink.wait_for_messages(1, timeout=30)[0].data
    assert len(data) > len(big)
    check_all(data, dns_server, tmp_path, 1)
    wait_empty(mta)


def test_plugin_chooses_the_key(mta, smtp_sink, dns_server, publish, tmp_path):
    """A plugin's notes dkim_domain/dkim_selector (op_txn_set_note) win over the From domain."""
    so = Path(__file__).resolve().parents[2] / "build/asan/tests/plugins/dkim_choose.so"
    assert so.exists(), f"{so} missing: make build/asan/tests/plugins/dkim_choose.so"
    (mta.root / "plugins").mkdir(exist_ok=True)
    (mta.root / "plugins" / "dkim_choose.so").write_bytes(so.read_bytes())
    publish([keygen(mta, DOMAIN, "own"), keygen(mta, ESP, "esp1", "ed25519"),
             keygen(mta, ESP, "esp2")])
    sink = smtp_sink("127.0.0.2")
    mta.write_config("plugins", "relay\ndkim_choose\ndkim\n")
    mta.start()
    chosen = tricky_message().replace(b"MIME-Version:", b"X-Sign-As: esp.test esp2\r\nMIME-Version:")
    send(mta, ["ok-1@single.test"], data=chosen)
    data = sink.wait_for_messages(1)[0].data
    sigs = signatures(data)
    assert len(sigs) == 1 and b"d=esp.test; s=esp2" in sigs[0], sigs
    check_all(data, dns_server, tmp_path, 1)
    # Without the header: the From domain's key.
    send(mta, ["ok-2@single.test"], data=tricky_message())
    data = sink.wait_for_messages(2)[1].data
    assert b"d=bounces.test; s=own" in signatures(data)[0]
    wait_empty(mta)
