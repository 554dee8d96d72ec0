#!/bin/sh
# hostlib.sh BINARY...: runs host-built test binaries (built on Debian 12,
# against OpenSSL 3.0's headers) with the Debian 13 root's libraries
# (OpenSSL 3.5: ML-KEM-768), by starting them through the root's dynamic
# loader. libcrypto.so.3 keeps its ABI from 3.0 to 3.5, so the same binary
# runs the mlkem768x25519-sha256 code that the Debian 12 build compiles
# but, on its own OpenSSL, never reaches; a coverage build thus counts
# those lines in its own figures (unlike the interop.trixie.* steps, which
# build sshbpp again inside the root).
#
# Each binary runs with SSHBPP_EXPECT_MLKEM=1 (tests/support/pq.h): a
# libcrypto without ML-KEM fails the ML-KEM tests instead of letting them
# skip or check the absence. Before anything runs, every library a binary
# loads must resolve inside the root: a host library slipping in (and with
# it OpenSSL 3.0) is a failure, not a quiet pass. OPENSSL_CONF and
# OPENSSL_MODULES point at the root's too, so that OpenSSL 3.5 reads
# neither the host's configuration nor its 3.0 provider modules.
#
# The root comes from scripts/trixie-root.sh (built if missing or stale;
# that needs root and a Debian mirror). Every failure is loud and non-zero;
# nothing is skipped.
set -eu

top=$(cd "$(dirname "$0")/../../.." && pwd)
[ $# -gt 0 ] || { echo "hostlib.sh: no test binary given" >&2; exit 2; }

root=$(sh "$top/scripts/trixie-root.sh" build) || {
    echo "hostlib.sh: the Debian 13 root is not available (scripts/trixie-root.sh build failed)" >&2
    exit 1
}
arch=$(uname -m)-linux-gnu
case $(uname -m) in
    x86_64) loader=$root/lib64/ld-linux-x86-64.so.2 ;;
    aarch64) loader=$root/lib/ld-linux-aarch64.so.1 ;;
    *) echo "hostlib.sh: no loader name known for $(uname -m)" >&2; exit 1 ;;
esac
[ -x "$loader" ] || { echo "hostlib.sh: $loader missing in the root" >&2; exit 1; }
libpath=$root/usr/lib/$arch:$root/lib/$arch
modules=$root/usr/lib/$arch/ossl-modules
[ -d "$modules" ] || { echo "hostlib.sh: $modules missing in the root" >&2; exit 1; }
[ -f "$root/etc/ssl/openssl.cnf" ] || { echo "hostlib.sh: no openssl.cnf in the root" >&2; exit 1; }
ver=$("$loader" --library-path "$libpath" "$root/usr/bin/openssl" version) || {
    echo "hostlib.sh: the root's openssl does not run with the root's libraries" >&2
    exit 1
}
echo "hostlib: $ver via $loader"

rc=0
npass=0
nfail=0
for bin in "$@"; do
    name=$(basename "$bin")
    [ -x "$bin" ] || { echo "hostlib: $bin: not an executable" >&2; exit 1; }
    # ldd's listing, from the root's loader with its search path: every
    # "=> path" must lie in the root.
    if ! list=$("$loader" --list --library-path "$libpath" "$bin" 2>&1); then
        echo "$list" >&2
        echo "hostlib: $name: the root's loader cannot resolve its libraries" >&2
        exit 1
    fi
    outside=$(printf '%s\n' "$list" | awk -v r="$root/" '
        $2 == "=>" { if (index($3, r) != 1) print }')
    if [ -n "$outside" ]; then
        printf '%s\n' "$outside" >&2
        echo "hostlib: $name: libraries resolved outside $root" >&2
        exit 1
    fi
    echo "== $name (OpenSSL 3.5 from the root, SSHBPP_EXPECT_MLKEM=1)"
    out=$(mktemp)
    set +e
    SSHBPP_EXPECT_MLKEM=1 OPENSSL_CONF=$root/etc/ssl/openssl.cnf OPENSSL_MODULES=$modules \
        "$loader" --library-path "$libpath" "$bin" >"$out" 2>&1
    brc=$?
    set -e
    cat "$out"
    # Under SSHBPP_EXPECT_MLKEM=1 nothing may skip: a skip would be an
    # ML-KEM test that did not run.
    if [ $brc -ne 0 ] || grep -q 'SKIPPED' "$out"; then
        echo "hostlib: $name FAILED (exit $brc)" >&2
        nfail=$((nfail + 1))
        rc=1
    else
        npass=$((npass + 1))
    fi
    rm -f "$out"
done
echo "hostlib: $npass passed, $nfail failed"
exit $rc
