#!/bin/bash
# scripts/mkqueue.sh: builds scripts/mkqueue.c against the release objects
# it needs (the queue's own encoder) into build/bench/mkqueue and runs it
# with the arguments given: a queue directory of valid entries and shared
# bodies, written fast (no fsync), for bench/scale.sh and the scale test.
#
#   scripts/mkqueue.sh DIR ENTRIES [RCPTS [PER_BODY [DOMAINS [SIZE [DUE_S [HELD]]]]]]
#
# (defaults 4 recipients, 4 entries per body, 1000 domains, 2048 bytes,
# due in 3600 s, none held; see the comment at the top of mkqueue.c).
set -u
cd "$(dirname "$0")/.." || exit 1
CC=${CC:-cc}
OBJS="build/rel/src/queue/entry.o build/rel/src/queue/qentry.o build/rel/src/lib/crc32c.o
      build/rel/src/lib/buf.o build/rel/src/lib/xmalloc.o"
# shellcheck disable=SC2086
make -s $OBJS || { echo "mkqueue.sh: make failed" >&2; exit 69; }
mkdir -p build/bench
if [ ! -x build/bench/mkqueue ] || [ scripts/mkqueue.c -nt build/bench/mkqueue ] ||
	[ build/rel/src/queue/entry.o -nt build/bench/mkqueue ]; then
	# shellcheck disable=SC2086
	$CC -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc \
		-o build/bench/mkqueue scripts/mkqueue.c $OBJS ||
		{ echo "mkqueue.sh: cannot build scripts/mkqueue.c" >&2; exit 69; }
fi
exec build/bench/mkqueue "$@"
