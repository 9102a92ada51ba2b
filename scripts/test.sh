#!/bin/sh
# Installs what the tests need, builds the sanitizer build, and runs every
# test: cmocka unit tests, then the end-to-end suite (pytest) against real
# DNS, SMTP and TLS peers on loopback.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
make -s asan
make -s test
