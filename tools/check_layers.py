#!/usr/bin/python3
"""check_layers.py: the shape of src/ that docs/architecture.md promises.

Fails (exit 1, one line per finding) when
  - a file includes a header of a later layer, or of a sibling layer
    (smtp and delivery never include each other);
  - modules (a .c and its same-named .h) include each other in a cycle;
  - an #include "..." names no file under src/ or include/;
  - a .c under src/ is over MAX_LINES lines or does not open with a comment
    saying what it owns.
Run by `make test` (target `layers`); `tools/check_layers.py [ROOT]`.
"""
import os
import re
import sys

# The layers, lowest first: a file may include its own folder and any
# folder of a lower rank. Folders of equal rank are siblings.
LAYERS = {
    "lib": 0,
    "proto": 1,
    "core": 2,
    "plugins": 3,
    "queue": 4,
    "smtp": 5,
    "delivery": 5,
    "records": 6,
    "builtins": 7,
    "admin": 7,
    "feedback": 7,  # bounces and complaints: uses records/bouncecat
    "report": 8,
    "": 9,          # src/*.c: the daemon's top (main.c and its outpost.h)
    "sendmail": 9,  # outpost-sendmail, a program of its own (lib only)
    "ctl": 9,       # outpostctl: a program of its own (links no daemon code)
}
PUBLIC = "include"  # include/outpost/plugin.h: anyone may include it
MAX_LINES = 800

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    out = {}
    for base in ("src", PUBLIC):
        top = os.path.join(root, base)
        for d, _, names in os.walk(top):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    p = os.path.relpath(os.path.join(d, n), root)
                    with open(os.path.join(root, p), errors="replace") as f:
                        out[p] = f.read()
    return out


def resolve(path, inc, files):
    """The file an #include "inc" in path names, as the compiler finds it
    (its own folder first, then -Isrc, then -Iinclude)."""
    for cand in (os.path.join(os.path.dirname(path), inc),
                 os.path.join("src", inc), os.path.join(PUBLIC, inc)):
        cand = os.path.normpath(cand)
        if cand in files:
            return cand
    return None


def folder(path):
    """The layer folder of a file under src/ ("" for src/*.c)."""
    parts = path.split(os.sep)
    return parts[1] if len(parts) > 2 else ""


def module(path):
    return os.path.splitext(path)[0]


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(root):
    files = sources(root)
    problems = []
    graph = {}
    for path, text in sorted(files.items()):
        graph.setdefault(module(path), set())
        for inc in INCLUDE_RE.findall(text):
            target = resolve(path, inc, files)
            if target is None:
                if not path.startswith("src" + os.sep + "gen"):
                    problems.append(f"{path}: #include \"{inc}\" names no file "
                                    f"under src/ or {PUBLIC}/")
                continue
            if module(target) != module(path):
                graph[module(path)].add(module(target))
            if target.startswith(PUBLIC + os.sep):
                continue
            if path.startswith(PUBLIC + os.sep):
                problems.append(f"{path}: the public header includes {target}")
                continue
            a, b = folder(path), folder(target)
            if a not in LAYERS:
                problems.append(f"{path}: folder src/{a}/ is not a known layer "
                                f"(add it to LAYERS and docs/architecture.md)")
                continue
            if b not in LAYERS or a == b:
                continue
            if LAYERS[b] > LAYERS[a]:
                problems.append(f"{path}: includes {target}, a later layer "
                                f"({a or 'main'} may not include {b})")
            elif LAYERS[b] == LAYERS[a]:
                problems.append(f"{path}: includes {target}, a sibling layer "
                                f"({a} and {b} never include each other)")
    for comp in cycles(graph):
        problems.append("include cycle: " + " -> ".join(comp))
    for path, text in sorted(files.items()):
        if not (path.endswith(".c") and path.startswith("src" + os.sep)):
            continue
        n = text.count("\n")
        if n > MAX_LINES:
            problems.append(f"{path}: {n} lines, over {MAX_LINES}")
        if not text.lstrip().startswith("/*"):
            problems.append(f"{path}: does not open with a comment saying "
                            f"what it owns")
    return problems, files


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    if not os.path.isdir(os.path.join(root, "src")):
        print(f"check_layers: {root}/src: no such directory", file=sys.stderr)
        return 2
    problems, files = check(root)
    for p in problems:
        print(p)
    ncs = sum(1 for p in files if p.endswith(".c"))
    print(f"{'ok' if not problems else 'FAILED'}: {ncs} .c files, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
