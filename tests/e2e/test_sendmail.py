"""outpost-sendmail: the sendmail(8) command line, end to end (issue 17, item 7).

The real daemon forwards everything to a sink (queue/smtp_forward); messages go in through
build/asan/outpost-sendmail, which finds the daemon from ROOT/config/smtp.ini ($OUTPOST_ROOT
or -C ROOT). Checked: recipients as arguments and with -t (To, Cc and Bcc; Bcc removed), the
envelope sender from -f, a From header added from -F, -i keeping a lone dot, -oi, dot-
stuffing, and sendmail's exit codes: 75 when the daemon is down or answers 4xx, 64 without
recipients, 67 when a recipient is refused (then nothing is sent)."""
import os
import subprocess

import pytest

from harness.daemon import REPO, check_sanitizers, outpost_env

SINK = "127.0.0.7"
BIN = REPO / "build" / "asan" / "outpost-sendmail"


def sendmail(root, args, data, env_root=True):
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"{BIN} not found: run `make asan` first", pytrace=False)
    env = outpost_env()
    env.pop("OUTPOST_ROOT", None)
    if env_root:
        env["OUTPOST_ROOT"] = str(root)
    proc = subprocess.run([str(BIN), *args], input=data, capture_output=True, env=env,
                          timeout=60)
    err = proc.stderr.decode("utf-8", "replace")
    check_sanitizers(err, "outpost-sendmail")
    return proc.returncode, err


@pytest.fixture
def forwarding(mta, smtp_sink):
    sink = smtp_sink(SINK)
    mta.write_config("plugins", "relay\nqueue/smtp_forward\n")
    mta.write_config("smtp_forward.ini", f"[main]\nhost={SINK}\nport=25\nenable_outbound=true\n")
    mta.start()
    return mta, sink


def headers_of(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    return head


def test_recipients_as_arguments_with_f_and_F(forwarding):
    mta, sink = forwarding
    rc, err = sendmail(mta.root, ["-f", "app@site.test", "-F", "The App",
                                  "one@dest.test", "two@dest.test, three@dest.test"],
                       b"Subject: args\n\nHello\n")
    assert rc == 0, err
    (msg,) = sink.wait_for_messages(1)
    assert msg.mail_from == "app@site.test"
    assert sorted(msg.rcpt_tos) == ["one@dest.test", "three@dest.test", "two@dest.test"]
    head = headers_of(msg.data)
    assert 'From: "The App" <app@site.test>' in head
    assert "Date: " in head and "Message-ID: <" in head
    assert "Subject: args" in head
    assert msg.data.endswith(b"\r\n\r\nHello\r\n")


def test_t_takes_to_cc_bcc_and_removes_bcc(forwarding):
    mta, sink = forwarding
    data = (b"From: Site <site@site.test>\nTo: A <a@dest.test>,\n b@dest.test\n"
            b"Cc: c@dest.test\nBcc: secret@dest.test\nSubject: t\n\nbody\n")
    rc, err = sendmail(mta.root, ["-t", "-f", "<site@site.test>"], data)
    assert rc == 0, err
    (msg,) = sink.wait_for_messages(1)
    assert sorted(msg.rcpt_tos) == ["a@dest.test", "b@dest.test", "c@dest.test",
                                    "secret@dest.test"]
    assert b"secret" not in msg.data and b"Bcc" not in msg.data
    head = headers_of(msg.data)
    assert "From: Site <site@site.test>" in head
    assert head.count("\nFrom: ") == 1       # it was there: none added
    assert "\nDate: " in head


def test_t_with_arguments_adds_them_and_sends_each_once(forwarding):
    mta, sink = forwarding
    data = b"To: a@dest.test, b@dest.test\nSubject: both\n\nbody\n"
    rc, err = sendmail(mta.root, ["-t", "-f", "s@site.test", "b@dest.test", "extra@dest.test"],
                       data)
    assert rc == 0, err
    (msg,) = sink.wait_for_messages(1)
    assert sorted(msg.rcpt_tos) == ["a@dest.test", "b@dest.test", "extra@dest.test"]


def test_lone_dot_ends_input_unless_i(forwarding):
    mta, sink = forwarding
    data = b"Subject: dots\n\nline one\n.\n.leading dot\nlast\n"
    rc, err = sendmail(mta.root, ["-f", "x@site.test", "d1@dest.test"], data)
    assert rc == 0, err
    rc, err = sendmail(mta.root, ["-i", "-f", "x@site.test", "d2@dest.test"], data)
    assert rc == 0, err
    rc, err = sendmail(mta.root, ["-oi", "-oem", "-odi", "-f", "x@site.test",
                                  "d3@dest.test"], data)
    assert rc == 0, err
    msgs = {m.rcpt_tos[0]: m for m in sink.wait_for_messages(3)}
    assert msgs["d1@dest.test"].data.endswith(b"\r\n\r\nline one\r\n")
    for r in ("d2@dest.test", "d3@dest.test"):
        # Dot-stuffed on the way, unstuffed by the receiver: the lines as written.
        assert msgs[r].data.endswith(b"\r\n\r\nline one\r\n.\r\n.leading dot\r\nlast\r\n")


def test_C_root_and_unqualified_names(forwarding):
    mta, sink = forwarding
    (mta.root / "config" / "me").write_text("box.site.test\n")
    rc, err = sendmail(mta.root, ["-C", str(mta.root), "-f", "cron", "root"],
                       b"Subject: cron\n\nout\n", env_root=False)
    assert rc == 0, err
    (msg,) = sink.wait_for_messages(1)
    assert msg.mail_from == "cron@box.site.test"
    assert msg.rcpt_tos == ("root@box.site.test",) or list(msg.rcpt_tos) == \
        ["root@box.site.test"]


def test_no_recipients_is_64(forwarding):
    mta, sink = forwarding
    rc, err = sendmail(mta.root, [], b"Subject: x\n\nbody\n")
    assert rc == 64 and "no recipients" in err
    rc, err = sendmail(mta.root, ["-t"], b"Subject: x\n\nbody\n")
    assert rc == 64 and "no recipients" in err
    rc, err = sendmail(mta.root, ["-bs"], b"")
    assert rc == 64
    rc, err = sendmail(mta.root, ["-t"], b"To: <broken@dest.test\n\nbody\n")
    assert rc == 65, err
    assert sink.messages() == []


def test_refused_recipient_is_67_and_nothing_is_sent(mta, smtp_sink):
    sink = smtp_sink(SINK)
    # Relay only for loopback; a recipient with a bad domain part is refused by the daemon
    # itself (5xx at RCPT), so the other must not be sent either.
    mta.write_config("plugins", "relay\nqueue/smtp_forward\n")
    mta.write_config("smtp_forward.ini", f"[main]\nhost={SINK}\nport=25\nenable_outbound=true\n")
    mta.start()
    rc, err = sendmail(mta.root, ["-f", "x@site.test", "ok@dest.test", "bad@@dest.test"],
                       b"Subject: x\n\nbody\n")
    assert rc == 67, err
    assert "bad@@dest.test" in err
    assert sink.messages() == []


def test_a_root_without_config_is_78(tmp_path):
    rc, err = sendmail(tmp_path, ["-C", str(tmp_path / "nowhere"), "a@dest.test"],
                       b"Subject: x\n\nbody\n", env_root=False)
    assert rc == 78 and "nowhere/config" in err


def test_daemon_down_is_75(daemon):
    # Configured (smtp.ini names a port) but not running: tempfail, sendmail(8)'s 75.
    rc, err = sendmail(daemon.root, ["-f", "x@site.test", "a@dest.test"],
                       b"Subject: x\n\nbody\n")
    assert rc == 75, err
    assert "cannot connect" in err and str(daemon.port) in err


def test_daemon_answering_4xx_is_75(daemon):
    # A full queue (queue_min_free above what the disk has free) answers MAIL with 452.
    daemon.write_config("outbound.ini", "[main]\nqueue_min_free=99%\n")
    daemon.start()
    rc, err = sendmail(daemon.root, ["-f", "x@site.test", "a@dest.test"],
                       b"Subject: x\n\nbody\n")
    assert rc == 75, err
    assert "452" in err
