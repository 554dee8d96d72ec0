#!/bin/bash
# `make run`: the demo (every cipher x MAC through two Packetizers), then the
# CLI end to end: `sshbpp serve --once` on a free loopback port and
# `sshbpp probe --json` against it, with a few rekeys under IGNORE traffic.
set -euo pipefail
build=${1:-build}
"$build/examples/sshbpp_demo"

echo
echo "== sshbpp serve + sshbpp probe over 127.0.0.1 =="
out=$(mktemp)
trap 'rm -f "$out"; kill "$pid" 2>/dev/null || true' EXIT
"$build/cli/sshbpp" serve -p 0 --once >"$out" &
pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^sshbpp: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$out")
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "sshbpp serve did not start" >&2
    exit 1
fi
"$build/cli/sshbpp" probe --json --ignore-bytes 8M --rekey-bytes 1M -p "$port" 127.0.0.1
wait "$pid"

echo
echo "== sshbpp bench (short default: two suites, 256 B and 32 KiB, 0.3 s each) =="
"$build/cli/sshbpp" bench --suite aes128-gcm@openssh.com --suite aes128-ctr+hmac-sha2-256 \
    --size 256 --size 32768 --seconds 0.3
