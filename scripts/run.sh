#!/bin/sh
# Installs what Outpost needs, builds it, and runs it in the foreground on
# its embedded defaults: ./local is created with `outpost -i` on first use.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
make -s
[ -d local/config ] || build/outpost -i local
exec build/outpost -c local
