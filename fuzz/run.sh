#!/bin/sh
# Run every atheris harness for MINUTES minutes each (default 10), niced, with scratch
# corpora under ${FUZZ_WORK:-/tmp/emfast-fuzz}; crashes land in that directory.
#   fuzz/run.sh 10
set -e
MIN=${1:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${FUZZ_PYTHON:-/work/venvs/fuzz/bin/python}
WORK=${FUZZ_WORK:-/tmp/emfast-fuzz}
for pair in read_bif:bif load:json csv:csv; do
    h=${pair%%:*}; k=${pair##*:}
    mkdir -p "$WORK/$k"
    echo "== fuzz_$h for $MIN min"
    (cd "$WORK" && nice -n 15 "$PY" "$HERE/fuzz_$h.py" "$WORK/$k" "$HERE/corpus/$k" \
        -dict="$HERE/$k.dict" -max_total_time=$((MIN * 60)) -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | grep -vE "Instrumenting|^\"|Uses:" | tail -25)
done
