#!/bin/bash
# bench/wan.sh: WAN-like delivery, Outpost and Postfix side by side in one run.
#
# BENCH_DOMAINS (1000) recipient domains d0001.wan.test ... are served by
# the bench's own nsd and spread over MX hosts on 127.0.10.1, .2, ... port
# 25 (BENCH_MX: one profile per host). One Python sink process
# (bench/wan.py sink) serves them all: it answers the final dot after the
# host's delay (50-200 ms) and, on a throttled host, greets a connection
# that arrives while N sessions are open with "421 4.7.0 Too many
# connections" and closes it. Each MTA in turn gets the same
# BENCH_MESSAGES (5000) messages, one recipient each, round-robin over the
# domains, with delivery paused (Outpost: outbound.ini disabled=true;
# Postfix: held); then delivery is let go and timed until the sinks have
# accepted every message. Both get the same limits: per domain Postfix's
# default_destination_concurrency_limit (20) = shaping.ini [domain]
# max_connections; per throttled host <t>_destination_concurrency_limit
# (and <t>_destination_rate_delay) with the host as nexthop = shaping.ini
# [mx:<host>] max_connections (max_message_rate); the same retry interval
# (BENCH_RETRY). The 421s and the most connections open at once come from
# the sinks, not from the MTAs. It prints per target delivered msg/s, 421s
# and connections; per MX host what each MTA made it see; the ratios
# Outpost/Postfix with the goal (>= 3 x Postfix's msg/s, fewer 421s, none
# when Postfix provoked none). It reports; a missed goal is not an error.
# Exit status: 0 when every selected target ran to the end, 1 when one
# failed or timed out (its row says why), 69 when a tool is missing or the
# addresses are taken.
#
# Knobs (environment):
#   BENCH_MESSAGES  messages per target (5000)
#   BENCH_DOMAINS   recipient domains (1000)
#   BENCH_MX        MX host profiles, one word per host:
#                   DELAY_MS[:THROTTLE[:RATE_DELAY[:WEIGHT]]]; THROTTLE: 421
#                   above that many sessions, and both MTAs' connection limit
#                   for the host (0: none); RATE_DELAY: whole seconds between
#                   messages to the host for both MTAs (0: none); WEIGHT: its
#                   share of the domains (1)
#                   ("50 100 150 200 50 100 150 200 50:20 100:40")
#   BENCH_DOMAIN_LIMIT  connections per domain, both MTAs (20, Postfix's default)
#   BENCH_RETRY     seconds between delivery attempts of deferred mail, both
#                   (5, the least Outpost's temp_fail_intervals takes)
#   BENCH_PF_PROCS  Postfix's default_process_limit: its smtp clients (100,
#                   Postfix's default)
#   BENCH_PF_MAP    1: Postfix gets the per-host limits through a transport
#                   map of the limited hosts' domains (its best); 0: only
#                   the per-domain limit, what it has without such a map (1)
#   BENCH_CLIENTS   parallel connections of the injector (20)
#   BENCH_SIZE      message payload in bytes, headers not included (2048)
#   BENCH_TARGETS   which targets, in order ("postfix outpost")
#   BENCH_TIMEOUT   seconds from letting delivery go until a target is given
#                   up (150)
#   BENCH_NET       the MX hosts' /24 on loopback (127.0.10)
#   BENCH_DNS_IP    where nsd listens, port 53 (127.0.10.53): Postfix's
#                   resolver cannot be given a port
#   BENCH_TMPDIR    where the temp dir (queues) goes (${TMPDIR:-/tmp})
#   BENCH_FRESH_FS  1: a fresh loop-mounted ext4 per MTA for its queue (1)
#   BENCH_KEEP      1: keep the temp dir (configs, queues, logs) (0)
#   BENCH_OUTPOST_LOG   Outpost's log.ini level (warn; info shows each
#                   delivery and deferral in outpost.log)
#   OUTPOST_BIN     the Outpost binary (build/outpost, built if missing)
#
# Binds port 25 on the BENCH_NET addresses and port 53 on BENCH_DNS_IP:
# not beside the end-to-end tests (run it under flock /tmp/outpost-e2e.lock
# like them). No name is looked up through the system resolver: Outpost is
# pointed at the nsd (net-utils.ini), Postfix's smtp clients run chrooted
# in its private queue directory, whose etc/resolv.conf names only the nsd,
# and the Python clients use addresses. Every wait is bounded; an EXIT trap
# stops what was started (injector, sinks, outpost, the private Postfix,
# nsd), unmounts the file systems and removes the temp dir.

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD

MESSAGES=${BENCH_MESSAGES:-5000}
DOMAINS=${BENCH_DOMAINS:-1000}
MX_PROFILE=${BENCH_MX:-50 100 150 200 50 100 150 200 50:20 100:40}
DOMAIN_LIMIT=${BENCH_DOMAIN_LIMIT:-20}
RETRY=${BENCH_RETRY:-5}
PF_PROCS=${BENCH_PF_PROCS:-100}
PF_MAP=${BENCH_PF_MAP:-1}
CLIENTS=${BENCH_CLIENTS:-20}
SIZE=${BENCH_SIZE:-2048}
TARGETS=${BENCH_TARGETS:-postfix outpost}
RUN_TIMEOUT=${BENCH_TIMEOUT:-150}
NET=${BENCH_NET:-127.0.10}
DNS_IP=${BENCH_DNS_IP:-127.0.10.53}
FRESH_FS=${BENCH_FRESH_FS:-1}
KEEP=${BENCH_KEEP:-0}
OUTPOST_LOG=${BENCH_OUTPOST_LOG:-warn}
OUTPOST=${OUTPOST_BIN:-$REPO/build/outpost}
PY=/usr/bin/python3
# Both MTAs' resolvers: seconds before asking again, attempts.
DNS_TIMEOUT=2
DNS_TRIES=2
WAN_PY=$REPO/bench/wan.py

BENCH_NAME=wan.sh
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh" || { echo "wan.sh: cannot read bench/lib.sh" >&2; exit 69; }

need_counts MESSAGES DOMAINS DOMAIN_LIMIT RETRY PF_PROCS CLIENTS SIZE RUN_TIMEOUT
[ "$DOMAINS" -le 9999 ] || die "BENCH_DOMAINS must be at most 9999"
case $PF_MAP in 0 | 1) ;; *) die "BENCH_PF_MAP must be 0 or 1 (got '$PF_MAP')" ;; esac
[ "$RETRY" -ge 5 ] || die "BENCH_RETRY must be >= 5 (Outpost's temp_fail_intervals takes no less)"
for t in $TARGETS; do
	case $t in postfix | outpost) ;;
	*) die "BENCH_TARGETS: unknown target '$t' (postfix, outpost)" ;;
	esac
done
case $NET in 127.*.*) ;; *) die "BENCH_NET must be a /24 on loopback, 127.x.y (got '$NET')" ;; esac
case $DNS_IP in 127.*) ;; *) die "BENCH_DNS_IP must be on loopback (got '$DNS_IP')" ;; esac

PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin
for tool in nsd postfix postconf postsuper postqueue timeout setsid $PY; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool not found: run ./scripts/deps.sh bench and ./scripts/deps.sh test (as root)"
done
"$PY" -c 'import dns.message' 2>/dev/null || die "python3-dnspython missing: run ./scripts/deps.sh test"
[ "$(id -u)" -eq 0 ] || die "run as root (port 25, Postfix's master, loop mounts)"
id postfix >/dev/null 2>&1 || die "no user 'postfix': run ./scripts/deps.sh bench"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer needed (EPOCHREALTIME)"

# Thousands of connections at once into the sinks and out of Outpost.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

# --- temp dir and cleanup -------------------------------------------------

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/outpost-wan.XXXXXX") ||
	die "cannot create a temp dir"
chmod 755 "$WORK"	# the postfix user must reach the private queue

NSD_PID=

cleanup() {
	trap - EXIT INT TERM HUP
	stop_child "$LOAD_PID" 60
	LOAD_PID=
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	stop_postfix
	PF_DIR=
	stop_child "$SINK_PID" 50
	SINK_PID=
	stop_group "$NSD_PID" 50
	NSD_PID=
	unmount_all
	remove_work
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- the world: plan, nsd, sinks --------------------------------------------

PLAN=$WORK/plan
ADDRS=$("$PY" "$WAN_PY" plan --hosts "$MX_PROFILE" --domains "$DOMAINS" \
	--domain-limit "$DOMAIN_LIMIT" --net "$NET" --dns-ip "$DNS_IP" --out "$PLAN") ||
	die "bad BENCH_MX profile"

# True when something accepts TCP connections on $1:$2.
addr_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

for a in $ADDRS; do
	addr_open "$a" 25 &&
		die "something already listens on $a:25 (the end-to-end tests? run under flock /tmp/outpost-e2e.lock)"
done
addr_open "$DNS_IP" 53 && die "something already listens on $DNS_IP:53"

# nsd on DNS_IP:53, foreground, every file in $WORK/nsd, serving wan.test.
# Socket buffers of 8 MB: thousands of lookups arrive at once, as they
# would at a busy site's resolver; with the default (1 MB here) nsd drops
# some and the MTAs' resolvers wait a timeout before asking again. No
# response rate limiting: every query here comes from 127.0.0.1, and nsd's
# RRL would soon drop the identical (NODATA for AAAA) answers.
start_nsd() {
	local d=$WORK/nsd
	mkdir -p "$d" && cp "$PLAN/wan.test.zone" "$d/" || return 1
	cat >"$d/nsd.conf" <<EOF
server:
    ip-address: $DNS_IP@53
    do-ip4: yes
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$d"
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d"
    pidfile: "$d/nsd.pid"
    logfile: "$d/nsd.log"
    server-count: 1
    receive-buffer-size: 8388608
    send-buffer-size: 8388608
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
zone:
    name: wan.test.
    zonefile: wan.test.zone
EOF
	# Its own process group: stop_group reaches nsd's server and xfrd.
	setsid nsd -d -c "$d/nsd.conf" </dev/null >"$d/nsd.out" 2>&1 &
	NSD_PID=$!
	"$PY" "$WAN_PY" wait-dns --server "$DNS_IP:53" --name "d0001.wan.test" --timeout 10
}

# Starts the sink process of target $1: SINK_PID, SINK_STATUS (one line,
# "messages 421s connections", rewritten every 50 ms), its JSON report
# $WORK/$1.sink.json once stopped.
start_wan_sink() {
	local i
	SINK_STATUS=$WORK/$1.sink.status
	rm -f "$SINK_STATUS"
	"$PY" "$WAN_PY" sink --plan "$PLAN" --status "$SINK_STATUS" \
		--report "$WORK/$1.sink.json" </dev/null >"$WORK/$1.sink.log" 2>&1 &
	SINK_PID=$!
	for i in $(seq 1 100); do
		[ -s "$SINK_STATUS" ] && return 0
		kill -0 "$SINK_PID" 2>/dev/null || break
		sleep 0.1
	done
	STATUS[$1]="FAILED: the sinks did not start: $(tail -n 1 "$WORK/$1.sink.log")"
	stop_child "$SINK_PID" 20
	SINK_PID=
	return 1
}

# Reads the sink's status: S_MSGS, S_421, S_CONNS.
sink_status() {
	S_MSGS=0 S_421=0 S_CONNS=0
	read -r S_MSGS S_421 S_CONNS <"$SINK_STATUS" 2>/dev/null
	case $S_MSGS$S_421$S_CONNS in '' | *[!0-9]*) S_MSGS=0 S_421=0 S_CONNS=0 ;; esac
}

stop_wan_sink() {
	stop_child "$SINK_PID" 50
	SINK_PID=
	sink_status
	DELIVERED[$1]=$S_MSGS
	REFUSED[$1]=$S_421
	CONNS[$1]=$S_CONNS
	SINK_CPU[$1]=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["cpu"])' \
		"$WORK/$1.sink.json" 2>/dev/null)
}

# --- load and timing --------------------------------------------------------

# INJECT: seconds to queue the load; RELEASED: when delivery was let go
# (now_us); REFUSED, CONNS: 421s and connections the sinks counted; EARLY:
# messages the sinks had before the release (should be 0); SINK_CPU: CPU
# seconds of the sink process (beside SECS: it was not the bottleneck);
# CPU_BUSY (lib.sh): % of both CPUs busy while delivering.
declare -A INJECT RELEASED REFUSED CONNS EARLY SINK_CPU

# Injects the load into 127.0.0.1:$2 for target $1 (INJECT: seconds).
inject() {
	local t0 rc
	t0=$(now_us)
	timeout -k 5 300 "$PY" "$WAN_PY" inject --server "127.0.0.1:$2" \
		--messages "$MESSAGES" --domains "$DOMAINS" --clients "$CLIENTS" \
		--size "$SIZE" </dev/null >"$WORK/$1.inject.log" 2>&1 &
	LOAD_PID=$!
	wait "$LOAD_PID"
	rc=$?
	LOAD_PID=
	if [ "$rc" -ne 0 ]; then
		STATUS[$1]="FAILED: injecting: $(tail -n 1 "$WORK/$1.inject.log")"
		return 1
	fi
	INJECT[$1]=$(awk -v a="$t0" -v b="$(now_us)" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
	return 0
}

# After the release at $2 (now_us) of target $1: polls the sink every
# 50 ms until it has MESSAGES messages; SECS, RATE. Bounded by RUN_TIMEOUT.
wait_delivered() {
	local name=$1 t0=$2 now b0 a0
	RELEASED[$name]=$t0
	cpu_jiffies
	b0=$JIF_BUSY a0=$JIF_ALL
	while :; do
		sink_status
		now=$(now_us)
		[ "$S_MSGS" -ge "$MESSAGES" ] && break
		if [ $((now - t0)) -ge $((RUN_TIMEOUT * 1000000)) ]; then
			STATUS[$name]="TIMEOUT: $S_MSGS of $MESSAGES delivered after ${RUN_TIMEOUT}s"
			break
		fi
		sleep 0.05
	done
	cpu_jiffies
	[ $((JIF_ALL - a0)) -gt 0 ] && CPU_BUSY[$name]=$(((JIF_BUSY - b0) * 100 / (JIF_ALL - a0)))
	SECS[$name]=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	RATE[$name]=$(awk -v n="$S_MSGS" -v s="${SECS[$name]}" \
		'BEGIN { printf "%.1f", (s > 0) ? n / s : 0 }')
	[ -z "${STATUS[$name]:-}" ] && STATUS[$name]=ok
	[ "${STATUS[$name]}" = ok ]
}

# --- postfix ----------------------------------------------------------------

# The private instance in $PF_DIR (nothing of the system one is used):
# smtpd on 127.0.0.1:$1 holds every message it accepts (released by
# postsuper -H); smtp clients chrooted in the queue directory, whose
# etc/resolv.conf names only the bench's nsd; the plan's transports (one
# per limited host, nexthop the host) and limits; retries every RETRY s.
postfix_config() {
	local port=$1 d=$PF_DIR
	mkdir -p "$d/etc" "$d/spool/etc" "$d/data" || return 1
	chown postfix "$d/data" || return 1
	printf 'nameserver %s\noptions timeout:%s attempts:%s\n' "$DNS_IP" "$DNS_TIMEOUT" \
		"$DNS_TRIES" >"$d/spool/etc/resolv.conf"
	cp /etc/services "$d/spool/etc/services" || return 1
	: >"$d/spool/etc/hosts"
	if [ "$PF_MAP" = 1 ]; then
		cp "$PLAN/transport" "$d/etc/transport" || return 1
		cp "$PLAN/main.cf" "$d/etc/main.cf.hosts" || return 1
	else
		: >"$d/etc/transport"
		: >"$d/etc/main.cf.hosts"
	fi
	cat >"$d/etc/main.cf" <<EOF
# Private Postfix instance of bench/wan.sh; removed after the run.
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $d/maillog
maillog_file_prefixes = $d
syslog_name = postfix-wan-bench
myhostname = postfix-bench.invalid
mydomain = invalid
myorigin = \$myhostname
mydestination =
local_transport = error:no local delivery
relay_domains =
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
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtp_tls_security_level = none
smtp_connection_cache_on_demand = yes
default_process_limit = $PF_PROCS
transport_maps = texthash:$d/etc/transport
default_destination_concurrency_limit = $DOMAIN_LIMIT
default_destination_rate_delay = 0s
minimal_backoff_time = ${RETRY}s
maximal_backoff_time = ${RETRY}s
queue_run_delay = ${RETRY}s
maximal_queue_lifetime = 1d
bounce_queue_lifetime = 1d
# The plan's limits per MX host (BENCH_PF_MAP=1):
$(cat "$d/etc/main.cf.hosts")
EOF
	{
		postfix_master_cf "$port" y
		echo "# The plan's transports, one per limited MX host:"
		cat "$PLAN/master.cf"
	} >"$d/etc/master.cf"
}

pf_queued() {
	find "$PF_DIR/spool/$1" -type f 2>/dev/null | wc -l
}

bench_postfix() {
	local port t0 log n
	PF_DIR=$WORK/postfix
	port=$(free_port) || { STATUS[postfix]="FAILED: no free port"; return 1; }
	postfix_config "$port" || { STATUS[postfix]="FAILED: cannot write its config"; return 1; }
	log=$PF_DIR/control.log
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
	start_wan_sink postfix || { stop_postfix; return 1; }
	inject postfix "$port" || { stop_postfix; stop_wan_sink postfix; return 1; }
	n=$(pf_queued hold)
	if [ "$n" -ne "$MESSAGES" ]; then
		STATUS[postfix]="FAILED: $n of $MESSAGES messages held after injecting"
		stop_postfix
		stop_wan_sink postfix
		return 1
	fi
	# Held mail to the deferred queue (queue administration, not timed),
	# then a flush: the queue manager takes it all at once.
	timeout 120 postsuper -c "$PF_DIR/etc" -H ALL >>"$log" 2>&1
	sink_status
	EARLY[postfix]=$S_MSGS
	t0=$(now_us)
	timeout 60 postqueue -c "$PF_DIR/etc" -f >>"$log" 2>&1
	wait_delivered postfix "$t0"
	stop_postfix
	check_closed postfix "$port"
	stop_wan_sink postfix
	cp "$PF_DIR/maillog" "$WORK/postfix.maillog" 2>/dev/null
	QUEUED[postfix]=$(($(pf_queued incoming) + $(pf_queued active) +
		$(pf_queued deferred) + $(pf_queued hold) + $(pf_queued maildrop)))
	[ "${STATUS[postfix]}" = ok ]
}

# --- outpost ----------------------------------------------------------------

# outbound.ini of the run: delivery paused ($1 = true) or on, loopback MX
# addresses allowed, no STARTTLS (the sinks offer none; Postfix's
# smtp_tls_security_level = none), retries every RETRY s.
outbound_ini() {
	printf '[main]\ndisabled=%s\nlocal_mx_ok=true\nenable_tls=false\ntemp_fail_intervals=%ss*1000\n' \
		"$1" "$RETRY"
}

bench_outpost() {
	local root=$WORK/outpost port c t0 n
	build_outpost || { STATUS[outpost]="FAILED: cannot build $OUTPOST"; return 1; }
	port=$(free_port) || { STATUS[outpost]="FAILED: no free port"; return 1; }
	if ! timeout 30 "$OUTPOST" -i "$root" >"$WORK/outpost-init.log" 2>&1; then
		STATUS[outpost]="FAILED: outpost -i: $(tail -n 1 "$WORK/outpost-init.log")"
		return 1
	fi
	c=$root/config
	printf '[main]\nlisten=127.0.0.1:%s\n' "$port" >"$c/smtp.ini"
	printf 'relay\n' >"$c/plugins"
	printf '[relay]\nacl=true\n' >"$c/relay.ini"
	printf '127.0.0.0/8\n' >"$c/relay_acl_allow"
	printf '[main]\nlevel=%s\n' "$OUTPOST_LOG" >"$c/log.ini"
	# Every client comes from 127.0.0.1 (as relay.sh).
	printf '[max]\nconnections_per_ip=0\n' >"$c/connection.ini"
	printf '%s\n' "$root/queue" >"$c/queue_dir"
	# The resolver's timeout (ms, Haraka's unit) and attempts of Postfix's resolv.conf.
	printf '[dns]\nservers=%s:53\ntimeout=%s000\ntries=%s\n' "$DNS_IP" "$DNS_TIMEOUT" \
		"$DNS_TRIES" >"$c/net-utils.ini"
	outbound_ini true >"$c/outbound.ini"
	cp "$PLAN/shaping.ini" "$c/shaping.ini"

	"$OUTPOST" -c "$root" </dev/null >"$WORK/outpost.log" 2>&1 &
	OUTPOST_PID=$!
	if ! wait_port "$port" "$OUTPOST_PID" 100; then
		STATUS[outpost]="FAILED: outpost does not accept connections: $(tail -n 1 "$WORK/outpost.log")"
		stop_child "$OUTPOST_PID" 50
		OUTPOST_PID=
		return 1
	fi
	start_wan_sink outpost || return 1
	inject outpost "$port" || { stop_wan_sink outpost; return 1; }
	n=$(count_files "$root/queue" ! -name 'tmp.*' ! -name 'error.*' \
	    ! -name 'msg.*')
	if [ "$n" -ne "$MESSAGES" ]; then
		STATUS[outpost]="FAILED: $n of $MESSAGES entries queued after injecting"
		stop_wan_sink outpost
		return 1
	fi
	# Delivery on: outbound.ini replaced in one rename (the daemon reloads
	# it on the inotify event).
	outbound_ini false >"$root/outbound.ini.new"
	sink_status
	EARLY[outpost]=$S_MSGS
	t0=$(now_us)
	mv "$root/outbound.ini.new" "$c/outbound.ini"
	wait_delivered outpost "$t0"
	stop_child "$OUTPOST_PID" 400
	OUTPOST_PID=
	check_closed outpost "$port"
	stop_wan_sink outpost
	QUEUED[outpost]=$(count_files "$root/queue" ! -name 'tmp.*' ! -name 'error.*' \
	    ! -name 'msg.*')
	[ "${STATUS[outpost]}" = ok ]
}

# --- run --------------------------------------------------------------------

start_nsd || die "nsd did not start on $DNS_IP:53: $(tail -n 3 "$WORK/nsd/nsd.log" "$WORK/nsd/nsd.out" 2>/dev/null)"

echo "WAN-like delivery: $MESSAGES messages of $SIZE bytes (+ headers), 1 recipient each," \
	"round-robin over $DOMAINS domains on $(echo "$ADDRS" | wc -w) MX hosts ($NET.x:25);" \
	"queued with delivery paused, then timed from letting delivery go until the sinks" \
	"accepted them all; retries every ${RETRY}s; Postfix: default_process_limit $PF_PROCS"
echo

failed=0
for t in $TARGETS; do
	echo "... $t" >&2
	fresh_fs "$t"
	"bench_$t" || failed=1
	release_fs "$t" "$([ "$KEEP" = 1 ] && echo keep)"
done

printf '%-8s %8s %8s %9s %7s %9s %6s %6s %6s %4s %5s  %s\n' target messages 'inject s' \
	'deliver s' 'msg/s' delivered 421s conns queued cpu% sinkS status
for t in $TARGETS; do
	printf '%-8s %8s %8s %9s %7s %9s %6s %6s %6s %4s %5s  %s\n' "$t" "$MESSAGES" \
		"${INJECT[$t]:--}" "${SECS[$t]:--}" "${RATE[$t]:--}" "${DELIVERED[$t]:--}" \
		"${REFUSED[$t]:--}" "${CONNS[$t]:--}" "${QUEUED[$t]:--}" "${CPU_BUSY[$t]:--}" \
		"${SINK_CPU[$t]:--}" "${STATUS[$t]:-not run}"
done
echo "(deliver s: from letting delivery go to the sinks' last message; 421s, conns: counted"
echo "by the sinks; cpu%: both CPUs busy while delivering; sinkS: the sink process's CPU s)"
echo

runs=()
for t in $TARGETS; do
	[ -s "$WORK/$t.sink.json" ] && runs+=("$t=$WORK/$t.sink.json@${RELEASED[$t]:-}")
done
if [ ${#runs[@]} -gt 0 ]; then
	echo "Per MX host (DATA: delay before the reply to the final dot; 421>: the sink's"
	echo "throttle; limit: both MTAs' connections[,rate] for it; doms: its domains; maxconc:"
	echo "most connections open at once, refused ones included; peak/s: most messages in"
	echo "any 1 s; done s: its last message, from the release):"
	"$PY" "$WAN_PY" report --plan "$PLAN" "${runs[@]}"
	echo
fi

for t in $TARGETS; do
	case ${EARLY[$t]:-0} in 0) ;; *) echo "WARNING: $t: ${EARLY[$t]} messages reached the sinks before delivery was let go" ;; esac
	case ${QUEUED[$t]:-} in '' | - | 0) ;; *) echo "WARNING: $t: ${QUEUED[$t]} messages left in its queue" ;; esac
	[ -n "${DELIVERED[$t]:-}" ] && [ "${DELIVERED[$t]}" -gt "$MESSAGES" ] &&
		echo "WARNING: $t: the sinks accepted ${DELIVERED[$t]} messages for $MESSAGES sent (duplicates)"
done
printf '%s' "$LEFT"

# Ratios, Outpost/Postfix, when both ran (a timed-out run counts with what
# it delivered within BENCH_TIMEOUT, and is flagged).
if [ -n "${RATE[outpost]:-}" ] && [ -n "${RATE[postfix]:-}" ]; then
	awk -v o="${RATE[outpost]}" -v p="${RATE[postfix]}" \
		-v os="${STATUS[outpost]}" -v ps="${STATUS[postfix]}" 'BEGIN {
		r = (p > 0) ? o / p : 0
		printf "%-28s %8.2f   (goal >= 3: %s)%s\n", "msg/s, Outpost/Postfix:", r,
			(r >= 3) ? "met" : "not met",
			(os != "ok" || ps != "ok") ? "  [a run did not finish]" : ""
	}'
	awk -v o="${REFUSED[outpost]}" -v p="${REFUSED[postfix]}" 'BEGIN {
		if (p > 0)
			printf "%-28s %8.2f   (%d / %d; goal < 1, fewer: %s)\n", "421s, Outpost/Postfix:",
				o / p, o, p, (o < p) ? "met" : "not met"
		else	# Postfix provoked none: the goal is none
			printf "%-28s %8s   (%d / %d; goal none, as Postfix: %s)\n", "421s, Outpost/Postfix:",
				"n/a", o, p, (o == 0) ? "met" : "not met"
	}'
fi

exit $failed
