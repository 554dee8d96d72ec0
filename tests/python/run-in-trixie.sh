#!/bin/sh
# run-in-trixie.sh SRC: runs inside the Debian 13 root (scripts/trixie-root.sh
# run -- ...): builds the sshbpp extension against that root's python3 in a
# fresh folder under /tmp, then runs the Packetizer and Transport tests with
# its paramiko (3.5.x), plus the 3.x-only file. Any failure is non-zero.
set -eu
src=$1
b=$(mktemp -d /tmp/sshbpp-py-trixie.XXXXXX)
trap 'rm -rf "$b"' EXIT
cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSHBPP_WERROR=ON \
    -DSSHBPP_BUILD_TESTS=OFF -DSSHBPP_BUILD_BENCH=OFF -DSSHBPP_BUILD_EXAMPLES=OFF \
    -DSSHBPP_BUILD_CLI=OFF >"$b/configure.log" 2>&1 || { cat "$b/configure.log"; exit 1; }
cmake --build "$b" -j2 --target sshbpp_python >"$b/build.log" 2>&1 || { cat "$b/build.log"; exit 1; }
python3 -c 'import sys, paramiko; print("python", sys.version.split()[0], "paramiko", paramiko.__version__)'
cd "$src/tests/python"
PYTHONPATH="$b/python:." PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider \
    -o faulthandler_timeout=300 test_kat.py test_errors.py test_transport.py test_matrix.py \
    test_strict_kex.py test_paramiko3.py test_openssh.py
