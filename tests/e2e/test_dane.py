"""DANE for SMTP (RFC 7672) end to end: a DNSSEC-signed zone, dane.example., served by nsd beside
the unsigned test zone; Outpost's validating resolver (libunbound) forwards to that nsd and
trusts dane.example.'s own key (its DS record as the trust anchor). TLSA records at
_25._tcp.<MX host> make STARTTLS mandatory and the server's certificate must match them;
a mismatch, a bogus answer or a missing STARTTLS defers the mail and nothing is delivered."""
import dataclasses
import time

import pytest

from harness.clients import smtp_client
from harness.daemon import run_outpost
from harness.util import free_port
from harness.dnssec import SignedDnsServer, make_key, sign_zone, tlsa_hex
from test_delivery import deferred, send, send_on, wait_empty, wait_entry

WRONG = "00" * 32
SIGNED, TAMPERED = "11" * 32, "22" * 32


@pytest.fixture(scope="module")
def dane_certs(tls_material, tmp_path_factory):
    """The sinks' certificates: the default one (DANE-EE), and one for mxta.dane.example whose
    chain file carries the CA (DANE-TA: the server must send its trust anchor)."""
    cert, key = tls_material.issue("dane-ta", ["mxta.dane.example"])
    chain = tmp_path_factory.mktemp("dane") / "dane-ta-chain.pem"
    chain.write_text(cert.read_text() + tls_material.ca_cert.read_text())
    return {"ee": (tls_material.cert, tls_material.key), "ta": (chain, key)}


@pytest.fixture(scope="module")
def signed(tls_material, tmp_path_factory):
    """dane.example., signed: one domain per case, each with its own MX host and address."""
    ee = tlsa_hex(tls_material.cert, selector=1, mtype=1)
    ca = tlsa_hex(tls_material.ca_cert, selector=0, mtype=1)
    records = [
        # good: DANE-EE(3) SPKI SHA-256 of the sink's certificate
        "good.dane.example. MX 10 mx.dane.example.",
        "mx.dane.example. A 127.0.0.2",
        f"_25._tcp.mx.dane.example. TLSA 3 1 1 {ee}",
        # wrong: a digest matching nothing
        "wrong.dane.example. MX 10 mxw.dane.example.",
        "mxw.dane.example. A 127.0.0.3",
        f"_25._tcp.mxw.dane.example. TLSA 3 1 1 {WRONG}",
        # ta: DANE-TA(2), the test CA's certificate, SHA-256
        "ta.dane.example. MX 10 mxta.dane.example.",
        "mxta.dane.example. A 127.0.0.4",
        f"_25._tcp.mxta.dane.example. TLSA 2 0 1 {ca}",
        # pkix: PKIX-EE(1) only, unusable for SMTP: TLS required, not authenticated
        "pkix.dane.example. MX 10 mxp.dane.example.",
        "mxp.dane.example. A 127.0.0.5",
        f"_25._tcp.mxp.dane.example. TLSA 1 1 1 {WRONG}",
        # notls: a TLSA record and a server without STARTTLS
        "notls.dane.example. MX 10 mxn.dane.example.",
        "mxn.dane.example. A 127.0.0.6",
        f"_25._tcp.mxn.dane.example. TLSA 3 1 1 {ee}",
        # notlsa: signed, no TLSA (its absence proven by NSEC): no DANE
        "notlsa.dane.example. MX 10 mxz.dane.example.",
        "mxz.dane.example. A 127.0.0.7",
        # bogus: its TLSA record is changed after signing (below)
        "bogus.dane.example. MX 10 mxb.dane.example.",
        "mxb.dane.example. A 127.0.0.9",
        f"_25._tcp.mxb.dane.example. TLSA 3 1 1 {SIGNED}",
    ]
    zone = sign_zone(tmp_path_factory.mktemp("dane-zone"), "dane.example.", records)
    assert zone.text.count(SIGNED) == 1
    return dataclasses.replace(zone, text=zone.text.replace(SIGNED, TAMPERED))


@pytest.fixture(scope="module")
def dns_server(signed, tmp_path_factory):
    """This module's nsd: the base test zone and the signed dane.example."""
    plain = {"plain.example.": ["plain.example. MX 10 mx.plain.example.",
                                "mx.plain.example. A 127.0.0.2"]}
    server = SignedDnsServer(tmp_path_factory.mktemp("nsd-dane"), [signed], plain).start()
    yield server
    server.stop()


def dane_on(mta, anchor, extra=""):
    path = mta.root / "config" / "dane.ds"
    path.write_text(anchor + "\n")
    mta.write_config("tls.ini", f"[outbound]\ndane=true\ndane_trust_anchor={path}\n{extra}")


def test_dane_ee_match_delivers_over_verified_tls(mta, smtp_sink, dane_certs, signed):
    sink = smtp_sink("127.0.0.2", tls=dane_certs["ee"])
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@good.dane.example"])
    assert sink.wait_for_messages(1)[0].tls
    line = mta.wait_for_log(r"DANE: verified 127\.0\.0\.2:25 \(mx\.dane\.example\) by TLSA 3 1 1")
    assert line
    mta.wait_for_log(r"secured: \S+ \S+ verified=dane")
    mta.wait_for_log(r"tls-report policy=tlsa domain=good\.dane\.example result=success")
    assert "tls=Y" in mta.wait_for_log(r"delivered .*").group(0)
    wait_empty(mta)


def test_dane_wrong_tlsa_defers_and_delivers_nothing(mta, smtp_sink, dane_certs, signed):
    sink = smtp_sink("127.0.0.3", tls=dane_certs["ee"])
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@wrong.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "DANE: no TLSA record matched the server certificate" in fields["last_error"]
    mta.wait_for_log(r"tls-report policy=tlsa domain=wrong\.dane\.example "
                     r"result=validation-failure")
    time.sleep(0.5)
    assert not sink.messages()


def test_dane_ta_chain_delivers(mta, smtp_sink, dane_certs, signed):
    sink = smtp_sink("127.0.0.4", tls=dane_certs["ta"])
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@ta.dane.example"])
    assert sink.wait_for_messages(1)[0].tls
    mta.wait_for_log(r"DANE: verified 127\.0\.0\.4:25 \(mxta\.dane\.example\) by TLSA 2 0 1 "
                     r"at depth 1")
    wait_empty(mta)


def test_dane_ta_wrong_name_defers(mta, smtp_sink, dane_certs, signed, tls_material):
    # The chain ends at the TLSA's CA but the certificate does not name mxta.dane.example.
    cert, key = tls_material.issue("dane-ta-other", ["other.dane.example"])
    chain = cert.parent / "dane-ta-other-chain.pem"
    chain.write_text(cert.read_text() + tls_material.ca_cert.read_text())
    sink = smtp_sink("127.0.0.4", tls=(chain, key))
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@ta.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "DANE: " in fields["last_error"]
    assert not sink.messages()


def test_dane_without_starttls_defers(mta, smtp_sink, signed):
    sink = smtp_sink("127.0.0.6")
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@notls.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "No TLS available" in fields["last_error"]
    mta.wait_for_log(r"tls-report policy=tlsa domain=notls\.dane\.example "
                     r"result=starttls-not-supported")
    assert not sink.messages()


def test_dane_unusable_tlsa_requires_tls_without_authentication(mta, smtp_sink, dane_certs,
                                                                  signed):
    sink = smtp_sink("127.0.0.5", tls=dane_certs["ee"])
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@pkix.dane.example"])
    assert sink.wait_for_messages(1)[0].tls
    mta.wait_for_log(r"TLSA records of mxp\.dane\.example unusable; encrypted without "
                     r"authentication")
    wait_empty(mta)


def test_dane_bogus_answers_defer(mta, smtp_sink, dane_certs, signed, tmp_path):
    # A trust anchor that is not dane.example.'s key: every answer in the zone is bogus.
    other = make_key(tmp_path, "dane.example.")
    sink = smtp_sink("127.0.0.2", tls=dane_certs["ee"])
    dane_on(mta, (tmp_path / f"{other}.ds").read_text().strip())
    mta.start()
    send(mta, ["ok-1@good.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "DANE: the MX records of good.dane.example failed DNSSEC validation" \
        in fields["last_error"]
    mta.wait_for_log(r"result=dnssec-invalid")
    assert not sink.messages()


def test_dane_bogus_tlsa_defers(mta, smtp_sink, dane_certs, signed):
    sink = smtp_sink("127.0.0.9", tls=dane_certs["ee"])
    dane_on(mta, signed.ds)
    mta.start()
    send(mta, ["ok-1@bogus.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "DANE: the TLSA records of _25._tcp.mxb.dane.example failed DNSSEC validation" \
        in fields["last_error"]
    time.sleep(0.5)
    assert not sink.messages() and not sink.sessions()


@pytest.mark.parametrize("domain", ["plain.example", "single.test"])
def test_unsigned_domain_delivers_as_before(mta, smtp_sink, signed, domain):
    # plain.example: an unsigned zone; single.test (→ mx1.test): test. is one of the
    # resolver's local zones (RFC 6761), insecure too. The sink offers no STARTTLS.
    sink = smtp_sink("127.0.0.2")
    dane_on(mta, signed.ds)
    mta.write_config("loglevel", "DEBUG\n")
    mta.start()
    send(mta, [f"ok-1@{domain}"])
    got = sink.wait_for_messages(1)[0]
    assert not got.tls
    mta.wait_for_log(rf"DANE does not apply to mx\S*: the MX records of {domain} are not "
                     rf"signed")
    wait_empty(mta)


def test_signed_domain_without_tlsa_delivers_as_before(mta, smtp_sink, signed):
    sink = smtp_sink("127.0.0.7")
    dane_on(mta, signed.ds)
    mta.write_config("loglevel", "DEBUG\n")
    mta.start()
    send(mta, ["ok-1@notlsa.dane.example"])
    assert not sink.wait_for_messages(1)[0].tls
    mta.wait_for_log(r"DANE does not apply to mxz\.dane\.example: mxz\.dane\.example has no "
                     r"TLSA record")
    wait_empty(mta)


def test_dane_resolvers_key_and_an_unreachable_resolver_defers(mta, smtp_sink, dane_certs,
                                                                 signed):
    # dane_resolvers names a port nothing listens on: no validated answer, so the signed
    # domain's mail waits; it never goes out unverified.
    sink = smtp_sink("127.0.0.2", tls=dane_certs["ee"])
    dane_on(mta, signed.ds, f"dane_resolvers=127.0.0.1@{free_port('127.0.0.1', udp=True)}\n")
    mta.start()
    started = time.monotonic()
    send(mta, ["ok-1@good.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1), timeout=45)
    assert "DANE: " in fields["last_error"], fields["last_error"]
    print(f"deferred after {time.monotonic() - started:.1f}s: {fields['last_error']}")
    assert not sink.messages()


def test_dane_off_ignores_tlsa(mta, smtp_sink, dane_certs):
    sink = smtp_sink("127.0.0.3", tls=dane_certs["ee"])
    mta.write_config("tls.ini", "[outbound]\ndane=false\n")
    mta.start()
    send(mta, ["ok-1@wrong.dane.example"])
    assert sink.wait_for_messages(1)[0].tls
    wait_empty(mta)
    assert not any("DANE" in line for line in mta.lines())


def test_pooled_pkix_connection_does_not_carry_dane_mail(mta, smtp_sink, dane_certs, signed,
                                                         tls_material, dns_records):
    # mx2.test and mxw.dane.example share 127.0.0.3 and, by shaping.ini, one destination
    # (so one pool of idle connections); 127.0.0.3 is a forced-TLS host verified by the CA.
    # Its idle connection must not carry mail whose TLSA record matches nothing.
    dns_records(["pool.test. MX 10 mx2.test."])
    mta.write_config("shaping.ini", "[mx:mx2.test,mxw.dane.example]\nmax_connections=5\n")
    sink = smtp_sink("127.0.0.3", tls=dane_certs["ee"])
    dane_on(mta, signed.ds, f"force_tls_hosts=127.0.0.3\nca={tls_material.ca_cert}\n")
    mta.start()
    # One session: with smtp.ini nodes, one worker and so one pool of connections.
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        send_on(c, ["ok-1@pool.test"])
        sink.wait_for_messages(1)
        wait_empty(mta)
        send_on(c, ["ok-2@wrong.dane.example"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "DANE: no TLSA record matched" in fields["last_error"]
    time.sleep(0.5)
    assert [m.rcpt_tos for m in sink.messages()] == [("ok-1@pool.test",)]


def test_unreadable_trust_anchor_is_a_config_error(daemon):
    daemon.write_config("tls.ini", "[outbound]\ndane=true\ndane_trust_anchor=/nonexistent.ds\n")
    rc, _, err = run_outpost("-c", daemon.root, timeout=30)
    assert rc != 0      # tls.ini's outbound errors stop the start (exit 1, as `ca=`)
    assert err == ("outpost: config/tls.ini:3: dane_trust_anchor: cannot read /nonexistent.ds: "
                   "No such file or directory\n")
