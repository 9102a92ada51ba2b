# bench/lib.sh: shell helpers of the bench scripts (accept.sh, relay.sh,
# accounting.sh); sourced by them, never run.
#
# The caller sets BENCH_NAME (its name in messages) before sourcing, and
# WORK (its temp dir) before starting anything. The relay helpers (second
# half) read MESSAGES, CLIENTS, SIZE, REUSE, RUN_TIMEOUT, STALL, SENDER,
# RCPT, HELO, FRESH_FS, OUTPOST and REPO (and NODES, when set: Outpost's
# smtp.ini nodes, 1 when unset). Children started here are kept
# in LOAD_PID, SINK_PID, OUTPOST_PID, NOTIFY_PID; the caller's EXIT trap stops them
# (stop_child), the private Postfix (stop_postfix) and the file systems
# (unmount_all). Results go into the associative arrays below, by target.

# The arrays are filled here and read by the callers:
# shellcheck shell=bash disable=SC2034

die() { echo "$BENCH_NAME: $*" >&2; exit 69; }
note() { echo "$BENCH_NAME: $*" >&2; }

# Dies unless each variable named (MESSAGES ...) holds an integer > 0.
need_counts() {
	local v
	for v in "$@"; do
		case ${!v} in
		'' | *[!0-9]*) die "BENCH_$v must be a positive integer (got '${!v}')" ;;
		esac
		[ "${!v}" -gt 0 ] || die "BENCH_$v must be > 0"
	done
}

LOAD_PID=
SINK_PID=
OUTPOST_PID=
NOTIFY_PID=
PF_DIR=

# --- set-up ---------------------------------------------------------------

# Dies unless every tool after $1 is on PATH (Postfix's sbin directories
# added), this runs as root ($1: what needs root), the postfix user exists
# and bash has EPOCHREALTIME; then raises the open-file limit (sessions in
# and out, the sinks' and the MTAs' files).
bench_preflight() {
	local why=$1 tool
	shift
	PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 ||
			die "$tool not found: run ./scripts/deps.sh bench (as root)"
	done
	[ "$(id -u)" -eq 0 ] || die "run as root ($why)"
	id postfix >/dev/null 2>&1 || die "no user 'postfix': run ./scripts/deps.sh bench"
	[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer needed (EPOCHREALTIME)"
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
}

# WORK: a new temp dir outpost-$1.XXXXXX under BENCH_TMPDIR (else TMPDIR,
# else /tmp) that the postfix user can reach (a private Postfix's queue).
bench_workdir() {
	WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/outpost-$1.XXXXXX") ||
		die "cannot create a temp dir"
	chmod 755 "$WORK"
}

# The EXIT trap of the scripts that run Outpost (and a private Postfix)
# against the sink (accounting.sh, dkim.sh, profile.sh): stops the load,
# outpost, the private Postfix and the sink, unmounts the file systems and removes WORK; CLEANUP_FIRST, when
# set, names a function that runs first. relay_traps installs it.
relay_cleanup() {
	trap - EXIT INT TERM HUP
	[ -n "${CLEANUP_FIRST:-}" ] && "$CLEANUP_FIRST"
	stop_child "$LOAD_PID" 60
	LOAD_PID=
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	stop_child "$NOTIFY_PID" 10
	NOTIFY_PID=
	stop_postfix
	PF_DIR=
	stop_child "$SINK_PID" 50
	SINK_PID=
	unmount_all
	remove_work
}
relay_traps() {
	trap relay_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# --- processes ------------------------------------------------------------

# Waits up to $2 tenths of a second for pid $1 to exit; 0 when it did.
wait_exit() {
	local i=0
	while kill -0 "$1" 2>/dev/null; do
		[ $i -ge "$2" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# Stops the background child $1 (TERM, then KILL after $2 tenths of a s).
stop_child() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	if ! wait_exit "$pid" "$2"; then
		note "pid $pid did not stop on SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null
		wait_exit "$pid" 50
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# Stops the background child $1, started with setsid, and everything left
# in its process group (Haraka's cluster workers).
stop_group() {
	local pid=$1
	[ -n "$pid" ] || return 0
	stop_child "$pid" "$2"
	if kill -0 -- "-$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null
		sleep 1
		kill -KILL -- "-$pid" 2>/dev/null
	fi
	return 0
}

# Pids of the processes of the private Postfix (PF_DIR): every Postfix
# daemon inherits MAIL_CONFIG=<its config dir> from master.
postfix_pids() {
	local f pid
	[ -n "$PF_DIR" ] || return 0
	for f in /proc/[0-9]*/environ; do
		grep -qzxF "MAIL_CONFIG=$PF_DIR/etc" "$f" 2>/dev/null || continue
		pid=${f#/proc/}
		echo "${pid%/environ}"
	done
	return 0
}

# CPU seconds of the private Postfix so far (user + system): every live
# process of it (master, qmgr, smtpd, cleanup, smtp, ...) and, through
# master's cutime and cstime, every one master has reaped. Empty when none
# is running.
postfix_cpu() {
	local us
	us=$(postfix_cpu_split)
	[ -n "$us" ] || return 0
	awk -v u="${us% *}" -v s="${us#* }" 'BEGIN { printf "%.2f", u + s }'
}

# The same as "USER SYSTEM" (CPU seconds each).
postfix_cpu_split() {
	local pid f tck u=0 s=0 n=0
	tck=$(getconf CLK_TCK 2>/dev/null) || tck=100
	for pid in $(postfix_pids); do
		# The fields after "(comm)": state is 3, utime 14 ... cstime 17.
		f=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		[ -n "$f" ] || continue
		# shellcheck disable=SC2086
		set -- $f
		u=$((u + ${12} + ${14}))
		s=$((s + ${13} + ${15}))
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || return 0
	awk -v u="$u" -v s="$s" -v h="$tck" 'BEGIN { printf "%.2f %.2f\n", u / h, s / h }'
}

# CPU seconds of process $1 and all its descendants so far, "USER SYSTEM":
# for each, utime and stime (all its threads, live or ended) plus cutime
# and cstime (the children it has reaped), from /proc/<pid>/stat; so
# Outpost's supervisor, its workers (smtp.ini nodes) and any worker it
# has restarted. Empty when $1 is gone.
tree_cpu() {
	local tck
	tck=$(getconf CLK_TCK 2>/dev/null) || tck=100
	# A process may end between the glob and the read: cat skips it.
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" -v h="$tck" '
	{
		pid = $1
		line = $0
		sub(/^.*\) /, "", line)	# after "(comm)": state is 1, ppid 2,
		split(line, f, " ")	# utime 12, stime 13, cutime 14, cstime 15
		ppid[pid] = f[2]
		usr[pid] = f[12] + f[14]
		sys[pid] = f[13] + f[15]
	}
	END {
		if (!(root in ppid))
			exit
		tree[root] = 1
		do {
			grew = 0
			for (p in ppid)
				if (!(p in tree) && (ppid[p] in tree)) {
					tree[p] = 1
					grew = 1
				}
		} while (grew)
		for (p in tree) {
			u += usr[p]
			s += sys[p]
		}
		printf "%.2f %.2f\n", u / h, s / h
	}'
}

stop_postfix() {
	local pids i
	[ -n "$PF_DIR" ] && [ -d "$PF_DIR/etc" ] || return 0
	[ -n "$(postfix_pids)" ] || return 0
	timeout 60 postfix -c "$PF_DIR/etc" stop >>"$PF_DIR/control.log" 2>&1
	for i in $(seq 1 100); do
		pids=$(postfix_pids)
		[ -z "$pids" ] && return 0
		sleep 0.1
	done
	note "private Postfix did not stop; aborting it"
	timeout 30 postfix -c "$PF_DIR/etc" abort >>"$PF_DIR/control.log" 2>&1
	sleep 0.5
	pids=$(postfix_pids)
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	return 0
}

# Builds build/outpost with make when it is missing or out of date (not
# when OUTPOST_BIN names the binary); 0 when OUTPOST is executable.
build_outpost() {
	if [ -z "${OUTPOST_BIN:-}" ] &&
		{ [ ! -x "$OUTPOST" ] || ! make -q --no-print-directory -C "$REPO" build/outpost >/dev/null 2>&1; }; then
		note "building build/outpost (make)"
		make -s --no-print-directory -C "$REPO" build/outpost >"$WORK/make.log" 2>&1 || {
			tail -n 20 "$WORK/make.log" >&2
			return 1
		}
	fi
	[ -x "$OUTPOST" ]
}

# --- ports ----------------------------------------------------------------

USED_PORTS=" 25 "

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# A port on 127.0.0.1 that nothing listens on, not 25, not handed out yet.
free_port() {
	local i p
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if command -v ss >/dev/null 2>&1; then
			ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
		fi
		port_open "$p" && continue
		USED_PORTS="$USED_PORTS$p "
		echo "$p"
		return 0
	done
	return 1
}

# Waits (bounded: $3 tenths of a second) until 127.0.0.1:$1 accepts; gives
# up early when pid $2 (if set) has exited.
wait_port() {
	local i=0
	while ! port_open "$1"; do
		if [ -n "$2" ] && ! kill -0 "$2" 2>/dev/null; then
			return 1
		fi
		[ $i -ge "$3" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# Warns (at the end: LEFT) when something still listens on $2 after
# target $1 was stopped: a process this script could not see, e.g. behind
# a wrapper given as OUTPOST_BIN.
LEFT=
check_closed() {
	port_open "$2" &&
		LEFT="${LEFT}WARNING: $1: 127.0.0.1:$2 still accepts connections after stopping it
"
	return 0
}

# --- relay: the sink --------------------------------------------------------

# SECS, RATE: start of smtp-source to the last delivery, and msg/s over it;
# LOADSECS: how long smtp-source ran; DELIVERED: what the sink counted;
# QUEUED: files left in the queue; STATUS: ok or FAILED: why; CPU_BUSY,
# CPU_IOWAIT, CPU_STEAL: % of all CPUs over SECS (from /proc/stat);
# OP_USR, OP_SYS: CPU seconds of outpost, from start to stop; EMPTYSECS:
# start of smtp-source until outpost's queue was empty (WAIT_EMPTY=1).
declare -A SECS RATE LOADSECS DELIVERED QUEUED STATUS
declare -A CPU_BUSY CPU_IOWAIT CPU_STEAL OP_USR OP_SYS EMPTYSECS
SINK_PORT=
SINK_LOG=

# Starts the smtp-sink of target $1 on a free port: SINK_PORT, SINK_LOG.
# With -c it writes "sess=N quit=N mesg=N\r" to its stdout (a file here)
# every time a session ends or a message's "." is received; mesg is the
# number of messages received so far.
start_sink() {
	SINK_PORT=$(free_port) || { STATUS[$1]="FAILED: no free port"; return 1; }
	SINK_LOG=$WORK/$1.sink.log
	smtp-sink -c -u postfix "127.0.0.1:$SINK_PORT" 1024 \
		</dev/null >"$SINK_LOG" 2>"$WORK/$1.sink.err" &
	SINK_PID=$!
	if ! wait_port "$SINK_PORT" "$SINK_PID" 100; then
		STATUS[$1]="FAILED: smtp-sink did not listen: $(tail -n 1 "$WORK/$1.sink.err")"
		stop_child "$SINK_PID" 20
		SINK_PID=
		return 1
	fi
	return 0
}

# Messages the sink of the current target has received so far: the mesg=
# of the last complete (\r-terminated) counter record in SINK_LOG.
sink_count() {
	local s
	s=$(tail -c 256 "$SINK_LOG" 2>/dev/null)
	case $s in *$'\r'*) ;; *) echo 0; return ;; esac
	s=${s%$'\r'*}		# drop a record still being written
	s=${s##*$'\r'}		# the last complete one
	s=${s##*mesg=}
	case $s in '' | *[!0-9]*) echo 0 ;; *) echo "$s" ;; esac
}

stop_sink() {
	DELIVERED[$1]=$(sink_count)
	stop_child "$SINK_PID" 50
	SINK_PID=
	check_closed "$1 sink" "$SINK_PORT"
}

# --- relay: load ----------------------------------------------------------

# Microseconds since the epoch, without a fork.
now_us() { echo "${EPOCHREALTIME/./}"; }

# All CPUs' jiffies since boot, without a fork: JIF_BUSY (user, nice,
# system, irq, softirq), JIF_IOWAIT, JIF_STEAL, JIF_ALL (those and idle).
cpu_jiffies() {
	local cpu u n s i w q sq st rest
	read -r cpu u n s i w q sq st rest </proc/stat 2>/dev/null || st=
	case $cpu$st in cpu[0-9]*) ;; *) JIF_BUSY=0 JIF_IOWAIT=0 JIF_STEAL=0 JIF_ALL=0; return ;; esac
	JIF_BUSY=$((u + n + s + q + sq))
	JIF_IOWAIT=$w
	JIF_STEAL=$st
	JIF_ALL=$((JIF_BUSY + i + w + st))
}

# Runs smtp-source against 127.0.0.1:$2 for target $1 and polls its sink
# every 20 ms until it has received MESSAGES messages; fills SECS/RATE
# (start of smtp-source to the last delivery seen), LOADSECS (how long
# smtp-source itself ran) and CPU_* (over SECS); RELAY_T0 is its start.
# Bounded: RUN_TIMEOUT in all, STALL without a new delivery once
# smtp-source is done.
run_relay() {
	local name=$1 port=$2 log=$WORK/$1.smtp-source.log
	local opts=(-s "$CLIENTS" -l "$SIZE" -m "$MESSAGES" -r 1
		-f "$SENDER" -t "$RCPT" -M "$HELO")
	[ "$REUSE" = 1 ] && opts+=(-d)
	local t0 t1 now load_end='' last_change n prev=-1 rc=0
	local b0 w0 s0 a0
	cpu_jiffies
	b0=$JIF_BUSY w0=$JIF_IOWAIT s0=$JIF_STEAL a0=$JIF_ALL
	t0=$(now_us)
	RELAY_T0=$t0
	# In the background, so that a signal to this script is acted on at
	# once (bash runs traps only between commands, or during a wait).
	timeout -k 5 "$RUN_TIMEOUT" smtp-source "${opts[@]}" "127.0.0.1:$port" \
		</dev/null >"$log" 2>&1 &
	LOAD_PID=$!
	last_change=$t0
	while :; do
		n=$(sink_count)
		now=$(now_us)
		[ "$n" -ge "$MESSAGES" ] && { t1=$now; break; }
		[ "$n" != "$prev" ] && { prev=$n; last_change=$now; }
		if [ -z "$load_end" ] && ! kill -0 "$LOAD_PID" 2>/dev/null; then
			load_end=$now
			wait "$LOAD_PID"
			rc=$?
			LOAD_PID=
			if [ $rc -ne 0 ]; then
				if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
					STATUS[$name]="FAILED: smtp-source not done after ${RUN_TIMEOUT}s; $n of $MESSAGES delivered"
				else
					STATUS[$name]="FAILED: smtp-source exit $rc: $(tail -n 1 "$log"); $n of $MESSAGES delivered"
				fi
				return 1
			fi
			LOADSECS[$name]=$(awk -v a="$t0" -v b="$load_end" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
		fi
		if [ $((now - t0)) -ge $((RUN_TIMEOUT * 1000000)) ]; then
			STATUS[$name]="FAILED: $n of $MESSAGES delivered after ${RUN_TIMEOUT}s"
			return 1
		fi
		if [ -n "$load_end" ]; then
			[ "$last_change" -lt "$load_end" ] && last_change=$load_end
			if [ $((now - last_change)) -ge $((STALL * 1000000)) ]; then
				STATUS[$name]="FAILED: $n of $MESSAGES delivered; none for ${STALL}s after smtp-source was done"
				return 1
			fi
		fi
		sleep 0.02
	done
	cpu_jiffies
	if [ $((JIF_ALL - a0)) -gt 0 ]; then
		CPU_BUSY[$name]=$(((JIF_BUSY - b0) * 100 / (JIF_ALL - a0)))
		CPU_IOWAIT[$name]=$(((JIF_IOWAIT - w0) * 100 / (JIF_ALL - a0)))
		CPU_STEAL[$name]=$(((JIF_STEAL - s0) * 100 / (JIF_ALL - a0)))
	fi
	# Every message is in the sink; smtp-source may still be saying QUIT.
	if [ -n "$LOAD_PID" ]; then
		if ! wait_exit "$LOAD_PID" 300; then
			STATUS[$name]="FAILED: smtp-source still running 30s after the last delivery"
			return 1
		fi
		load_end=$(now_us)
		wait "$LOAD_PID"
		rc=$?
		LOAD_PID=
		if [ $rc -ne 0 ]; then
			STATUS[$name]="FAILED: smtp-source exit $rc: $(tail -n 1 "$log")"
			return 1
		fi
		[ "$load_end" -gt "$t1" ] && load_end=$t1	# it was done by then
		LOADSECS[$name]=$(awk -v a="$t0" -v b="$load_end" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	fi
	SECS[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	RATE[$name]=$(awk -v n="$MESSAGES" -v s="${SECS[$name]}" \
		'BEGIN { printf "%.1f", (s > 0) ? n / s : 0 }')
	STATUS[$name]=ok
	return 0
}

# Files in the queue dir $1 (non-recursive), $2: find tests to skip some.
count_files() {
	local d=$1
	shift
	find "$d" -maxdepth 1 -type f "$@" 2>/dev/null | wc -l
}

# After run_relay: polls the queue dir $2 every 20 ms until no entry is
# left (every delivery's records written and its entry removed); fills
# EMPTYSECS[$1], from the start of smtp-source. Bounded by STALL.
wait_empty() {
	local name=$1 q=$2 t_end
	t_end=$(($(now_us) + STALL * 1000000))
	while [ -n "$(find "$q" -maxdepth 1 -type f ! -name 'tmp.*' ! -name 'error.*' -print -quit 2>/dev/null)" ]; do
		if [ "$(now_us)" -ge "$t_end" ]; then
			EMPTYSECS[$name]="-"
			return 1
		fi
		sleep 0.02
	done
	EMPTYSECS[$name]=$(awk -v a="$RELAY_T0" -v b="$(now_us)" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	return 0
}

# --- relay: fresh file systems --------------------------------------------

# Each MTA run gets a fresh ext4 file system (a loop-mounted image, default
# mount options) for its queue: on a file system where the previous
# contestant has just deleted tens of thousands of files, ext4's inode
# allocator scans the recently freed inodes on every create, which slows
# whoever runs next (and the host's `discard` option adds synchronous
# discards). FRESH_FS=0 uses $WORK as it is.
MOUNTS=

# Mounts a fresh file system on $WORK/$1 (from the image $WORK/$1.img).
fresh_fs() {
	local dir=$WORK/$1 img=$WORK/$1.img
	[ "$FRESH_FS" = 1 ] || return 0
	mkdir -p "$dir"
	if truncate -s 2G "$img" && mkfs.ext4 -q -F "$img" >/dev/null 2>&1 &&
		mount -o loop "$img" "$dir"; then
		chmod 755 "$dir"
		MOUNTS="$MOUNTS $dir"
	else
		note "cannot mount a fresh file system for $1; using $WORK"
		rm -f "$img"
	fi
}

# Unmounts the file system of $WORK/$1, if fresh_fs mounted one, and
# removes its image (kept with $2 = keep).
release_fs() {
	local dir=$WORK/$1 d rest=
	case " $MOUNTS " in *" $dir "*) ;; *) return 0 ;; esac
	umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
	for d in $MOUNTS; do
		[ "$d" = "$dir" ] || rest="$rest $d"
	done
	MOUNTS=$rest
	[ "${2:-}" = keep ] || rm -f "$WORK/$1.img"
}

unmount_all() {
	local d
	for d in $MOUNTS; do
		umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null
	done
	MOUNTS=
}

# --- relay: outpost ---------------------------------------------------------

# Starts OUTPOST -c $2 as target $1 (log $WORK/$1.log; OUTPOST_PID) and
# waits (10 s) until it accepts on 127.0.0.1:$3; with $4 > 1 (smtp.ini
# nodes, written by the caller) also until the supervisor says READY=1
# (every worker serves: the port opens with the first one), on a
# NOTIFY_SOCKET (sd_notify) that socat receives on. Not the log's
# readiness line: it is a notice, and at notice every delivery is logged
# too. On failure: STATUS[$1] says why, nothing of it is left running, 1.
outpost_start() {
	local name=$1 root=$2 port=$3 nodes=$4 notify='' cmd i
	cmd=("$OUTPOST" -c "$root")
	if [ "$nodes" -gt 1 ]; then
		# socat takes one datagram (the supervisor's first: READY=1) and
		# exits; the socket must exist before outpost connects to it.
		notify=$WORK/$name.notify
		rm -f "$notify"
		socat -u "UNIX-RECVFROM:$notify" - >"$notify.out" 2>"$notify.err" &
		NOTIFY_PID=$!
		i=0
		while [ ! -S "$notify" ] && [ $i -lt 50 ] && kill -0 "$NOTIFY_PID" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		if [ ! -S "$notify" ]; then
			STATUS[$name]="FAILED: socat does not receive on $notify: $(tail -n 1 "$notify.err")"
			stop_child "$NOTIFY_PID" 10
			NOTIFY_PID=
			return 1
		fi
		cmd=(env "NOTIFY_SOCKET=$notify" "${cmd[@]}")
	fi
	"${cmd[@]}" </dev/null >"$WORK/$name.log" 2>&1 &
	OUTPOST_PID=$!
	if ! wait_port "$port" "$OUTPOST_PID" 100; then
		if kill -0 "$OUTPOST_PID" 2>/dev/null; then
			STATUS[$name]="FAILED: outpost does not accept connections on 127.0.0.1:$port after 10s"
		else
			wait "$OUTPOST_PID"
			STATUS[$name]="FAILED: outpost exited ($?): $(tail -n 1 "$WORK/$name.log")"
		fi
		stop_child "$OUTPOST_PID" 50
		OUTPOST_PID=
		stop_child "$NOTIFY_PID" 10
		NOTIFY_PID=
		return 1
	fi
	i=0
	while [ -n "$notify" ] && ! grep -q '^READY=1' "$notify.out" 2>/dev/null; do
		if ! kill -0 "$OUTPOST_PID" 2>/dev/null || [ $i -ge 100 ]; then
			STATUS[$name]="FAILED: not all $nodes workers ready after 10s: $(tail -n 1 "$WORK/$name.log")"
			stop_child "$OUTPOST_PID" 50
			OUTPOST_PID=
			stop_child "$NOTIFY_PID" 10
			NOTIFY_PID=
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	stop_child "$NOTIFY_PID" 10
	NOTIFY_PID=
	return 0
}

# Entries in Outpost's queue dir $1 and its workers' partitions $1/w<i>
# (files, not tmp.* nor error.*; $2...: more find tests).
outpost_queued() {
	local q n=0
	for q in "$1" "$1"/w[0-9]*; do
		[ -d "$q" ] || continue
		n=$((n + $(count_files "$q" ! -name 'tmp.*' ! -name 'error.*' "${@:2}")))
	done
	echo "$n"
}

# Relays the load through OUTPOST as target $1 with its own sink: a fresh
# `outpost -i $2` (the root; logs $WORK/$1.log, $WORK/$1-init.log) on a
# free port, plugins relay (acl=true, 127.0.0.0/8) and queue/smtp_forward
# to the sink, queue in $2/queue, log level warn, DNS a closed loopback
# port. With NODES > 1, smtp.ini nodes=NODES (a supervisor and NODES
# worker processes, each with its queue partition $2/queue/w<i>), started
# and waited for by outpost_start. The command $3, if given, runs with the
# root as its argument after
# that config is written and before outpost starts, to change it (a
# failure is the target's). Fills the arrays above (OP_USR, OP_SYS: the
# supervisor and every worker), QUEUED after the stop (partitions
# included); with WAIT_EMPTY=1 it waits for the queue to empty before
# stopping it (the top queue directory only: not with NODES > 1).
bench_outpost_relay() {
	local name=$1 root=$2 configure=${3:-} port rc dead
	local nodes=${NODES:-1} cpu
	build_outpost || { STATUS[$name]="FAILED: cannot build $OUTPOST"; return 1; }
	start_sink "$name" || return 1
	port=$(free_port) && dead=$(free_port) ||
		{ STATUS[$name]="FAILED: no free port"; stop_sink "$name"; return 1; }
	if ! timeout 30 "$OUTPOST" -i "$root" >"$WORK/$name-init.log" 2>&1; then
		STATUS[$name]="FAILED: outpost -i: $(tail -n 1 "$WORK/$name-init.log")"
		stop_sink "$name"
		return 1
	fi
	local c=$root/config
	printf '[main]\nlisten=127.0.0.1:%s\n' "$port" >"$c/smtp.ini"
	[ "$nodes" -gt 1 ] && printf 'nodes=%s\n' "$nodes" >>"$c/smtp.ini"
	printf 'relay\nqueue/smtp_forward\n' >"$c/plugins"
	printf '[relay]\nacl=true\n' >"$c/relay.ini"
	printf '127.0.0.0/8\n' >"$c/relay_acl_allow"
	printf '[main]\nlevel=warn\n' >"$c/log.ini"
	# Every client comes from 127.0.0.1: no limit per address (the default
	# of 50 would refuse more than 50 parallel clients, and with one
	# connection per message a client can reconnect before the daemon has
	# seen its last connection end); Postfix runs with its limit off too.
	printf '[max]\nconnections_per_ip=0\n' >"$c/connection.ini"
	printf '%s\n' "$root/queue" >"$c/queue_dir"
	printf '[main]\nenable_outbound=true\nhost=127.0.0.1\nport=%s\n' \
		"$SINK_PORT" >"$c/smtp_forward.ini"
	# Should anything still resolve a name, it asks a closed loopback
	# port, never the system resolver.
	printf '[dns]\nservers=127.0.0.1:%s\n' "$dead" >"$c/net-utils.ini"
	if [ -n "$configure" ] && ! "$configure" "$root"; then
		STATUS[$name]="FAILED: $configure $root"
		stop_sink "$name"
		return 1
	fi

	if ! outpost_start "$name" "$root" "$port" "$nodes"; then
		stop_sink "$name"
		return 1
	fi
	# ON_START / ON_STOP: functions the caller names (profile.sh attaches
	# perf or strace to the daemon), called with the target and the pid.
	[ -n "${ON_START:-}" ] && "$ON_START" "$name" "$OUTPOST_PID"
	run_relay "$name" "$port"
	rc=$?
	[ $rc -eq 0 ] && [ "${WAIT_EMPTY:-0}" = 1 ] && wait_empty "$name" "$root/queue"
	[ -n "${ON_STOP:-}" ] && "$ON_STOP" "$name" "$OUTPOST_PID"
	# Its CPU so far, every process and thread, before it exits.
	cpu=$(tree_cpu "$OUTPOST_PID")
	if [ -n "$cpu" ]; then
		OP_USR[$name]=${cpu% *}
		OP_SYS[$name]=${cpu#* }
	fi
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	check_closed "$name" "$port"
	stop_sink "$name"
	QUEUED[$name]=$(outpost_queued "$root/queue" ! -name 'msg.*')
	return $rc
}

# Where the records of a run with root $1 go: on the queue's file system.
log_dir() { echo "$1/records/log"; }
acct_dir() { echo "$1/records/accounting"; }

# Adds outbound_logger and accounting_files, both with sync=$2, to the
# config of the root $1 (written by bench_outpost_relay).
records_config() {
	local root=$1 sync=$2 c=$1/config
	printf 'relay\nqueue/smtp_forward\noutbound_logger\naccounting_files\n' \
		>"$c/plugins" &&
		printf '[file]\nenable=true\nlog_dir=%s\nsync=%s\n' \
			"$(log_dir "$root")" "$sync" >"$c/outbound_logger.ini" &&
		printf '[main]\npath=%s\nsync=%s\n' \
			"$(acct_dir "$root")" "$sync" >"$c/accounting_files.ini"
}

# remove_work: the end of every cleanup: $WORK removed, or kept (and said)
# with BENCH_KEEP=1.
remove_work() {
	if [ "$KEEP" = 1 ]; then
		note "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}

# ratio NAME NUMERATOR DENOMINATOR MINIMUM [ARRAY]: RATE[NUMERATOR] /
# RATE[DENOMINATOR] (or another array of rates by target: ARRAY) against a
# target, "n/a" unless both targets' STATUS is ok; with MINIMUM empty, the
# ratio alone.
ratio() {
	local -n rates=${5:-RATE}
	if [ "${STATUS[$2]:-}" != ok ] || [ "${STATUS[$3]:-}" != ok ]; then
		if [ -n "$4" ]; then
			printf '%-26s %8s   (target >= %s: n/a, not measured)\n' "$1" n/a "$4"
		else
			printf '%-26s %8s   (not measured)\n' "$1" n/a
		fi
		return
	fi
	awk -v name="$1" -v a="${rates[$2]:-0}" -v b="${rates[$3]:-0}" -v min="$4" 'BEGIN {
		r = (b > 0) ? a / b : 0
		if (min == "")
			printf "%-26s %8.2f\n", name, r
		else
			printf "%-26s %8.2f   (target >= %s: %s)\n", name, r, min,
				(r >= min) ? "met" : "not met"
	}'
}

# --- postfix ----------------------------------------------------------------

# A private Postfix instance's master.cf on stdout: smtpd on 127.0.0.1:$1,
# the queue services and, unless $2 is "-" (a Postfix that only queues),
# the smtp and relay clients, chrooted when $2 is y.
postfix_master_cf() {
	cat <<EOF
# service type private unpriv chroot wakeup maxproc command
127.0.0.1:$1 inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
EOF
	[ "$2" = - ] ||
		printf 'smtp      unix  - - %s - - smtp\nrelay     unix  - - %s - - smtp\n' \
		    "$2" "$2"
	cat <<EOF
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

# Writes a private Postfix instance's main.cf and master.cf into
# $PF_DIR/etc. Nothing of the system instance (/etc/postfix,
# /var/spool/postfix, port 25) is used or touched: its own queue_directory
# ($PF_DIR/spool) and data_directory, its own log file, smtpd on
# 127.0.0.1:$1 only, no chroot, no local delivery (no local domains, no
# local transport); every message goes to the relayhost [127.0.0.1]:$2,
# the sink, over the smtp transport.
postfix_relay_config() {
	local port=$1 sink=$2 d=$PF_DIR
	mkdir -p "$d/etc" "$d/spool" "$d/data" || return 1
	chown postfix "$d/data" || return 1
	cat >"$d/etc/main.cf" <<EOF
# Private Postfix instance of bench/$BENCH_NAME; removed after the run.
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $d/maillog
maillog_file_prefixes = $d
syslog_name = postfix-relay-bench
myhostname = postfix-bench.invalid
mydomain = invalid
myorigin = \$myhostname
mydestination =
local_transport = error:no local delivery
relay_domains =
relayhost = [127.0.0.1]:$sink
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
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
smtp_dns_support_level = disabled
smtp_tls_security_level = none
default_process_limit = 100
smtp_connection_cache_on_demand = yes
EOF
	postfix_master_cf "$port" n >"$d/etc/master.cf"
}

# Files in the private Postfix's queues (PF_DIR): incoming, active,
# deferred, hold, maildrop.
postfix_queued() {
	find "$PF_DIR/spool/incoming" "$PF_DIR/spool/active" \
		"$PF_DIR/spool/deferred" "$PF_DIR/spool/hold" "$PF_DIR/spool/maildrop" \
		-type f 2>/dev/null | wc -l
}

# Relays the load through a private Postfix as target $1, its instance in
# $2 (PF_DIR: config, queue, log; on the target's fresh file system when
# the caller mounted one there), with its own sink; config by
# postfix_relay_config. Fills the arrays above (OP_USR, OP_SYS: every
# Postfix process, live or reaped by master, read before it stops) and
# QUEUED; with WAIT_EMPTY=1 it waits (bounded by STALL) for its queue to
# empty (EMPTYSECS) before reading its CPU and stopping it.
bench_postfix_relay() {
	local name=$1 port rc cpu t_end log
	start_sink "$name" || return 1
	port=$(free_port) || { STATUS[$name]="FAILED: no free port"; stop_sink "$name"; return 1; }
	PF_DIR=$2
	if ! postfix_relay_config "$port" "$SINK_PORT"; then
		STATUS[$name]="FAILED: cannot write its config"
		stop_sink "$name"
		return 1
	fi
	log=$PF_DIR/control.log
	if ! timeout 60 postfix -c "$PF_DIR/etc" check >>"$log" 2>&1 ||
		! timeout 60 postfix -c "$PF_DIR/etc" start >>"$log" 2>&1; then
		STATUS[$name]="FAILED: postfix start: $(tail -n 1 "$log") $(tail -n 1 "$PF_DIR/maillog" 2>/dev/null)"
		stop_postfix
		stop_sink "$name"
		return 1
	fi
	if ! wait_port "$port" "" 100; then
		STATUS[$name]="FAILED: private smtpd does not listen: $(tail -n 1 "$PF_DIR/maillog" 2>/dev/null)"
		stop_postfix
		stop_sink "$name"
		return 1
	fi
	run_relay "$name" "$port"
	rc=$?
	if [ $rc -eq 0 ] && [ "${WAIT_EMPTY:-0}" = 1 ]; then
		t_end=$(($(now_us) + STALL * 1000000))
		EMPTYSECS[$name]=-
		while :; do
			if [ "$(postfix_queued)" -eq 0 ]; then
				EMPTYSECS[$name]=$(awk -v a="$RELAY_T0" -v b="$(now_us)" \
					'BEGIN { printf "%.3f", (b - a) / 1e6 }')
				break
			fi
			[ "$(now_us)" -ge "$t_end" ] && break
			sleep 0.02
		done
	fi
	# Before it stops: master still has the totals of its reaped children.
	cpu=$(postfix_cpu_split)
	if [ -n "$cpu" ]; then
		OP_USR[$name]=${cpu% *}
		OP_SYS[$name]=${cpu#* }
	fi
	stop_postfix
	check_closed "$name" "$port"
	stop_sink "$name"
	QUEUED[$name]=$(postfix_queued)
	return $rc
}
