"""Free ports for the harness and the tests."""
import socket


def free_port(ip="127.0.0.1", udp=False):
    """Return a TCP port free on ip right now (and free for UDP too when udp=True)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as tcp, \
                socket.socket(family, socket.SOCK_DGRAM) as dgram:
            tcp.bind((ip, 0))
            port = tcp.getsockname()[1]
            if not udp:
                return port
            try:
                dgram.bind((ip, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {ip}")

