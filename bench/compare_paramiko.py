#!/usr/bin/python3
"""Runs sshbpp_bench (socket mode) and paramiko_bench.py one after the other
with the same payload size, volume and run count, and prints both medians
and their ratio per case, for the README.

    /usr/bin/python3 bench/compare_paramiko.py BUILD/bench/sshbpp_bench \
        [--size 32768] [--mib 256] [--runs 5]
"""
import argparse
import os
import re
import subprocess
import sys

LINE = re.compile(r"^(\S+)\s+([\d.]+) MB/s\s+(\d+) packets/s")


def parse(text):
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sshbpp_bench")
    ap.add_argument("--size", default="32768")
    ap.add_argument("--mib", default="256")
    ap.add_argument("--runs", default="5")
    a = ap.parse_args()
    common = ["--size", a.size, "--mib", a.mib, "--runs", a.runs]
    here = os.path.dirname(os.path.abspath(__file__))
    ours = subprocess.run([a.sshbpp_bench, "--mode", "socket"] + common,
                          check=True, capture_output=True, text=True).stdout
    theirs = subprocess.run(["/usr/bin/python3", os.path.join(here, "paramiko_bench.py")] + common,
                            check=True, capture_output=True, text=True).stdout
    print(ours.splitlines()[0])
    print(theirs.splitlines()[0])
    o, t = parse(ours), parse(theirs)
    print("| case | sshbpp MB/s | paramiko MB/s | ratio |")
    print("|---|---:|---:|---:|")
    for name, (mbs, _) in o.items():
        if name in t:
            print("| %s | %.0f | %.0f | %.1fx |" % (name, mbs, t[name][0], mbs / t[name][0]))
        else:
            print("| %s | %.0f | (not in paramiko 2.12) | |" % (name, mbs))
    rss = [l for l in ours.splitlines() if l.startswith("peak RSS")]
    if rss:
        print(rss[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
