#!/usr/bin/env bash
# Run tests N times in a row on a loaded machine, as CI may meet it: one busy loop per core runs beside them for the whole
# time. Stops at the first failure and keeps that run's whole log; prints one line per run.
#   bash tools/stress.sh 30 tests/test_distributed.py
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-30}; shift; tests=${*:-tests/test_distributed.py}
logs=$(mktemp -d /tmp/stress.XXXX)
busy=(); for _ in $(seq "$(nproc)"); do sh -c 'while :; do :; done' & busy+=($!); done
trap 'kill "${busy[@]}" 2>/dev/null' EXIT
echo "stress: $n runs of $tests, $(nproc) busy loops beside them, logs in $logs"
for i in $(seq "$n"); do
  t=$(date +%s)
  .venv/bin/python -m pytest $tests -q -p no:cacheprovider --basetemp="$logs/tmp" > "$logs/run$i.log" 2>&1
  rc=$?
  echo "run $i: exit $rc in $(( $(date +%s) - t )) s: $(tail -n 1 "$logs/run$i.log")"
  [ $rc -ne 0 ] && { echo "stress: run $i failed, its log: $logs/run$i.log"; exit 1; }
  rm -f "$logs/run$i.log"
done
echo "stress: $n of $n passed"
