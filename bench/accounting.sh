#!/bin/bash
# bench/accounting.sh: what the recording plugins cost end to end.
#
# Relays the load of relay.sh (smtp-source -> build/outpost -> smtp-sink:
# BENCH_CLIENTS parallel sessions, BENCH_MESSAGES messages of BENCH_SIZE
# bytes, one recipient each) through Outpost in three modes, in the same
# run:
#   off     plugins relay and queue/smtp_forward only (relay.sh's outpost)
#   on      plus outbound_logger ([file] enable=true, sync=true: one JSON
#           line per recipient and event) and accounting_files (sync=true:
#           TSV files per event type), their files on the queue's file
#           system: every record is fsync'd before the queue entry goes
#   nosync  the same with sync=false for both plugins
# BENCH_ROUNDS rounds of the modes in turn (off on nosync off on nosync
# ...), each run on a fresh loop-mounted ext4 (queue and records), so that
# drift on a noisy machine hits every mode alike. Each run is timed like
# relay.sh's: from the start of smtp-source until the sink has every
# message. After each run with the plugins on, the records are checked:
# the JSON log must hold exactly BENCH_MESSAGES "delivered" lines (as many
# distinct job ids) and the accounting delivered files as many data rows
# (a FAILED line says when not). Then it prints a row per run, the median
# msg/s per mode, and the ratios on/off (target >= 0.90: the records cost
# at most 10%) and nosync/off. It reports; it does not fail on a missed
# target. Exit status: 0 when every run went through and its records were
# right, 1 otherwise, 69 when a tool is missing.
#
# Besides msg/s, each row says where the time went: `empty s` (start of
# smtp-source until the queue was empty: the last records on disk and
# entries removed), outpost's own CPU seconds (user+sys, all threads),
# the machine's CPU busy, iowait and steal (% of all CPUs over the run,
# /proc/stat) and the journal commits (jbd2) of the run's file system.
#
# Knobs (environment):
#   BENCH_MESSAGES  messages per run (20000)
#   BENCH_CLIENTS   parallel SMTP sessions of smtp-source (50; BENCH_SESSIONS
#                   is read when BENCH_CLIENTS is unset)
#   BENCH_SIZE      message payload in bytes, headers not included (2048)
#   BENCH_REUSE     1: send every message of a session over one connection
#                   (smtp-source -d); 0: one connection per message (0)
#   BENCH_ROUNDS    rounds of the modes (2)
#   BENCH_MODES     the modes of a round, in order ("off on nosync")
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
# outpost), unmounts the file systems and removes the temp dir. Helpers
# shared with relay.sh and accept.sh are in bench/lib.sh.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-20000}
CLIENTS=${BENCH_CLIENTS:-${BENCH_SESSIONS:-50}}
SIZE=${BENCH_SIZE:-2048}
REUSE=${BENCH_REUSE:-0}
ROUNDS=${BENCH_ROUNDS:-2}
MODES=${BENCH_MODES:-off on nosync}
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
	case $m in off | on | nosync) ;;
	*) die "BENCH_MODES: unknown mode '$m' (off, on, nosync)" ;;
	esac
done

bench_preflight "smtp-sink -u and the loop mounts need it" \
	smtp-source smtp-sink timeout tail find awk sort
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
	[ "$mode" = off ] || conf=config_$mode
	c0=$(jbd2_commits "$root")
	WAIT_EMPTY=1 bench_outpost_relay "$run" "$root" ${conf:+"$conf"}
	rc=$?
	c1=$(jbd2_commits "$root")
	[ -n "$c0" ] && [ -n "$c1" ] && COMMITS[$run]=$((c1 - c0))
	if [ "$mode" = off ]; then
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
echo "Cost of the recording plugins, smtp-source -> outpost -> smtp-sink:" \
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

fmt='%-9s %8s %8s %8s %9s %7s %7s %6s %6s %6s %4s %4s %6s %7s %7s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" run messages seconds 'msg/s' delivered 'load s' 'empty s' \
	queued 'op usr' 'op sys' 'cpu%' 'iow%' 'steal%' commits 'records' status
for run in $RUNS; do
	if [ "${STATUS[$run]:-}" = ok ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "$run" "$MESSAGES" "${SECS[$run]}" "${RATE[$run]}" \
			"${DELIVERED[$run]:--}" "${LOADSECS[$run]:--}" \
			"${EMPTYSECS[$run]:--}" "${QUEUED[$run]:--}" \
			"${OP_USR[$run]:--}" "${OP_SYS[$run]:--}" \
			"${CPU_BUSY[$run]:--}" "${CPU_IOWAIT[$run]:--}" \
			"${CPU_STEAL[$run]:--}" "${COMMITS[$run]:--}" \
			"${RECORDS[$run]:--}" ok
	else
		# shellcheck disable=SC2059
		printf "$fmt" "$run" "$MESSAGES" - - "${DELIVERED[$run]:--}" \
			"${LOADSECS[$run]:--}" - "${QUEUED[$run]:--}" - - - - - - \
			"${RECORDS[$run]:--}" "${STATUS[$run]:-not run}"
	fi
done
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

# The msg/s of the runs of mode $1 that went through, one a line.
rates() {
	local run
	for run in $RUNS; do
		[ "${MODE_OF[$run]}" = "$1" ] && [ "${STATUS[$run]:-}" = ok ] &&
			echo "${RATE[$run]}"
	done
}

# median of the numbers on stdin ("" when none)
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit
		printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	}'
}

declare -A MEDIAN
printf '%-8s %5s %12s %10s %10s\n' mode runs 'median msg/s' 'min' 'max'
for m in $MODES; do
	case " ${!MEDIAN[*]} " in *" $m "*) continue ;; esac
	MEDIAN[$m]=$(rates "$m" | median)
	n=$(rates "$m" | wc -l)
	if [ "$n" -gt 0 ]; then
		printf '%-8s %5s %12s %10s %10s\n' "$m" "$n" "${MEDIAN[$m]}" \
			"$(rates "$m" | sort -g | head -n 1)" "$(rates "$m" | sort -g | tail -n 1)"
	else
		printf '%-8s %5s %12s %10s %10s\n' "$m" 0 - - -
	fi
done
echo

# mode_ratio NAME NUMERATOR-MODE DENOMINATOR-MODE [MINIMUM]
mode_ratio() {
	local a=${MEDIAN[$2]:-} b=${MEDIAN[$3]:-}
	if [ -z "$a" ] || [ -z "$b" ]; then
		printf '%-26s %6s   (not measured)\n' "$1" n/a
		return
	fi
	awk -v name="$1" -v a="$a" -v b="$b" -v min="${4:-}" 'BEGIN {
		r = (b > 0) ? a / b : 0
		printf "%-26s %6.3f", name, r
		if (min != "")
			printf "   (target >= %s: %s)", min, (r >= min) ? "met" : "not met"
		printf "\n"
	}'
}
mode_ratio 'on/off (sync=true):' on off 0.90
mode_ratio 'nosync/off (sync=false):' nosync off
mode_ratio 'on/nosync (the fsyncs):' on nosync

# The same, round by round: each run against the off run of its round.
for m in on nosync; do
	line=
	for r in $(seq 1 "$ROUNDS"); do
		[ "${STATUS[$m.$r]:-}" = ok ] && [ "${STATUS[off.$r]:-}" = ok ] || continue
		line="$line $(awk -v a="${RATE[$m.$r]}" -v b="${RATE[off.$r]}" \
			'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
	done
	[ -n "$line" ] && printf '%-26s%s\n' "$m/off round by round:" "$line"
done

exit $failed
