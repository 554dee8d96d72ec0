#!/usr/bin/python3
"""Runs `sshbpp bench --json` R times (default 3), interleaved with
paramiko 2.12's Packetizer at 256 B (bench/paramiko_bench.py) and
`openssl speed -elapsed` for each suite's AEAD or cipher at each size, and
prints the median of each figure with the targets of issue 9 beside it.
Wall-clock figures: on a shared machine, read the ratios, which come from
the same run.

    /usr/bin/python3 bench/bench_medians.py BUILD/cli/sshbpp [--runs 3]
        [--seconds 1] [--suite S]... [--size N]... [--no-paramiko]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def bench_once(sshbpp, args):
    cmd = [sshbpp, "bench", "--json", "--seconds", str(args.seconds)]
    for s in args.suite:
        cmd += ["--suite", s]
    for z in args.size:
        cmd += ["--size", str(z)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def paramiko_once(mib):
    out = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "paramiko_bench.py"),
                          "--size", "256", "--mib", str(mib), "--runs", "1"],
                         check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+([\d.]+) MB/s\s+(\d+) packets/s", line)
        if m:
            res[m.group(1)] = float(m.group(3))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sshbpp")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--suite", action="append", default=[])
    ap.add_argument("--size", action="append", type=int, default=[])
    ap.add_argument("--no-paramiko", action="store_true")
    ap.add_argument("--paramiko-mib", type=int, default=8)
    args = ap.parse_args()

    rows = {}   # (suite, payload, mode) -> list of records
    pk = {}     # paramiko case -> list of packets/s
    for run in range(args.runs):
        print("run %d/%d" % (run + 1, args.runs), file=sys.stderr, flush=True)
        for rec in bench_once(args.sshbpp, args):
            rows.setdefault((rec["suite"], rec["payload"], rec["mode"]), []).append(rec)
        if not args.no_paramiko:
            for k, v in paramiko_once(args.paramiko_mib).items():
                pk.setdefault(k, []).append(v)

    med = lambda xs: statistics.median(xs)
    print("median of %d interleaved runs, %.2g s per measurement (MB = 10^6 payload bytes)"
          % (args.runs, args.seconds))
    print("%-42s %7s %-7s %10s %12s %10s %6s" % ("suite", "payload", "mode", "MB/s",
                                                 "packets/s", "limit", "ratio"))
    eng = {}
    order = {"engine": 0, "socket": 1, "batch": 2}
    for (suite, size, mode), recs in sorted(rows.items(),
                                            key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]])):
        mb = med([r["mb_per_s"] for r in recs])
        pps = med([r["packets_per_s"] for r in recs])
        lim = med([r["limit_mb_per_s"] for r in recs])
        ratio = med([r["ratio"] for r in recs])
        if mode == "engine":
            eng[(suite, size)] = pps
        extra = ""
        if mode in ("socket", "batch") and (suite, size) in eng:
            extra = "  %.2fx engine pps" % (pps / eng[(suite, size)])
        print("%-42s %7d %-7s %10.1f %12.0f %10.1f %6.2f%s"
              % (suite, size, mode, mb, pps, lim, ratio, extra))
    if pk:
        print("\nparamiko %s Packetizer, 256 B, median packets/s:" % "2.12")
        for k, v in sorted(pk.items()):
            ours = [med([r["packets_per_s"] for r in rows.get((k, 256, m), [])] or [0])
                    for m in ("socket", "batch")]
            line = "  %-44s %9.0f" % (k, med(v))
            if ours[0] > 0:
                line += "   sshbpp socket %.1fx, batch %.1fx" % (ours[0] / med(v),
                                                                 ours[1] / med(v))
            print(line)


if __name__ == "__main__":
    main()
