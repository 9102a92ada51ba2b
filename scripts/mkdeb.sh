#!/bin/sh
# Builds the Debian package of Outpost with dpkg-deb alone (no debhelper):
#   scripts/mkdeb.sh OUT_DIR     (run by `make deb` after the release build)
# It installs
#   /usr/sbin/outpost, /usr/sbin/outpost-sendmail, /usr/bin/outpostctl
#   /etc/outpost/*                  the configuration (outpost -i's, conffiles;
#                                   smtp.ini: listen=127.0.0.1:25, user=outpost)
#   /var/lib/outpost/config         a link to /etc/outpost: ROOT is /var/lib/outpost
#   /lib/systemd/system/outpost.service, /etc/logrotate.d/outpost
#   /usr/share/man/man5,man8        outpost(8), outpost-sendmail(8), outpostctl(8),
#                                   outpost-config(5)
# and the maintainer scripts of packaging/ (the outpost user, directories).
set -eu
cd "$(dirname "$0")/.."
out=${1:-build}
version=$(sed -n 's/^#define OUTPOST_VERSION[[:space:]]*"\(.*\)"/\1/p' src/core/version.h)
arch=$(dpkg --print-architecture)
stage=build/deb/outpost
rm -rf build/deb
mkdir -p "$stage/DEBIAN" "$stage/usr/sbin" "$stage/usr/bin" "$stage/etc/logrotate.d" \
	"$stage/lib/systemd/system" "$stage/var/lib/outpost" \
	"$stage/usr/share/man/man5" "$stage/usr/share/man/man8" \
	"$stage/usr/share/doc/outpost"

install -m 0755 build/outpost build/outpost-sendmail "$stage/usr/sbin/"
strip --strip-unneeded "$stage/usr/sbin/outpost-sendmail"
# outpostctl: for any user who can read the admin token or reach the socket.
install -m 0755 build/outpostctl "$stage/usr/bin/"
strip --strip-unneeded "$stage/usr/bin/outpostctl"
# outpost keeps its dynamic symbol table: plugins resolve op_* from it.
strip --strip-debug "$stage/usr/sbin/outpost"

# The configuration: what `outpost -i` writes, less `me` (the host's name
# is read at run time), listening on the local SMTP port.
build/outpost -i build/deb/root >/dev/null
rm -f build/deb/root/config/me
mkdir -p "$stage/etc/outpost"
cp build/deb/root/config/* "$stage/etc/outpost/"
# Run by hand as root, the daemon still becomes outpost (under systemd it
# already is).
sed -i -e 's/^listen=.*/listen=127.0.0.1:25/' -e 's/^;user=outpost$/user=outpost/' \
	"$stage/etc/outpost/smtp.ini"
chmod 0644 "$stage/etc/outpost/"*
ln -s /etc/outpost "$stage/var/lib/outpost/config"

install -m 0644 packaging/outpost.service "$stage/lib/systemd/system/"
install -m 0644 packaging/logrotate "$stage/etc/logrotate.d/outpost"
for page in man/*.[58]; do
	sect=${page##*.}
	gzip -9n < "$page" > "$stage/usr/share/man/man$sect/$(basename "$page").gz"
done
gzip -9n < README.md > "$stage/usr/share/doc/outpost/README.md.gz"
install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$stage/DEBIAN/"
(cd "$stage" && find etc -type f | sed 's|^|/|' | sort) > "$stage/DEBIAN/conffiles"

# The shared libraries' packages: dpkg-shlibdeps when dpkg-dev is there,
# else the package owning each library, at least its installed version.
deps=
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	mkdir -p build/deb/debian
	printf 'Source: outpost\n\nPackage: outpost\nArchitecture: any\n' \
		> build/deb/debian/control
	deps=$(cd build/deb && dpkg-shlibdeps -O -e outpost/usr/sbin/outpost \
		-e outpost/usr/sbin/outpost-sendmail -e outpost/usr/bin/outpostctl \
		2>/dev/null |
		sed -n 's/^shlibs:Depends=//p')
fi
if [ -z "$deps" ]; then
	for lib in $(ldd build/outpost build/outpostctl |
		awk '$3 ~ /^\// { print $3 }' | sort -u); do
		pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 |
			cut -d: -f1) || continue
		[ -n "$pkg" ] || continue
		ver=$(dpkg-query -W -f='${Version}' "$pkg" | sed 's/-[^-]*$//')
		deps="${deps:+$deps, }$pkg (>= $ver)"
	done
fi

size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: outpost
Version: $version
Architecture: $arch
Maintainer: Outpost maintainers <outpost@localhost>
Installed-Size: $size
Depends: $deps, adduser
Section: mail
Priority: optional
Description: outbound mail transfer agent, Haraka-compatible
 Outpost accepts mail from local programs and allowed clients, queues it
 durably and delivers it to each recipient domain's MX hosts, with retries,
 bounces, traffic shaping and per-recipient records. It reads Haraka's
 configuration files. outpost-sendmail gives programs (PHP, cron) the
 sendmail(8) command line.
CONTROL

mkdir -p "$out"
deb="$out/outpost_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
