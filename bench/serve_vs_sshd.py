#!/usr/bin/python3
"""Server CPU per GiB: OpenSSH's `ssh` and `scp` against `sshbpp serve
--authorized-keys` and against Debian's sshd, same client, same cipher, same
loopback, interleaved (issue 11, Benchmarks).

Starts sshd as tests/interop/ssh/peers.py does (root, temp host keys, a
temp client key in authorized_keys, Subsystem sftp) and sshbpp serve with
that authorized_keys, then R times, alternating the servers:
    head -c N /dev/zero | ssh -c CIPHER ... 127.0.0.1 'cat > /dev/null'
    scp -c CIPHER ... FILE 127.0.0.1:/dev/null      (SFTP underneath)
Server CPU is the server's main process's user+system time plus that of
its reaped children (/proc/PID/stat utime+stime+cutime+cstime), read
before and after each transfer once the connection's processes are gone:
for sshd that is the listener, the per-connection monitor and
unprivileged processes and the command; for serve its threads and the
command. `cat` and `sftp-server` are the same programs on both sides.
Prints every run, the medians (CPU seconds per GiB, wall seconds) and the
ratio serve/sshd.

    sudo /usr/bin/python3 bench/serve_vs_sshd.py BUILD/cli/sshbpp
        [--bytes 1G] [--runs 3] [--cipher aes128-gcm@openssh.com]
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

TICK = os.sysconf("SC_CLK_TCK")


def parse_bytes(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s[-1].upper() in mult:
        return int(s[:-1]) * mult[s[-1].upper()]
    return int(s)


def cpu_total(pid):
    """utime+stime+cutime+cstime of pid, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    rest = st[st.rindex(")") + 2:].split()
    return sum(int(x) for x in rest[11:15]) / TICK


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(d))
    return out


def settle(pid):
    """Waits until the server has reaped every process of the last connection."""
    deadline = time.monotonic() + 30
    while children(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)


def measure(pid, argv, stdin=None, shell=False):
    settle(pid)
    c0 = cpu_total(pid)
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       shell=shell, check=False)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (argv if shell else argv[0], r.returncode,
                                                  r.stderr.decode()[-1500:]))
    settle(pid)
    return cpu_total(pid) - c0, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sshbpp")
    ap.add_argument("--bytes", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cipher", default="aes128-gcm@openssh.com")
    args = ap.parse_args()
    n = parse_bytes(args.bytes)
    gib = n / float(1 << 30)
    ssh = peers.need_tool("ssh")
    scp = peers.need_tool("scp")
    peers.need_tool("/usr/lib/openssh/sftp-server")
    with peers.Sshd(tag="servebench", client_key=True,
                    extra_config="Subsystem sftp /usr/lib/openssh/sftp-server") as sshd, \
            peers.SshbppServe(args.sshbpp, [], ["--authorized-keys", sshd.authorized_keys,
                                                "--login-grace", "0"], tag="servebench") as srv:
        src = os.path.join(sshd.dir, "payload")
        with open(src, "wb") as f:
            f.truncate(n)  # sparse zeros: reading it costs the client, not the server
        opts = ["-F", "none", "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                "-o", "IdentitiesOnly=yes", "-i", sshd.client_key, "-c", args.cipher]
        servers = [("serve", srv.proc.pid, srv.port), ("sshd", sshd.proc.pid, sshd.port)]
        res = {(s, m): [] for s, _, _ in servers for m in ("cat", "scp")}
        print("%d bytes (%.2f GiB), cipher %s, %d runs interleaved" % (n, gib, args.cipher,
                                                                      args.runs))
        for i in range(args.runs):
            order = servers if i % 2 == 0 else servers[::-1]
            for name, pid, port in order:
                cmd = "head -c %d /dev/zero | %s %s -p %d root@127.0.0.1 'cat > /dev/null'" % (
                    n, ssh, " ".join("'%s'" % o for o in opts), port)
                cpu, wall = measure(pid, cmd, shell=True)
                res[(name, "cat")].append((cpu / gib, wall))
                print("run %d %-5s cat  server CPU %6.3f s/GiB  wall %6.2f s" %
                      (i + 1, name, cpu / gib, wall), flush=True)
                cpu, wall = measure(pid, [scp] + opts + ["-P", str(port), src,
                                                         "root@127.0.0.1:/dev/null"])
                res[(name, "scp")].append((cpu / gib, wall))
                print("run %d %-5s scp  server CPU %6.3f s/GiB  wall %6.2f s" %
                      (i + 1, name, cpu / gib, wall), flush=True)
        print("medians:")
        for m in ("cat", "scp"):
            med = {}
            for name, _, _ in servers:
                cpus = [c for c, _ in res[(name, m)]]
                walls = [w for _, w in res[(name, m)]]
                med[name] = statistics.median(cpus)
                print("  %-3s %-5s server CPU %6.3f s/GiB  wall %6.2f s" %
                      (m, name, med[name], statistics.median(walls)))
            print("  %-3s serve/sshd CPU ratio %.2f" % (m, med["serve"] / med["sshd"]))


if __name__ == "__main__":
    main()
