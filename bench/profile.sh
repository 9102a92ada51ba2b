#!/bin/bash
# bench/profile.sh: where Outpost's CPU goes, per relayed message.
#
# Relays relay.sh's load (smtp-source -> build/outpost -> smtp-sink) with
# the recording plugins on (outbound_logger and accounting_files, both
# sync=true, as accounting.sh's "on") and off, and for each mode:
#   cpu     one plain run of BENCH_MESSAGES messages, waited until the
#           queue is empty (the last records are on disk): Outpost's CPU
#           ms per message (user + sys, all threads) and msg/s
#   perf    a run of BENCH_PERF_MESSAGES under `perf record` (DWARF call
#           graphs, attached to the daemon's pid): a flame graph SVG
#           (flame-<mode>.svg, drawn by stackvis from the npm registry,
#           installed once into BENCH_STACKVIS_DIR) and the top functions
#           by self time (top-<mode>.txt)
#   strace  a run of BENCH_STRACE_MESSAGES under `strace -c -f` (attached
#           likewise), by default one client sending every message over
#           one session: system calls per message, by call
#           (syscalls-<mode>.txt)
# and writes report.txt: CPU ms per message per mode, the share of
# recording ((on - off) / on), the syscalls per message side by side and
# the top functions. perf and strace slow the daemon: only the cpu runs
# give CPU figures. It reports; it does not fail on a figure.
# Exit status: 0 when every run went through, 1 when one failed, 69 when
# a tool is missing.
#
# Knobs (environment):
#   BENCH_MESSAGES         messages of the cpu runs (20000)
#   BENCH_PERF_MESSAGES    messages of the perf runs (5000)
#   BENCH_STRACE_MESSAGES  messages of the strace runs (2000)
#   BENCH_CLIENTS          parallel sessions of the cpu and perf runs (50)
#   BENCH_STRACE_CLIENTS   sessions of the strace runs (1, reused)
#   BENCH_SIZE             message payload in bytes (2048)
#   BENCH_MODES            which modes, in order ("on off")
#   BENCH_PERF_FREQ        perf samples per second (499)
#   BENCH_OUT              where the report goes (build/bench/profile)
#   BENCH_STACKVIS_DIR     npm cache of stackvis (build/bench/stackvis)
#   BENCH_TIMEOUT, BENCH_STALL, BENCH_TMPDIR, BENCH_FRESH_FS, BENCH_KEEP,
#   OUTPOST_BIN            as in relay.sh
#
# Everything listens on 127.0.0.1 on free ports (never 25); every wait is
# bounded; an EXIT trap stops what was started (perf, strace, smtp-source,
# the sink, outpost), unmounts the file systems and removes the temp dir.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-20000}
CPU_MESSAGES=$MESSAGES
PERF_MESSAGES=${BENCH_PERF_MESSAGES:-5000}
STRACE_MESSAGES=${BENCH_STRACE_MESSAGES:-2000}
CLIENTS=${BENCH_CLIENTS:-50}
CPU_CLIENTS=$CLIENTS
STRACE_CLIENTS=${BENCH_STRACE_CLIENTS:-1}
SIZE=${BENCH_SIZE:-2048}
REUSE=0
MODES=${BENCH_MODES:-on off}
FREQ=${BENCH_PERF_FREQ:-499}
OUT=${BENCH_OUT:-$REPO/build/bench/profile}
SV_DIR=${BENCH_STACKVIS_DIR:-$REPO/build/bench/stackvis}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
STALL=${BENCH_STALL:-30}
FRESH_FS=${BENCH_FRESH_FS:-1}
KEEP=${BENCH_KEEP:-0}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}

SENDER=bench@example.test
RCPT=user@example.test
HELO=bench.example.test

BENCH_NAME=profile.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "profile.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts MESSAGES PERF_MESSAGES STRACE_MESSAGES CLIENTS STRACE_CLIENTS \
	SIZE FREQ RUN_TIMEOUT STALL
for m in $MODES; do
	case $m in on | off) ;; *) die "BENCH_MODES: unknown mode '$m' (on, off)" ;; esac
done

bench_preflight "perf, strace -p, smtp-sink -u and the loop mounts need it" \
	smtp-source smtp-sink perf strace node npm timeout awk

SV_BIN=$SV_DIR/node_modules/.bin/stackvis
if [ ! -x "$SV_BIN" ]; then
	note "installing stackvis into $SV_DIR (npm install; once)"
	mkdir -p "$SV_DIR" &&
		(cd "$SV_DIR" && timeout 300 npm install --no-audit --no-fund \
			--ignore-scripts --loglevel=error stackvis@0.5.0) \
			>"$SV_DIR/npm-install.log" 2>&1 && [ -x "$SV_BIN" ] ||
		die "npm install stackvis into $SV_DIR failed (log: $SV_DIR/npm-install.log)"
fi
mkdir -p "$OUT" || die "cannot create $OUT"

bench_workdir profile

TOOL_PID=
stop_tool() {
	stop_child "$TOOL_PID" 100
	TOOL_PID=
}
CLEANUP_FIRST=stop_tool
relay_traps

config_on() { records_config "$1" true; }

# --- the attached tools -------------------------------------------------------

# ON_START / ON_STOP of bench_outpost_relay: $1 the run, $2 the pid.
perf_start() {
	perf record -q -F "$FREQ" --call-graph dwarf,8192 -p "$2" \
		-o "$WORK/$1.perf.data" >"$WORK/$1.perf.log" 2>&1 &
	TOOL_PID=$!
	sleep 1		# perf attaches to every thread before the load
}
strace_start() {
	strace -c -f -q -p "$2" -o "$WORK/$1.strace" >"$WORK/$1.strace.log" 2>&1 &
	TOOL_PID=$!
	sleep 1
}
# Both write their output on SIGINT.
tool_stop() {
	[ -n "$TOOL_PID" ] || return 0
	kill -INT "$TOOL_PID" 2>/dev/null
	wait_exit "$TOOL_PID" 600 || kill -KILL "$TOOL_PID" 2>/dev/null
	wait "$TOOL_PID" 2>/dev/null
	TOOL_PID=
}

# --- runs -----------------------------------------------------------------------

declare -A CPU_MS FAILED_RUN

# run <name> <mode> <messages> <clients> <reuse> [start]: one relay run
# (MESSAGES, CLIENTS, REUSE are the globals bench/lib.sh reads).
run() {
	local name=$1 mode=$2 conf=''
	[ "$mode" = on ] && conf=config_on
	MESSAGES=$3 CLIENTS=$4 REUSE=$5
	ON_START=${6:-} ON_STOP=${6:+tool_stop}
	fresh_fs "$name"
	WAIT_EMPTY=1 bench_outpost_relay "$name" "$WORK/$name" "$conf"
	local rc=$?
	ON_START= ON_STOP=
	release_fs "$name"
	if [ $rc -ne 0 ]; then
		FAILED_RUN[$name]=${STATUS[$name]}
		note "$name: ${STATUS[$name]}"
	fi
	return $rc
}

# Syscalls per message from strace -c's table ($1) for $2 messages:
# "<calls per message> <errors per message> <name>", most first.
per_message() {
	awk -v n="$2" '$NF != "total" && $1 ~ /^[0-9.]+$/ && NF >= 5 {
		calls = $4; err = (NF == 6) ? $5 : 0
		printf "%.2f %.2f %s\n", calls / n, err / n, $NF
	}' "$1" | sort -rn
}

failed=0
for mode in $MODES; do
	echo "... $mode: cpu" >&2
	run "cpu-$mode" "$mode" "$CPU_MESSAGES" "$CPU_CLIENTS" 0 || { failed=1; continue; }
	CPU_MS[$mode]=$(awk -v u="${OP_USR[cpu-$mode]}" -v s="${OP_SYS[cpu-$mode]}" \
		-v n="$CPU_MESSAGES" 'BEGIN { printf "%.3f", (u + s) * 1000 / n }')

	echo "... $mode: perf" >&2
	if run "perf-$mode" "$mode" "$PERF_MESSAGES" "$CPU_CLIENTS" 0 perf_start; then
		perf script -i "$WORK/perf-$mode.perf.data" 2>/dev/null |
			"$SV_BIN" perf flamegraph-svg >"$OUT/flame-$mode.svg" 2>"$WORK/sv.log" ||
			{ note "stackvis failed: $(tail -n 1 "$WORK/sv.log")"; failed=1; }
		perf report -i "$WORK/perf-$mode.perf.data" --stdio --no-children \
			--sort dso,symbol --percent-limit 0.5 2>/dev/null |
			awk '$1 ~ /^[0-9.]+%$/ { sub(/[ -]+$/, ""); print }' |
			head -n 40 >"$OUT/top-$mode.txt"
	else
		failed=1
	fi

	echo "... $mode: strace" >&2
	if run "strace-$mode" "$mode" "$STRACE_MESSAGES" "$STRACE_CLIENTS" 1 strace_start; then
		per_message "$WORK/strace-$mode.strace" "$STRACE_MESSAGES" \
			>"$OUT/syscalls-$mode.txt"
	else
		failed=1
	fi
done

# --- report ---------------------------------------------------------------------

{
	echo "Outpost CPU profile, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$REPO" describe --always --dirty 2>/dev/null)"
	echo "load: smtp-source -> outpost -> smtp-sink on 127.0.0.1, $SIZE-byte payload, 1 recipient;"
	echo "cpu runs: $CPU_MESSAGES messages, $CPU_CLIENTS sessions, one connection per message;"
	echo "strace runs: $STRACE_MESSAGES messages, $STRACE_CLIENTS session(s), connections reused"
	echo "records on: outbound_logger + accounting_files, sync=true"
	echo
	printf '%-6s %12s %10s\n' mode 'cpu ms/msg' 'msg/s'
	for mode in $MODES; do
		printf '%-6s %12s %10s\n' "$mode" "${CPU_MS[$mode]:-failed}" \
			"${RATE[cpu-$mode]:--}"
	done
	if [ -n "${CPU_MS[on]:-}" ] && [ -n "${CPU_MS[off]:-}" ]; then
		awk -v on="${CPU_MS[on]}" -v off="${CPU_MS[off]}" 'BEGIN {
			printf "recording: %.3f ms of %.3f (%.0f%%)\n", on - off, on,
			    (on > 0) ? (on - off) * 100 / on : 0 }'
	fi
	echo
	for mode in $MODES; do
		[ -f "$OUT/syscalls-$mode.txt" ] || continue
		echo "system calls per message, records $mode (calls, errors, call):"
		awk '{ t += $1; printf "  %8s %6s  %s\n", $1, $2, $3 } END { printf "  %8.2f         total\n", t }' \
			"$OUT/syscalls-$mode.txt"
		echo
	done
	for mode in $MODES; do
		[ -s "$OUT/top-$mode.txt" ] || continue
		echo "top functions by self time, records $mode (flame graph: flame-$mode.svg):"
		cat "$OUT/top-$mode.txt"
		echo
	done
	for name in "${!FAILED_RUN[@]}"; do
		echo "FAILED: $name: ${FAILED_RUN[$name]}"
	done
} >"$OUT/report.txt"
cat "$OUT/report.txt"
echo "(written to $OUT)"
exit $failed
