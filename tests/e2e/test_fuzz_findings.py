"""What the fuzz targets (tests/fuzz/) found, proved end to end against the real daemon so that
it stays fixed where a client can see it."""
from harness.smtpraw import RawSmtp

import pytest

SMUGGLED = ("MAIL FROM:<admin@victim.test>\r\nRCPT TO:<ok-9@multi.test>\r\nDATA\r\n"
            "From: admin@victim.test\r\n\r\nsmuggled\r\n")


@pytest.fixture
def server(daemon):
    daemon.start()
    return daemon


# fuzz_data: a bare LF or CR right after a complete line ended DATA at the dot that followed
# it (<CRLF><LF>.<CRLF>, <CRLF><CR>.<CRLF>), so what came next ran as commands: a relay that
# passes bare LF through could have a second, smuggled message sent under its identity.
@pytest.mark.parametrize("sequence", ["\r\n\n.\r\n", "\r\n\r.\r\n"], ids=repr)
def test_bare_line_end_after_a_line_does_not_end_data(server, sequence):
    with RawSmtp(server.host, server.port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<ok-1@multi.test>")
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: s\r\n\r\nhello" + sequence + SMUGGLED + "\r\n.\r\n")
        code, lines = c.reply()
        assert (code, lines[0][:5]) == (550, "5.6.0"), lines
        # In step: the next reply is for the next command, nothing was smuggled.
        assert c.text("NOOP") == "250 2.0.0 OK"
    assert server.queue_files() == []
