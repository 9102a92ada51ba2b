#!/bin/bash
# bench/records.sh: accounting records through recwriter, against plain
# write(2), on one file system.
#
# Builds bench/records.c against the release objects it needs (recwriter,
# log and the lib/ helpers, made with `make` first) into build/bench/records
# and runs it once: BENCH_RECORDS JSON lines of about 250 bytes each go
#   (a) through recwriter without sync,
#   (b) through recwriter with sync, BENCH_INFLIGHT records in flight (each
#       done callback appends the next record: deliveries waiting for
#       their record to be durable),
#   (c) to a file with one write(2) per record, no sync,
#   (d) to a file in the batches (b) made, write(2) + fdatasync per batch,
#   (e) to a file with write(2) + fdatasync per record (first 5000 only),
# and it prints records/s for each and the ratios (a)/(c), (b)/(d) and
# (b)/(e). It reports; it sets no target. Exit status: 0 when the runs
# went through, 1 when one failed, 69 when the build failed.
#
# Knobs (environment):
#   BENCH_RECORDS   records per run (200000)
#   BENCH_INFLIGHT  records in flight in (b) (64)
#   BENCH_DIR       the directory the files go to (a temp dir under
#                   ${BENCH_TMPDIR:-${TMPDIR:-/tmp}}, removed afterwards);
#                   put it on the disk you mean to measure, not on tmpfs
#   CC              the compiler (cc)

set -u
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1

RECORDS=${BENCH_RECORDS:-200000}
INFLIGHT=${BENCH_INFLIGHT:-64}
CC=${CC:-cc}

die() { echo "records.sh: $*" >&2; exit 69; }

for v in RECORDS INFLIGHT; do
	case ${!v} in
	'' | *[!0-9]*) die "BENCH_$v must be a positive integer (got '${!v}')" ;;
	esac
	[ "${!v}" -gt 0 ] || die "BENCH_$v must be > 0"
done

# Only the objects records.c links: the rest of the tree may be mid-edit.
OBJS="build/rel/src/records/writer.o build/rel/src/core/log.o build/rel/src/lib/xmalloc.o
      build/rel/src/lib/buf.o build/rel/src/lib/json.o"
# shellcheck disable=SC2086
make -s $OBJS || die "make failed"
mkdir -p build/bench
# shellcheck disable=SC2086
$CC -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc \
	-o build/bench/records bench/records.c $OBJS -levent -lpthread -lm ||
	die "cannot build bench/records.c"

CREATED=
if [ -n "${BENCH_DIR:-}" ]; then
	DIR=$BENCH_DIR
	[ -d "$DIR" ] || die "BENCH_DIR $DIR is not a directory"
else
	DIR=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/outpost-records.XXXXXX") ||
		die "cannot create a temp dir"
	CREATED=$DIR
fi
cleanup() { [ -n "$CREATED" ] && rm -rf "$CREATED"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

fstype=$(stat -f -c %T "$DIR" 2>/dev/null)
case $fstype in tmpfs | ramfs)
	echo "records.sh: WARNING: $DIR is on $fstype: fdatasync is free there" >&2 ;;
esac
echo "file system: ${fstype:-unknown} ($(df -P "$DIR" | awk 'NR == 2 { print $1 }'))"

build/bench/records "$DIR" "$RECORDS" "$INFLIGHT" || exit 1
