"""End-to-end: the command line, configuration errors, start and stop, signals, the three
log formats, configuration reloads, and external plugins on the log and reopen hooks."""
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

from harness.daemon import REPO, outpost_binary, outpost_env, run_outpost

DEFAULT_FILES = ["plugins", "smtp.ini", "log.ini", "outbound.ini", "me", "connection.ini",
                 "relay.ini", "relay_acl_allow", "tls.ini", "auth_flat_file.ini",
                 "outbound.bounce_message", "net-utils.ini", "smtp_forward.ini",
                 "outbound_logger.ini", "accounting_files.ini", "bounce_categories",
                 "shaping.ini", "shaping_rules", "pools.ini", "http.ini", "dkim.ini",
                 "mail_from.is_resolvable.ini", "suppression.ini", "cluster.ini",
                 "feedback.ini", "amqp_events.ini"]
LOG_CAPTURE_SO = REPO / "build" / "asan" / "tests" / "plugins" / "log_capture.so"

DEFAULT_RE = re.compile(r"^\[(DATA|PROTOCOL|DEBUG|INFO|NOTICE|WARN|ERROR|CRIT|ALERT|EMERG)\] "
                        r"\[[^\]]+\] \[[^\]]+\] ")
LOGFMT_RE = re.compile(r'^level=[A-Z]+ uuid=\S+ source=\S+ message=("(?:[^"\\]|\\.)*"|\S+)')
ISO_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


# --- command line ------------------------------------------------------------------------

def test_help_and_version():
    rc, out, err = run_outpost("--help")
    assert rc == 0 and err == ""
    assert "outpost -c ROOT" in out and "outpost -i ROOT" in out
    rc, out, _ = run_outpost("-h")
    assert rc == 0 and "usage:" in out
    rc, out, err = run_outpost("--version")
    assert rc == 0 and err == ""
    assert re.fullmatch(r"outpost \d+\.\d+\.\d+\n", out)


@pytest.mark.parametrize("args, message", [
    ((), "give exactly one of -c ROOT or -i ROOT"),
    (("-c", "/a", "-i", "/b"), "give exactly one of -c ROOT or -i ROOT"),
    (("-x",), "unknown option -x"),
    (("--bogus",), "unknown option --bogus"),
    (("-c",), "option -c needs a ROOT directory"),
    (("-c", "/a", "extra"), "unexpected argument 'extra'"),
])
def test_usage_errors(args, message):
    rc, out, err = run_outpost(*args)
    assert rc == 64
    assert out == ""
    assert err.splitlines()[0] == f"outpost: {message}"


def test_init_creates_root_with_every_default_file(tmp_path):
    root = tmp_path / "deep" / "er" / "root"
    rc, out, err = run_outpost("-i", root)
    assert rc == 0, err
    config = root / "config"
    assert sorted(p.name for p in config.iterdir()) == sorted(DEFAULT_FILES)
    assert (config / "me").read_text().strip() == os.uname().nodename
    smtp = (config / "smtp.ini").read_text()
    assert "listen=127.0.0.1:2525" in smtp.splitlines()
    # Every key of outbound.ini is documented with its default.
    outbound = (config / "outbound.ini").read_text()
    for key in ["disabled", "concurrency_max", "enable_tls", "maxTempFailures",
                "temp_fail_intervals", "always_split", "received_header", "connect_timeout",
                "local_mx_ok", "inet_prefer"]:
        assert re.search(rf"^;{key}=", outbound, re.M), key
    # So is every key of the recording plugins'.
    for name, keys in (("outbound_logger.ini", ["stop_at_bounce", "enable", "log_dir",
                                                "filename", "sync"]),
                       ("accounting_files.ini", ["path", "extension", "separator", "archiving",
                                                 "archive_interval", "max_size", "sync",
                                                 "delivered", "deferred", "bounce"])):
        text = (config / name).read_text()
        for key in keys:
            assert re.search(rf"^;{key}=", text, re.M), (name, key)

    # A second -i refuses and changes nothing.
    (config / "log.ini").write_text("level=debug\n")
    rc, out, err = run_outpost("-i", root)
    assert rc == 73
    assert "already exists; refusing to overwrite it" in err
    assert (config / "log.ini").read_text() == "level=debug\n"


def test_missing_root(tmp_path):
    rc, _, err = run_outpost("-c", tmp_path / "nope")
    assert rc == 66
    assert err == f"outpost: {tmp_path / 'nope'}: No such file or directory\n"
    rc, _, err = run_outpost("-c", tmp_path)
    assert rc == 66
    assert f"{tmp_path}/config: No such file or directory" in err
    assert "outpost -i" in err


@pytest.mark.parametrize("name, text, message", [
    ("outbound.ini", "; comment\nconcurrency_max=abc\n",
     "config/outbound.ini:2: concurrency_max: expected a whole number from 0 to 1000000, "
     "got 'abc'"),
    ("outbound.ini", "connect_timeout=-3\n",
     "config/outbound.ini:1: connect_timeout: expected seconds from 0 to 3600, got '-3'"),
    ("smtp.ini", "listen=127.0.0.1:99999\n",
     "config/smtp.ini:1: listen: '127.0.0.1:99999' is not an address:port "
     "(IPv6 as [addr]:port)"),
    ("plugins", "nosuch\n",
     "config/plugins: unknown plugin 'nosuch' (not built in, and no {root}/plugins/nosuch.so)"),
    ("plugins", "../evil\n", "config/plugins: invalid plugin name '../evil'"),
])
def test_bad_config_is_one_clear_line(daemon, name, text, message):
    daemon.write_config(name, text)
    rc, out, err = run_outpost("-c", daemon.root, timeout=30)
    assert rc == 78
    assert err == "outpost: " + message.format(root=daemon.root) + "\n"


# --- running -----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_start_and_stop(daemon, sig):
    daemon.start()
    daemon.signal(sig)
    assert daemon.proc.wait(20) == 0
    out = daemon.output()
    assert f"[NOTICE] [-] [core] Starting outpost 0.1.0 pid={daemon.pid} root={daemon.root}" \
        in out
    lines = out.splitlines()
    workers = daemon.workers()
    assert lines.count(f"[NOTICE] [-] [core] {sig.name}: shutting down") == workers
    assert lines.count("[NOTICE] [-] [core] stopped") == workers
    if workers == 1:
        assert lines[-1] == "[NOTICE] [-] [core] stopped"
    else:       # the supervisor, once every worker stopped and exited (in any order)
        assert lines[-1] == "[NOTICE] [-] [core] nodes: all workers stopped"
        assert sorted(lines[-workers - 1:-1]) == [
            f"[NOTICE] [-] [core] nodes: worker {i} (pid {pid}) exited with status 0"
            for i, pid in enumerate(daemon.worker_pids())]
    assert "\x1b[" not in out           # no colour when stdout is not a TTY


def test_hup_and_usr1_keep_running(daemon):
    daemon.start()
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"^\[NOTICE\] \[-\] \[core\] SIGHUP: flushing the temp-fail queue$")
    daemon.signal(signal.SIGUSR1)
    daemon.wait_for_log(r"^\[NOTICE\] \[-\] \[core\] SIGUSR1: reopening log and accounting")
    assert daemon.running
    assert daemon.stop() == 0


def _check_format(line, fmt, timestamps):
    if fmt == "json":
        record = json.loads(line)
        keys = list(record)
        if timestamps:
            assert keys[0] == "timestamp" and re.fullmatch(ISO_RE, record["timestamp"])
            keys = keys[1:]
        assert keys[:4] == ["level", "uuid", "source", "message"], line
        return record["message"]
    if timestamps:
        prefix = "timestamp=" if fmt == "logfmt" else ""
        match = re.match(rf"^{prefix}({ISO_RE}) ", line)
        assert match, line
        line = line[match.end():]
    match = (LOGFMT_RE if fmt == "logfmt" else DEFAULT_RE).match(line)
    assert match, line
    return line


@pytest.mark.parametrize("timestamps", [False, True])
@pytest.mark.parametrize("fmt", ["default", "logfmt", "json"])
def test_every_line_in_the_configured_format(daemon, fmt, timestamps):
    daemon.write_config("log.ini", f"[main]\nlevel=debug\nformat={fmt}\n"
                                   f"timestamps={str(timestamps).lower()}\n")
    daemon.start()
    daemon.signal(signal.SIGUSR1)
    daemon.wait_for_log("SIGUSR1")
    assert daemon.stop() == 0
    lines = [line for line in daemon.output().splitlines() if line]
    assert len(lines) >= 5
    for line in lines:          # the start-up lines included
        _check_format(line, fmt, timestamps)
    if fmt == "json":
        start = json.loads(lines[[i for i, l in enumerate(lines) if "Starting" in l][0]])
        assert start["pid"] == daemon.pid and start["root"] == str(daemon.root)
        assert start["level"] == "NOTICE" and start["source"] == "core"


def test_log_ini_and_loglevel_changed_while_running(daemon):
    daemon.write_config("log.ini", "[main]\nlevel=warn\ntimestamps=false\n")
    daemon.start(ready=False)
    time.sleep(0.5)                 # "ready" is a NOTICE: not shown at WARN
    daemon.signal(signal.SIGUSR1)   # a NOTICE line that must not appear either
    time.sleep(0.3)
    assert "SIGUSR1" not in daemon.output()

    mark = daemon.mark()
    daemon.write_config("log.ini", "[main]\nlevel=info\nformat=json\ntimestamps=false\n")
    daemon.wait_for_lines(r'^\{"level":"NOTICE","uuid":"-","source":"core",'
                          r'"message":"reloaded log.ini"\}$', daemon.workers(), start=mark)
    daemon.signal(signal.SIGUSR1)
    daemon.wait_for_lines(r'"message":"SIGUSR1: reopening log and accounting files"',
                          daemon.workers(), start=mark)

    # The loglevel file, edited later, wins over log.ini.
    mark = daemon.mark()
    daemon.write_config("loglevel", "ERROR\n")
    daemon.wait_for_lines(r'"message":"loglevel: ERROR"', daemon.workers(), start=mark)
    daemon.signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert "SIGUSR1" not in "\n".join(daemon.lines()[mark:])

    # An editor's rename-into-place counts too.
    mark = daemon.mark()
    tmp = daemon.config_path(".log.ini.swp")
    tmp.write_text("[main]\nlevel=info\nformat=logfmt\ntimestamps=false\n")
    tmp.rename(daemon.config_path("log.ini"))
    daemon.wait_for_log(r'^level=NOTICE uuid=- source=core message="reloaded log.ini"$',
                        start=mark)
    assert daemon.stop() == 0


def test_bad_value_on_reload_keeps_running_config(daemon):
    daemon.start()
    mark = daemon.mark()
    daemon.write_config("outbound.ini", "concurrency_max=lots\n")
    daemon.wait_for_log(r"^\[ERROR\] \[-\] \[core\] configuration not reloaded: "
                        r"config/outbound.ini:1: concurrency_max: expected a whole number "
                        r"from 0 to 1000000, got 'lots'; keeping the running configuration$",
                        start=mark)
    daemon.write_config("outbound.ini", "concurrency_max=5\n")
    daemon.wait_for_log(r"^\[NOTICE\] \[-\] \[core\] reloaded outbound.ini$", start=mark)
    assert daemon.running
    assert daemon.stop() == 0


def test_colour_only_on_a_tty(daemon):
    """On a terminal each line is coloured by level (NOTICE blue, INFO cyan)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(outpost_binary()), "-c", str(daemon.root)],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=outpost_env(), start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 20
    try:
        while b"ready" not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                out += os.read(master, 65536)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = b""
        while proc.poll() is None or select.select([master], [], [], 0.2)[0]:
            try:
                if select.select([master], [], [], 0.2)[0]:
                    rest += os.read(master, 65536)
            except OSError:
                break
            if time.monotonic() > deadline + 20:
                proc.kill()
                break
        os.close(master)
    assert proc.wait(20) == 0
    text = (out + rest).decode()
    assert "\x1b[36m[INFO] [-] [core] loglevel: INFO\x1b[39m" in text
    assert "\x1b[34m[NOTICE] [-] [core] ready\x1b[39m" in text


# --- plugins -----------------------------------------------------------------------------

def _install_log_capture(daemon, capture, take=""):
    if not LOG_CAPTURE_SO.exists():
        pytest.fail(f"{LOG_CAPTURE_SO} missing: run `make {LOG_CAPTURE_SO.relative_to(REPO)}`")
    (daemon.root / "plugins").mkdir(exist_ok=True)
    shutil.copy(LOG_CAPTURE_SO, daemon.root / "plugins" / "log_capture.so")
    daemon.write_config("log_capture.ini", f"file={capture}\ntake={take}\n")
    daemon.write_config("plugins", "log_capture\n")


def test_external_plugin_sees_every_record_and_can_take_them(daemon, tmp_path):
    """Every process running the daemon has its plugin chain (with nodes, each worker:
    "%p" in the plugin's file name keeps their captures apart); the records it logged
    before its chain was ready are replayed through it, in order. With nodes the
    supervisor's own lines (the start, the workers' lives) go to the output only."""
    _install_log_capture(daemon, tmp_path / "captured.%p.log", take="SIGUSR1")
    daemon.start()
    files = [tmp_path / f"captured.{pid}.log" for pid in daemon.worker_pids()]
    daemon.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    for capture in files:
        while "REOPEN" not in (capture.read_text() if capture.exists() else ""):
            assert time.monotonic() < deadline, f"reopen hook did not run ({capture})"
            time.sleep(0.05)
    assert daemon.stop() == 0
    for number, capture in enumerate(files):
        captured = capture.read_text().splitlines()
        # The listeners are bound, and root dropped (said by worker 0), before the plugins
        # load.
        first = [f"NOTICE|core|listening on 127.0.0.1:{daemon.port}",
                 *(["WARN|core|running as root: set smtp.ini user (and group) to have "
                    "outpost drop root once its listeners are bound"] if number == 0 else []),
                 f"INFO|log_capture|capturing to {capture}"]
        if daemon.nodes() <= 1:
            first[:0] = ["INFO|core|loglevel: INFO", "INFO|core|log format: DEFAULT",
                         "NOTICE|core|Starting outpost 0.1.0"]
        assert captured[:len(first)] == first, capture
        assert "NOTICE|core|ready" in captured
        assert captured.index("NOTICE|core|SIGUSR1: reopening log and accounting files") < \
            captured.index("REOPEN")
    out = daemon.output()
    # The plugin answered OK for the SIGUSR1 record: the built-in output did not print it.
    assert "SIGUSR1" not in out
    assert "[NOTICE] [-] [core] ready" in out


def test_plugin_with_bad_config_stops_start_up(daemon, tmp_path):
    _install_log_capture(daemon, tmp_path / "no" / "such" / "dir" / "x.log")
    rc, out, err = run_outpost("-c", daemon.root, timeout=30)
    assert rc == 78
    assert err == "outpost: plugin log_capture: log_capture.ini: no usable file=\n"
    assert "[ERROR] [-] [log_capture] log_capture.ini: no usable file=" in out
