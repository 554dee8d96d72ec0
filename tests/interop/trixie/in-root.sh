#!/bin/sh
# in-root.sh STEP: runs inside the Debian 13 root (scripts/trixie-root.sh
# run), at the top of the source tree. Builds sshbpp there with the root's
# gcc 14 and OpenSSL 3.5 into build-trixie/ (its own tree, never the host's
# build), then runs STEP:
#   unit   the whole unit suite (ctest -L unit) against OpenSSL 3.5
#   pq     test_pq.py: mlkem768x25519-sha256 against OpenSSH 10
#   ssh    the Debian 12 OpenSSH interop drivers of tests/interop/ssh that
#          need no Dropbear (probe_openssh, gex, legacy) against OpenSSH 10
# Every failure is loud and non-zero.
set -eu
step=${1:?usage: in-root.sh unit|pq}
[ "${SSHBPP_IN_TRIXIE_ROOT:-}" = 1 ] || {
    echo "in-root.sh: not inside the trixie root (use scripts/trixie-root.sh run)" >&2
    exit 1
}
bdir=build-trixie
mkdir -p "$bdir"
echo "in-root: $(openssl version); $(ssh -V 2>&1); $(gcc --version | head -n 1)"
cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSHBPP_WERROR=ON \
    -DSSHBPP_BUILD_BENCH=OFF >"$bdir/configure.log" 2>&1 || {
    cat "$bdir/configure.log" >&2
    echo "in-root.sh: cmake configure failed" >&2
    exit 1
}
cmake --build "$bdir" -j2 >"$bdir/build.log" 2>&1 || {
    tail -n 60 "$bdir/build.log" >&2
    echo "in-root.sh: build failed (-Werror, gcc 14)" >&2
    exit 1
}
case $step in
    unit) exec ctest --test-dir "$bdir" -L unit --no-tests=error --output-on-failure -j2 ;;
    pq) exec /usr/bin/python3 tests/interop/trixie/test_pq.py "$bdir/cli/sshbpp" ;;
    ssh)
        rc=0
        for t in probe_openssh gex legacy; do
            echo "== test_$t.py (OpenSSH 10)"
            /usr/bin/python3 "tests/interop/ssh/test_$t.py" "$bdir/cli/sshbpp" || rc=1
        done
        exit $rc
        ;;
    *) echo "in-root.sh: unknown step $step" >&2; exit 2 ;;
esac
