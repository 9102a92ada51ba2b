#!/bin/bash
# bench/accept.sh: accept rate into a durable queue, on loopback.
#
# Postfix's smtp-source sends the same load (BENCH_SESSIONS parallel
# sessions, BENCH_MESSAGES messages of BENCH_SIZE bytes, one recipient
# each) to each server in turn and times each run with the wall clock:
#   smtp-sink  Postfix's test sink, no queue at all: the ceiling
#   outpost    build/outpost; answers 250 only after the entry is fsync'd
#              (one process: smtp.ini nodes=1)
#   outpostN   the same with smtp.ini nodes=N, N from 2 to 64 (outpost2: a
#              supervisor and 2 worker processes sharing the listener with
#              SO_REUSEPORT, each with its queue partition); timed once
#              the supervisor says READY=1 (socat receives it)
#   postfix    a private Postfix instance in a temp dir; smtpd + cleanup
#              write every message into its queue (fsync'd), where it sits
#              on hold: nothing is delivered
# then prints messages, seconds and messages/s for each, the ratios
# Outpost/smtp-sink and Outpost/Postfix for each Outpost target and
# whether the targets (>= 0.5 x smtp-sink, >= 3 x Postfix) are met, and
# nodes=N/nodes=1 when both ran. It reports; it does not
# fail on a missed target. Exit status: 0 when every selected target ran,
# 1 when one failed (its row says why), 69 when a tool is missing.
#
# Knobs (environment):
#   BENCH_MESSAGES  messages per target (20000)
#   BENCH_SESSIONS  parallel SMTP sessions (50)
#   BENCH_SIZE      message payload in bytes, headers not included (2048)
#   BENCH_REUSE     1: send every message of a session over one connection
#                   (smtp-source -d); 0: one connection per message (0)
#   BENCH_TARGETS   which targets, in order ("sink outpost outpost2 postfix")
#   BENCH_TIMEOUT   seconds one load run may take before it is killed (600)
#   BENCH_TMPDIR    where the temp dir (queues) goes (${TMPDIR:-/tmp}); put
#                   it on the disk you mean to measure, not on tmpfs, where
#                   the postfix user can reach it
#   BENCH_KEEP      1: keep the temp dir (queues, logs) and say where (0)
#   OUTPOST_BIN     the Outpost binary (build/outpost, built if missing)
#
# Everything listens on 127.0.0.1 on free ports (never 25); every wait is
# bounded; an EXIT trap stops whatever was started (smtp-sink, outpost, the
# private Postfix) and removes the temp dir. Helpers shared with relay.sh
# and accounting.sh are in bench/lib.sh.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-20000}
SESSIONS=${BENCH_SESSIONS:-50}
SIZE=${BENCH_SIZE:-2048}
REUSE=${BENCH_REUSE:-0}
TARGETS=${BENCH_TARGETS:-sink outpost outpost2 postfix}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}
KEEP=${BENCH_KEEP:-0}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}

SENDER=bench@example.test
RCPT=user@example.test
HELO=bench.example.test

BENCH_NAME=accept.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "accept.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts MESSAGES SESSIONS SIZE RUN_TIMEOUT
want() { case " $TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
for t in $TARGETS; do
	case $t in
	sink | outpost | postfix) ;;
	outpost[1-9] | outpost[1-9][0-9])
		if [ "${t#outpost}" -lt 2 ] || [ "${t#outpost}" -gt 64 ]; then
			die "BENCH_TARGETS: '$t': outpostN takes N from 2 to 64"
		fi
		;;
	*) die "BENCH_TARGETS: unknown target '$t' (sink, outpost, outpostN, postfix)" ;;
	esac
done
case " $TARGETS " in *" outpost"[0-9]*)
	command -v socat >/dev/null 2>&1 ||
		die "socat not found (outpostN waits for its sd_notify READY=1): run ./scripts/deps.sh bench" ;;
esac

PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin
for tool in smtp-source smtp-sink postfix postconf timeout; do
	command -v $tool >/dev/null 2>&1 ||
		die "$tool not found: run ./scripts/deps.sh bench (as root)"
done
[ "$(id -u)" -eq 0 ] || die "run as root (Postfix's master and smtp-sink -u need it)"
id postfix >/dev/null 2>&1 || die "no user 'postfix': run ./scripts/deps.sh bench"

# --- temp dir and cleanup -------------------------------------------------

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/outpost-bench.XXXXXX") ||
	die "cannot create a temp dir"
chmod 755 "$WORK"	# the postfix user must reach the private queue

cleanup() {
	trap - EXIT INT TERM HUP
	stop_child "$LOAD_PID" 60
	LOAD_PID=
	stop_child "$SINK_PID" 50
	SINK_PID=
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	stop_child "$NOTIFY_PID" 10
	NOTIFY_PID=
	stop_postfix
	PF_DIR=
	remove_work
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- load -----------------------------------------------------------------

declare -A SECS RATE QUEUED STATUS

# Runs smtp-source against 127.0.0.1:$2 for target $1; fills SECS/RATE.
run_load() {
	local name=$1 port=$2 log=$WORK/$1.smtp-source.log
	local opts=(-s "$SESSIONS" -l "$SIZE" -m "$MESSAGES" -r 1
		-f "$SENDER" -t "$RCPT" -M "$HELO")
	[ "$REUSE" = 1 ] && opts+=(-d)
	local t0 t1 rc
	# In the background, so that a signal to this script is acted on at
	# once (bash runs traps only between commands, or during a wait).
	t0=$(date +%s.%N)
	timeout -k 5 "$RUN_TIMEOUT" smtp-source "${opts[@]}" "127.0.0.1:$port" \
		</dev/null >"$log" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID"
	rc=$?
	t1=$(date +%s.%N)
	LOAD_PID=
	if [ $rc -ne 0 ]; then
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			STATUS[$name]="FAILED: load not done after ${RUN_TIMEOUT}s"
		else
			STATUS[$name]="FAILED: smtp-source exit $rc: $(tail -n 1 "$log")"
		fi
		return 1
	fi
	SECS[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	RATE[$name]=$(awk -v n="$MESSAGES" -v s="${SECS[$name]}" \
		'BEGIN { printf "%.1f", (s > 0) ? n / s : 0 }')
	STATUS[$name]=ok
	return 0
}

# --- targets --------------------------------------------------------------

bench_sink() {
	local port
	port=$(free_port) || { STATUS[sink]="FAILED: no free port"; return 1; }
	smtp-sink -u postfix "127.0.0.1:$port" 256 \
		</dev/null >"$WORK/sink.log" 2>&1 &
	SINK_PID=$!
	if ! wait_port "$port" "$SINK_PID" 100; then
		STATUS[sink]="FAILED: smtp-sink did not listen: $(tail -n 1 "$WORK/sink.log")"
		stop_child "$SINK_PID" 20
		SINK_PID=
		return 1
	fi
	run_load sink "$port"
	local rc=$?
	stop_child "$SINK_PID" 50
	SINK_PID=
	check_closed sink "$port"
	QUEUED[sink]=-
	return $rc
}

# Target $1 (outpost, or outpostN: smtp.ini nodes=N) in $WORK/$1.
bench_outpost() {
	local name=$1 nodes=1 port root=$WORK/$1 rc dead
	case $name in outpost[0-9]*) nodes=${name#outpost} ;; esac
	build_outpost || { STATUS[$name]="FAILED: cannot build $OUTPOST"; return 1; }
	port=$(free_port) || { STATUS[$name]="FAILED: no free port"; return 1; }
	dead=$(free_port) || { STATUS[$name]="FAILED: no free port"; return 1; }
	if ! timeout 30 "$OUTPOST" -i "$root" >"$WORK/$name-init.log" 2>&1; then
		STATUS[$name]="FAILED: outpost -i: $(tail -n 1 "$WORK/$name-init.log")"
		return 1
	fi
	local c=$root/config
	printf '[main]\nlisten=127.0.0.1:%s\n' "$port" >"$c/smtp.ini"
	[ "$nodes" -gt 1 ] && printf 'nodes=%s\n' "$nodes" >>"$c/smtp.ini"
	printf 'relay\n' >"$c/plugins"
	printf '[relay]\nacl=true\n' >"$c/relay.ini"
	printf '127.0.0.0/8\n' >"$c/relay_acl_allow"
	printf '[main]\nlevel=warn\n' >"$c/log.ini"
	# Every client comes from 127.0.0.1: no limit per address (the default
	# of 50 would refuse more than 50 parallel clients, and with one
	# connection per message a client can reconnect before the daemon has
	# seen its last connection end); Postfix runs with its limit off too.
	printf '[max]\nconnections_per_ip=0\n' >"$c/connection.ini"
	# Accept and queue only: delivery is paused, and should anything
	# still resolve a name, it asks a closed loopback port, never the
	# system resolver.
	printf 'disabled=true\n' >"$c/outbound.ini"
	printf '[dns]\nservers=127.0.0.1:%s\n' "$dead" >"$c/net-utils.ini"

	outpost_start "$name" "$root" "$port" "$nodes" || return 1
	run_load "$name" "$port"
	rc=$?
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	check_closed "$name" "$port"
	local q=$root/queue
	[ -f "$c/queue_dir" ] && {
		q=$(sed -n '/^[[:space:]]*[^#;[:space:]]/{s/^[[:space:]]*//;s/[[:space:]]*$//;p;q}' "$c/queue_dir")
		case $q in /*) ;; *) q=$root/${q:-queue} ;; esac
	}
	QUEUED[$name]=$(outpost_queued "$q" ! -name 'msg.*')	# entries, not bodies
	return $rc
}

# Writes the private instance's main.cf and master.cf into $PF_DIR/etc.
# Nothing of the system instance (/etc/postfix, /var/spool/postfix, port
# 25) is used or touched: its own queue_directory and data_directory, its
# own log file, smtpd on 127.0.0.1:$1 only, no chroot, and accepted mail
# is put on hold (cleanup writes it straight into hold/, fsync'd) so that
# nothing is ever delivered: should a message escape the hold, qmgr defers
# every transport, and master.cf runs no delivery agent at all.
postfix_config() {
	local port=$1 d=$PF_DIR
	mkdir -p "$d/etc" "$d/spool" "$d/data" || return 1
	chown postfix "$d/data" || return 1
	cat >"$d/etc/main.cf" <<EOF
# Private Postfix instance of bench/accept.sh; removed after the run.
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $d/maillog
maillog_file_prefixes = $d
syslog_name = postfix-bench
myhostname = postfix-bench.invalid
mydomain = invalid
myorigin = \$myhostname
mydestination =
relay_domains =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_data_restrictions = check_client_access static:HOLD
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtpd_peername_lookup = no
defer_transports = smtp, relay, local, virtual, lmtp, error, retry
smtp_dns_support_level = disabled
EOF
	postfix_master_cf "$port" - >"$d/etc/master.cf"
}

bench_postfix() {
	local port rc
	port=$(free_port) || { STATUS[postfix]="FAILED: no free port"; return 1; }
	PF_DIR=$WORK/postfix
	postfix_config "$port" || { STATUS[postfix]="FAILED: cannot write its config"; return 1; }
	local log=$PF_DIR/control.log
	if ! timeout 60 postfix -c "$PF_DIR/etc" check >>"$log" 2>&1 ||
		! timeout 60 postfix -c "$PF_DIR/etc" start >>"$log" 2>&1; then
		STATUS[postfix]="FAILED: postfix start: $(tail -n 1 "$log") $(tail -n 1 "$PF_DIR/maillog" 2>/dev/null)"
		stop_postfix
		return 1
	fi
	if ! wait_port "$port" "" 100; then
		STATUS[postfix]="FAILED: private smtpd does not listen: $(tail -n 1 "$PF_DIR/maillog" 2>/dev/null)"
		stop_postfix
		return 1
	fi
	run_load postfix "$port"
	rc=$?
	stop_postfix
	check_closed postfix "$port"
	QUEUED[postfix]=$(find "$PF_DIR/spool/hold" "$PF_DIR/spool/incoming" \
		"$PF_DIR/spool/active" "$PF_DIR/spool/deferred" -type f 2>/dev/null | wc -l)
	return $rc
}

# --- run ------------------------------------------------------------------

fstype=$(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 }')
echo "Accept rate into a durable queue: $MESSAGES messages of $SIZE bytes" \
	"(+ headers), 1 recipient, $SESSIONS parallel sessions," \
	"$([ "$REUSE" = 1 ] && echo "connections reused" || echo "one connection per message")," \
	"smtp-source on 127.0.0.1; queues in $WORK ($fstype)"
case $fstype in tmpfs | ramfs)
	echo "WARNING: $WORK is on $fstype: fsync costs nothing there; set BENCH_TMPDIR to a disk" ;;
esac
echo

failed=0
for t in $TARGETS; do
	echo "... $t" >&2
	case $t in
	outpost*) bench_outpost "$t" || failed=1 ;;
	*) "bench_$t" || failed=1 ;;
	esac
done

printf '%-10s %9s %9s %10s %9s  %s\n' target messages seconds 'msg/s' queued status
for t in $TARGETS; do
	if [ "${STATUS[$t]:-}" = ok ]; then
		printf '%-10s %9s %9s %10s %9s  %s\n' "$t" "$MESSAGES" "${SECS[$t]}" \
			"${RATE[$t]}" "${QUEUED[$t]:--}" ok
	else
		printf '%-10s %9s %9s %10s %9s  %s\n' "$t" "$MESSAGES" - - \
			"${QUEUED[$t]:--}" "${STATUS[$t]:-not run}"
	fi
done
echo

for t in $TARGETS; do
	[ "$t" != sink ] || continue
	[ "${STATUS[$t]:-}" = ok ] || continue
	if [ "${QUEUED[$t]}" -ne "$MESSAGES" ]; then
		echo "WARNING: $t: $MESSAGES messages sent but ${QUEUED[$t]} in its queue"
	else
		echo "$t: $MESSAGES sent, ${QUEUED[$t]} in its queue"
	fi
done

printf '%s' "$LEFT"

for t in $TARGETS; do
	case $t in
	outpost) l=Outpost ;;
	outpost[0-9]*) l=nodes=${t#outpost} ;;
	*) continue ;;
	esac
	want sink && ratio "$l/smtp-sink:" "$t" sink 0.5
	want postfix && ratio "$l/Postfix:" "$t" postfix 3
	[ "$t" != outpost ] && want outpost && ratio "$l/nodes=1:" "$t" outpost ''
done

exit $failed
