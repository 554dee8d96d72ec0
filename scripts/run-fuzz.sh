#!/bin/bash
# run-fuzz.sh: runs libFuzzer targets one after the other for a set time
# each and prints executions and coverage per target.
#
#   scripts/run-fuzz.sh FUZZ_BUILD_DIR SECONDS TARGET...
#
# Each target sshbpp_fuzz_<t> starts from the committed seeds in
# fuzz/corpus/<t>/ and keeps what it finds in FUZZ_BUILD_DIR/corpus/<t>/
# (the committed seeds are never written). Crash inputs go to
# FUZZ_BUILD_DIR/artifacts/. Exits 1 if any target failed.
set -u
dir=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/artifacts"
status=0
for t in "$@"; do
    bin=$dir/fuzz/sshbpp_fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "run-fuzz: $bin missing" >&2
        exit 1
    fi
    mkdir -p "$dir/corpus/$t"
    log=$dir/fuzz-$t.log
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus/$t" "$src/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    if [ $rc -eq 0 ]; then
        res=ok
    else
        res="FAILED (exit $rc, see $log)"
        status=1
    fi
    printf 'fuzz %-10s %4ss  execs %-10s cov %-6s ft %-6s corpus %-12s %s\n' \
        "$t" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$res"
done
exit $status
