"""A Haraka install directory runs unchanged (issue 17, item 8): `haraka -i DIR` (Haraka from
the npm registry, installed once into build/bench/haraka, the cache bench/relay.sh uses too),
then `outpost -c DIR`, changing only what the test environment needs and a user would set too:
the listen address, the DNS server (net-utils.ini), loopback MX hosts (outbound.ini
local_mx_ok, the sinks are 127.0.0.x) and, to relay, the relay plugin with its ACL.

- it starts: Haraka's default plugins run (mail_from.is_resolvable, rcpt_to.in_host_list,
  queue/smtp_forward); each inbound-only Haraka plugin gets one warning and is skipped; a
  name that is no Haraka plugin still stops the start (78); the connection.ini keys Outpost
  ignores are named once each;
- it relays, and a 995-character line arrives folded as Haraka folds it (data_line_length 992);
- mail_from.is_resolvable refuses senders whose domain has no usable MX, with Haraka's texts;
- rcpt_to.in_host_list takes mail for host_list domains from a client that does not relay
  (forwarded to smtp_forward's host) and refuses the others;
- bad values stop the start with 78 naming file and key (concurrency_max=abc, a bad DNS port,
  a DNS server given by name, tls.ini [outbound] ciphers, a DNS timeout in seconds), while a
  runtime failure (the listen address taken) stays 1;
- net-utils.ini [dns] timeout is in milliseconds, as Haraka's net-utils reads it: 300 against a
  server that never answers fails the lookup within a second or two, not 300 s later;
- tls.ini rejectUnauthorized=true defers when the server's certificate does not verify;
- smtp_forward.ini using_lmtp speaks LHLO to the forward host;
- smtp_forward.ini as Haraka's queue_forward uses it: enable_tls (false by default: no STARTTLS
  even when offered; true: STARTTLS with the certificate verified, [tls] rejectUnauthorized=false
  to take any, [tls] no_tls_hosts to skip it), connect_timeout (seconds), max_connections (one
  budget for the forward host, whatever the domains) and one_message_per_rcpt (a transaction per
  recipient); none of them is warned about any more, and a bad number stops the start (78).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness.daemon import REPO, Daemon, run_outpost
from harness.smtpraw import RawSmtp
from harness.util import free_port

HARAKA_DIR = Path(os.environ.get("BENCH_HARAKA_DIR", REPO / "build" / "bench" / "haraka"))
HARAKA_BIN = HARAKA_DIR / "node_modules" / "Haraka" / "bin" / "haraka"
# The package.json bench/relay.sh writes (libmime pinned: see there).
PACKAGE_JSON = {
    "name": "outpost-bench-haraka",
    "description": "Haraka for bench/relay.sh; installed by it, reused between runs",
    "private": True,
    "dependencies": {"Haraka": "3"},
    "overrides": {"libmime": "5.4.8"},
}
SENDER = "someone@sender.test"
RECORDS = [
    "sender.test. MX 10 mxs.test.", "mxs.test. A 192.0.2.25",      # a usable MX
    "local.test. MX 10 mxl.test.", "mxl.test. A 127.0.0.1",        # 127/8: bogus
    "iponly.test. A 192.0.2.26",                                   # no MX
    "hl.test. MX 10 mx2.test.",
]
INBOUND_ONLY = ["toobusy", "karma", "spf", "headers", "dkim_verify"]


@pytest.fixture(scope="module")
def haraka():
    """bin/haraka of Haraka 3 from npm, installed into HARAKA_DIR once."""
    if not HARAKA_BIN.exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.fail("node and npm are needed to install Haraka (scripts/deps.sh test)",
                        pytrace=False)
        HARAKA_DIR.mkdir(parents=True, exist_ok=True)
        (HARAKA_DIR / "package.json").write_text(json.dumps(PACKAGE_JSON, indent=2) + "\n")
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--omit=dev",
                            "--ignore-scripts", "--loglevel=error"], cwd=HARAKA_DIR,
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0 or not HARAKA_BIN.exists():
            pytest.fail(f"npm install Haraka@3 in {HARAKA_DIR} failed:\n{r.stdout}{r.stderr}",
                        pytrace=False)
    return HARAKA_BIN


def haraka_init(haraka, root):
    r = subprocess.run(["node", str(haraka), "-i", str(root)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"haraka -i {root}: {r.stdout}{r.stderr}"
    assert (root / "config" / "plugins").exists()


@pytest.fixture
def hk(request, tmp_path, haraka, dns_server, dns_records):
    """A Daemon on a directory made by `haraka -i`, adjusted for the test environment."""
    dns_records(RECORDS)
    root = tmp_path / "haraka"
    haraka_init(haraka, root)
    d = Daemon(root, delivery=None)
    port = free_port("127.0.0.1")
    d.host, d.port = "127.0.0.1", port
    smtp = root / "config" / "smtp.ini"
    smtp.write_text(f"listen=127.0.0.1:{port}\n" + smtp.read_text())
    d.write_config("net-utils.ini", f"[dns]\nservers={dns_server.servers}\ntimeout=2000\n"
                                    "tries=2\n")
    d.write_config("outbound.ini", "local_mx_ok=true\n")
    yield d
    try:
        d.stop()
    finally:
        d.check_sanitizers()


def plugins(d):
    return d.config_path("plugins").read_text()


def relay_from_loopback(d):
    """What a user adds to relay: the relay plugin, and 127.0.0.1 in its ACL."""
    d.write_config("plugins", "relay\n" + plugins(d))
    d.write_config("relay_acl_allow", "127.0.0.1/32\n")


def submit(d, sender, rcpts, body, source=None):
    with RawSmtp(d.host, d.port, source=source) as c:
        c.reply()
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        for r in rcpts:
            code, lines = c.cmd(f"RCPT TO:<{r}>")
            assert code == 250, (r, lines)
        assert c.cmd("DATA")[0] == 354
        c.send(body + ".\r\n")
        code, lines = c.reply()
        assert code == 250, lines


def test_haraka_dir_starts_with_one_warning_per_inbound_plugin(hk):
    text = plugins(hk)
    for name in INBOUND_ONLY:
        text = text.replace(f"# {name}\n", f"{name}\n")
    # dkim_verify: an old name, not in the default list; spf twice: one warning.
    hk.write_config("plugins", text + "dkim_verify\nspf\n")
    hk.start()
    out = "\n".join(hk.lines())
    for name in INBOUND_ONLY:
        warned = re.findall(rf"\[WARN\] \[-\] \[core\] config/plugins: '{re.escape(name)}' "
                            r"is a Haraka plugin that only filters inbound mail", out)
        assert len(warned) == 1, (name, out)
    for name in ("mail_from.is_resolvable", "rcpt_to.in_host_list", "queue/smtp_forward"):
        assert f"[{name}]" in out, name
    assert "unknown plugin" not in out
    # connection.ini as haraka -i writes it: each key Outpost ignores is named once.
    for key in ("[message] helo", "[uuid] banner_chars", "[max] mime_parts"):
        assert len(re.findall(rf"config/connection\.ini:\d+: {re.escape(key)}: a Haraka "
                              r"setting Outpost ignores", out)) == 1, key
    assert not re.search(r"connection\.ini:\d+: \[max\] (bytes|data_line_length)", out)


def test_unknown_plugin_name_still_stops_the_start(hk):
    hk.write_config("plugins", plugins(hk) + "no_such_plugin\n")
    rc, out, err = run_outpost("-c", hk.root, timeout=20)
    assert rc == 78, out + err
    assert "unknown plugin 'no_such_plugin'" in err


def test_relays_and_folds_a_995_character_line(hk, smtp_sink):
    sink = smtp_sink("127.0.0.2")
    relay_from_loopback(hk)
    hk.start()
    line = "".join(chr(ord("a") + i % 26) for i in range(995))
    submit(hk, SENDER, ["ok-1@single.test"],
           f"From: <{SENDER}>\r\nSubject: long line\r\n\r\n{line}\r\nend\r\n")
    got = sink.wait_for_messages(1)[0]
    assert got.mail_from == SENDER and got.rcpt_tos == ("ok-1@single.test",)
    body = got.data.split(b"\r\n\r\n", 1)[1]
    assert body == (line[:990] + "\r\n " + line[990:] + "\r\nend\r\n").encode(), body
    hk.wait_for_log(r"DATA line length exceeds limit of 992 bytes: folded")


@pytest.mark.parametrize("sender,reply", [
    ("a@nxdomain.test", "550 5.1.8 No MX for your FROM address"),
    ("a@nullmx.test", "550 5.7.27 Null MX: nullmx.test does not send mail"),
    ("a@local.test", "550 5.1.8 No valid MX for your FROM address"),
    ("a@iponly.test", "550 5.1.8 No valid MX for your FROM address"),
    ("a@x.servfail.test", None),
    (SENDER, "250"),
    ("", "250"),
], ids=["nxdomain", "nullmx", "bogus-mx-address", "no-mx", "servfail", "usable", "null"])
def test_mail_from_is_resolvable(hk, sender, reply):
    hk.start()
    with RawSmtp(hk.host, hk.port) as c:
        c.reply()
        c.ehlo()
        got = c.text(f"MAIL FROM:<{sender}>")
        if reply is None:
            assert got.startswith("450 4.4.3 Temp. resolver error ("), got
        else:
            assert got.startswith(reply), got
        # In step: the session goes on, and after a refusal MAIL may be given again.
        assert c.text("NOOP") == "250 2.0.0 OK"
        if not got.startswith("250"):
            assert c.text(f"MAIL FROM:<{SENDER}>").startswith("250")


def test_mail_from_is_resolvable_settings(hk):
    hk.write_config("mail_from.is_resolvable.ini", "[main]\nallow_mx_ip=true\n"
                                                   "[reject]\nno_mx=defer\n")
    hk.start()
    with RawSmtp(hk.host, hk.port) as c:
        c.reply()
        c.ehlo()
        assert c.text("MAIL FROM:<a@iponly.test>").startswith("250")    # implicit MX counts
        c.cmd("RSET")
        assert c.text("MAIL FROM:<a@nxdomain.test>") == \
            "450 4.1.8 No MX for your FROM address"


def test_in_host_list_takes_its_domains_from_anyone(hk, smtp_sink):
    forward = smtp_sink("127.0.0.7", port=2555)
    mx = smtp_sink("127.0.0.2")
    relay_from_loopback(hk)
    hk.write_config("host_list", "hl.test\n")
    hk.write_config("host_list_regex", r"(?:.*\.)?pattern\d\.test" + "\n")
    # Haraka's shipped smtp_forward.ini names localhost:2555; a user names their host.
    hk.write_config("smtp_forward.ini", "host=127.0.0.7\nport=2555\n")
    hk.start()
    outsider = "127.0.0.9"          # not in relay_acl_allow
    with RawSmtp(hk.host, hk.port, source=outsider) as c:
        c.reply()
        c.ehlo()
        assert c.text(f"MAIL FROM:<{SENDER}>").startswith("250")
        assert c.text("RCPT TO:<ok-1@single.test>") == "550 5.7.1 Relaying denied"
        assert c.text("RCPT TO:<ok-2@HL.test>").startswith("250")
        assert c.text("RCPT TO:<ok-3@a.pattern7.test>").startswith("250")
        assert c.text("RCPT TO:<ok-4@patternx.test>") == "550 5.7.1 Relaying denied"
        assert c.cmd("DATA")[0] == 354
        c.send(f"From: <{SENDER}>\r\nSubject: inbound\r\n\r\nhi\r\n.\r\n")
        assert c.reply()[0] == 250
    # Not relayed: it goes to smtp_forward's host (Haraka's queue hook), whatever domain.
    forward.wait_for_messages(2)
    assert sorted(r.lower() for m in forward.messages() for r in m.rcpt_tos) == \
        ["ok-2@hl.test", "ok-3@a.pattern7.test"]
    # Relayed mail (enable_outbound=false, Haraka 3.3's default) goes by DNS.
    submit(hk, SENDER, ["ok-5@single.test"], "Subject: relayed\r\n\r\nhi\r\n")
    assert mx.wait_for_messages(1)[0].rcpt_tos == ("ok-5@single.test",)
    assert len(forward.messages()) == 2


def test_bad_values_stop_the_start_with_78(hk):
    hk.write_config("outbound.ini", "concurrency_max=abc\n")
    rc, out, err = run_outpost("-c", hk.root, timeout=20)
    assert rc == 78, out + err
    assert "config/outbound.ini:1: concurrency_max:" in err and "'abc'" in err
    hk.write_config("outbound.ini", "")
    hk.write_config("net-utils.ini", "[dns]\nservers=127.0.0.1:53x\n")
    rc, out, err = run_outpost("-c", hk.root, timeout=20)
    assert rc == 78, out + err
    assert "config/net-utils.ini:2: [dns] servers: '127.0.0.1:53x'" in err


def test_config_errors_of_the_delivery_side_exit_78(hk):
    cases = [
        ("net-utils.ini", "[dns]\nservers=dns.example.invalid:53x\n",
         "config/net-utils.ini:2: [dns] servers: 'dns.example.invalid:53x' is not an address"),
        ("net-utils.ini", "[dns]\ntimeout=5\n",
         "config/net-utils.ini:2: [dns] timeout: expected milliseconds (Haraka's unit)"),
        ("tls.ini", "[outbound]\nciphers=NO-SUCH-CIPHER\n",
         "config/tls.ini:2: ciphers: no usable cipher in 'NO-SUCH-CIPHER'"),
        ("tls.ini", "[outbound]\nca=no-such-ca.pem\n", "no-such-ca.pem"),
    ]
    for name, text, want in cases:
        saved = hk.config_path(name).read_text() if hk.config_path(name).exists() else ""
        hk.write_config(name, text)
        rc, out, err = run_outpost("-c", hk.root, timeout=30)
        assert rc == 78, (name, text, rc, out + err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("outpost: ") and want in lines[0], \
            (name, text, err)
        hk.write_config(name, saved)
    # A failure that is no configuration error stays 1: the listen address is taken.
    with socket.socket() as taken:
        taken.bind((hk.host, hk.port))
        taken.listen(1)
        rc, out, err = run_outpost("-c", hk.root, timeout=30)
    assert rc == 1, out + err


def test_net_utils_timeout_is_in_milliseconds(hk):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)     # never answers
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(2)
    try:
        relay_from_loopback(hk)
        hk.write_config("net-utils.ini", f"[dns]\nservers=127.0.0.1:{silent.getsockname()[1]}"
                                         "\ntimeout=300\ntries=1\n")
        hk.start()
        t0 = time.monotonic()
        submit(hk, "", ["ok-1@single.test"], "Subject: dns timeout\r\n\r\nhi\r\n")
        hk.wait_for_log(r"MX Lookup for single\.test failed", timeout=15)
        took = time.monotonic() - t0
        assert took < 5, f"a 300 ms DNS timeout took {took:.1f} s"
        assert silent.recv(512), "the lookup went to net-utils.ini's server"
    finally:
        silent.close()


def test_reject_unauthorized_defers_on_an_untrusted_certificate(hk, smtp_sink, tls_material):
    sink = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    relay_from_loopback(hk)
    hk.write_config("tls.ini", "[outbound]\nrejectUnauthorized=true\n")
    hk.start()
    submit(hk, SENDER, ["ok-1@single.test"], "Subject: verify\r\n\r\nhi\r\n")
    hk.wait_for_log(r"Temp failing .* Host failed TLS verification", timeout=20)
    assert sink.messages() == []
    assert hk.queue_files(), "the mail is kept for a retry"
    hk.stop()
    # Trusted (ca names the test CA), the same mail goes out verified.
    hk.write_config("tls.ini", f"[outbound]\nrejectUnauthorized=true\n"
                               f"ca={tls_material.ca_cert}\n")
    hk.start()
    hk.signal(signal.SIGHUP)        # retry the deferred mail now
    got = sink.wait_for_messages(1, timeout=20)[0]
    assert got.tls


def test_smtp_forward_using_lmtp_speaks_lhlo(hk, smtp_sink):
    sink = smtp_sink("127.0.0.7", port=2424, lmtp=True)
    relay_from_loopback(hk)
    hk.write_config("smtp_forward.ini", "[main]\nenable_outbound=true\nhost=127.0.0.7\n"
                                        "port=2424\nusing_lmtp=true\n")
    hk.start()
    submit(hk, SENDER, ["ok-1@single.test"], "Subject: lmtp\r\n\r\nhi\r\n")
    got = sink.wait_for_messages(1)[0]
    assert got.rcpt_tos == ("ok-1@single.test",)
    assert "LHLO" in " ".join(sink.sessions()[0].transcript)


def test_in_host_list_anti_spoof(hk):
    hk.write_config("plugins", "relay\nrcpt_to.in_host_list\n")
    hk.write_config("relay_acl_allow", "127.0.0.1/32\n")
    hk.write_config("host_list", "hl.test\n")
    hk.write_config("host_list.anti_spoof", "true\n")
    hk.start()
    with RawSmtp(hk.host, hk.port, source="127.0.0.9") as c:       # does not relay
        c.reply()
        c.ehlo()
        assert c.text("MAIL FROM:<x@HL.test>") == \
            "550 5.7.1 Mail from domain 'hl.test' is not allowed from your host"
        assert c.text("MAIL FROM:<x@other.test>").startswith("250")
    with RawSmtp(hk.host, hk.port) as c:                             # relays
        c.reply()
        c.ehlo()
        assert c.text("MAIL FROM:<x@hl.test>").startswith("250")


def forward_to(hk, port, extra="", tls=""):
    """Relayed mail forwarded to 127.0.0.7:port (enable_outbound=true)."""
    relay_from_loopback(hk)
    hk.write_config("smtp_forward.ini", f"[main]\nenable_outbound=true\nhost=127.0.0.7\n"
                                        f"port={port}\n{extra}" + (f"[tls]\n{tls}" if tls else ""))


def test_smtp_forward_enable_tls_and_its_tls_section(hk, smtp_sink, tls_material):
    sink = smtp_sink("127.0.0.7", port=2555, tls=(tls_material.cert, tls_material.key))
    # Haraka's default: no STARTTLS to the forward host, although it is offered (outbound.ini
    # enable_tls, true, is for mail by DNS).
    forward_to(hk, 2555)
    hk.start()
    submit(hk, SENDER, ["ok-1@single.test"], "Subject: plain\r\n\r\nhi\r\n")
    assert sink.wait_for_messages(1)[0].tls is False
    out = "\n".join(hk.lines())
    assert not re.search(r"smtp_forward\.ini:\d+: .*a Haraka setting Outpost ignores", out)
    hk.stop()
    # enable_tls=true: STARTTLS, the certificate verified (the test CA is not trusted).
    forward_to(hk, 2555, "enable_tls=true\n")
    hk.start()
    submit(hk, SENDER, ["ok-2@single.test"], "Subject: verified\r\n\r\nhi\r\n")
    hk.wait_for_log(r"Temp failing .* Host failed TLS verification", timeout=20)
    assert len(sink.messages()) == 1
    hk.stop()
    # [tls] rejectUnauthorized=false: any certificate; the deferred mail goes out over TLS.
    forward_to(hk, 2555, "enable_tls=true\n", "rejectUnauthorized=false\n")
    hk.start()
    hk.signal(signal.SIGHUP)
    got = sink.wait_for_messages(2, timeout=20)[1]
    assert got.rcpt_tos == ("ok-2@single.test",) and got.tls is True
    hk.stop()
    # [tls] no_tls_hosts names the forward host: no STARTTLS.
    forward_to(hk, 2555, "enable_tls=true\n", "no_tls_hosts=127.0.0.0/24\n")
    hk.start()
    submit(hk, SENDER, ["ok-3@single.test"], "Subject: no tls host\r\n\r\nhi\r\n")
    got = sink.wait_for_messages(3, timeout=20)[2]
    assert got.rcpt_tos == ("ok-3@single.test",) and got.tls is False


def test_smtp_forward_with_auth_keeps_starttls_by_default(hk, smtp_sink, tls_material):
    # No credentials in clear: with auth_user and no enable_tls, outbound.ini's STARTTLS.
    sink = smtp_sink("127.0.0.7", port=2587, tls=(tls_material.cert, tls_material.key),
                     auth=("relayuser", "s3cret"))
    forward_to(hk, 2587, "auth_user=relayuser\nauth_pass=s3cret\n")
    hk.start()
    submit(hk, SENDER, ["ok-1@single.test"], "Subject: auth\r\n\r\nhi\r\n")
    got = sink.wait_for_messages(1)[0]
    assert got.tls is True and got.auth_user == "relayuser"


def test_smtp_forward_one_message_per_rcpt(hk, smtp_sink):
    sink = smtp_sink("127.0.0.7", port=2555)
    forward_to(hk, 2555, "one_message_per_rcpt=true\n")
    hk.start()
    rcpts = ["ok-1@single.test", "ok-2@single.test", "ok-3@single.test"]
    submit(hk, SENDER, rcpts, "Subject: split\r\n\r\nhi\r\n")
    got = sink.wait_for_messages(3)
    assert sorted(m.rcpt_tos for m in got) == [(r,) for r in rcpts]
    assert len({m.data for m in got}) == 1


def test_smtp_forward_max_connections_is_one_budget_for_the_host(hk, smtp_sink):
    sink = smtp_sink("127.0.0.7", port=2555)
    sink.delay("data_end", 1.0)         # each message keeps its connection busy for 1 s
    forward_to(hk, 2555, "max_connections=2\n")
    hk.start()
    domains = [f"d{i}.test" for i in range(6)]     # six domains, one forward host
    for d in domains:
        submit(hk, SENDER, [f"ok-1@{d}"], f"Subject: {d}\r\n\r\nhi\r\n")
    sink.wait_for_messages(6, timeout=30)
    assert sink.max_seen() == 2, sink.max_seen()


def test_smtp_forward_connect_timeout_in_seconds(hk):
    # A listener whose accept queue is full: connecting hangs (its SYNs are dropped).
    lst = socket.socket()
    lst.bind(("127.0.0.7", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fill = []
    try:
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.7", port))
            except BlockingIOError:
                pass
            fill.append(c)
        forward_to(hk, port, "connect_timeout=2\n")
        hk.write_config("outbound.ini", "local_mx_ok=true\nconnect_timeout=60\n")
        hk.start()
        t0 = time.monotonic()
        submit(hk, SENDER, ["ok-1@single.test"], "Subject: slow\r\n\r\nhi\r\n")
        hk.wait_for_log(r"Tried all MXs single\.test: connection timed out to 127\.0\.0\.7", timeout=20)
        took = time.monotonic() - t0
        assert 1.5 < took < 10, took
    finally:
        for c in fill:
            c.close()
        lst.close()


@pytest.mark.parametrize("text,want", [
    ("max_connections=abc\n", "[main] max_connections: expected connections from 1 to"),
    ("[example.com]\nconnect_timeout=0\n",
     "[example.com] connect_timeout: expected seconds from 1 to 3600, got '0'"),
    ("[tls]\nno_tls_hosts=10.0.0.0/99\n", "[tls] no_tls_hosts: '10.0.0.0/99'"),
])
def test_smtp_forward_bad_values_exit_78(hk, text, want):
    hk.write_config("smtp_forward.ini", "host=127.0.0.7\n" + text)
    rc, out, err = run_outpost("-c", hk.root, timeout=20)
    assert rc == 78, out + err
    assert "config/smtp_forward.ini:" in out + err and want in out + err, out + err


def test_booleans_take_harakas_spellings_and_refuse_others(hk):
    # Haraka's spellings, any case, start; a bare key is false, as in Haraka.
    hk.write_config("tls.ini", "rejectUnauthorized=Off\n[outbound]\nrejectUnauthorized=YES\n"
                               "mta_sts=disabled\n")
    hk.write_config("outbound.ini", "local_mx_ok=on\nenable_tls=1\nalways_split=No\n")
    hk.write_config("connection.ini", "[main]\nsmtputf8=enabled\n")
    hk.start()
    hk.stop()
    cases = [
        ("tls.ini", "rejectUnauthorized=maybe\n", "config/tls.ini:1: [main] rejectUnauthorized"),
        ("tls.ini", "[outbound]\nrejectUnauthorized=maybe\n",
         "config/tls.ini:2: [outbound] rejectUnauthorized"),
        ("outbound.ini", "local_mx_ok=true\nenable_tls=yess\n",
         "config/outbound.ini:2: [main] enable_tls"),
        ("connection.ini", "[main]\nsmtputf8=2\n", "config/connection.ini:2: [main] smtputf8"),
        ("smtp_forward.ini", "host=127.0.0.1\n[tls]\nrejectUnauthorized=nope\n",
         "config/smtp_forward.ini:3: [tls] rejectUnauthorized"),
    ]
    for name, text, want in cases:
        saved = hk.config_path(name).read_text() if hk.config_path(name).exists() else ""
        hk.write_config(name, text)
        rc, out, err = run_outpost("-c", hk.root, timeout=30)
        assert rc == 78, (name, text, rc, out + err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and want in lines[0] and "expected a boolean" in lines[0], \
            (name, text, err)
        hk.write_config(name, saved)


def test_a_plugin_config_error_names_file_and_key(hk):
    hk.write_config("plugins", "queue/smtp_forward\n")
    hk.write_config("smtp_forward.ini", "host=127.0.0.1\nport=2525\nmax_connections=abc\n")
    rc, out, err = run_outpost("-c", hk.root, timeout=30)
    assert rc == 78, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("outpost: plugin queue/smtp_forward: config/smtp_forward.ini:3:")
    assert "max_connections" in lines[0] and "'abc'" in lines[0], err
