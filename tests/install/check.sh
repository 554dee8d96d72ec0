#!/bin/bash
# check.sh [BUILD_DIR]: checks that an installed sshbpp is usable.
#  1. cmake --install BUILD_DIR into a fresh temporary prefix;
#  2. the installed files: headers, libsshbpp.so -> .so.0 -> .so.0.x.y,
#     SONAME libsshbpp.so.0, only sshbpp_* symbols exported, sshbpp.pc;
#  3. builds tests/install (find_package(sshbpp) + sshbpp::sshbpp and the
#     static target) with -DCMAKE_PREFIX_PATH=<prefix> and runs it;
#  4. compiles main.c with `pkg-config --cflags --libs sshbpp` (and checks
#     that the .pc file points into the prefix) and runs it.
# Prints "install check: PASS" or "install check: FAIL: <why>"; exit 0 / 1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build=$root/$build
cc=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sshbpp-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
log=$tmp/log

fail() {
    echo "install check: FAIL: $*"
    if [[ -s $log ]]; then
        echo "----- last output -----"
        tail -n 60 "$log"
    fi
    exit 1
}
step() { # step "description" command...: runs quietly, output to $log
    local what=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        fail "$what"
    fi
}
note() { # prints the output of the last step, then forgets it
    cat "$log"
    : >"$log"
}

[[ -f $build/CMakeCache.txt ]] || fail "$build is not a configured build tree (make build)"

# 1. install
step "cmake --install $build --prefix $prefix" cmake --install "$build" --prefix "$prefix"

# 2. installed files. GNUInstallDirs gives lib, lib64 or lib/<multiarch>
# depending on the configure-time prefix: find the library instead of guessing.
lib=$(find "$prefix" -name 'libsshbpp.so.*.*' -type f | head -n 1)
[[ -n $lib ]] || fail "no libsshbpp.so.X.Y.Z under $prefix"
libdir=$(dirname "$lib")
echo "install check: prefix $prefix, libdir ${libdir#"$prefix"/}"

for h in sshbpp.h sshbpp_io.h sshbpp_error.h; do
    [[ -f $prefix/include/sshbpp/$h ]] || fail "header include/sshbpp/$h not installed"
done
[[ -f $libdir/libsshbpp.a ]] || fail "libsshbpp.a not installed in $libdir"
[[ -L $libdir/libsshbpp.so ]] || fail "libsshbpp.so symlink missing"
[[ -e $libdir/libsshbpp.so.0 ]] || fail "libsshbpp.so.0 missing"
[[ $(readlink -f "$libdir/libsshbpp.so") = "$(readlink -f "$lib")" ]] ||
    fail "libsshbpp.so does not resolve to $(basename "$lib")"

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[[ $soname = libsshbpp.so.0 ]] || fail "SONAME is '$soname', expected libsshbpp.so.0"
echo "install check: SONAME $soname ok"

# Visibility: every exported function/object is public API (sshbpp_*), no
# internal sshbpp__* helpers.
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' |
    grep -v -E '^(sshbpp_[a-z0-9_]+|_init|_fini|_edata|_end|__bss_start)$' || true)
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^sshbpp__' || true)
[[ -z $bad && -z $internal ]] || fail "unexpected exported symbols: $(tr '\n' ' ' <<<"$bad $internal")"
nexp=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c -E '^sshbpp_' || true)
echo "install check: $nexp exported sshbpp_* symbols, none internal"

pcdir=$libdir/pkgconfig
[[ -f $pcdir/sshbpp.pc ]] || fail "sshbpp.pc not installed in $pcdir"
[[ -f $libdir/cmake/sshbpp/sshbppConfig.cmake ]] || fail "sshbppConfig.cmake not installed"

# 3. CMake consumer
step "configure the CMake consumer (find_package(sshbpp))" \
    cmake -S "$here" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
grep -E 'static target' "$log" | sed 's/^-- /install check: /'
step "build the CMake consumer" cmake --build "$tmp/consumer"
step "run the CMake consumer (shared)" env LD_LIBRARY_PATH="$libdir" "$tmp/consumer/consumer"
note
readelf -d "$tmp/consumer/consumer" | grep -q 'NEEDED.*\[libsshbpp\.so\.0\]' ||
    fail "consumer does not record NEEDED libsshbpp.so.0"
step "run the CMake consumer (static)" env -u LD_LIBRARY_PATH "$tmp/consumer/consumer_static"
: >"$log"
if readelf -d "$tmp/consumer/consumer_static" | grep -q 'NEEDED.*libsshbpp'; then
    fail "consumer_static depends on libsshbpp.so"
fi
echo "install check: CMake consumer (shared + static) ok"

# 4. pkg-config consumer
export PKG_CONFIG_PATH=$pcdir
step "pkg-config --modversion sshbpp" pkg-config --modversion sshbpp
: >"$log"
pcprefix=$(pkg-config --variable=prefix sshbpp)
cflags=$(pkg-config --cflags sshbpp)
libs=$(pkg-config --libs sshbpp)
echo "install check: pkg-config sshbpp $(pkg-config --modversion sshbpp): $cflags $libs"
if [[ $(realpath -m -- "$pcprefix") != "$(realpath -m -- "$prefix")" ]]; then
    fail "sshbpp.pc has prefix=$pcprefix, not the install prefix $prefix" \
        "(the .pc file is not relocatable: cmake/sshbpp.pc.in bakes in the configure-time" \
        "CMAKE_INSTALL_PREFIX; use prefix=\${pcfiledir}/<relative path> instead)"
fi
# shellcheck disable=SC2086 # pkg-config output is a word list
step "compile main.c with pkg-config flags" \
    "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -o "$tmp/consumer_pc" "$here/main.c" $cflags $libs
step "run the pkg-config consumer" env LD_LIBRARY_PATH="$libdir" "$tmp/consumer_pc"
note
readelf -d "$tmp/consumer_pc" | grep -q 'NEEDED.*\[libsshbpp\.so\.0\]' ||
    fail "pkg-config consumer does not record NEEDED libsshbpp.so.0"
echo "install check: pkg-config consumer ok"

echo "install check: PASS"
