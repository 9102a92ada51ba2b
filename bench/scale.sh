#!/bin/bash
# bench/scale.sh: how Outpost holds up at scale, on loopback.
#
#   queue    BENCH_ENTRIES (250000) queue entries of BENCH_RCPTS (4)
#            pending recipients each, BENCH_PER_BODY (4) entries sharing
#            one 2 KB body, over 1000 domains, due in an hour, written by
#            scripts/mkqueue.sh (the daemon's own encoder). Measured: the
#            time of `outpost --qstat` on it (best and worst of 3), the
#            daemon's start-up until its "ready" line and until a
#            connection gets its 220 greeting (`serving`), its RSS once
#            loaded (VmRSS, and VmHWM: the peak) against the same daemon on
#            an empty queue, so the memory per entry; then the admin API's
#            GET /api/queue (the summary by destination), GET
#            /api/queue/entries?limit=100 and GET /api/status. With
#            BENCH_COLD=1 the page cache is dropped before the start-up
#            (root), so the scan reads from the disk.
#   idle     BENCH_CONNS (10000) SMTP connections to the daemon (empty
#            queue) opened and held by bench/scale.py (one process, one
#            selector) from 127.0.0.2-5 (BENCH_SOURCES), each greeted;
#            the daemon's RSS before and while they are held, so the
#            memory per idle inbound connection, and its open files.
#   out      BENCH_OUT_CONNS (2000) entries of one recipient, each to its
#            own domain (its own destination), due now, delivered through
#            smtp_forward to one sink (bench/scale.py sink: one process,
#            any number of sessions) that answers each final dot 120 s
#            late: every attempt holds its connection. The daemon's RSS
#            with delivery paused, then with the connections open, so
#            the memory per outbound connection.
#   relay    accepted and relayed msg/s of Outpost with smtp.ini nodes=1,
#            Outpost with nodes=BENCH_RELAY_NODES (2) and Postfix, in one
#            run: bench/accept.sh (reception into a durable queue,
#            delivery paused) and then bench/relay.sh (smtp-source -> MTA
#            -> smtp-sink), each with BENCH_TARGETS="sink postfix outpost
#            outpostN" and BENCH_RELAY_MESSAGES (20000) messages (root,
#            Postfix's tools and socat: ./scripts/deps.sh bench). Both
#            tables, then per MTA: accepted msg/s (accept.sh), relayed
#            msg/s and CPU ms per relayed message (relay.sh), and the
#            ratios nodes=N/nodes=1 and Outpost/Postfix.
#
# Targets (issue 19): serving within 10 s with 250,000 entries (1,000,000
# recipients), at most 1 KB per queued entry, --qstat and the admin API's
# summaries within 1 s, 10,000 inbound connections held; each printed as
# met or not met. A missed target is reported, not an error: the exit
# status is 0 when every part ran, 1 when one failed, 69 when a tool is
# missing.
#
# Knobs (environment): BENCH_PARTS ("queue idle out relay"), BENCH_ENTRIES,
# BENCH_RCPTS, BENCH_PER_BODY, BENCH_CONNS, BENCH_OUT_CONNS, BENCH_SOURCES
# (127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5), BENCH_COLD (0),
# BENCH_RELAY_MESSAGES, BENCH_RELAY_NODES (2), BENCH_TMPDIR
# (${TMPDIR:-/tmp}; a disk, not tmpfs), BENCH_KEEP (0), OUTPOST_BIN
# (build/outpost, built when missing).
# Everything listens on 127.0.0.1 on free ports (never 25); every wait is
# bounded; an EXIT trap stops what was started and removes the temp dir.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

PARTS=${BENCH_PARTS:-queue idle out relay}
ENTRIES=${BENCH_ENTRIES:-250000}
RCPTS=${BENCH_RCPTS:-4}
PER_BODY=${BENCH_PER_BODY:-4}
CONNS=${BENCH_CONNS:-10000}
OUT_CONNS=${BENCH_OUT_CONNS:-2000}
SOURCES=${BENCH_SOURCES:-127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5}
COLD=${BENCH_COLD:-0}
RELAY_MESSAGES=${BENCH_RELAY_MESSAGES:-20000}
RELAY_NODES=${BENCH_RELAY_NODES:-2}
KEEP=${BENCH_KEEP:-0}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}
PY=/usr/bin/python3
TOKEN=scale-bench-token-0123456789abcdef

BENCH_NAME=scale.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "scale.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts ENTRIES RCPTS PER_BODY CONNS OUT_CONNS RELAY_MESSAGES RELAY_NODES
if [ "$RELAY_NODES" -lt 2 ] || [ "$RELAY_NODES" -gt 64 ]; then
	die "BENCH_RELAY_NODES must be from 2 to 64 (got $RELAY_NODES)"
fi
for p in $PARTS; do
	case $p in queue | idle | out | relay) ;;
	*) die "BENCH_PARTS: unknown part '$p' (queue, idle, out, relay)" ;;
	esac
done
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
[ -x "$PY" ] || die "$PY not found"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer needed (EPOCHREALTIME)"
# The held connections' client ends, and the daemon's.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/outpost-scale.XXXXXX") ||
	die "cannot create a temp dir"
HOLD_PID=
cleanup() {
	trap - EXIT INT TERM HUP
	stop_child "$HOLD_PID" 50
	stop_child "$SINK_PID" 50
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	remove_work
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

build_outpost || die "cannot build $OUTPOST"
failed=0
declare -A FIG

# kb PID FIELD: a /proc/PID/status field in kB.
kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
verdict() { awk -v v="$1" -v max="$2" 'BEGIN { print (v != "" && v <= max) ? "met" : "not met" }'; }

# setup ROOT: a fresh root listening on a free port (SMTP_PORT), the admin
# API on another (HTTP_PORT), log level notice, no limit per client
# address, room for CONNS connections, DNS a closed loopback port.
setup() {
	local c=$1/config dead
	SMTP_PORT=$(free_port) && HTTP_PORT=$(free_port) && dead=$(free_port) ||
		return 1
	timeout 30 "$OUTPOST" -i "$1" >"$WORK/init.log" 2>&1 || return 1
	printf '[main]\nlisten=127.0.0.1:%s\n' "$SMTP_PORT" >"$c/smtp.ini"
	printf '[main]\nlevel=notice\n' >"$c/log.ini"
	printf '[max]\nconnections=%s\nconnections_per_ip=0\n' \
		"$((CONNS + 100))" >"$c/connection.ini"
	printf '[dns]\nservers=127.0.0.1:%s\n' "$dead" >"$c/net-utils.ini"
	printf '%s\n' "$TOKEN" >"$c/admin.token"
	printf '[main]\nlisten=127.0.0.1:%s\ntoken_file=admin.token\n' \
		"$HTTP_PORT" >"$c/http.ini"
}

# start NAME ROOT: the daemon, timed until ready and serving.
start() {
	local t0
	[ "$COLD" = 1 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	t0=$EPOCHREALTIME
	"$OUTPOST" -c "$2" </dev/null >"$WORK/$1.log" 2>&1 &
	OUTPOST_PID=$!
	"$PY" "$REPO/bench/scale.py" serving "$t0" "$WORK/$1.log" "$OUTPOST_PID" \
		"$SMTP_PORT" 120 >"$WORK/$1.serving" || {
		note "$1: outpost did not start serving: $(tail -n 2 "$WORK/$1.log")"
		return 1
	}
	FIG[$1.ready]=$(awk '$1 == "ready_s" { print $2 }' "$WORK/$1.serving")
	FIG[$1.serving]=$(awk '$1 == "serving_s" { print $2 }' "$WORK/$1.serving")
	sleep 1
	FIG[$1.rss]=$(kb "$OUTPOST_PID" VmRSS)
	FIG[$1.hwm]=$(kb "$OUTPOST_PID" VmHWM)
}

stop() {
	stop_child "$OUTPOST_PID" 600
	OUTPOST_PID=
}

# get PATH: seconds of one admin API GET.
get() {
	"$PY" "$REPO/bench/scale.py" get "http://127.0.0.1:$HTTP_PORT$1" "$TOKEN" |
		awk '$1 == "seconds" { print $2 }'
}

# --- an empty queue: the base line ---------------------------------------------

echo "... empty queue (base line)" >&2
if setup "$WORK/empty" && start empty "$WORK/empty"; then
	stop
else
	failed=1
fi

# --- a big queue --------------------------------------------------------------

part_queue() {
	local root=$WORK/big t s best=999 worst=0 i
	setup "$root" || return 1
	echo "... writing $ENTRIES entries ($((ENTRIES * RCPTS)) recipients)" >&2
	t=$EPOCHREALTIME
	"$REPO/scripts/mkqueue.sh" "$root/queue" "$ENTRIES" "$RCPTS" "$PER_BODY" \
		>"$WORK/mkqueue.log" 2>&1 || { note "mkqueue: $(tail -n 1 "$WORK/mkqueue.log")"; return 1; }
	sync
	FIG[mkqueue]=$(since "$t" "$EPOCHREALTIME")
	for i in 1 2 3; do
		t=$EPOCHREALTIME
		"$OUTPOST" -c "$root" --qstat >"$WORK/qstat.out" 2>&1 || return 1
		s=$(since "$t" "$EPOCHREALTIME")
		best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (b < a) ? b : a }')
		worst=$(awk -v a="$worst" -v b="$s" 'BEGIN { print (b > a) ? b : a }')
	done
	FIG[qstat.best]=$best
	FIG[qstat.worst]=$worst
	FIG[qstat.entries]=$(awk '$1 == "entries" { print $2 }' "$WORK/qstat.out")
	FIG[qstat.rcpts]=$(awk '$1 == "recipients" { print $2 }' "$WORK/qstat.out")
	echo "... starting outpost on it" >&2
	start big "$root" || return 1
	FIG[api.queue]=$(get /api/queue)
	FIG[api.entries]=$(get '/api/queue/entries?limit=100')
	FIG[api.status]=$(get /api/status)
	t=$EPOCHREALTIME
	stop
	FIG[big.stop]=$(since "$t" "$EPOCHREALTIME")
}

# --- idle inbound connections -----------------------------------------------------

part_idle() {
	local root=$WORK/idle fifo=$WORK/hold.in i
	setup "$root" || return 1
	start idle "$root" || return 1
	FIG[idle.before]=$(kb "$OUTPOST_PID" VmRSS)
	mkfifo "$fifo" || return 1
	# The fifo's writer end is held open by fd 7 until the end.
	"$PY" "$REPO/bench/scale.py" hold "$SMTP_PORT" "$CONNS" "$SOURCES" 300 \
		<"$fifo" >"$WORK/hold.out" 2>&1 &
	HOLD_PID=$!
	exec 7>"$fifo"
	for i in $(seq 1 600); do
		grep -q HOLDING "$WORK/hold.out" 2>/dev/null && break
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	FIG[idle.held]=$(awk '$1 == "greeted" { print $2 }' "$WORK/hold.out")
	FIG[idle.refused]=$(awk '$1 == "refused" { print $2 }' "$WORK/hold.out")
	FIG[idle.secs]=$(awk '$1 == "seconds" { print $2 }' "$WORK/hold.out")
	FIG[idle.after]=$(kb "$OUTPOST_PID" VmRSS)
	FIG[idle.fds]=$(find "/proc/$OUTPOST_PID/fd" -mindepth 1 2>/dev/null | wc -l)
	FIG[idle.limit]=$(awk '/Max open files/ { print $4 }' "/proc/$OUTPOST_PID/limits")
	exec 7>&-
	wait_exit "$HOLD_PID" 100
	stop_child "$HOLD_PID" 50
	HOLD_PID=
	stop
	[ -n "${FIG[idle.held]}" ] || { note "idle: $(tail -n 3 "$WORK/hold.out")"; return 1; }
}

# --- concurrent outbound connections ---------------------------------------------------

part_out() {
	local root=$WORK/out c=$WORK/out/config sink_port i open=0 last=-1 still=0
	setup "$root" || return 1
	c=$root/config
	sink_port=$(free_port) || return 1
	"$PY" "$REPO/bench/scale.py" sink 127.0.0.1 "$sink_port" 120 "$WORK/sink.status" \
		>"$WORK/sink.log" 2>&1 &
	SINK_PID=$!
	wait_port "$sink_port" "$SINK_PID" 100 || { note "out: the sink did not start"; return 1; }
	# OUT_CONNS entries of one recipient, each to its own domain (so its
	# own destination), due now; delivery paused until the RSS is taken.
	"$REPO/scripts/mkqueue.sh" "$root/queue" "$OUT_CONNS" 1 1 "$OUT_CONNS" 2048 0 \
		>"$WORK/mkqueue-out.log" 2>&1 || return 1
	printf 'queue/smtp_forward\n' >"$c/plugins"
	printf '[main]\nenable_outbound=true\nhost=127.0.0.1\nport=%s\n' "$sink_port" \
		>"$c/smtp_forward.ini"
	printf '[main]\ndisabled=true\nconcurrency_max=%s\n' "$((OUT_CONNS + 100))" \
		>"$c/outbound.ini"
	start out "$root" || return 1
	FIG[out.before]=$(kb "$OUTPOST_PID" VmRSS)
	# Let go (outbound.ini is reloaded on change); wait until the sink's
	# open sessions stop growing (or all are open).
	printf '[main]\ndisabled=false\nconcurrency_max=%s\n' "$((OUT_CONNS + 100))" \
		>"$c/outbound.ini"
	for i in $(seq 1 600); do
		sleep 0.1
		read -r _ open _ _ _ _ <"$WORK/sink.status" 2>/dev/null || continue
		[ "$open" -ge "$OUT_CONNS" ] && break
		if [ "$open" = "$last" ]; then
			still=$((still + 1))
			[ $still -ge 50 ] && break
		else
			still=0
			last=$open
		fi
	done
	sleep 1
	read -r _ open _ _ _ _ <"$WORK/sink.status"
	FIG[out.open]=$open
	FIG[out.after]=$(kb "$OUTPOST_PID" VmRSS)
	FIG[out.fds]=$(find "/proc/$OUTPOST_PID/fd" -mindepth 1 2>/dev/null | wc -l)
	stop_child "$SINK_PID" 50	# the sessions drop: their mail is deferred
	SINK_PID=
	stop
}

# --- relay: msg/s, Outpost nodes=1 and nodes=N, Postfix --------------------------------

part_relay() {
	local targets="sink postfix outpost outpost$RELAY_NODES" rc=0 r
	BENCH_TARGETS=$targets BENCH_MESSAGES=$RELAY_MESSAGES OUTPOST_BIN=$OUTPOST \
		"$REPO/bench/accept.sh" >"$WORK/accept.out" 2>"$WORK/accept.err"
	r=$?
	[ $r -eq 0 ] || { note "accept.sh exited $r: $(tail -n 2 "$WORK/accept.err")"; rc=$r; }
	BENCH_TARGETS=$targets BENCH_MESSAGES=$RELAY_MESSAGES OUTPOST_BIN=$OUTPOST \
		"$REPO/bench/relay.sh" >"$WORK/relay.out" 2>"$WORK/relay.err"
	r=$?
	[ $r -eq 0 ] || { note "relay.sh exited $r: $(tail -n 2 "$WORK/relay.err")"; rc=$r; }
	return $rc
}

# col FILE TARGET N: column N of TARGET's row in a table of accept.sh or
# relay.sh when its status is ok, else -.
col() {
	awk -v t="$2" -v n="$3" '$1 == t && $NF == "ok" { v = $n } END { print (v == "") ? "-" : v }' "$1"
}
# cpu_of LABEL: relay.sh's CPU ms per message of LABEL ("Outpost nodes=1").
cpu_of() {
	awk -v l="CPU ms/msg $1:" 'index($0, l) == 1 { v = $(NF - 2) } END { print (v == "") ? "-" : v }' \
		"$WORK/relay.out"
}
quot() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

for p in $PARTS; do
	echo "... $p" >&2
	"part_$p" || { failed=1; FIG[$p.failed]=1; }
done

# --- report ---------------------------------------------------------------------------

echo "$("$OUTPOST" --version 2>/dev/null | head -n 1), $(nproc) CPUs," \
	"$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)," \
	"queue on $(stat -f -c %T "$WORK" 2>/dev/null)$([ "$COLD" = 1 ] && echo ', cold page cache')"
printf 'empty queue: serving in %s s, RSS %s kB\n' "${FIG[empty.serving]:--}" "${FIG[empty.rss]:--}"
if want queue; then
	if [ -n "${FIG[queue.failed]:-}" ]; then
		echo "queue: FAILED (see above)"
	else
		per=$(awk -v a="${FIG[big.rss]}" -v b="${FIG[empty.rss]:-0}" -v n="$ENTRIES" \
			'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
		perhwm=$(awk -v a="${FIG[big.hwm]}" -v b="${FIG[empty.rss]:-0}" -v n="$ENTRIES" \
			'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
		printf 'queue: %s entries, %s recipients (written in %s s)\n' \
			"${FIG[qstat.entries]}" "${FIG[qstat.rcpts]}" "${FIG[mkqueue]}"
		printf '  start-up to ready      %6s s\n' "${FIG[big.ready]}"
		printf '  start-up to serving    %6s s   (target <= 10 s: %s)\n' \
			"${FIG[big.serving]}" "$(verdict "${FIG[big.serving]}" 10)"
		printf '  RSS loaded             %6s kB (peak %s kB)\n' "${FIG[big.rss]}" "${FIG[big.hwm]}"
		printf '  memory per entry       %6s B  (peak %s B; target <= 1024: %s)\n' \
			"$per" "$perhwm" "$(verdict "$perhwm" 1024)"
		printf '  --qstat                %6s s   (worst of 3: %s s; target <= 1 s: %s)\n' \
			"${FIG[qstat.best]}" "${FIG[qstat.worst]}" "$(verdict "${FIG[qstat.best]}" 1)"
		printf '  GET /api/queue         %6s s   (target <= 1 s: %s)\n' \
			"${FIG[api.queue]:--}" "$(verdict "${FIG[api.queue]:-}" 1)"
		printf '  GET /api/queue/entries %6s s   (limit=100; target <= 1 s: %s)\n' \
			"${FIG[api.entries]:--}" "$(verdict "${FIG[api.entries]:-}" 1)"
		printf '  GET /api/status        %6s s\n' "${FIG[api.status]:--}"
		printf '  stop (SIGTERM to exit) %6s s\n' "${FIG[big.stop]:--}"
	fi
fi
if want idle; then
	if [ -n "${FIG[idle.failed]:-}" ]; then
		echo "idle: FAILED (see above)"
	else
		per=$(awk -v a="${FIG[idle.after]}" -v b="${FIG[idle.before]}" -v n="${FIG[idle.held]}" \
			'BEGIN { printf "%.0f", (n > 0 ? (a - b) * 1024 / n : 0) }')
		printf 'idle: %s of %s connections greeted and held (%s refused) in %s s\n' \
			"${FIG[idle.held]}" "$CONNS" "${FIG[idle.refused]}" "${FIG[idle.secs]}"
		printf '  RSS %s kB -> %s kB: %s B per idle inbound connection (user space;\n' \
			"${FIG[idle.before]}" "${FIG[idle.after]}" "$per"
		printf '  the kernel'"'"'s socket buffers are not in it); %s fds open, limit %s\n' \
			"${FIG[idle.fds]}" "${FIG[idle.limit]}"
		printf '  (target %s held: %s)\n' "$CONNS" \
			"$([ "${FIG[idle.held]}" -ge "$CONNS" ] && echo met || echo 'not met')"
	fi
fi
if want out; then
	if [ -n "${FIG[out.failed]:-}" ]; then
		echo "out: FAILED (see above)"
	else
		per=$(awk -v a="${FIG[out.after]}" -v b="${FIG[out.before]}" -v n="${FIG[out.open]}" \
			'BEGIN { printf "%.0f", (n > 0 ? (a - b) * 1024 / n : 0) }')
		printf 'out: %s of %s outbound connections open at once (one per destination, each\n' \
			"${FIG[out.open]}" "$OUT_CONNS"
		printf '  in its DATA phase); RSS %s kB -> %s kB: %s B per outbound connection\n' \
			"${FIG[out.before]}" "${FIG[out.after]}" "$per"
		printf '  (an attempt with its 2 KB message in memory, user space); %s fds open\n' \
			"${FIG[out.fds]}"
	fi
fi
if want relay; then
	echo "accept (bench/accept.sh, $RELAY_MESSAGES messages of 2 KB, delivery paused):"
	sed -n '/^target /,$p' "$WORK/accept.out" | sed 's/^/  /'
	echo "relay (bench/relay.sh, $RELAY_MESSAGES messages of 2 KB):"
	sed -n '/^target /,$p' "$WORK/relay.out" | sed 's/^/  /'
	echo "relay summary (accepted: accept.sh; relayed and CPU: relay.sh):"
	printf '  %-16s %12s %12s %12s\n' '' 'accepted/s' 'relayed/s' 'CPU ms/msg'
	for t in outpost "outpost$RELAY_NODES" postfix; do
		case $t in
		outpost) l="Outpost nodes=1" ;;
		postfix) l=Postfix ;;
		*) l="Outpost nodes=$RELAY_NODES" ;;
		esac
		FIG[acc.$t]=$(col "$WORK/accept.out" "$t" 4)
		FIG[rel.$t]=$(col "$WORK/relay.out" "$t" 4)
		FIG[cpu.$t]=$(cpu_of "$l")
		printf '  %-16s %12s %12s %12s\n' "$l" "${FIG[acc.$t]}" "${FIG[rel.$t]}" "${FIG[cpu.$t]}"
	done
	for pair in "outpost$RELAY_NODES outpost nodes=$RELAY_NODES/nodes=1" "outpost postfix nodes=1/Postfix" \
		"outpost$RELAY_NODES postfix nodes=$RELAY_NODES/Postfix"; do
		read -r a b l <<<"$pair"
		printf '  %-16s %12s %12s %12s\n' "$l" "$(quot "${FIG[acc.$a]}" "${FIG[acc.$b]}")" \
			"$(quot "${FIG[rel.$a]}" "${FIG[rel.$b]}")" "$(quot "${FIG[cpu.$a]}" "${FIG[cpu.$b]}")"
	done
fi
exit $failed
