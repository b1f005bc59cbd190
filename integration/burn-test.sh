#!/usr/bin/env bash
# Runs the whole test command (integration/test-all.sh, as README says)
# several times in a row while two CPU-burning processes run beside it, to
# show that no test depends on an idle machine. Stops at the first failing
# run. Prints each run's wall time and result, and a summary.
#
#   ./integration/burn-test.sh [runs]     # runs: default 3
#
# BURNERS=n changes the number of burning processes (default 2). The
# burners are killed when the script exits, however it exits.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
burners=${BURNERS:-2}
case "$runs$burners" in
*[!0-9]*) echo "usage: $0 [runs]  (runs and BURNERS are whole numbers)" >&2; exit 2 ;;
esac

pids=()
stop_burners() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	pids=()
}
trap stop_burners EXIT
trap 'exit 130' INT TERM

for _ in $(seq "$burners"); do
	sh -c 'while :; do :; done' &
	pids+=($!)
done
echo "== $burners CPU burners running (pids ${pids[*]}); $runs runs of integration/test-all.sh"

logdir=$(mktemp -d)
summary=()
for i in $(seq "$runs"); do
	log="$logdir/run-$i.log"
	echo "== run $i of $runs (load $(cut -d' ' -f1-3 /proc/loadavg)); log: $log"
	start=$(date +%s)
	./integration/test-all.sh >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	if [ "$rc" -eq 0 ]; then
		result=PASS
	else
		result="FAIL (exit $rc)"
	fi
	line="run $i: $result in ${took}s (load after: $(cut -d' ' -f1-3 /proc/loadavg))"
	summary+=("$line")
	echo "== $line"
	if [ "$rc" -ne 0 ]; then
		echo "-- failures in run $i:"
		grep -E -- '^(--- FAIL|FAIL|panic)|^\s+--- FAIL|_test\.go:[0-9]+|^FAIL' "$log" | head -60
		break
	fi
done

echo "== summary ($burners burners)"
printf '%s\n' "${summary[@]}"
for line in "${summary[@]}"; do
	case "$line" in *FAIL*) exit 1 ;; esac
done
[ "${#summary[@]}" -eq "$runs" ] || exit 1
echo "PASS: $runs runs in a row beside $burners CPU burners"
