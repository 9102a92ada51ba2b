"""Reading Outpost queue entries (docs/queue-format.md) in tests."""
from pathlib import Path
from urllib.parse import unquote_to_bytes


def read_body(path, size=None):
    """The message in body file path (msg.<body>), checked against its framing."""
    data = Path(path).read_bytes()
    head, _, rest = data.partition(b"\n")
    assert head == b"OUTPOST-BODY 1", head
    size_line, _, rest = rest.partition(b"\n")
    assert size_line.startswith(b"size "), size_line
    length = int(size_line[5:])
    if size is not None:
        assert length == size, (length, size)
    assert rest[length:].startswith(b"\nEND ") and len(rest) == length + 14, "bad tail"
    return rest[:length]


def read_entry(path):
    """(fields, rcpts, message) of one entry file: fields maps key -> decoded value (str),
    rcpts is a list of (state, address), message the exact message bytes (from the entry
    itself in version 1, from its body file msg.<body> in version 2)."""
    path = Path(path)
    data = path.read_bytes()
    fields, rcpts = {}, []
    pos = 0
    first = True
    while True:
        end = data.index(b"\n", pos)
        line = data[pos:end].decode("utf-8")
        pos = end + 1
        if first:
            assert line.startswith("OUTPOST-QUEUE "), line
            first = False
            continue
        key, _, value = line.partition(" ")
        if key == "message":
            length = int(value)
            message = data[pos:pos + length]
            assert data[pos + length:].startswith(b"\nEND "), "no end marker"
            return fields, rcpts, message
        if key == "END":
            assert pos == len(data), "trailing bytes after the end marker"
            body = path.parent / ("msg." + fields["body"])
            return fields, rcpts, read_body(body, int(fields["size"]))
        if key == "rcpt":
            state, _, rest = value.partition(" ")
            rcpts.append((state, unquote_to_bytes(rest.split(" ")[0]).decode("utf-8")))
        else:
            fields[key] = unquote_to_bytes(value).decode("utf-8")
