"""Reading Outpost queue entries (docs/queue-format.md) in tests."""
from pathlib import Path
from urllib.parse import unquote_to_bytes


def read_entry(path):
    """(fields, rcpts, message) of one entry file: fields maps key -> decoded value (str),
    rcpts is a list of (state, address), message the exact message bytes."""
    data = Path(path).read_bytes()
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
        if key == "rcpt":
            state, _, rest = value.partition(" ")
            rcpts.append((state, unquote_to_bytes(rest.split(" ")[0]).decode("utf-8")))
        else:
            fields[key] = unquote_to_bytes(value).decode("utf-8")
