#!/bin/sh
# Installs the Debian 12 packages Outpost needs: `deps.sh build` for
# building and running, `deps.sh test` for that plus the test tools.
# Package scripts are kept from starting system daemons (nsd, postfix):
# the tests start their own servers on loopback.
set -eu
what=${1:-build}

build="gcc make pkg-config libevent-dev libssl-dev libc-ares-dev"
test="$build libcmocka-dev python3 python3-pytest python3-aiosmtpd \
python3-dnspython nsd swaks openssl procps clang libclang-rt-14-dev"

case $what in
build) pkgs=$build ;;
test) pkgs=$test ;;
*) echo "usage: $0 build|test" >&2; exit 64 ;;
esac

missing=
for p in $pkgs; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

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
