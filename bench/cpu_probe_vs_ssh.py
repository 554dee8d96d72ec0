#!/usr/bin/python3
"""Client CPU of `sshbpp probe --ignore-bytes N` against OpenSSH's `ssh`
sending N bytes of channel data, both to the same Debian sshd on a free
loopback port with the same cipher (issue 9: target probe <= 0.5x ssh).

Starts sshd as tests/interop/ssh/peers.py does (as root, temp host keys, a
temp ECDSA client key in authorized_keys), then runs, interleaved R times:
    sshbpp probe -i KEY -l root -c CIPHER --ignore-bytes N -p PORT 127.0.0.1
    head -c N /dev/zero | ssh -c CIPHER -i KEY ... root@127.0.0.1 'cat > /dev/null'
and takes each client's user+system CPU seconds from wait4() (the client
process alone: not head, not sshd). Prints every run, the medians and the
ratio.

    sudo /usr/bin/python3 bench/cpu_probe_vs_ssh.py BUILD/cli/sshbpp
        [--bytes 1G] [--runs 3] [--cipher aes128-gcm@openssh.com]
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop", "ssh"))
import peers  # noqa: E402  pylint: disable=wrong-import-position


def parse_bytes(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s[-1].upper() in mult:
        return int(s[:-1]) * mult[s[-1].upper()]
    return int(s)


def cpu_of(argv, stdin=None):
    """Runs argv, returns (user+sys, user, sys) CPU seconds of that process."""
    proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s" % (argv[0], proc.returncode, err[-2000:]))
    return ru.ru_utime + ru.ru_stime, ru.ru_utime, ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sshbpp")
    ap.add_argument("--bytes", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cipher", default="aes128-gcm@openssh.com")
    ap.add_argument("--probe-prefix", default="",
                    help="words to put before probe, e.g. 'valgrind --tool=callgrind'")
    args = ap.parse_args()
    n = parse_bytes(args.bytes)
    peers.need_tool("ssh")
    with peers.Sshd(tag="cpubench", client_key=True) as sshd:
        kh = os.path.join(sshd.dir, "known_hosts")
        probe = args.probe_prefix.split() + [args.sshbpp, "probe", "-i", sshd.client_key, "-l", "root", "-c", args.cipher,
                 "--ignore-bytes", str(n), "--known-hosts", kh, "-p", str(sshd.port),
                 "127.0.0.1"]
        ssh = ["ssh", "-F", "/dev/null", "-i", sshd.client_key, "-c", args.cipher,
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=" + kh, "-o", "Compression=no",
               "-p", str(sshd.port), "root@127.0.0.1", "cat > /dev/null"]
        pt, st = [], []
        for i in range(args.runs):
            p = cpu_of(probe)
            head = subprocess.Popen(["head", "-c", str(n), "/dev/zero"], stdout=subprocess.PIPE)
            q = cpu_of(ssh, stdin=head.stdout)
            head.stdout.close()
            head.wait()
            pt.append(p[0])
            st.append(q[0])
            print("run %d: probe %.2f s CPU (user %.2f, sys %.2f), ssh %.2f s CPU "
                  "(user %.2f, sys %.2f)" % ((i + 1,) + p + q), flush=True)
    mp, ms = statistics.median(pt), statistics.median(st)
    print("%s, %d bytes, median of %d interleaved runs: probe %.2f s, ssh %.2f s, "
          "ratio %.2f (target <= 0.5)" % (args.cipher, n, args.runs, mp, ms, mp / ms))


if __name__ == "__main__":
    main()
