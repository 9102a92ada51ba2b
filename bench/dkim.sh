#!/bin/bash
# bench/dkim.sh: what DKIM signing costs end to end.
#
# Relays the load of relay.sh (smtp-source -> build/outpost -> smtp-sink:
# BENCH_CLIENTS parallel sessions, BENCH_MESSAGES messages of BENCH_SIZE
# bytes (100 KB by default), one recipient each) through Outpost in two
# modes, in the same run:
#   off     plugins relay and queue/smtp_forward only (relay.sh's outpost)
#   dkim    plus the dkim plugin with an RSA key of BENCH_BITS bits (2048)
#           for the sender's domain (outpost --dkim-keygen), relaxed/relaxed:
#           every message is signed once, at enqueue, on the signing thread
# BENCH_ROUNDS rounds of the modes in turn (off dkim off dkim ...), each
# run on a fresh loop-mounted ext4, so that drift on a noisy machine hits
# both modes alike. Each run is timed like relay.sh's, from the start of
# smtp-source until the sink has every message, and Outpost's own CPU
# time (utime + stime of all its threads, /proc/<pid>/stat) is read
# before it stops. It prints a row per run, the median msg/s and CPU ms
# per message per mode, the throughput ratio dkim/off and the CPU ms per
# message that signing adds (goal: < 1 ms for a 100 KB message; OpenSSL
# signs with RSA-2048 in about 0.25 ms here: `openssl speed rsa2048`).
# After each dkim run the log is checked: no "not signed" line (signing
# failed, or no key applied). It reports; it does not fail on a missed
# goal. Exit status: 0 when every run went through, 1 otherwise, 69 when
# a tool is missing.
#
# Knobs (environment):
#   BENCH_MESSAGES  messages per run (5000)
#   BENCH_CLIENTS   parallel SMTP sessions of smtp-source (20)
#   BENCH_SIZE      message payload in bytes, headers not included (102400)
#   BENCH_BITS      RSA key size (2048)
#   BENCH_REUSE     1: send every message of a session over one connection
#                   (smtp-source -d); 0: one connection per message (0)
#   BENCH_ROUNDS    rounds of the modes (2)
#   BENCH_PAUSE     seconds of rest before each run, after a sync (2)
#   BENCH_TIMEOUT   seconds from the start of smtp-source until the last
#                   delivery before a run is given up (600)
#   BENCH_STALL     seconds without a new delivery, once smtp-source is
#                   done, before a run is given up (30)
#   BENCH_TMPDIR    where the temp dir goes (${TMPDIR:-/tmp})
#   BENCH_FRESH_FS  0: no fresh file system per run, use the temp dir (1)
#   BENCH_KEEP      1: keep the temp dir and say where (0)
#   OUTPOST_BIN     the Outpost binary (build/outpost, built if missing)
#
# Everything listens on 127.0.0.1 on free ports (never 25); every wait is
# bounded; an EXIT trap stops whatever was started (smtp-source, the sink,
# outpost), unmounts the file systems and removes the temp dir. Helpers
# shared with relay.sh and accounting.sh are in bench/lib.sh.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-5000}
CLIENTS=${BENCH_CLIENTS:-20}
SIZE=${BENCH_SIZE:-102400}
BITS=${BENCH_BITS:-2048}
REUSE=${BENCH_REUSE:-0}
ROUNDS=${BENCH_ROUNDS:-2}
MODES="off dkim"
PAUSE=${BENCH_PAUSE:-2}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
STALL=${BENCH_STALL:-30}
FRESH_FS=${BENCH_FRESH_FS:-1}
KEEP=${BENCH_KEEP:-0}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}

SENDER=bench@example.test
RCPT=user@example.test
HELO=bench.example.test

BENCH_NAME=dkim.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "dkim.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts MESSAGES CLIENTS SIZE BITS ROUNDS RUN_TIMEOUT STALL
case $PAUSE in '' | *[!0-9]*) die "BENCH_PAUSE must be a number of seconds (got '$PAUSE')" ;; esac

bench_preflight "smtp-sink -u and the loop mounts need it" \
	smtp-source smtp-sink timeout tail find awk sort
bench_workdir dkim
relay_traps

# The dkim mode: the plugin before smtp_forward, a key for the sender's
# domain, which is also [sign] domain (every message is signed, whatever
# its From) (root $1, config written by bench_outpost_relay).
config_dkim() {
	local c=$1/config
	printf 'relay\ndkim\nqueue/smtp_forward\n' >"$c/plugins" &&
		printf '[sign]\ndomain=%s\n' "${SENDER#*@}" >"$c/dkim.ini" &&
		"$OUTPOST" -c "$1" --dkim-keygen "${SENDER#*@}" bench --bits "$BITS" \
			>"$WORK/keygen.log" 2>&1
}

declare -A MODE_OF SIGNCHECK
FAILS=

bench_run() {
	local mode=$1 run=$1.$2 root rc conf=
	root=$WORK/$run
	MODE_OF[$run]=$mode
	sync
	sleep "$PAUSE"
	fresh_fs "$run"
	mkdir -p "$root"
	[ "$mode" = dkim ] && conf=config_dkim
	WAIT_EMPTY=1 bench_outpost_relay "$run" "$root" ${conf:+"$conf"}
	rc=$?
	if [ "$mode" = dkim ] && [ $rc -eq 0 ]; then
		if grep -q 'not signed' "$WORK/$run.log"; then
			SIGNCHECK[$run]=FAILED
			FAILS="${FAILS}FAILED: $run: $(grep -m 1 'not signed' "$WORK/$run.log")
"
			rc=1
		else
			SIGNCHECK[$run]=ok
		fi
	fi
	release_fs "$run"
	[ "$FRESH_FS" = 1 ] || rm -rf "$root"
	return $rc
}

fstype=$(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 }')
echo "Cost of DKIM signing (RSA-$BITS, relaxed/relaxed), smtp-source -> outpost -> smtp-sink:" \
	"$MESSAGES messages of $SIZE bytes (+ headers), 1 recipient, $CLIENTS parallel" \
	"sessions, $([ "$REUSE" = 1 ] && echo "connections reused" || echo "one connection per message")," \
	"all on 127.0.0.1; timed until the sink has them all; $ROUNDS rounds of: $MODES;" \
	"queue in $WORK ($fstype$([ "$FRESH_FS" = 1 ] && echo ", a fresh loop-mounted ext4 per run"))"
echo

build_outpost || die "cannot build $OUTPOST"
cp "$OUTPOST" "$WORK/outpost" || die "cannot copy $OUTPOST to $WORK"
OUTPOST_BIN=$WORK/outpost
OUTPOST=$OUTPOST_BIN

failed=0
RUNS=
for r in $(seq 1 "$ROUNDS"); do
	for m in $MODES; do
		echo "... $m.$r" >&2
		RUNS="$RUNS $m.$r"
		bench_run "$m" "$r" || failed=1
		[ "${STATUS[$m.$r]:-}" = ok ] &&
			echo "    $m.$r: ${RATE[$m.$r]} msg/s" >&2
	done
done

# CPU ms per message of run $1: (utime + stime) / messages.
cpu_ms() {
	awk -v u="${OP_USR[$1]:-0}" -v s="${OP_SYS[$1]:-0}" -v n="$MESSAGES" \
		'BEGIN { printf "%.3f", (u + s) * 1000 / n }'
}

fmt='%-8s %8s %8s %8s %9s %7s %7s %7s %8s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" run messages seconds 'msg/s' delivered 'op usr' 'op sys' 'cpu%' 'ms/msg' status
for run in $RUNS; do
	if [ "${STATUS[$run]:-}" = ok ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "$run" "$MESSAGES" "${SECS[$run]}" "${RATE[$run]}" \
			"${DELIVERED[$run]:--}" "${OP_USR[$run]:--}" "${OP_SYS[$run]:--}" \
			"${CPU_BUSY[$run]:--}" "$(cpu_ms "$run")" \
			"ok${SIGNCHECK[$run]:+ (signed: ${SIGNCHECK[$run]})}"
	else
		# shellcheck disable=SC2059
		printf "$fmt" "$run" "$MESSAGES" - - "${DELIVERED[$run]:--}" - - - - \
			"${STATUS[$run]:-not run}"
	fi
done
echo
printf '%s' "$FAILS"

# Values of runs of mode $1 that went through: msg/s, or (with $2 = cpu)
# CPU ms per message; one a line.
values() {
	local run
	for run in $RUNS; do
		[ "${MODE_OF[$run]}" = "$1" ] && [ "${STATUS[$run]:-}" = ok ] || continue
		if [ "${2:-}" = cpu ]; then cpu_ms "$run"; echo; else echo "${RATE[$run]}"; fi
	done
}

median() {
	sort -g | awk 'NF { v[++n] = $1 } END {
		if (n == 0) exit
		printf "%.3f", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}'
}

declare -A MED_RATE MED_CPU
printf '%-6s %5s %13s %16s\n' mode runs 'median msg/s' 'median ms/msg'
for m in $MODES; do
	MED_RATE[$m]=$(values "$m" | median)
	MED_CPU[$m]=$(values "$m" cpu | median)
	printf '%-6s %5s %13s %16s\n' "$m" "$(values "$m" | grep -c .)" \
		"${MED_RATE[$m]:--}" "${MED_CPU[$m]:--}"
done
echo
if [ -n "${MED_RATE[off]}" ] && [ -n "${MED_RATE[dkim]}" ]; then
	awk -v a="${MED_RATE[dkim]}" -v b="${MED_RATE[off]}" \
		-v ca="${MED_CPU[dkim]}" -v cb="${MED_CPU[off]}" 'BEGIN {
		printf "throughput dkim/off:        %.3f\n", (b > 0) ? a / b : 0
		d = ca - cb
		printf "CPU ms per message, dkim:   %.3f (off: %.3f; signing adds %.3f)\n", ca, cb, d
		printf "goal: < 1 ms of CPU per signed message end to end: %s (all of relaying it); signing itself: %s\n",
			(ca < 1) ? "met" : "not met", (d < 1) ? "under 1 ms" : "over 1 ms"
	}'
else
	echo "throughput dkim/off: n/a (not measured)"
fi

exit $failed
