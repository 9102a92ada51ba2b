"""tools/check_layers.py fails on what docs/architecture.md forbids: a cycle,
an include against the layer order, a missing header, an oversized or
uncommented .c. Each case builds a small tree and runs the real script."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "check_layers.py"


def tree(tmp_path, files):
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)],
                          capture_output=True, text=True)


def c(*includes, body="int x;\n"):
    return "/* owns x */\n" + "".join(f'#include "{i}"\n' for i in includes) + body


BASE = {
    "include/outpost/plugin.h": "/* abi */\n",
    "src/lib/buf.h": "/* buf */\n",
    "src/lib/buf.c": c("lib/buf.h"),
    "src/core/log.h": '#include "lib/buf.h"\n',
    "src/core/log.c": c("core/log.h", "outpost/plugin.h"),
    "src/smtp/server.h": "",
    "src/smtp/server.c": c("smtp/server.h", "core/log.h"),
    "src/delivery/mta.h": "",
    "src/delivery/mta.c": c("delivery/mta.h", "lib/buf.h"),
    "src/main.c": c("smtp/server.h", "delivery/mta.h"),
}


def test_a_tree_in_order_passes(tmp_path):
    r = tree(tmp_path, BASE)
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("ok: 5 .c files")


def test_an_include_of_a_later_layer_fails(tmp_path):
    r = tree(tmp_path, {**BASE, "src/core/log.c": c("core/log.h", "smtp/server.h")})
    assert r.returncode == 1
    assert "src/core/log.c: includes src/smtp/server.h, a later layer" in r.stdout


def test_an_include_between_siblings_fails(tmp_path):
    r = tree(tmp_path, {**BASE, "src/delivery/mta.c": c("delivery/mta.h", "smtp/server.h")})
    assert r.returncode == 1
    assert "a sibling layer (delivery and smtp never include each other)" in r.stdout


def test_a_cycle_inside_one_folder_fails(tmp_path):
    r = tree(tmp_path, {**BASE,
                        "src/smtp/session.h": '#include "smtp/server.h"\n',
                        "src/smtp/session.c": c("smtp/session.h"),
                        "src/smtp/server.h": '#include "smtp/session.h"\n'})
    assert r.returncode == 1
    assert "include cycle: src/smtp/server -> src/smtp/session" in r.stdout


def test_a_header_that_does_not_exist_fails(tmp_path):
    r = tree(tmp_path, {**BASE, "src/lib/buf.c": c("lib/buf.h", "lib/gone.h")})
    assert r.returncode == 1
    assert 'src/lib/buf.c: #include "lib/gone.h" names no file' in r.stdout


def test_an_unknown_folder_fails(tmp_path):
    r = tree(tmp_path, {**BASE, "src/misc/x.c": c("lib/buf.h")})
    assert r.returncode == 1
    assert "src/misc/ is not a known layer" in r.stdout


def test_a_large_or_uncommented_file_fails(tmp_path):
    r = tree(tmp_path, {**BASE,
                        "src/lib/big.c": c(body="int y;\n" * 801),
                        "src/lib/bare.c": "int z;\n"})
    assert r.returncode == 1
    assert "src/lib/big.c: 802 lines, over 800" in r.stdout
    assert "src/lib/bare.c: does not open with a comment" in r.stdout


def test_the_public_header_includes_nothing_private(tmp_path):
    r = tree(tmp_path, {**BASE, "include/outpost/plugin.h": '#include "lib/buf.h"\n'})
    assert r.returncode == 1
    assert "the public header includes src/lib/buf.h" in r.stdout
