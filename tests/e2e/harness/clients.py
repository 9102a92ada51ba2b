"""Real SMTP clients for the tests: swaks and smtplib, kept off the system resolver."""
import smtplib
import subprocess

SWAKS = "/usr/bin/swaks"
# swaks always looks its own host name up with gethostbyname() (for default HELO and sender);
# run it with that call replaced, so that it never asks the system resolver.
_SWAKS_NO_LOOKUP = ('BEGIN { *CORE::GLOBAL::gethostbyname = sub { () } } '
                    '$0 = shift; do $0; die $@ if $@;')
CLIENT_NAME = "client.test"


def swaks(*args, timeout=30):
    """Run swaks with args (give --server ip:port; names are never resolved for you).
    Returns (exit code, stdout+stderr); the exit code tells the failing stage (swaks(1))."""
    proc = subprocess.run(["perl", "-e", _SWAKS_NO_LOOKUP, SWAKS, *map(str, args)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def smtp_client(host, port=25, timeout=5, lmtp=False):
    """An smtplib client connected to host:port, greeting as CLIENT_NAME (smtplib would
    otherwise call socket.getfqdn()). LMTP: smtplib.LMTP, whose sendmail reads only one
    reply after the dot."""
    cls = smtplib.LMTP if lmtp else smtplib.SMTP
    return cls(host, port, local_hostname=CLIENT_NAME, timeout=timeout)
