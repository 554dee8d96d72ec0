#!/usr/bin/python3
"""ctest cli.bench_json: `sshbpp bench --json` prints exactly one JSON object
per line, with exactly the keys of issue 9, one per suite x size x mode, and
nothing else on stdout; figures are positive and ratio = mb_per_s / limit.
Not a timing test: it runs 0.3 s per figure and checks only the shape.

    /usr/bin/python3 bench/check_bench_json.py BUILD/cli/sshbpp
"""
import json
import subprocess
import sys

KEYS = ["suite", "payload", "mode", "mb_per_s", "packets_per_s", "limit_mb_per_s", "ratio"]
SUITES = ["aes128-gcm@openssh.com", "aes128-ctr+hmac-sha2-256-etm@openssh.com"]


def main():
    cmd = [sys.argv[1], "bench", "--json", "--seconds", "0.3", "--size", "64", "--size", "1024"]
    for s in SUITES:
        cmd += ["--suite", s]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    if r.returncode != 0:
        sys.exit("bench failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    lines = r.stdout.splitlines()
    seen = set()
    for line in lines:
        obj = json.loads(line)
        if list(obj.keys()) != KEYS:
            sys.exit("keys %s, want %s" % (list(obj.keys()), KEYS))
        if obj["suite"] not in SUITES or obj["payload"] not in (64, 1024) or \
                obj["mode"] not in ("engine", "socket", "batch"):
            sys.exit("unexpected record %s" % line)
        for k in ("mb_per_s", "packets_per_s", "limit_mb_per_s", "ratio"):
            if not obj[k] > 0:
                sys.exit("%s not positive in %s" % (k, line))
        want = obj["mb_per_s"] / obj["limit_mb_per_s"]
        if abs(obj["ratio"] - want) > 0.002 + 0.01 * want:
            sys.exit("ratio %s != mb_per_s / limit %s" % (obj["ratio"], want))
        mb = obj["packets_per_s"] * obj["payload"] / 1e6
        if abs(mb - obj["mb_per_s"]) > 0.01 + 0.01 * mb:
            sys.exit("mb_per_s is not packets_per_s x payload: %s" % line)
        seen.add((obj["suite"], obj["payload"], obj["mode"]))
    if len(lines) != 12 or len(seen) != 12:
        sys.exit("want 12 distinct records, got %d lines:\n%s" % (len(lines), r.stdout))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
