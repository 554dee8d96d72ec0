#!/usr/bin/python3
"""Client CPU and wall time of `sshbpp exec` against OpenSSH's `ssh`, the
same bytes through a channel to the same Debian sshd (issue 11: target
sshbpp exec <= 0.5x ssh's client CPU, and at least its throughput):

    head -c N /dev/zero | sshbpp exec -c CIPHER ... host 'cat > /dev/null'
    head -c N /dev/zero | ssh         -c CIPHER ... host 'cat > /dev/null'

Starts sshd as tests/interop/ssh/peers.py does (as root, temp host keys, a
temp client key in authorized_keys, a free loopback port), then runs the
two R times interleaved and takes each client's user+system CPU seconds
from wait4() (the client process alone: not head, not sshd) and its wall
time. Prints every run, the medians and the ratios.

    sudo /usr/bin/python3 bench/exec_vs_ssh.py BUILD/cli/sshbpp
        [--bytes 1G] [--runs 3] [--cipher aes128-gcm@openssh.com]
        [--exec-prefix 'perf record -g -o FILE --']
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop", "ssh"))
import peers  # noqa: E402  pylint: disable=wrong-import-position


def parse_bytes(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s[-1].upper() in mult:
        return int(s[:-1]) * mult[s[-1].upper()]
    return int(s)


def timed(argv, n):
    """head -c n /dev/zero | argv: (cpu, user, sys, wall) of argv's process."""
    head = subprocess.Popen(["head", "-c", str(n), "/dev/zero"], stdout=subprocess.PIPE)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=head.stdout, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    head.stdout.close()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    head.wait()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise SystemExit("%s failed (%d):\n%s" % (argv[0], rc, err[-2000:]))
    return ru.ru_utime + ru.ru_stime, ru.ru_utime, ru.ru_stime, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sshbpp")
    ap.add_argument("--bytes", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cipher", default="aes128-gcm@openssh.com")
    ap.add_argument("--exec-prefix", default="",
                    help="words before sshbpp, e.g. 'perf record -g -o exec.data --'")
    args = ap.parse_args()
    n = parse_bytes(args.bytes)
    peers.need_tool("ssh")
    with peers.Sshd(tag="execbench", client_key=True) as sshd:
        common = ["-F", "none", "-i", sshd.client_key, "-c", args.cipher,
                  "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null", "-p", str(sshd.port),
                  "root@127.0.0.1", "cat > /dev/null"]
        ours = args.exec_prefix.split() + [args.sshbpp, "exec", "-T"] + common
        ssh = ["ssh", "-T", "-o", "Compression=no"] + common
        res = {"sshbpp exec": [], "ssh": []}
        for i in range(args.runs):
            for name, argv in (("sshbpp exec", ours), ("ssh", ssh)):
                r = timed(argv, n)
                res[name].append(r)
                print("run %d: %-11s CPU %.2f s (user %.2f, sys %.2f), wall %.2f s, %.0f MiB/s"
                      % ((i + 1, name) + r + (n / (1 << 20) / r[3],)), flush=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[3] for x in v))
           for k, v in res.items()}
    (oc, ow), (sc, sw) = med["sshbpp exec"], med["ssh"]
    print("%s, %d MiB, median of %d interleaved runs:" % (args.cipher, n >> 20, args.runs))
    print("  sshbpp exec: client CPU %.2f s, wall %.2f s, %.0f MiB/s" % (oc, ow, n / (1 << 20) / ow))
    print("  ssh:         client CPU %.2f s, wall %.2f s, %.0f MiB/s" % (sc, sw, n / (1 << 20) / sw))
    print("  CPU ratio %.2fx (target <= 0.5x), throughput ratio %.2fx (target >= 1x)"
          % (oc / sc if sc > 0 else float("inf"), sw / ow if ow > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
