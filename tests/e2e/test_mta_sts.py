"""MTA-STS (RFC 8461) end to end: the test DNS server publishes `_mta-sts.<domain>` TXT, the
policy host's address and the MX records; a test HTTPS server (certificate from the test CA)
serves the policy on 127.0.0.21:443; the sinks do STARTTLS with certificates from the same CA.
Enforce mode delivers only to matching MX hosts over verified TLS and defers otherwise;
testing mode delivers and logs; `mta_sts=false` ignores policies; a domain without a policy
is delivered as before. The TLS-RPT counters are read from the log."""
import http.server
import re
import ssl
import threading

import pytest

from harness.clients import smtp_client
from test_delivery import deferred, send, send_on, wait_empty, wait_entry

POLICY_IP = "127.0.0.21"
DOMAIN = "sts.test"


def policy(mode="enforce", mx=("mx1.test",), max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx]
    return "\r\n".join(lines + [f"max_age: {max_age}", ""])


class PolicyServer:
    """HTTPS on POLICY_IP:443: /.well-known/mta-sts.txt answers `text` (404 when None)."""

    def __init__(self, cert, key):
        self.text = None
        self.redirect = None        # a Location to answer 301 with
        self.requests = []          # (Host header, path)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.headers.get("Host"), self.path))
                if outer.redirect is not None:
                    self.send_response(301)
                    self.send_header("Location", outer.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != "/.well-known/mta-sts.txt" or outer.text is None:
                    self.send_error(404)
                    return
                body = outer.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((POLICY_IP, 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def policy_server(tls_material):
    cert, key = tls_material.issue("mta-sts", [f"mta-sts.{DOMAIN}"])
    try:
        server = PolicyServer(cert, key)
    except OSError as e:
        pytest.fail(f"cannot start the test HTTPS server on {POLICY_IP}:443: {e}")
    yield server
    server.stop()


def records(mxs=("mx1.test",), txt="v=STSv1; id=1"):
    out = [f"{DOMAIN}. MX {10 * (i + 1)} {m}." for i, m in enumerate(mxs)]
    out.append(f"mta-sts.{DOMAIN}. A {POLICY_IP}")
    if txt is not None:
        out.append(f'_mta-sts.{DOMAIN}. TXT "{txt}"')
    return out


def tls_ini(tls_material, extra=""):
    return f"[outbound]\nca={tls_material.ca_cert}\n{extra}"


def test_enforce_delivers_only_to_matching_mx_over_verified_tls(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    # mx1 (preference 10) is not in the policy; mx2 (20) is.
    dns_records(records(mxs=("mx1.test", "mx2.test")))
    policy_server.text = policy(mx=("mx2.test",))
    mx1 = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    mx2 = smtp_sink("127.0.0.3", tls=(tls_material.cert, tls_material.key))
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    # Both messages over one session: with smtp.ini nodes, one worker queues and
    # delivers both, and the policy cache and TLS-RPT counters are that worker's.
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        send_on(c, [f"ok-1@{DOMAIN}"])
        got = mx2.wait_for_messages(1)[0]
        assert got.tls
        wait_empty(mta)
        assert not mx1.messages() and not mx1.sessions()
        assert policy_server.requests == [(f"mta-sts.{DOMAIN}", "/.well-known/mta-sts.txt")]
        mta.wait_for_log(rf"MTA-STS policy of {DOMAIN}: id 1, mode enforce")
        mta.wait_for_log(r"MX mx1\.test not in the policy; skipped")
        mta.wait_for_log(r"secured: .* verified=yes to .*127\.0\.0\.3")
        # A second message uses the cached policy (the id did not change): no new fetch.
        send_on(c, [f"ok-2@{DOMAIN}"])
    mx2.wait_for_messages(2)
    assert len(policy_server.requests) == 1
    mta.stop()
    assert any(f"TLS-RPT sts policy of {DOMAIN}: successful=2 failed=0" in line
               for line in mta.lines())
    cache = (mta.root / "run" / "mta-sts.tsv").read_text()
    assert re.search(rf"^{DOMAIN}\t1\t\d+\tenforce\t86400\tmx2\.test$", cache, re.M), cache


def test_enforce_with_no_matching_mx_defers(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("*.elsewhere.test",))
    sink = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert f"MTA-STS policy of {DOMAIN}: no MX host matches" in fields["last_error"]
    assert not sink.messages() and not sink.sessions()
    mta.wait_for_log(rf"TLS-RPT sts policy of {DOMAIN}: validation-failure "
                     r"\(successful=0 failed=1 validation-failure=1\)")


def test_enforce_with_a_certificate_for_another_name_defers(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("mx1.test",))
    cert, key = tls_material.issue("wrong", ["wrong.test"])
    sink = smtp_sink("127.0.0.2", tls=(cert, key))
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "MTA-STS: certificate verification failed" in fields["last_error"]
    assert "hostname mismatch" in fields["last_error"]
    assert not sink.messages()
    mta.wait_for_log(rf"TLS-RPT sts policy of {DOMAIN}: certificate-host-mismatch")


def test_enforce_without_starttls_defers(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("mx1.test",))
    sink = smtp_sink("127.0.0.2")
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert "MTA-STS: mx1.test does not offer STARTTLS" in fields["last_error"]
    assert not sink.messages()
    mta.wait_for_log(rf"TLS-RPT sts policy of {DOMAIN}: starttls-not-supported")


def test_testing_mode_delivers_and_logs(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mode="testing", mx=("mx9.test",))
    sink = smtp_sink("127.0.0.2")               # no TLS at all
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    sink.wait_for_messages(1)
    wait_empty(mta)
    mta.wait_for_log(rf"MTA-STS policy of {DOMAIN} \(testing\): MX mx1\.test not in the "
                     r"policy; delivering anyway")
    mta.wait_for_log(rf"TLS-RPT sts policy of {DOMAIN}: validation-failure")


def test_mta_sts_off_ignores_the_policy(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("mx9.test",))
    sink = smtp_sink("127.0.0.2")
    mta.write_config("tls.ini", tls_ini(tls_material, "mta_sts=false\n"))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    sink.wait_for_messages(1)
    wait_empty(mta)
    assert policy_server.requests == []
    assert not any("MTA-STS" in line for line in mta.lines())


def test_no_policy_delivers_as_before(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",), txt=None))
    policy_server.text = policy(mx=("mx9.test",))   # published, but no TXT record
    sink = smtp_sink("127.0.0.2")
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    sink.wait_for_messages(1)
    wait_empty(mta)
    assert policy_server.requests == []


def test_fetch_failure_without_a_cached_policy_delivers(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = None                       # 404
    sink = smtp_sink("127.0.0.2")
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    sink.wait_for_messages(1)
    wait_empty(mta)
    mta.wait_for_log(rf"MTA-STS policy of {DOMAIN}: fetching the policy failed: HTTP status "
                     r"404; no policy applied")
    mta.wait_for_log(rf"TLS-RPT sts policy of {DOMAIN}: sts-policy-fetch-error")


@pytest.mark.parametrize("text, redirect, logged", [
    ("version: STSv1\r\nmode: enforce\r\nmax_age: 600\r\n", None,
     r"the policy is invalid: no mx; no policy applied"),
    (None, "https://mta-sts.sts.test/elsewhere.txt",
     r"fetching the policy failed: HTTP status 301"),
], ids=["invalid", "redirect"])
def test_bad_policy_is_not_applied(mta, smtp_sink, tls_material, policy_server, dns_records,
                                   text, redirect, logged):
    # An enforce policy listing no MX, or a redirect (RFC 8461 3.3: never followed).
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = text
    policy_server.redirect = redirect
    sink = smtp_sink("127.0.0.2")
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    sink.wait_for_messages(1)
    wait_empty(mta)
    mta.wait_for_log(logged)
    assert policy_server.requests == [(f"mta-sts.{DOMAIN}", "/.well-known/mta-sts.txt")]


def test_policy_server_with_an_untrusted_certificate_is_not_believed(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    # Without the test CA the HTTPS certificate does not verify: no policy, delivered.
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("mx9.test",))
    sink = smtp_sink("127.0.0.2")
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    sink.wait_for_messages(1)
    wait_empty(mta)
    mta.wait_for_log(rf"TLS-RPT sts policy of {DOMAIN}: sts-webpki-invalid")


def test_cached_policy_survives_a_restart(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("mx1.test",))
    mx1 = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.start()
    send(mta, [f"ok-1@{DOMAIN}"])
    mx1.wait_for_messages(1)
    wait_empty(mta)
    mta.stop()
    # The domain moves to mx2 and the policy host goes away: the cached policy (mx1 only)
    # still holds after the restart, so nothing goes to mx2.
    dns_records(records(mxs=("mx2.test",)))
    policy_server.text = None
    mx2 = smtp_sink("127.0.0.3", tls=(tls_material.cert, tls_material.key))
    mta.start()
    send(mta, [f"ok-2@{DOMAIN}"])
    _, (fields, _, _) = wait_entry(mta, deferred(1))
    assert f"MTA-STS policy of {DOMAIN}: no MX host matches" in fields["last_error"]
    assert not mx2.messages()


def test_pooled_unverified_connection_does_not_carry_enforced_mail(
        mta, smtp_sink, tls_material, policy_server, dns_records):
    # single.test and sts.test share mx1, one shaping destination (so one pool of idle
    # connections). single.test's mail leaves an idle connection (TLS without a required
    # name check) in the pool; sts.test's (enforce) must open its own.
    dns_records(records(mxs=("mx1.test",)))
    policy_server.text = policy(mx=("mx1.test",))
    sink = smtp_sink("127.0.0.2", tls=(tls_material.cert, tls_material.key))
    mta.write_config("tls.ini", tls_ini(tls_material))
    mta.write_config("shaping.ini", "[mx:mx1.test]\nmax_connections=5\n")
    mta.start()
    # One session: with smtp.ini nodes, one worker and so one pool of connections.
    with smtp_client(mta.host, mta.port) as c:
        c.ehlo()
        send_on(c, ["ok-1@single.test"])
        sink.wait_for_messages(1)
        wait_empty(mta)
        send_on(c, ["ok-2@single.test"])            # the idle connection is reused
        sink.wait_for_messages(2)
        assert sink.count("connections") == 1
        send_on(c, [f"ok-3@{DOMAIN}"])
        sink.wait_for_messages(3)
        wait_empty(mta)
        assert sink.count("connections") == 2
        assert sink.messages()[2].tls
        # The enforced connection is pooled in turn and carries sts.test's next mail.
        send_on(c, [f"ok-4@{DOMAIN}"])
    sink.wait_for_messages(4)
    assert sink.count("connections") == 2
