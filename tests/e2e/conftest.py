"""Fixtures of the end-to-end tests: DNS server, SMTP sinks, TLS material, the Outpost daemon.

A failed test gets the daemon's output and the sinks' transcripts appended to its report.
"""
import pytest

from harness.daemon import TEST_NODES, Daemon, outpost_binary
from harness.dns import DnsServer
from harness.sink import SmtpSink
from harness.tlsutil import make_tls_material

_REPORTS = pytest.StashKey[list]()


def _attach_report(request, title, produce):
    """Have produce() -> str printed under title if this test fails."""
    request.node.stash.setdefault(_REPORTS, []).append((title, produce))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for title, produce in item.stash.get(_REPORTS, []):
            report.sections.append((f"{title} ({report.when})", produce()))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "single_process(reason): a test of the single process only; with "
        "OUTPOST_TEST_NODES > 1 it is skipped and the reason printed (-rs)")


def pytest_collection_modifyitems(config, items):
    if TEST_NODES <= 1:
        return
    for item in items:
        mark = item.get_closest_marker("single_process")
        if mark is not None:
            item.add_marker(pytest.mark.skip(reason=f"nodes={TEST_NODES}: {mark.args[0]}"))


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    """nsd serving the test zone on 127.0.0.1:<free port>, for the whole session."""
    server = DnsServer(tmp_path_factory.mktemp("nsd")).start()
    yield server
    server.stop()


@pytest.fixture
def dns_records(dns_server):
    """set(records=(), zones=None): extra records/zones on the session's DNS server for this
    test; the base zone is restored afterwards."""
    changed = []

    def set_records(records=(), zones=None):
        changed.append(True)
        dns_server.set_records(records, zones)
        return dns_server

    yield set_records
    if changed:
        dns_server.set_records()


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory):
    """A test CA and a server certificate for the MX names and loopback addresses."""
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_sink(request):
    """Factory: smtp_sink(host, port=25, **options) -> a started SmtpSink; all are stopped
    (and checked for sink errors) at teardown."""
    sinks = []

    def start(host, port=25, **options):
        sink = SmtpSink(host, port, **options)
        sink.start()
        sinks.append(sink)
        _attach_report(request, f"sink {sink.address}", sink.describe)
        return sink

    yield start
    problems = []
    for sink in sinks:
        try:
            sink.stop()
        except Exception as error:  # keep stopping the others
            problems.append(f"sink {sink.address} did not stop: {error!r}")
        problems += sink.errors()
    assert not problems, "\n".join(problems)


def _daemon(request, root, dns_server, delivery):
    outpost_binary()
    outpost = Daemon(root, delivery=delivery)
    outpost.init(dns=dns_server.servers)
    _attach_report(request, "outpost output", outpost.tail)
    yield outpost
    try:
        outpost.stop()
    finally:
        outpost.check_sanitizers()


@pytest.fixture
def daemon(request, tmp_path, dns_server):
    """A Daemon on a fresh ROOT (`outpost -i` done), not started, delivery disabled. At
    teardown it is stopped if running and its output checked for sanitizer reports."""
    yield from _daemon(request, tmp_path / "outpost", dns_server, delivery=False)


@pytest.fixture
def mta(request, tmp_path, dns_server):
    """Like daemon, with delivery on: MX lookups go to the test DNS server and loopback MX
    addresses (the sinks) are allowed."""
    yield from _daemon(request, tmp_path / "outpost", dns_server, delivery=True)
