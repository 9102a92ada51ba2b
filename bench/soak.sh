#!/bin/sh
# bench/soak.sh: the fault soak (bench/soak.py) against the sanitizer build.
# Needs root (a tmpfs for the queue), and what the end-to-end tests need:
# `./scripts/deps.sh test`. Binds 127.0.0.2-4:25 and 127.0.0.8:25 for its
# sinks, so nothing else may hold those (the e2e suite included).
#   bench/soak.sh                  10 minutes, the defaults
#   bench/soak.sh --minutes 2      a short run; --help lists the knobs
set -eu
cd "$(dirname "$0")/.."
for tool in nsd /usr/bin/python3; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "soak: $tool missing: run ./scripts/deps.sh test" >&2; exit 69; }
done
make -s asan
exec /usr/bin/python3 bench/soak.py "$@"
