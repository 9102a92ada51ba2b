"""Abuse limits per client address (issue 14, item 10), end to end against the real daemon:
AUTH failures counted per address across connections, with a lockout that refuses even the
right password and ends after its cool-down; connections per address limited by default.
Clients come from distinct loopback addresses (127.0.0.2, .3, ...: the daemon listens on
127.0.0.1, and every 127.x source reaches it)."""
import base64
import re
import socket
import time

from harness.smtpraw import RawSmtp

USERS = "[core]\nmethods=PLAIN,LOGIN\n[users]\nalice=s3cret\n"
GOOD = "AUTH PLAIN " + base64.b64encode(b"\0alice\0s3cret").decode()
BAD = "AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong").decode()
LOCKOUT = 4     # s: long enough to look at the lockout, short enough to wait for its end
LOCKED = "4.7.0 Temporary authentication failure: too many failed authentications from your " \
         "address, try again later"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def me(d):
    return d.config_path("me").read_text().strip()


def start_auth(daemon, connection_ini):
    """AUTH by flat file (PLAIN and LOGIN: loopback clients may use them without TLS);
    nobody relays by address."""
    daemon.write_config("plugins", "relay\nauth/flat_file\n")
    daemon.write_config("auth_flat_file.ini", USERS)
    daemon.write_config("relay_acl_allow", "192.0.2.1\n")
    daemon.write_config("connection.ini", connection_ini)
    daemon.start()
    return daemon


def session(d, source):
    c = RawSmtp(d.host, d.port, source=source)
    assert c.reply()[0] == 220
    c.ehlo()
    return c


def lockouts(d):
    return [line for line in d.lines() if "AUTH lockout" in line]


def test_auth_failures_lock_the_address_out_across_connections(daemon):
    d = start_auth(daemon, "[auth]\nfailure_delay=1\nmax_failures_per_ip=5\n"
                           f"failure_window=60\nlockout={LOCKOUT}\n")
    # A client half-way through AUTH LOGIN before the lockout.
    early = session(d, "127.0.0.2")
    assert early.cmd("AUTH LOGIN")[0] == 334
    assert early.cmd(b64("alice"))[0] == 334

    # Ten parallel connections from one address, one wrong password each: five are checked
    # (535, then 421: the address is locked out), the other five are refused unchecked.
    conns = [session(d, "127.0.0.2") for _ in range(10)]
    sent = time.monotonic()             # the lockout starts after this
    for c in conns:
        c.send(BAD + "\r\n")
    first = [c.reply() for c in conns]
    assert sorted(code for code, _ in first) == [454] * 5 + [535] * 5, first
    answered = time.monotonic()         # and before this
    for c, (code, lines) in zip(conns, first):
        if code == 535:
            assert lines == ["5.7.8 Authentication credentials invalid"]
            assert c.reply() == (421, [f"4.7.0 {me(d)} Too many failed authentications "
                                       "from your address, closing connection"])
            assert c.closed()
        else:
            assert lines == [LOCKED]
            assert c.cmd("NOOP")[0] == 250          # still open: one refusal so far
    for c in conns:
        c.close()
    d.wait_for_log(r"AUTH lockout ip=127\.0\.0\.2: 5 failed authentications from 127\.0\.0\.2 "
                   r"\(connection\.ini \[auth\] max_failures_per_ip=5 per failure_window=60s\); "
                   rf"AUTH refused for {LOCKOUT}s")

    # The right password is refused too: on a new connection, and at the end of an exchange
    # begun before the lockout.
    with session(d, "127.0.0.2") as c:
        assert c.cmd(GOOD) == (454, [LOCKED])
        assert c.cmd("AUTH LOGIN") == (454, [LOCKED])
        # Refusals count towards the connection's [max] auth_failures (3): then 421.
        assert c.cmd(GOOD) == (454, [LOCKED])
        assert c.reply() == (421, [f"4.7.0 {me(d)} Too many failed authentications, "
                                   "closing connection"])
        assert c.closed()
    assert early.cmd(b64("s3cret")) == (454, [LOCKED])
    early.close()
    assert time.monotonic() < sent + LOCKOUT, "too slow: the lockout may have ended"

    # Another address is not affected.
    with session(d, "127.0.0.3") as c:
        assert c.text(BAD) == "535 5.7.8 Authentication credentials invalid"
        assert c.text(GOOD) == "235 2.7.0 Authentication successful"

    # The cool-down ends: the address starts over.
    time.sleep(max(0, answered + LOCKOUT + 0.2 - time.monotonic()))
    with session(d, "127.0.0.2") as c:
        assert c.text(BAD) == "535 5.7.8 Authentication credentials invalid"
        assert c.text(GOOD) == "235 2.7.0 Authentication successful"
        c.cmd("MAIL FROM:<alice@client.test>")
        assert c.text("RCPT TO:<ok-1@multi.test>").startswith("250 2.1.5")
    # One warning per lockout.
    assert len(lockouts(d)) == 1, lockouts(d)


def test_auth_lockout_defaults_and_success_does_not_reset(daemon):
    """The defaults: 10 failures from an address lock it out. A success in between does not
    wipe the count (else one valid account would allow unlimited guesses at the others)."""
    d = start_auth(daemon, "[auth]\nfailure_delay=0\n")
    failures = 0
    for _ in range(3):
        with session(d, "127.0.0.4") as c:
            for _ in range(3):          # [max] auth_failures=3 per connection
                assert c.text(BAD) == "535 5.7.8 Authentication credentials invalid"
                failures += 1
            assert c.reply()[0] == 421
    assert failures == 9 and lockouts(d) == []
    with session(d, "127.0.0.4") as c:
        assert c.text(GOOD) == "235 2.7.0 Authentication successful"
    with session(d, "127.0.0.4") as c:
        assert c.text(BAD) == "535 5.7.8 Authentication credentials invalid"   # the tenth
        assert c.reply() == (421, [f"4.7.0 {me(d)} Too many failed authentications "
                                   "from your address, closing connection"])
    with session(d, "127.0.0.4") as c:
        assert c.cmd(GOOD) == (454, [LOCKED])
    [line] = lockouts(d)
    assert re.search(r"AUTH lockout ip=127\.0\.0\.4: 10 failed authentications from "
                     r"127\.0\.0\.4 \(connection\.ini \[auth\] max_failures_per_ip=10 per "
                     r"failure_window=600s\); AUTH refused for 600s", line), line
    with session(d, "127.0.0.5") as c:
        assert c.text(GOOD) == "235 2.7.0 Authentication successful"


def test_auth_limit_per_address_can_be_turned_off(daemon):
    d = start_auth(daemon, "[auth]\nfailure_delay=0\nmax_failures_per_ip=0\n")
    codes = []
    for _ in range(5):
        with session(d, "127.0.0.2") as c:
            codes += [c.cmd(BAD)[0] for _ in range(3)]
    assert codes == [535] * 15
    with session(d, "127.0.0.2") as c:
        assert c.text(GOOD) == "235 2.7.0 Authentication successful"
    assert lockouts(d) == []


def test_connections_per_ip_default(daemon):
    daemon.start()
    held = []
    try:
        for _ in range(50):
            held.append(RawSmtp(daemon.host, daemon.port, source="127.0.0.2"))
        assert all(c.reply()[0] == 220 for c in held)
        with RawSmtp(daemon.host, daemon.port, source="127.0.0.2") as c:   # the 51st
            assert c.reply() == (421, [f"4.7.0 {me(daemon)} Too many connections from your "
                                       "address, try again later"])
            assert c.closed()
        daemon.wait_for_log(r"refused ip=127\.0\.0\.2: 50 connections from 127\.0\.0\.2 "
                            r"\(connection\.ini \[max\] connections_per_ip\)")
        with RawSmtp(daemon.host, daemon.port, source="127.0.0.3") as c:
            assert c.reply()[0] == 220
        # One leaves: its slot is free again.
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            with RawSmtp(daemon.host, daemon.port, source="127.0.0.2") as c:
                if c.reply()[0] == 220:
                    break
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.05)
    finally:
        for c in held:
            c.close()


def test_connections_per_ip_zero_is_unlimited(daemon):
    daemon.write_config("connection.ini", "[max]\nconnections_per_ip=0\n")
    daemon.start()
    socks = []
    try:
        for _ in range(80):
            socks.append(socket.create_connection((daemon.host, daemon.port), timeout=10,
                                                  source_address=("127.0.0.2", 0)))
        for s in socks:
            assert s.recv(512).startswith(b"220 ")
    finally:
        for s in socks:
            s.close()


def test_bad_abuse_limit_values_stop_start_up(daemon):
    daemon.write_config("connection.ini", "[auth]\nmax_failures_per_ip=5\nlockout=0\n")
    daemon.start(ready=False)
    assert daemon.proc.wait(20) == 78
    assert "config/connection.ini:3: lockout: expected a whole number from 1 to 86400, " \
           "got '0'" in daemon.output()
