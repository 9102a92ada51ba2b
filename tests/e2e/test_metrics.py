"""Prometheus metrics and the status page (issue 17, items 4 and 5), on the admin listener.

- /metrics passes `promtool check metrics` (Debian's prometheus), and its counters follow the
  mail: received, delivered by destination, deferred, bounced by destination and category.
- a real Prometheus server, scraping Outpost with the bearer token, sees the delivered counter
  move.
- the status page in headless Chromium (chromium-driver, python3-selenium): no console
  error, the destinations table shows the test's queued destination, the four charts render
  with a line each, and the latest deferral and bounce are listed with their category.
"""
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

from harness.util import free_port
from test_delivery import dsn_sink, send, wait_empty  # noqa: F401 (a fixture)

TOKEN = "metrics-token-0123456789"


def admin(mta, extra=""):
    port = free_port()
    mta.write_config("admin.token", TOKEN + "\n")
    mta.write_config("http.ini", f"listen=127.0.0.1:{port}\ntoken_file=admin.token\n{extra}")
    return port


def get(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers, r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels = frozenset(tuple(kv.split("=", 1)) for kv in rest.rstrip("}").split(",")
                           if kv) if rest else frozenset()
        out[(name, labels)] = float(value)
    return out


def value(text, name, **labels):
    want = frozenset((k, f'"{v}"') for k, v in labels.items())
    return samples(text).get((name, want), 0.0)


def test_metrics_follow_the_mail_and_pass_promtool(mta, smtp_sink, dsn_sink):
    smtp_sink("127.0.0.2")
    port = admin(mta)
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    mta.start()
    send(mta, ["ok-1@single.test", "ok-2@single.test"])
    send(mta, ["hard-1@single.test"])
    send(mta, ["soft-1@single.test"])
    dsn_sink.wait_for_messages(1, timeout=15)
    deadline = time.monotonic() + 15
    while True:
        status, headers, text = get(port, "/metrics")
        # The deferred event is counted before its entry is back in the queue, waiting; the
        # bounced entry leaves the queue once its observers answered, after its DSN.
        if value(text, "outpost_deferred_recipients_total", destination="single.test") >= 1 \
                and value(text, "outpost_queue_entries", state="waiting") == 1 \
                and value(text, "outpost_queue_entries", state="running") == 0:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert value(text, "outpost_received_messages_total") >= 3
    assert value(text, "outpost_received_recipients_total") >= 4
    assert value(text, "outpost_delivered_recipients_total", destination="single.test") == 2
    assert value(text, "outpost_bounced_recipients_total", destination="single.test",
                 category="bad-mailbox") == 1
    assert value(text, "outpost_delivery_delay_seconds_count") >= 2
    assert value(text, "outpost_dns_lookup_duration_seconds_count") >= 1
    assert value(text, "outpost_outbound_connections_total") >= 1
    assert value(text, "outpost_inbound_connections_total") >= 3
    assert value(text, "outpost_queue_entries", state="waiting") == 1   # the deferred one
    assert value(text, "outpost_queue_recipients") == 1
    assert value(text, "outpost_filesystem_free_bytes", filesystem="queue") > 0
    assert shutil.which("promtool"), "promtool (Debian package prometheus) is missing"
    check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_a_prometheus_server_scrapes_outpost(mta, smtp_sink, tmp_path):
    prom = shutil.which("prometheus")
    assert prom, "prometheus (Debian package prometheus) is missing"
    smtp_sink("127.0.0.2")
    port = admin(mta)
    mta.start()
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: outpost
    authorization:
      credentials_file: {tmp_path / 'token'}
    static_configs:
      - targets: ['127.0.0.1:{port}']
""")
    web = free_port()
    proc = subprocess.Popen([prom, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prom.log", "wb"))
    try:
        def query(q):
            url = f"http://127.0.0.1:{web}/api/v1/query?query=" + urllib.parse.quote(q)
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.loads(r.read())["data"]["result"]
            except OSError:
                return None
            return float(res[0]["value"][1]) if res else None

        def wait(q, pred, what):
            deadline = time.monotonic() + 60
            while True:
                v = query(q)
                if v is not None and pred(v):
                    return v
                assert proc.poll() is None, (tmp_path / "prom.log").read_text()
                assert time.monotonic() < deadline, \
                    f"{what}: {v}\n" + (tmp_path / "prom.log").read_text()[-2000:]
                time.sleep(0.5)

        wait('up{job="outpost"}', lambda v: v == 1, "target up")
        before = wait("sum(outpost_delivered_recipients_total) or vector(0)",
                      lambda v: v == 0, "delivered before")
        send(mta, ["ok-1@single.test"])
        wait_empty(mta)
        after = wait("sum(outpost_delivered_recipients_total)", lambda v: v >= 1,
                     "delivered after")
        assert after - before == 1
    finally:
        proc.terminate()
        proc.wait(20)


def test_status_page_in_headless_chromium(mta, smtp_sink, dsn_sink):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    assert shutil.which("chromedriver"), "chromedriver (Debian chromium-driver) is missing"
    sink = smtp_sink("127.0.0.2")
    sink.fail("rcpt", "451 4.3.0 Local problem")
    port = admin(mta)
    mta.write_config("outbound.ini", "temp_fail_intervals=1h\n")
    mta.start()
    send(mta, ["ok-1@single.test"])      # deferred: stays queued
    send(mta, ["someone@nullmx.test"])   # bounced at once: a null MX
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        driver.set_page_load_timeout(30)
        driver.get(f"http://127.0.0.1:{port}/?token={TOKEN}")
        wait = WebDriverWait(driver, 30, poll_frequency=0.5)
        wait.until(lambda d: "single.test" in d.find_element(By.ID, "dests").text)
        wait.until(lambda d: "someone@nullmx.test" in d.find_element(By.ID, "recent").text)
        recent = {r.find_elements(By.TAG_NAME, "td")[2].text:
                  [c.text for c in r.find_elements(By.TAG_NAME, "td")]
                  for r in driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr")}
        assert recent["someone@nullmx.test"][1] == "bounced"
        assert recent["someone@nullmx.test"][3] == "bad-domain"
        assert recent["ok-1@single.test"][1] == "deferred"
        rows = driver.find_elements(By.CSS_SELECTOR, "#dests tbody tr")
        dest = [r.text for r in rows if r.text.startswith("single.test")][0]
        assert " normal " in f" {dest} "
        charts = driver.find_elements(By.CSS_SELECTOR, "#charts svg")
        assert sorted(c.get_attribute("data-series") for c in charts) == \
            ["bounced", "deferred", "delivered", "received"]
        for c in charts:
            line = c.find_element(By.TAG_NAME, "polyline")
            assert line.get_attribute("points").strip(), c.get_attribute("data-series")
            assert c.size["width"] > 0 and c.size["height"] > 0
        # The page polls again with its cookie (no token in the URL any more).
        driver.execute_script("return poll();")
        time.sleep(1)
        assert driver.find_element(By.ID, "err").text == ""
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
    finally:
        driver.quit()


def test_feedback_metrics(mta, smtp_sink):
    """Feedback mail read (by result) and remote bounces / complaints by category."""
    import test_feedback as fb
    fb.configure(mta, records=False)
    port = admin(mta)
    sink = smtp_sink("127.0.0.2")
    mta.start()
    fb.submit(mta)
    sink.wait_for_messages(1, timeout=20)
    verp = sink.messages()[0].mail_from
    fb.mail_back(mta, verp, fb.dsn(verp, fb.RCPT, "orig-1@example.org"))
    fb.mail_back(mta, f"fbl@{fb.BOUNCE_DOMAIN}", fb.arf(verp, fb.RCPT, "orig-1@example.org"),
                 sender="abuse@mailbox.example")
    fb.mail_back(mta, verp, b"From: <x@y.example>\r\nSubject: hi\r\n\r\nJust a note.\r\n",
                 sender="x@y.example")
    deadline = time.monotonic() + 20
    while True:
        _, _, text = get(port, "/metrics")
        if sum(value(text, "outpost_feedback_reports_total", result=r)
               for r in ("events", "none", "quarantined")) >= 3:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    assert value(text, "outpost_feedback_reports_total", result="events") == 2
    assert value(text, "outpost_feedback_reports_total", result="quarantined") == 1
    assert value(text, "outpost_feedback_reports_total", result="none") == 0
    assert value(text, "outpost_feedback_events_total", type="remote_bounce",
                 category="bad-mailbox") == 1
    assert value(text, "outpost_feedback_events_total", type="complaint",
                 category="abuse") == 1
    check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
