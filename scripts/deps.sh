#!/bin/sh
# Installs the Debian 12 packages Outpost needs: `deps.sh build` for
# building and running, `deps.sh test` for that plus the test tools,
# `deps.sh bench` for building plus Postfix (smtp-source, smtp-sink and the
# reference Postfix of bench/accept.sh and bench/relay.sh), socat (their
# outpostN targets wait for the sd_notify READY=1 with it) and, unless node
# and npm are already there, Debian's nodejs and npm (bench/relay.sh installs
# Haraka with npm; so does tests/e2e/test_haraka_dir.py, into the same
# cache, build/bench/haraka, which is why `deps.sh test` wants them too).
# Package scripts are kept from starting system daemons (nsd, postfix,
# rabbitmq-server):
# the tests and the benchmark start their own servers on loopback.
set -eu
what=${1:-build}

build="gcc make pkg-config libevent-dev libssl-dev libc-ares-dev libidn2-dev \
libunbound-dev dns-root-data libcurl4-openssl-dev libjansson-dev libgmime-3.0-dev \
liblmdb-dev libhiredis-dev librabbitmq-dev"
test="$build libcmocka-dev python3 python3-pytest python3-aiosmtpd \
python3-dnspython nsd swaks libio-socket-ssl-perl libnet-ssleay-perl \
libdigest-hmac-perl libauthen-sasl-perl openssl procps clang libclang-rt-14-dev \
prometheus chromium chromium-driver python3-selenium ldnsutils python3-cryptography \
python3-dkim python3-nacl opendkim-tools groff-base adduser logrotate redis-server \
rabbitmq-server"
bench="$build postfix procps linux-perf strace socat"

case $what in
build) pkgs=$build ;;
test)
	pkgs=$test
	# Only when missing, as for bench (NodeSource's nodejs brings npm).
	command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
	command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
	;;
bench)
	pkgs=$bench
	# Only when missing: NodeSource's nodejs, for one, brings its own npm
	# and conflicts with Debian's.
	command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
	command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
	;;
*) echo "usage: $0 build|test|bench" >&2; exit 64 ;;
esac

missing=
for p in $pkgs; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
		missing="$missing $p"
done

# Debian's postfix must not stay running (nor listen on port 25): the
# benchmark runs its own private instance. Idempotent; done on every
# `deps.sh bench`, after any install.
stop_system_postfix() {
	[ "$what" = bench ] || return 0
	command -v postfix >/dev/null 2>&1 || return 0
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable postfix >/dev/null 2>&1 || true
		if [ -d /run/systemd/system ]; then
			systemctl stop postfix >/dev/null 2>&1 || true
		fi
	fi
	if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then
		postfix stop >/dev/null 2>&1 || true
	fi
	return 0
}

if [ -z "$missing" ]; then
	stop_system_postfix
	exit 0
fi

# Keep installed services stopped (invoke-rc.d honours policy-rc.d).
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e $policy ]; then
	printf '#!/bin/sh\nexit 101\n' > $policy
	chmod 755 $policy
	created=1
fi
trap '[ -n "$created" ] && rm -f $policy' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
stop_system_postfix
