#!/bin/bash
# bench/cpu_compare.sh: Outpost's CPU per relayed message for several
# builds, interleaved, so that a shared machine's drift falls on all alike.
#
#   bench/cpu_compare.sh ROUNDS BINARY...
#
# Each round runs every BINARY once, in order, through profile.sh's "cpu"
# run: smtp-source -> outpost -> smtp-sink on 127.0.0.1, one connection per
# message, records on (outbound_logger + accounting_files, sync=true; off
# with BENCH_RECORDS=off), waited until the queue is empty, each on a
# fresh loop-mounted ext4 file system. One line per run: CPU ms per
# message (user + sys, all threads, start to stop), user, sys, msg/s; then
# the median of each binary. Compare medians of >= 3 rounds, and each
# round's pair: single runs vary by +-15% on a busy machine.
# Knobs: BENCH_MESSAGES (10000), BENCH_CLIENTS (50), BENCH_SIZE (2048),
# BENCH_RECORDS (on), BENCH_TIMEOUT, BENCH_STALL, BENCH_TMPDIR, BENCH_KEEP.
# Exit status: 0, 1 when a run failed, 69 when a tool is missing.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD
ROUNDS=${1:-}
[ $# -ge 2 ] || { echo "usage: $0 ROUNDS BINARY..." >&2; exit 64; }
shift
BINS=("$@")
MESSAGES=${BENCH_MESSAGES:-10000}
CLIENTS=${BENCH_CLIENTS:-50}
SIZE=${BENCH_SIZE:-2048}
RECORDS=${BENCH_RECORDS:-on}
REUSE=0
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
STALL=${BENCH_STALL:-30}
FRESH_FS=1
KEEP=${BENCH_KEEP:-0}
SENDER=bench@example.test
RCPT=user@example.test
HELO=bench.example.test

BENCH_NAME=cpu_compare.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "cpu_compare.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts ROUNDS MESSAGES CLIENTS SIZE RUN_TIMEOUT STALL
case $RECORDS in on | off) ;; *) die "BENCH_RECORDS: on or off (got '$RECORDS')" ;; esac
for b in "${BINS[@]}"; do
	[ -x "$b" ] || die "$b: not an executable"
done
bench_preflight "smtp-sink -u and the loop mounts need it" \
	smtp-source smtp-sink timeout awk
bench_workdir cpu
relay_traps

config_on() { records_config "$1" true; }

failed=0
declare -A ALL
for r in $(seq 1 "$ROUNDS"); do
	for i in "${!BINS[@]}"; do
		OUTPOST=${BINS[$i]} OUTPOST_BIN=${BINS[$i]}
		name="r$r-b$i"
		conf=''
		[ "$RECORDS" = on ] && conf=config_on
		fresh_fs "$name"
		WAIT_EMPTY=1 bench_outpost_relay "$name" "$WORK/$name" "$conf"
		rc=$?
		release_fs "$name"
		if [ $rc -ne 0 ]; then
			echo "round $r ${BINS[$i]}: ${STATUS[$name]}"
			failed=1
			continue
		fi
		line=$(awk -v u="${OP_USR[$name]}" -v s="${OP_SYS[$name]}" \
			-v n="$MESSAGES" 'BEGIN { printf "%.4f %.4f %.4f",
			    (u + s) * 1000 / n, u * 1000 / n, s * 1000 / n }')
		ALL[$i]="${ALL[$i]:-} ${line%% *}"
		echo "round $r ${BINS[$i]}: cpu/usr/sys ms/msg $line, ${RATE[$name]} msg/s"
	done
done
for i in "${!BINS[@]}"; do
	# shellcheck disable=SC2086
	printf '%s\n' ${ALL[$i]:-} | sort -n | awk -v b="${BINS[$i]}" \
		'{ v[NR] = $1 } END { if (NR) printf "median %s: %.4f cpu ms/msg (%d runs)\n",
		    b, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR }'
done
exit $failed
