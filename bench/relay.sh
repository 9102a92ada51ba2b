#!/bin/bash
# bench/relay.sh: end-to-end relay throughput, on loopback.
#
# Postfix's smtp-source sends the same load (BENCH_CLIENTS parallel
# sessions, BENCH_MESSAGES messages of BENCH_SIZE bytes, one recipient
# each) through each MTA in turn to a Postfix smtp-sink of its own, and
# times each run with the wall clock, from the start of smtp-source until
# the sink has received every message (smtp-sink -c counts them):
#   sink     smtp-source straight into smtp-sink, no MTA: the ceiling
#   postfix  a private Postfix instance in a temp dir, relayhost = the sink
#   haraka   Haraka 3 from the npm registry (installed once into a cache
#            dir), a plugin written here routes every message to the sink
#   outpost  build/outpost, plugins relay and queue/smtp_forward to the sink
#            (one process: smtp.ini nodes=1)
#   outpostN the same with smtp.ini nodes=N, N from 2 to 64 (outpost2: a
#            supervisor and 2 worker processes sharing the listener with
#            SO_REUSEPORT, each with its queue partition); the load
#            starts once the supervisor says READY=1 (sd_notify, received
#            by socat): every worker serves
# then prints messages, seconds and messages/s for each (relayed: until
# the sink has them all; accepted: over the time smtp-source took to hand
# them all over, answered 250) and how busy the machine's CPUs were, the
# ratios Outpost/Postfix, Outpost/Haraka and Outpost/ceiling for each
# Outpost target, whether the targets (>= 4 x Postfix, >= 8 x Haraka,
# >= 0.5 x ceiling) are met, and nodes=N/nodes=1 (relayed and accepted)
# when both ran; and, from the same runs, Outpost's and Postfix's CPU ms per message (user + system of
# all their processes and threads: for outpostN the supervisor and every
# worker, read from /proc before it is stopped) and their ratios. It
# reports; it does not fail on a missed target. Exit status: 0 when every
# selected target ran, 1 when one failed (its row says why), 69 when a
# tool is missing.
#
# Knobs (environment):
#   BENCH_MESSAGES  messages per target (20000)
#   BENCH_CLIENTS   parallel SMTP sessions of smtp-source (50; BENCH_SESSIONS
#                   is read when BENCH_CLIENTS is unset, as in accept.sh)
#   BENCH_SIZE      message payload in bytes, headers not included (2048)
#   BENCH_REUSE     1: send every message of a session over one connection
#                   (smtp-source -d); 0: one connection per message (0)
#   BENCH_TARGETS   which targets, in order ("sink postfix haraka outpost
#                   outpost2")
#   BENCH_TIMEOUT   seconds from the start of smtp-source until the last
#                   delivery before a target is given up (600)
#   BENCH_STALL     seconds without a new delivery, once smtp-source is
#                   done, before a target is given up (30)
#   BENCH_TMPDIR    where the temp dir (queues) goes (${TMPDIR:-/tmp}); put
#                   it on the disk you mean to measure, not on tmpfs, where
#                   the postfix user can reach it
#   BENCH_KEEP      1: keep the temp dir (queues, configs, logs) and say
#                   where (0)
#   BENCH_HARAKA_DIR    npm cache dir of Haraka, reused between runs
#                       (build/bench/haraka)
#   BENCH_HARAKA_NODES  Haraka's smtp.ini nodes: 0 is one process, no
#                       cluster (0)
#   OUTPOST_BIN     the Outpost binary (build/outpost, built if missing)
#
# Everything listens on 127.0.0.1 on free ports (never 25); every wait is
# bounded; an EXIT trap stops whatever was started (smtp-source, the
# sinks, outpost, haraka, the private Postfix) and removes the temp dir.
# Nothing in /etc is changed: Postfix runs from a private config_directory.
# Helpers shared with accept.sh and accounting.sh are in bench/lib.sh.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-20000}
CLIENTS=${BENCH_CLIENTS:-${BENCH_SESSIONS:-50}}
SIZE=${BENCH_SIZE:-2048}
REUSE=${BENCH_REUSE:-0}
TARGETS=${BENCH_TARGETS:-sink postfix haraka outpost outpost2}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
STALL=${BENCH_STALL:-30}
KEEP=${BENCH_KEEP:-0}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}
HK_DIR=${BENCH_HARAKA_DIR:-$REPO/build/bench/haraka}
HK_NODES=${BENCH_HARAKA_NODES:-0}

SENDER=bench@example.test
RCPT=user@example.test
HELO=bench.example.test

BENCH_NAME=relay.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "relay.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts MESSAGES CLIENTS SIZE RUN_TIMEOUT STALL
case $HK_NODES in
'' | *[!0-9]*) [ "$HK_NODES" = cpus ] ||
	die "BENCH_HARAKA_NODES must be a number or 'cpus' (got '$HK_NODES')" ;;
esac
for t in $TARGETS; do
	case $t in
	sink | postfix | haraka | outpost) ;;
	outpost[1-9] | outpost[1-9][0-9])
		if [ "${t#outpost}" -lt 2 ] || [ "${t#outpost}" -gt 64 ]; then
			die "BENCH_TARGETS: '$t': outpostN takes N from 2 to 64"
		fi
		;;
	*) die "BENCH_TARGETS: unknown target '$t' (sink, postfix, haraka, outpost, outpostN)" ;;
	esac
done
want() { case " $TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }

bench_preflight "Postfix's master and smtp-sink -u need it" \
	smtp-source smtp-sink postfix postconf timeout setsid tail
case " $TARGETS " in *" outpost"[0-9]*)
	command -v socat >/dev/null 2>&1 ||
		die "socat not found (outpostN waits for its sd_notify READY=1): run ./scripts/deps.sh bench" ;;
esac
HK_BIN=$HK_DIR/node_modules/Haraka/bin/haraka
if want haraka; then
	command -v node >/dev/null 2>&1 ||
		die "node not found (Haraka needs it): run ./scripts/deps.sh bench"
	[ -f "$HK_BIN" ] || command -v npm >/dev/null 2>&1 ||
		die "npm not found (to install Haraka into $HK_DIR): run ./scripts/deps.sh bench"
fi

# --- temp dir and cleanup -------------------------------------------------

bench_workdir relay

HARAKA_PID=
PF_CPU=

cleanup() {
	trap - EXIT INT TERM HUP
	stop_child "$LOAD_PID" 60
	LOAD_PID=
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	stop_child "$NOTIFY_PID" 10
	NOTIFY_PID=
	stop_group "$HARAKA_PID" 150
	HARAKA_PID=
	stop_postfix
	PF_DIR=
	stop_child "$SINK_PID" 50
	SINK_PID=
	unmount_all
	remove_work
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- targets --------------------------------------------------------------

bench_sink() {
	start_sink sink || return 1
	run_relay sink "$SINK_PORT"
	local rc=$?
	stop_sink sink
	QUEUED[sink]=-
	return $rc
}

# A private Postfix instance in $WORK/postfix (bench_postfix_relay in
# bench/lib.sh writes its config; its queue is on the target's fresh file
# system); PF_CPU: its CPU seconds, user + system.
bench_postfix() {
	local rc
	bench_postfix_relay postfix "$WORK/postfix"
	rc=$?
	[ -n "${OP_USR[postfix]:-}" ] &&
		PF_CPU=$(awk -v u="${OP_USR[postfix]}" -v s="${OP_SYS[postfix]}" \
			'BEGIN { printf "%.2f", u + s }')
	return $rc
}

# Installs Haraka 3 from the npm registry into HK_DIR once; later runs
# reuse it. libmime is pinned: its newest release names exact versions of
# its own dependencies that some registries (mirrors) do not have; Haraka
# uses it only to decode MIME for content plugins, none of which run here.
# --ignore-scripts: no native add-on (modern-syslog, optional) is built.
prepare_haraka() {
	local v why
	v=$(node --version 2>/dev/null)
	v=${v#v}
	case ${v%%.*} in
	'' | *[!0-9]*) ;;
	*) [ "${v%%.*}" -ge 20 ] ||
		note "WARNING: node $v: Haraka 3 wants Node.js >= 20; trying anyway" ;;
	esac
	if [ -f "$HK_BIN" ]; then
		v=$(node -p "require('$HK_DIR/node_modules/Haraka/package.json').version" 2>/dev/null)
		case $v in 3.*) HK_VERSION=$v; return 0 ;; esac
	fi
	command -v npm >/dev/null 2>&1 || {
		STATUS[haraka]="FAILED: npm not found: run ./scripts/deps.sh bench"
		return 1
	}
	mkdir -p "$HK_DIR" || { STATUS[haraka]="FAILED: cannot create $HK_DIR"; return 1; }
	cat >"$HK_DIR/package.json" <<'EOF'
{
  "name": "outpost-bench-haraka",
  "description": "Haraka for bench/relay.sh; installed by it, reused between runs",
  "private": true,
  "dependencies": { "Haraka": "3" },
  "overrides": { "libmime": "5.4.8" }
}
EOF
	note "installing Haraka 3 into $HK_DIR (npm install; once)"
	if ! (cd "$HK_DIR" && timeout 900 npm install --no-audit --no-fund \
		--omit=dev --ignore-scripts --loglevel=error) \
		>"$HK_DIR/npm-install.log" 2>&1 || [ ! -f "$HK_BIN" ]; then
		why=$(grep 'npm error' "$HK_DIR/npm-install.log" |
			grep -Ev 'npm error (code|syscall|errno|A complete log)|In most cases' |
			head -n 1)
		[ -n "$why" ] || why=$(tail -n 1 "$HK_DIR/npm-install.log")
		STATUS[haraka]="FAILED: npm install Haraka@3 in $HK_DIR: $why (log: $HK_DIR/npm-install.log)"
		return 1
	fi
	v=$(node -p "require('$HK_DIR/node_modules/Haraka/package.json').version" 2>/dev/null)
	case $v in 3.*) HK_VERSION=$v ;;
	*)
		STATUS[haraka]="FAILED: npm installed Haraka '$v' in $HK_DIR, not 3.x"
		return 1
		;;
	esac
	return 0
}
HK_VERSION=

# Haraka's config dir $1: listener on 127.0.0.1:$2, plugins relay (ACL:
# 127.0.0.0/8) and outpost_bench (written here: every message's MX is the
# sink on 127.0.0.1:$3, and no reverse DNS lookup of clients), queue in
# $1/queue, log level warn.
haraka_config() {
	local d=$1 port=$2 sink=$3
	# haraka -i writes the config files Haraka needs (connection.ini,
	# ...); those below replace or add to them.
	timeout 60 node "$HK_BIN" -i "$d" >"$WORK/haraka-init.log" 2>&1 &&
		[ -f "$d/config/connection.ini" ] || return 1
	mkdir -p "$d/queue" || return 1
	cat >"$d/config/smtp.ini" <<EOF
; Haraka of bench/relay.sh
[main]
listen=127.0.0.1:$port
nodes=$HK_NODES
inactivity_timeout=60
force_shutdown_timeout=10
public_ip=127.0.0.1
EOF
	printf 'haraka-bench.invalid\n' >"$d/config/me"
	printf '%s\n' "$d/queue" >"$d/config/queue_dir"
	printf 'relay\noutpost_bench\n' >"$d/config/plugins"
	printf '[relay]\nacl=true\nforce_routing=false\ndest_domains=false\nall=false\n' \
		>"$d/config/relay.ini"
	printf '127.0.0.0/8\n' >"$d/config/relay_acl_allow"
	printf "[main]\nlevel=warn\nformat=default\ntimestamps=true\n" >"$d/config/log.ini"
	printf 'concurrency_max=1000\nenable_tls=false\n' >"$d/config/outbound.ini"
	cat >"$d/plugins/outpost_bench.js" <<EOF
// outpost_bench: written by bench/relay.sh. Every message goes to the
// benchmark's smtp-sink; clients are not looked up in the DNS.
'use strict'

exports.hook_lookup_rdns = function (next, connection) {
    next(OK, 'localhost')
}

exports.hook_get_mx = function (next, hmail, domain) {
    next(OK, { priority: 0, exchange: '127.0.0.1', port: $sink })
}
EOF
}

bench_haraka() {
	local port rc d=$WORK/haraka
	prepare_haraka || return 1
	start_sink haraka || return 1
	port=$(free_port) || { STATUS[haraka]="FAILED: no free port"; stop_sink haraka; return 1; }
	if ! haraka_config "$d" "$port" "$SINK_PORT"; then
		STATUS[haraka]="FAILED: cannot write its config: $(tail -n 1 "$WORK/haraka-init.log" 2>/dev/null)"
		stop_sink haraka
		return 1
	fi
	# Its own session and process group: stop_group reaches cluster
	# workers too.
	setsid node "$HK_BIN" -c "$d" </dev/null >"$WORK/haraka.log" 2>&1 &
	HARAKA_PID=$!
	if ! wait_port "$port" "$HARAKA_PID" 300; then
		if kill -0 "$HARAKA_PID" 2>/dev/null; then
			STATUS[haraka]="FAILED: haraka does not accept connections on 127.0.0.1:$port after 30s"
		else
			wait "$HARAKA_PID"
			STATUS[haraka]="FAILED: haraka exited ($?): $(grep -v '^[[:space:]]*$' "$WORK/haraka.log" | tail -n 1)"
		fi
		stop_group "$HARAKA_PID" 50
		HARAKA_PID=
		stop_sink haraka
		return 1
	fi
	run_relay haraka "$port"
	rc=$?
	stop_group "$HARAKA_PID" 150
	HARAKA_PID=
	check_closed haraka "$port"
	stop_sink haraka
	QUEUED[haraka]=$(count_files "$d/queue" ! -name '.*' ! -name 'error.*')
	return $rc
}

bench_outpost() {
	bench_outpost_relay outpost "$WORK/outpost"
}

# outpostN: smtp.ini nodes=N (bench_outpost_relay reads NODES).
bench_outpost_nodes() {
	NODES=${1#outpost} bench_outpost_relay "$1" "$WORK/$1"
}

# The label of an Outpost target in the figures below.
op_label() {
	case $1 in
	outpost) echo "Outpost nodes=1" ;;
	*) echo "Outpost nodes=${1#outpost}" ;;
	esac
}

# --- run ------------------------------------------------------------------

fstype=$(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 }')
echo "Relay throughput, smtp-source -> MTA -> smtp-sink: $MESSAGES messages" \
	"of $SIZE bytes (+ headers), 1 recipient, $CLIENTS parallel sessions," \
	"$([ "$REUSE" = 1 ] && echo "connections reused" || echo "one connection per message")," \
	"all on 127.0.0.1; timed until the sink has them all; queues in $WORK ($fstype$([ "${BENCH_FRESH_FS:-1}" = 1 ] && echo ", a fresh loop-mounted ext4 per MTA"))"
case $fstype in tmpfs | ramfs)
	echo "WARNING: $WORK is on $fstype: fsync costs nothing there; set BENCH_TMPDIR to a disk" ;;
esac
echo

# Each MTA gets a fresh ext4 file system for its queue (fresh_fs in
# bench/lib.sh says why); BENCH_FRESH_FS=0 uses $WORK as it is.
FRESH_FS=${BENCH_FRESH_FS:-1}

failed=0
for t in $TARGETS; do
	echo "... $t" >&2
	[ "$t" = sink ] || fresh_fs "$t"
	case $t in
	outpost[0-9]*) bench_outpost_nodes "$t" || failed=1 ;;
	*) "bench_$t" || failed=1 ;;
	esac
done

want haraka && [ -n "$HK_VERSION" ] &&
	echo "haraka: Haraka $HK_VERSION, node $(node --version 2>/dev/null), smtp.ini nodes=$HK_NODES"
# Accepted msg/s: the messages over the time smtp-source took to hand
# them all over (each answered 250); relayed msg/s (msg/s): over the time
# until the sink had them all.
declare -A ACC
for t in $TARGETS; do
	[ "${STATUS[$t]:-}" = ok ] || continue
	[ -n "${LOADSECS[$t]:-}" ] || continue
	ACC[$t]=$(awk -v n="$MESSAGES" -v s="${LOADSECS[$t]}" \
		'BEGIN { printf "%.1f", (s > 0) ? n / s : 0 }')
done
# cpu%: how busy the machine's CPUs were over `seconds` (all of them,
# everything running: the load generator and the sink too).
printf '%-10s %9s %9s %10s %9s %9s %10s %7s %5s  %s\n' target messages seconds 'msg/s' \
	delivered 'load s' 'accepted/s' queued 'cpu%' status
for t in $TARGETS; do
	if [ "${STATUS[$t]:-}" = ok ]; then
		printf '%-10s %9s %9s %10s %9s %9s %10s %7s %5s  %s\n' "$t" "$MESSAGES" "${SECS[$t]}" \
			"${RATE[$t]}" "${DELIVERED[$t]:--}" "${LOADSECS[$t]:--}" \
			"${ACC[$t]:--}" "${QUEUED[$t]:--}" "${CPU_BUSY[$t]:--}" ok
	else
		printf '%-10s %9s %9s %10s %9s %9s %10s %7s %5s  %s\n' "$t" "$MESSAGES" - - \
			"${DELIVERED[$t]:--}" "${LOADSECS[$t]:--}" - "${QUEUED[$t]:--}" - \
			"${STATUS[$t]:-not run}"
	fi
done
echo

for t in $TARGETS; do
	[ "${STATUS[$t]:-}" = ok ] || continue
	if [ "${DELIVERED[$t]}" -ne "$MESSAGES" ]; then
		echo "WARNING: $t: $MESSAGES messages sent but its sink received ${DELIVERED[$t]} (bounces? duplicates?)"
	fi
	case ${QUEUED[$t]} in
	'' | - | 0) ;;
	*) echo "WARNING: $t: ${QUEUED[$t]} files left in its queue after the run" ;;
	esac
done

printf '%s' "$LEFT"

# CPU per message of each Outpost target and Postfix in this run (user +
# system, all their processes and threads, start to end of the run), and
# the ratios.
cpu_ms() { awk -v s="$1" -v n="$MESSAGES" 'BEGIN { printf "%.3f", s * 1000 / n }'; }
declare -A CPU_MS
OPS=
for t in $TARGETS; do
	case $t in outpost | outpost[0-9]*) OPS="$OPS $t" ;; esac
done
for t in $OPS; do
	[ "${STATUS[$t]:-}" = ok ] || continue
	[ -n "${OP_USR[$t]:-}" ] || continue
	CPU_MS[$t]=$(cpu_ms "$(awk -v u="${OP_USR[$t]}" -v s="${OP_SYS[$t]}" 'BEGIN { print u + s }')")
	printf 'CPU ms/msg %-16s %s   (%s msg/s)\n' "$(op_label "$t"):" "${CPU_MS[$t]}" "${RATE[$t]}"
done
if want postfix && [ "${STATUS[postfix]:-}" = ok ] && [ -n "${PF_CPU:-}" ]; then
	CPU_MS[postfix]=$(cpu_ms "$PF_CPU")
	printf 'CPU ms/msg %-16s %s   (%s msg/s)\n' "Postfix:" "${CPU_MS[postfix]}" "${RATE[postfix]}"
fi
for t in $OPS; do
	[ -n "${CPU_MS[$t]:-}" ] || continue
	if [ -n "${CPU_MS[postfix]:-}" ]; then
		awk -v l="$(op_label "$t")" -v o="${CPU_MS[$t]}" -v p="${CPU_MS[postfix]}" 'BEGIN {
			printf "CPU per message %s/Postfix: %.2f (Postfix uses %.1f x %s'"'"'s)\n",
			    l, (p > 0) ? o / p : 0, (o > 0) ? p / o : 0, l }'
	fi
	if [ "$t" != outpost ] && [ -n "${CPU_MS[outpost]:-}" ]; then
		awk -v l="$(op_label "$t")" -v o="${CPU_MS[$t]}" -v p="${CPU_MS[outpost]}" 'BEGIN {
			printf "CPU per message %s/nodes=1: %.2f\n", l, (p > 0) ? o / p : 0 }'
	fi
done

# Relayed (msg/s) and accepted rates as ratios.
for t in $OPS; do
	l=$(op_label "$t")
	l=${l#Outpost }
	[ "$t" = outpost ] && l=Outpost
	want postfix && ratio "$l/Postfix:" "$t" postfix 4
	want haraka && ratio "$l/Haraka:" "$t" haraka 8
	want sink && ratio "$l/ceiling:" "$t" sink 0.5
	want postfix && ratio "$l/Postfix accepted:" "$t" postfix '' ACC
	if [ "$t" != outpost ] && want outpost; then
		ratio "$l/nodes=1:" "$t" outpost ''
		ratio "$l/nodes=1 accepted:" "$t" outpost '' ACC
	fi
done

exit $failed
