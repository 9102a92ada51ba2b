#!/bin/bash
# bench/accounting.sh: what the recording plugins cost end to end.
#
# Relays the load of relay.sh (smtp-source -> MTA -> smtp-sink:
# BENCH_CLIENTS parallel sessions, BENCH_MESSAGES messages of BENCH_SIZE
# bytes, one recipient each) through Outpost in three modes and through
# Postfix, in the same run:
#   off     plugins relay and queue/smtp_forward only (relay.sh's outpost)
#   on      plus outbound_logger ([file] enable=true, sync=true: one JSON
#           line per recipient and event) and accounting_files (sync=true:
#           TSV files per event type), their files on the queue's file
#           system: every record is fsync'd before the queue entry goes
#   nosync  the same with sync=false for both plugins
#   postfix a private Postfix relaying to its own smtp-sink, set up as
#           relay.sh's (bench_postfix_relay in bench/lib.sh), its queue on
#           the run's file system like Outpost's; it has no recording
#           plugins, so it is the peer of all three modes
# BENCH_ROUNDS rounds of the modes in turn (off on nosync postfix off on
# ...), each run on a fresh loop-mounted ext4 (queue and records), so that
# drift on a noisy machine hits every mode alike. Each run is timed like
# relay.sh's: from the start of smtp-source until the sink has every
# message. After each run with the plugins on, the records are checked:
# the JSON log must hold exactly BENCH_MESSAGES "delivered" lines (as many
# distinct job ids) and the accounting delivered files as many data rows
# (a FAILED line says when not). Then it prints a row per run; per mode
# the median msg/s and the median CPU ms per message; the msg/s ratios
# on/off (target >= 0.90: the records cost at most 10%), nosync/off,
# on/nosync and Outpost(on|off|nosync)/Postfix; the CPU ms per message
# ratios Outpost(on|off|nosync)/Postfix; the recording share (on - off) /
# on of CPU ms per message (target <= 20%: at most a fifth of Outpost's CPU
# per message goes to the records) and that of nosync; then the ratios and
# the share round by round (each run against the off or postfix run of its
# round). It reports; it does not fail on a missed target. Exit status: 0
# when every run went through and its records were right, 1 otherwise, 69
# when a tool is missing.
#
# Besides msg/s, each row says where the time went: `empty s` (start of
# smtp-source until the queue was empty: the last records on disk and
# entries removed; for Postfix its incoming, active, deferred, hold and
# maildrop queues), the MTA's own CPU seconds (`usr s`, `sys s`: outpost's
# threads, or every Postfix process, live or reaped by master; read once
# the queue is empty, before the MTA stops, so start-up is counted too),
# that per message (`ms/msg`), the machine's CPU busy, iowait and steal
# (% of all CPUs over the run, /proc/stat) and the journal commits (jbd2)
# of the run's file system.
#
# Knobs (environment):
#   BENCH_MESSAGES  messages per run (20000)
#   BENCH_CLIENTS   parallel SMTP sessions of smtp-source (50; BENCH_SESSIONS
#                   is read when BENCH_CLIENTS is unset)
#   BENCH_SIZE      message payload in bytes, headers not included (2048)
#   BENCH_REUSE     1: send every message of a session over one connection
#                   (smtp-source -d); 0: one connection per message (0)
#   BENCH_ROUNDS    rounds of the modes (2)
#   BENCH_MODES     the modes of a round, in order ("off on nosync
#                   postfix")
#   BENCH_PAUSE     seconds of rest before each run, after a sync (2)
#   BENCH_TIMEOUT   seconds from the start of smtp-source until the last
#                   delivery before a run is given up (600)
#   BENCH_STALL     seconds without a new delivery, once smtp-source is
#                   done, before a run is given up (30)
#   BENCH_TMPDIR    where the temp dir (file system images) goes
#                   (${TMPDIR:-/tmp})
#   BENCH_FRESH_FS  0: no fresh file system per run, use the temp dir (1)
#   BENCH_KEEP      1: keep the temp dir (logs, and the images of the runs'
#                   file systems: mount -o loop to read queue and records)
#                   and say where (0)
#   OUTPOST_BIN     the Outpost binary (build/outpost, built if missing)
#
# Everything listens on 127.0.0.1 on free ports (never 25); every wait is
# bounded; an EXIT trap stops whatever was started (smtp-source, the sink,
# outpost, the private Postfix), unmounts the file systems and removes the
# temp dir. Nothing in /etc is changed: Postfix runs from a private
# config_directory. Helpers shared with relay.sh and accept.sh are in
# bench/lib.sh.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-20000}
CLIENTS=${BENCH_CLIENTS:-${BENCH_SESSIONS:-50}}
SIZE=${BENCH_SIZE:-2048}
REUSE=${BENCH_REUSE:-0}
ROUNDS=${BENCH_ROUNDS:-2}
MODES=${BENCH_MODES:-off on nosync postfix}
PAUSE=${BENCH_PAUSE:-2}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
STALL=${BENCH_STALL:-30}
FRESH_FS=${BENCH_FRESH_FS:-1}
KEEP=${BENCH_KEEP:-0}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}

SENDER=bench@example.test
RCPT=user@example.test
HELO=bench.example.test

BENCH_NAME=accounting.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "accounting.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts MESSAGES CLIENTS SIZE ROUNDS RUN_TIMEOUT STALL
case $PAUSE in '' | *[!0-9]*) die "BENCH_PAUSE must be a number of seconds (got '$PAUSE')" ;; esac
[ -n "$MODES" ] || die "BENCH_MODES is empty"
for m in $MODES; do
	case $m in off | on | nosync | postfix) ;;
	*) die "BENCH_MODES: unknown mode '$m' (off, on, nosync, postfix)" ;;
	esac
done

PF_TOOLS=
case " $MODES " in *" postfix "*) PF_TOOLS="postfix postconf" ;; esac
# shellcheck disable=SC2086
bench_preflight "smtp-sink -u, the loop mounts and Postfix's master need it" \
	smtp-source smtp-sink timeout tail find awk sort $PF_TOOLS
bench_workdir accounting
relay_traps

# --- the modes --------------------------------------------------------------

config_on() { records_config "$1" true; }
config_nosync() { records_config "$1" false; }

# --- checks -----------------------------------------------------------------

declare -A RECORDS COMMITS MODE_OF
FAILS=

# Journal commits so far of the file system on $1 (jbd2's counter), or
# nothing when that is not known (no fresh file system).
jbd2_commits() {
	local dev info
	case " $MOUNTS " in *" $1 "*) ;; *) return 0 ;; esac
	dev=$(findmnt -n -o SOURCE --target "$1" 2>/dev/null) || return 0
	info=/proc/fs/jbd2/${dev#/dev/}-8/info
	[ -r "$info" ] && awk 'NR == 1 { print $1; exit }' "$info"
}

# Checks the records of run $1 (root $2): exactly MESSAGES "delivered"
# lines in the JSON log, with as many distinct job ids, and as many data
# rows (the header line of each file aside) in the accounting delivered
# files, as many distinct jobIds. Fills RECORDS[$1]; adds to FAILS; 1 when
# they are not right.
check_records() {
	local run=$1 root=$2 json acct a why='' extra=''
	local lines=0 dl=0 du=0 rows=0 ru=0
	json=$(log_dir "$root")/outbound.log
	acct=$(acct_dir "$root")
	# lines, delivered lines, distinct job ids among them
	read -r lines dl du < <(awk '/"type":"delivered"/ {
			d++
			if (match($0, /"job_id":"[^"]*"/)) {
				id = substr($0, RSTART, RLENGTH)
				if (!(id in seen)) { seen[id]; u++ }
			}
		}
		END { print NR + 0, d + 0, u + 0 }' "$json" 2>/dev/null)
	lines=${lines:-0} dl=${dl:-0} du=${du:-0}
	[ -f "$json" ] || why="no JSON log $json"
	[ -z "$why" ] && [ "$dl" -ne "$MESSAGES" ] &&
		why="JSON log: $dl delivered lines, not $MESSAGES"
	[ -z "$why" ] && [ "$du" -ne "$MESSAGES" ] &&
		why="JSON log: $du distinct job ids in $dl delivered lines, not $MESSAGES"
	[ "$lines" -ne "$dl" ] && extra="$extra; JSON log: $((lines - dl)) other lines"
	# data rows, distinct jobIds (column found by the header) of delivered
	read -r rows ru < <(find "$acct/delivered" -maxdepth 1 -type f -name 'd.*' \
		-exec awk -F '\t' '
		FNR == 1 { c = 0; for (i = 1; i <= NF; i++) if ($i == "jobId") c = i; next }
		{ n++; if (c && !($c in seen)) { seen[$c]; u++ } }
		END { print n + 0, u + 0 }' {} + 2>/dev/null)
	rows=${rows:-0} ru=${ru:-0}
	[ -z "$why" ] && [ "$rows" -ne "$MESSAGES" ] &&
		why="accounting: $rows delivered rows, not $MESSAGES"
	[ -z "$why" ] && [ "$ru" -ne "$MESSAGES" ] &&
		why="accounting: $ru distinct jobIds in $rows delivered rows, not $MESSAGES"
	a=$(find "$acct" -mindepth 2 -maxdepth 2 -type f \( -name 'df.*' -o -name 'b.*' \) \
		-exec awk 'FNR > 1' {} + 2>/dev/null | wc -l)
	[ "$a" -gt 0 ] && extra="$extra; accounting: $a deferred/bounce rows"
	if [ -n "$why" ]; then
		RECORDS[$run]=FAILED
		FAILS="${FAILS}FAILED: $run: $why$extra
"
		note "$run: FAILED: $why$extra"
		return 1
	fi
	RECORDS[$run]=ok
	[ -n "$extra" ] && FAILS="${FAILS}WARNING: $run: ${extra#; }
"
	return 0
}

# --- runs -------------------------------------------------------------------

# One run: mode $1 of round $2, on a fresh file system.
bench_run() {
	local mode=$1 run=$1.$2 root c0 c1 rc conf=
	root=$WORK/$run
	MODE_OF[$run]=$mode
	sync
	sleep "$PAUSE"
	fresh_fs "$run"
	mkdir -p "$root"
	case $mode in off | postfix) ;; *) conf=config_$mode ;; esac
	c0=$(jbd2_commits "$root")
	if [ "$mode" = postfix ]; then
		WAIT_EMPTY=1 bench_postfix_relay "$run" "$root"
		rc=$?
		PF_DIR=
	else
		WAIT_EMPTY=1 bench_outpost_relay "$run" "$root" ${conf:+"$conf"}
		rc=$?
	fi
	c1=$(jbd2_commits "$root")
	[ -n "$c0" ] && [ -n "$c1" ] && COMMITS[$run]=$((c1 - c0))
	if [ "$mode" = off ] || [ "$mode" = postfix ]; then
		RECORDS[$run]=-
	elif [ $rc -eq 0 ]; then
		check_records "$run" "$root" || rc=1
	fi
	if [ "$KEEP" = 1 ]; then
		release_fs "$run" keep
	else
		release_fs "$run"
		[ "$FRESH_FS" = 1 ] || rm -rf "$root"
	fi
	return $rc
}

fstype=$(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 }')
echo "Cost of the recording plugins, smtp-source -> outpost (or postfix) -> smtp-sink:" \
	"$MESSAGES messages of $SIZE bytes (+ headers), 1 recipient, $CLIENTS parallel" \
	"sessions, $([ "$REUSE" = 1 ] && echo "connections reused" || echo "one connection per message")," \
	"all on 127.0.0.1; timed until the sink has them all; $ROUNDS rounds of: $MODES;" \
	"queue and records in $WORK ($fstype$([ "$FRESH_FS" = 1 ] && echo ", a fresh loop-mounted ext4 per run"))"
case $fstype in tmpfs | ramfs)
	echo "WARNING: $WORK is on $fstype: fsync costs nothing there; set BENCH_TMPDIR to a disk" ;;
esac
echo

# One binary for every run, even if the tree changes meanwhile.
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

# --- report -----------------------------------------------------------------

# CPU ms per message of each run that went through: the MTA's user +
# system CPU seconds over the messages.
declare -A CPU_MS
for run in $RUNS; do
	[ "${STATUS[$run]:-}" = ok ] && [ -n "${OP_USR[$run]:-}" ] || continue
	CPU_MS[$run]=$(awk -v u="${OP_USR[$run]}" -v s="${OP_SYS[$run]}" -v n="$MESSAGES" \
		'BEGIN { printf "%.3f", (u + s) * 1000 / n }')
done

fmt='%-9s %8s %8s %8s %9s %7s %7s %6s %6s %6s %7s %4s %4s %6s %7s %7s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" run messages seconds 'msg/s' delivered 'load s' 'empty s' \
	queued 'usr s' 'sys s' 'ms/msg' 'cpu%' 'iow%' 'steal%' commits 'records' status
for run in $RUNS; do
	if [ "${STATUS[$run]:-}" = ok ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "$run" "$MESSAGES" "${SECS[$run]}" "${RATE[$run]}" \
			"${DELIVERED[$run]:--}" "${LOADSECS[$run]:--}" \
			"${EMPTYSECS[$run]:--}" "${QUEUED[$run]:--}" \
			"${OP_USR[$run]:--}" "${OP_SYS[$run]:--}" "${CPU_MS[$run]:--}" \
			"${CPU_BUSY[$run]:--}" "${CPU_IOWAIT[$run]:--}" \
			"${CPU_STEAL[$run]:--}" "${COMMITS[$run]:--}" \
			"${RECORDS[$run]:--}" ok
	else
		# shellcheck disable=SC2059
		printf "$fmt" "$run" "$MESSAGES" - - "${DELIVERED[$run]:--}" \
			"${LOADSECS[$run]:--}" - "${QUEUED[$run]:--}" - - - - - - - \
			"${RECORDS[$run]:--}" "${STATUS[$run]:-not run}"
	fi
done
echo "(usr s, sys s: the MTA's CPU seconds; ms/msg: its CPU ms per message)"
echo

for run in $RUNS; do
	[ "${STATUS[$run]:-}" = ok ] || continue
	[ "${DELIVERED[$run]}" -ne "$MESSAGES" ] &&
		echo "WARNING: $run: $MESSAGES messages sent but its sink received ${DELIVERED[$run]} (bounces? duplicates?)"
	case ${QUEUED[$run]} in
	'' | - | 0) ;;
	*) echo "WARNING: $run: ${QUEUED[$run]} files left in its queue after the run" ;;
	esac
done
printf '%s' "$FAILS"
printf '%s' "$LEFT"

# The figures (array $2: RATE or CPU_MS) of the runs of mode $1 that went
# through, one a line.
figures() {
	local run
	local -n fig=$2
	for run in $RUNS; do
		[ "${MODE_OF[$run]}" = "$1" ] && [ "${STATUS[$run]:-}" = ok ] &&
			[ -n "${fig[$run]:-}" ] && echo "${fig[$run]}"
	done
}

# median of the numbers on stdin ("" when none), with $1 decimals
median() {
	sort -g | awk -v d="${1:-1}" '{ v[NR] = $1 } END {
		if (NR == 0) exit
		printf "%.*f", d, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	}'
}

declare -A MEDIAN MEDIAN_MS
fmt='%-8s %5s %12s %10s %10s %14s %10s %10s\n'
# shellcheck disable=SC2059
printf "$fmt" mode runs 'median msg/s' 'min' 'max' 'median ms/msg' 'min' 'max'
for m in $MODES; do
	case " ${!MEDIAN[*]} " in *" $m "*) continue ;; esac
	MEDIAN[$m]=$(figures "$m" RATE | median 1)
	MEDIAN_MS[$m]=$(figures "$m" CPU_MS | median 3)
	n=$(figures "$m" RATE | wc -l)
	if [ "$n" -gt 0 ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "$m" "$n" "${MEDIAN[$m]}" \
			"$(figures "$m" RATE | sort -g | head -n 1)" \
			"$(figures "$m" RATE | sort -g | tail -n 1)" \
			"${MEDIAN_MS[$m]:--}" \
			"$(figures "$m" CPU_MS | sort -g | head -n 1)" \
			"$(figures "$m" CPU_MS | sort -g | tail -n 1)"
	else
		# shellcheck disable=SC2059
		printf "$fmt" "$m" 0 - - - - - -
	fi
done
echo

# mode_ratio NAME NUMERATOR-MODE DENOMINATOR-MODE [MINIMUM [ARRAY]]: the
# ratio of the medians (MEDIAN: msg/s, or ARRAY, e.g. MEDIAN_MS: CPU ms per
# message) against a target.
mode_ratio() {
	local -n med=${5:-MEDIAN}
	local a=${med[$2]:-} b=${med[$3]:-}
	if [ -z "$a" ] || [ -z "$b" ]; then
		printf '%-34s %6s   (not measured)\n' "$1" n/a
		return
	fi
	awk -v name="$1" -v a="$a" -v b="$b" -v min="${4:-}" 'BEGIN {
		r = (b > 0) ? a / b : 0
		printf "%-34s %6.3f", name, r
		if (min != "")
			printf "   (target >= %s: %s)", min, (r >= min) ? "met" : "not met"
		printf "\n"
	}'
}

# share NAME WITH WITHOUT A B: (A - B) / A as a per cent (A: CPU ms per
# message with the records, B: without), against the target <= 20% when
# WITH is on.
share() {
	local a=$4 b=$5
	if [ -z "$a" ] || [ -z "$b" ]; then
		printf '%-34s %6s   (not measured)\n' "$1" n/a
		return
	fi
	awk -v name="$1" -v a="$a" -v b="$b" -v t="$([ "$2" = on ] && echo 20)" 'BEGIN {
		r = (a > 0) ? (a - b) * 100 / a : 0
		printf "%-34s %5.1f%%", name, r
		if (t != "")
			printf "   (target <= %s%%: %s)", t, (r <= t) ? "met" : "not met"
		printf "\n"
	}'
}

want_mode() { case " $MODES " in *" $1 "*) return 0 ;; esac; return 1; }

echo "Throughput (median msg/s):"
want_mode on && want_mode off && mode_ratio 'on/off (sync=true):' on off 0.90
want_mode nosync && want_mode off && mode_ratio 'nosync/off (sync=false):' nosync off
want_mode on && want_mode nosync && mode_ratio 'on/nosync (the fsyncs):' on nosync
if want_mode postfix; then
	for m in on off nosync; do
		want_mode "$m" && mode_ratio "Outpost($m)/Postfix:" "$m" postfix
	done
fi
echo
echo "CPU per message (median CPU ms per message):"
if want_mode postfix; then
	for m in on off nosync; do
		want_mode "$m" && mode_ratio "Outpost($m)/Postfix:" "$m" postfix '' MEDIAN_MS
	done
fi
want_mode on && want_mode off &&
	share 'recording share (on - off) / on:' on off "${MEDIAN_MS[on]:-}" "${MEDIAN_MS[off]:-}"
want_mode nosync && want_mode off &&
	share 'nosync share (nosync - off) / nosync:' nosync off "${MEDIAN_MS[nosync]:-}" "${MEDIAN_MS[off]:-}"
echo

# The same, round by round: each run against the off (or postfix) run of
# its round.
# round_line NAME A-MODE B-MODE ARRAY KIND: KIND ratio (A/B) or share
# ((A - B) / A, per cent) of each round where both went through.
round_line() {
	local -n fig=$4
	local r line=
	for r in $(seq 1 "$ROUNDS"); do
		[ -n "${fig[$2.$r]:-}" ] && [ -n "${fig[$3.$r]:-}" ] || continue
		line="$line $(awk -v a="${fig[$2.$r]}" -v b="${fig[$3.$r]}" -v k="$5" 'BEGIN {
			if (k == "share") printf "%.1f%%", (a > 0) ? (a - b) * 100 / a : 0
			else printf "%.3f", (b > 0) ? a / b : 0 }')"
	done
	[ -n "$line" ] && printf '%-42s%s\n' "$1" "$line"
	return 0
}
echo "Round by round:"
for m in on nosync; do
	want_mode "$m" && want_mode off &&
		round_line "$m/off msg/s:" "$m" off RATE ratio
done
if want_mode postfix; then
	for m in on off nosync; do
		want_mode "$m" || continue
		round_line "Outpost($m)/Postfix msg/s:" "$m" postfix RATE ratio
		round_line "Outpost($m)/Postfix CPU ms/msg:" "$m" postfix CPU_MS ratio
	done
fi
want_mode on && want_mode off &&
	round_line "recording share of CPU ms/msg:" on off CPU_MS share

exit $failed
