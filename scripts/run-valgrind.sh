#!/bin/bash
# run-valgrind.sh BUILD_DIR: runs every unit-test binary (BUILD_DIR/tests/test_*)
# and the demo under valgrind memcheck, JOBS (default 2) at a time, each with a
# time limit. Prints one line per binary and the log of each failure; exits 1
# if any binary has memory errors, definite/indirect leaks, or fails.
set -euo pipefail

build=${1:-build}
jobs=${VALGRIND_JOBS:-2}
limit=${VALGRIND_TIMEOUT:-900}

if ! command -v valgrind >/dev/null; then
    echo "run-valgrind: valgrind not installed (make deps)" >&2
    exit 1
fi

bins=()
for f in "$build"/tests/test_*; do
    [[ -f $f && -x $f ]] && bins+=("$f")
done
[[ -x $build/examples/sshbpp_demo ]] && bins+=("$build/examples/sshbpp_demo")
if [[ ${#bins[@]} -eq 0 ]]; then
    echo "run-valgrind: no test binaries in $build/tests" >&2
    exit 1
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/sshbpp-valgrind.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

run_one() {
    local bin=$1 logdir=$2 limit=$3 name rc start
    name=$(basename "$bin")
    start=$SECONDS
    rc=0
    # --error-exitcode catches memcheck errors and (with --errors-for-leak-kinds)
    # definite/indirect leaks; "possible" leaks from thread stacks are not errors.
    timeout --kill-after=10 "$limit" \
        valgrind --quiet --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --track-fds=no --num-callers=30 \
        "$bin" >"$logdir/$name.log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        printf 'valgrind: %-28s ok   (%ds)\n' "$name" $((SECONDS - start))
    else
        case $rc in
        99) why="memory errors or leaks" ;;
        124 | 137) why="timed out after ${limit}s" ;;
        *) why="exit status $rc" ;;
        esac
        printf 'valgrind: %-28s FAIL (%s, %ds)\n' "$name" "$why" $((SECONDS - start))
        touch "$logdir/$name.failed"
    fi
}
export -f run_one

printf '%s\n' "${bins[@]}" |
    xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$logdir" "$limit"

failed=0
for bin in "${bins[@]}"; do
    name=$(basename "$bin")
    if [[ -e $logdir/$name.failed ]]; then
        failed=$((failed + 1))
        echo "===== valgrind log: $name ====="
        tail -n 200 "$logdir/$name.log"
    fi
done
if [[ $failed -ne 0 ]]; then
    echo "valgrind: FAIL ($failed of ${#bins[@]} binaries)"
    exit 1
fi
echo "valgrind: PASS (${#bins[@]} binaries)"
