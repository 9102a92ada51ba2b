#!/bin/bash
# scripts/fuzz.sh: builds and runs the libFuzzer targets (tests/fuzz/), one
# after another, each from its corpus in the repository.
#
#   scripts/fuzz.sh MINUTES [TARGET...]    MINUTES in all, split evenly
#                                          among the targets (all of them
#                                          by default)
#   scripts/fuzz.sh --each SECONDS [TARGET...]
#                                          SECONDS for each target (what
#                                          `make fuzz` runs in CI)
#   scripts/fuzz.sh --merge [TARGET...]    adds to tests/fuzz/corpus/<t>/
#                                          the inputs found since that add
#                                          coverage (libFuzzer -merge=1)
#
# The corpus in tests/fuzz/corpus/<t>/ is only read; inputs that reach new
# code go to build/fuzz/corpus-<t>/ and stay there between runs. A crash or
# a failed oracle is saved under build/fuzz/crashes/<t>/ and its path
# printed; the other targets still run, and the exit status is 1. A usage
# error exits 2.
#
# Knobs (environment): FUZZ_TIMEOUT, seconds one input may take before it
# counts as a hang (10); FUZZ_NO_BUILD=1 when the targets are built already.
set -u
cd "$(dirname "$0")/.."

usage() {
	sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

all_targets() {
	for f in tests/fuzz/fuzz_*.c; do
		basename "$f" .c
	done
}

mode=total
case "${1:-}" in
--each)	mode=each; shift; amount=${1:-}; shift || true ;;
--merge) mode=merge; shift ;;
''|-h|--help) usage ;;
*)	amount=$1; shift ;;
esac
if [ "$mode" != merge ]; then
	case "${amount:-}" in
	''|*[!0-9.]*|*.*.*|.) usage ;;
	esac
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
for t in "${targets[@]}"; do
	[ -f "tests/fuzz/$t.c" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
done

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
	make -s "${targets[@]/#/build/fuzz/}" || exit 1
fi

if [ "$mode" = merge ]; then
	for t in "${targets[@]}"; do
		found=build/fuzz/corpus-$t
		if [ ! -d "$found" ] || [ -z "$(ls -A "$found")" ]; then
			echo "== $t: nothing found yet in $found"
			continue
		fi
		before=$(ls "tests/fuzz/corpus/$t" | wc -l)
		"build/fuzz/$t" -merge=1 "tests/fuzz/corpus/$t" "$found" \
		    > "build/fuzz/$t.merge.log" 2>&1 || {
			tail -20 "build/fuzz/$t.merge.log"
			exit 1
		}
		after=$(ls "tests/fuzz/corpus/$t" | wc -l)
		echo "== $t: $((after - before)) inputs added to tests/fuzz/corpus/$t"
	done
	echo "Review them (small, meaningful names help) and commit."
	exit 0
fi

# Seconds for each target.
if [ "$mode" = each ]; then
	secs=$(awk -v s="$amount" 'BEGIN { printf "%d", s + 0.5 }')
else
	secs=$(awk -v m="$amount" -v n=${#targets[@]} \
	    'BEGIN { s = int(m * 60 / n); printf "%d", s < 1 ? 1 : s }')
	echo "fuzz.sh: $amount min for ${#targets[@]} targets: ${secs}s each"
fi
timeout=${FUZZ_TIMEOUT:-10}

failed=()
fresh=()
printf '%-22s %6s %10s %8s %6s %s\n' target secs runs exec/s cov result
for t in "${targets[@]}"; do
	found=build/fuzz/corpus-$t
	crashes=build/fuzz/crashes/$t
	log=build/fuzz/$t.log
	mkdir -p "$found" "$crashes"
	n_before=$(ls "$found" | wc -l)
	"build/fuzz/$t" -max_total_time="$secs" -timeout="$timeout" \
	    -artifact_prefix="$crashes/" -print_final_stats=1 \
	    "$found" "tests/fuzz/corpus/$t" > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	if [ $rc -eq 0 ]; then
		result=ok
	else
		input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" |
		    tail -1)
		result="FAILED (exit $rc): ${input:-no input saved, see $log}"
		failed+=("$t|${input:-}|$log")
	fi
	printf '%-22s %6s %10s %8s %6s %s\n' "$t" "${took:--}" "${runs:--}" \
	    "${rate:--}" "${cov:--}" "$result"
	n_after=$(ls "$found" | wc -l)
	[ "$n_after" -gt "$n_before" ] && fresh+=("$t:$((n_after - n_before))")
done

if [ ${#fresh[@]} -gt 0 ]; then
	echo
	echo "New inputs (in build/fuzz/corpus-<target>/):"
	for f in "${fresh[@]}"; do
		echo "  ${f%%:*}: ${f##*:}"
	done
	echo "To keep those that add coverage in the repository's corpus:"
	echo "  scripts/fuzz.sh --merge [TARGET...]"
	echo "  (= build/fuzz/<t> -merge=1 tests/fuzz/corpus/<t> build/fuzz/corpus-<t>),"
	echo "then review and commit tests/fuzz/corpus/."
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo
	for f in "${failed[@]}"; do
		IFS='|' read -r t input log <<< "$f"
		echo "== $t failed; from $log:"
		grep -E 'oracle failed|ERROR: |SUMMARY: |^[^ ]*runtime error' \
		    "$log" | head -5 | sed 's/^/  /' | grep . ||
		    tail -3 "$log" | sed 's/^/  /'
		if [ -n "$input" ]; then
			echo "  input:     $input"
			echo "  reproduce: build/fuzz/$t $input"
			echo "  once fixed, keep it: cp $input tests/fuzz/corpus/$t/<what-it-is>"
		fi
	done
	exit 1
fi
exit 0
