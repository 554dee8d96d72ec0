#!/usr/bin/python3
"""`sshbpp probe` over many hosts (-f, operands, --parallel), its progress
line and the timings and counters in its JSON (issue 13 items 2, 3, 5).

Servers, all on 127.0.0.1 free ports: three OpenSSH sshd (peers.Sshd, one
set of host keys), closed ports (bound, then closed), and two kinds of
silent listener: one that listens and never accepts (the kernel completes
the TCP handshake into its backlog), one that accepts and never writes.
Cases:

  many.1000     1,000 targets from -f with --parallel 64 --timeout 3: 400
                sshd lines, 350 closed, 250 silent, shuffled. Every target
                has exactly one JSON line (the multisets of host:port
                equal), sshd lines are ok with that sshd's banner and host
                key fingerprint, closed ones fail with SSHBPP_EIO
                "Connection refused", silent ones with SSHBPP_ETIMEDOUT
                after the deadline (no host takes much longer than it),
                the wall time is at least the silent hosts' share of the
                deadline at 64 at a time, exit status 1. Peak RSS (wait4
                ru_maxrss) is compared with a 100-target run of the same
                mix: it must grow less than 2x.
  stdin.text    `-f -` from stdin, comments and blank lines skipped, text
                output: one summary line per target ("ok" / "FAIL").
  all_ok        operands only (12 sshd targets, one user@host): exit 0,
                every line "ok": true.
  bad_targets   a bad port, a target with a space and an over-long line
                each get a failed line of their own (SSHBPP_EINVAL,
                SSHBPP_ELINELONG).
  progress.tty  one host, --ignore-bytes (SSHBPP_TEST_BULK_BYTES, at least
                96 MiB) with stderr a pseudo-terminal: '\\r'-rewritten
                lines "ignore X / Y (P%)  R/s  rekeys N", at most 4 a
                second, X never decreasing, more than the first and last
                when the run took over a second, the last at 100% and
                ended by a newline.
  progress.pipe the same with stderr a pipe: no progress text at all.
  stats         the JSON of that run: kex_ms > 0, connect/version/auth/
                total_ms present and consistent, bytes_c2s and
                payload_bytes_c2s >= the IGNORE bytes, packets both ways.

Usage: test_probe_many.py PATH/TO/sshbpp
"""

import collections
import json
import os
import pty
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

DEADLINE = 3            # --timeout, seconds, per host
PARALLEL = 64
SLACK_MS = 1500         # how much later than its deadline a host may end
BULK = int(os.environ.get("SSHBPP_TEST_BULK_BYTES", str(16 * 1024 * 1024)))
# The progress runs send at least 96 MiB, so that the transfer lasts long
# enough (a few tenths of a second at loopback speed) for updates between
# the first line and the last.
PROGRESS_BYTES = max(BULK, 96 * 1024 * 1024)
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}


class SilentListeners:
    """Two listening sockets that never answer: `noaccept` never calls
    accept(); `hold` accepts and keeps the connections open, silent."""

    def __init__(self):
        self.noaccept = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.noaccept.bind(("127.0.0.1", 0))
        self.noaccept.listen(1024)
        self.hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.hold.bind(("127.0.0.1", 0))
        self.hold.listen(1024)
        self.held = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def ports(self):
        return self.noaccept.getsockname()[1], self.hold.getsockname()[1]

    def _accept(self):
        self.hold.settimeout(0.2)
        while not self.stopping:
            try:
                conn, _ = self.hold.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.stopping = True
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.noaccept.close()
        self.hold.close()


def closed_ports(n):
    """n distinct ports nothing listens on (bound a moment ago, then closed)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_rusage(argv, stdin_bytes=None, timeout=120.0):
    """Runs argv; returns (rc, stdout, stderr, wall seconds, ru_maxrss KiB)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_bytes is not None
                            else subprocess.DEVNULL, stdout=out, stderr=err,
                            preexec_fn=peers._pdeathsig, close_fds=True)  # pylint: disable=protected-access
    t0 = time.monotonic()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    if stdin_bytes is not None:
        def feed():
            try:
                proc.stdin.write(stdin_bytes)
                proc.stdin.close()
            except OSError:
                pass
        threading.Thread(target=feed, daemon=True).start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return (proc.returncode, out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"), wall, ru.ru_maxrss)


def parse_lines(text):
    lines = [l for l in text.splitlines() if l.strip()]
    objs = []
    for l in lines:
        try:
            objs.append(json.loads(l))
        except ValueError as exc:
            raise peers.CaseFailure("stdout line is not one JSON object: %r (%s)"
                                    % (l[:300], exc)) from exc
    return objs


class Mix:
    """A shuffled target list of sshd, closed and silent targets."""

    def __init__(self, sshds, n_good, n_closed, n_silent, seed):
        self.silent = SilentListeners()
        na, hp = self.silent.ports
        cports = closed_ports(min(n_closed, 50))
        self.kind = {}
        for s in sshds:
            self.kind[s.port] = ("good", s)
        for p in cports:
            self.kind[p] = ("closed", None)
        self.kind[na] = ("silent", None)
        self.kind[hp] = ("silent", None)
        targets = [sshds[i % len(sshds)].port for i in range(n_good)]
        targets += [cports[i % len(cports)] for i in range(n_closed)]
        targets += [(na, hp)[i % 2] for i in range(n_silent)]
        random.Random(seed).shuffle(targets)
        self.ports = targets
        self.n_silent = n_silent

    def text(self):
        return "".join("127.0.0.1:%d\n" % p for p in self.ports)

    def close(self):
        self.silent.close()


def check_results(mix, objs, fps):
    """Checks every line against the kind of its target; returns counts."""
    want = collections.Counter(("127.0.0.1", p) for p in mix.ports)
    got = collections.Counter((o.get("host"), o.get("port")) for o in objs)
    peers.check(len(objs) == len(mix.ports),
                "%d lines for %d targets" % (len(objs), len(mix.ports)))
    peers.check(got == want, "targets and lines differ: missing %s, extra %s"
                % (list((want - got).items())[:5], list((got - want).items())[:5]))
    counts = collections.Counter()
    worst = 0.0
    for o in objs:
        kind, server = mix.kind[o["port"]]
        total = o.get("total_ms")
        peers.check(isinstance(total, (int, float)), "no total_ms: %r" % o)
        worst = max(worst, total)
        peers.check(total <= DEADLINE * 1000 + SLACK_MS,
                    "%s target took %.0f ms, deadline %d s: %r" % (kind, total, DEADLINE, o))
        if kind == "good":
            peers.check(o.get("ok") is True, "sshd target failed: %r" % o)
            peers.check(o["server_banner"] == server.banner,
                        "banner %r, sshd sent %r" % (o["server_banner"], server.banner))
            peers.check(o["hostkey_fingerprint"] == fps[o["hostkey_algorithm"]],
                        "fingerprint %r" % o["hostkey_fingerprint"])
            peers.check(o.get("kex_ms", 0) > 0, "kex_ms %r" % o.get("kex_ms"))
            peers.check("publickey" in o["auth_methods"], "auth_methods %r" % o["auth_methods"])
        else:
            peers.check(o.get("ok") is False, "%s target did not fail: %r" % (kind, o))
            err = o.get("error")
            peers.check(isinstance(err, dict) and isinstance(err.get("message"), str),
                        "no error object: %r" % o)
            if kind == "closed":
                peers.check(err.get("code") == "SSHBPP_EIO" and
                            "refused" in err["message"].lower(),
                            "closed port: error %r, wanted SSHBPP_EIO connection refused" % err)
            else:
                peers.check(err.get("code") == "SSHBPP_ETIMEDOUT",
                            "silent listener: error %r, wanted SSHBPP_ETIMEDOUT" % err)
                peers.check(total >= DEADLINE * 1000 - 50,
                            "silent target gave up after %.0f ms, before its deadline" % total)
        counts[kind] += 1
    return counts, worst


def many(sshbpp, sshds, fps, n, seed):
    """Runs probe over an n-target mix; returns (figures dict)."""
    n_good, n_closed = n * 40 // 100, n * 35 // 100
    mix = Mix(sshds, n_good, n_closed, n - n_good - n_closed, seed)
    try:
        path = os.path.join(peers.temp_dir("probe-many"), "targets")
        with open(path, "w", encoding="ascii") as f:
            f.write("# %d targets\n\n" % n + mix.text())
        rc, out, err, wall, rss = run_rusage(
            [sshbpp, "probe", "--json", "--parallel", str(PARALLEL), "--timeout",
             str(DEADLINE), "-f", path], timeout=150)
    finally:
        mix.close()
    objs = parse_lines(out)
    counts, worst = check_results(mix, objs, fps)
    peers.check(rc == 1, "exit status %r with failed hosts, wanted 1\nstderr: %s" % (rc, err[-800:]))
    peers.check("%d of %d hosts failed" % (n - n_good, n) in err,
                "stderr lacks the tally: %r" % err[-800:])
    # Each silent target holds a worker for the whole deadline.
    floor = mix.n_silent * DEADLINE / PARALLEL * 0.95
    peers.check(wall >= floor, "wall %.1f s < %.1f s: more than %d at once?"
                % (wall, floor, PARALLEL))
    return {"wall": wall, "rss": rss, "counts": dict(counts), "worst": worst}


def case_many(sshbpp, sshds, fps):
    small = many(sshbpp, sshds, fps, 100, 1)
    big = many(sshbpp, sshds, fps, 1000, 2)
    peers.check(big["rss"] < 2 * small["rss"],
                "peak RSS %d KiB for 1,000 targets, %d KiB for 100: grows with the list"
                % (big["rss"], small["rss"]))
    return ("1000 targets %s: wall %.1f s, peak RSS %d KiB, slowest %.0f ms; "
            "100 targets: wall %.1f s, peak RSS %d KiB"
            % (big["counts"], big["wall"], big["rss"], big["worst"], small["wall"],
               small["rss"]))


def case_stdin_text(sshbpp, sshds):
    ports = closed_ports(10)
    lines = ["# from stdin", ""]
    want = collections.Counter()
    for i in range(10):
        lines.append("127.0.0.1:%d   # sshd" % sshds[i % len(sshds)].port)
        lines.append("  127.0.0.1:%d" % ports[i])
        lines.append("")
        want["127.0.0.1:%d ok" % sshds[i % len(sshds)].port] += 1
        want["127.0.0.1:%d FAIL" % ports[i]] += 1
    rc, out, err, _, _ = run_rusage([sshbpp, "probe", "--timeout", str(DEADLINE), "-f", "-"],
                                    stdin_bytes=("\n".join(lines) + "\n").encode(), timeout=60)
    got = collections.Counter(" ".join(l.split(" ")[:2]) for l in out.splitlines() if l)
    peers.check(got == want, "text lines %r, wanted %r\n%s" % (got, want, out[-1500:]))
    for l in out.splitlines():
        if " FAIL " in l:
            peers.check("SSHBPP_EIO" in l and "refused" in l.lower(), "FAIL line %r" % l)
        else:
            peers.check("kex=" in l and "hostkey=" in l and "SHA256:" in l, "ok line %r" % l)
    peers.check(rc == 1, "exit status %r, wanted 1\n%s" % (rc, err[-500:]))
    return "%d lines, exit 1" % len(out.splitlines())


def case_all_ok(sshbpp, sshds):
    args = ["127.0.0.1:%d" % sshds[i % len(sshds)].port for i in range(11)]
    args.append("nobody@127.0.0.1:%d" % sshds[0].port)
    rc, out, err, _, _ = run_rusage([sshbpp, "probe", "--json", "--parallel", "4", "--timeout",
                                     "20"] + args, timeout=60)
    objs = parse_lines(out)
    peers.check(len(objs) == 12 and all(o.get("ok") is True for o in objs),
                "not 12 ok lines:\n%s\n%s" % (out[-1500:], err[-500:]))
    peers.check(rc == 0, "exit status %r with every host ok\n%s" % (rc, err[-500:]))
    peers.check(err.strip() == "", "stderr not empty: %r" % err[-500:])
    return "12 ok, exit 0"


def case_bad_targets(sshbpp, sshds):
    text = "127.0.0.1:99999\nbad host\n" + "x" * 2000 + "\n127.0.0.1:%d\n" % sshds[0].port
    rc, out, err, _, _ = run_rusage([sshbpp, "probe", "--json", "-f", "-", "--timeout", "20"],
                                    stdin_bytes=text.encode(), timeout=60)
    objs = parse_lines(out)
    codes = sorted((o.get("error") or {}).get("code", "ok") for o in objs)
    peers.check(codes == ["SSHBPP_EINVAL", "SSHBPP_EINVAL", "SSHBPP_ELINELONG", "ok"],
                "codes %r\n%s\n%s" % (codes, out[-1500:], err[-500:]))
    peers.check(rc == 1, "exit status %r" % rc)
    return "codes %s" % codes


def run_tty(argv, timeout=90.0):
    """Runs argv with stderr on a raw pseudo-terminal; returns (rc, stdout, tty bytes, wall)."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no \n -> \r\n translation: the bytes as written
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            preexec_fn=peers._pdeathsig, close_fds=True)  # pylint: disable=protected-access
    os.close(slave)
    chunks = []

    def reader():
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO once the last writer closed
                return
            if not b:
                return
            chunks.append(b)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    wall = time.monotonic() - t0
    th.join(5)
    os.close(master)
    return proc.returncode, out.decode("utf-8", "replace"), b"".join(chunks), wall


def check_stats(data):
    for k in ("connect_ms", "version_ms", "kex_ms", "auth_ms", "total_ms", "packets_c2s",
              "bytes_c2s", "payload_bytes_c2s", "packets_s2c", "bytes_s2c", "payload_bytes_s2c"):
        peers.check(k in data, "JSON lacks %s: %r" % (k, sorted(data)))
    peers.check(data["kex_ms"] > 0, "kex_ms %r" % data["kex_ms"])
    peers.check(all(data[k] >= 0 for k in ("connect_ms", "version_ms", "auth_ms")),
                "negative timing %r" % data)
    parts = data["connect_ms"] + data["version_ms"] + data["kex_ms"] + data["auth_ms"]
    peers.check(parts <= data["total_ms"] + 0.01, "stages %.3f ms > total %.3f ms"
                % (parts, data["total_ms"]))
    n = PROGRESS_BYTES
    peers.check(data["ignore_bytes_sent"] == n, "ignore_bytes_sent %r" % data["ignore_bytes_sent"])
    peers.check(data["payload_bytes_c2s"] >= n and data["bytes_c2s"] >= n,
                "c2s counters %r/%r below the %d IGNORE bytes"
                % (data["payload_bytes_c2s"], data["bytes_c2s"], n))
    peers.check(data["packets_c2s"] >= n // 32758, "packets_c2s %r" % data["packets_c2s"])
    peers.check(data["packets_s2c"] >= 3 and data["bytes_s2c"] > 0,
                "s2c counters %r/%r" % (data["packets_s2c"], data["bytes_s2c"]))


def case_progress_tty(sshbpp, sshd, keep):
    argv = [sshbpp, "probe", "--json", "--timeout", "60", "--ignore-bytes", str(PROGRESS_BYTES),
            "-p", str(sshd.port), "127.0.0.1"]
    rc, out, raw, wall = run_tty(argv)
    peers.check(rc == 0, "probe exited %r\nstdout: %s\ntty: %r" % (rc, out[-800:], raw[-800:]))
    text = raw.decode("utf-8", "replace")
    peers.check(text.endswith("\n"), "progress not ended by a newline: %r" % text[-200:])
    segs = [s for s in text.rstrip("\n").split("\r") if s]
    peers.check(text.startswith("\r") and len(segs) >= 2,
                "wanted at least 2 '\\r' progress lines, got %r" % text[:600])
    for s in segs:
        peers.check(s.startswith("ignore ") and "/s" in s and "rekeys " in s,
                    "not a progress line: %r" % s)
    peers.check(len(segs) <= wall * 4 + 2, "%d updates in %.1f s: more than 4 a second"
                % (len(segs), wall))
    done = []
    for s in segs:
        num, unit = s.split(" ")[1:3]
        done.append(float(num) * UNITS[unit])
    peers.check(done == sorted(done), "bytes went backwards: %r" % segs)
    if wall > 1.0:
        peers.check(len(segs) >= 3, "only %d lines in %.1f s: no update between the first "
                    "and the last" % (len(segs), wall))
    last = segs[-1]
    peers.check("(100%)" in last and abs(done[-1] - PROGRESS_BYTES) <= PROGRESS_BYTES * 0.001,
                "last progress line %r is not the full transfer" % last)
    keep["tty_json"] = out
    return "%d updates in %.2f s, last %r" % (len(segs), wall, last.strip())


def case_progress_pipe(sshbpp, sshd, keep):
    r = peers.run([sshbpp, "probe", "--json", "--timeout", "60", "--ignore-bytes",
                   str(PROGRESS_BYTES), "-p", str(sshd.port), "127.0.0.1"], timeout=90)
    peers.check(r.rc == 0, r.describe())
    peers.check("\r" not in r.err and "ignore " not in r.err and "rekeys" not in r.err,
                "progress text on a non-terminal stderr: %r" % r.err[-500:])
    keep["pipe_json"] = r.out
    return "stderr %d bytes" % len(r.err)


def case_stats(keep):
    notes = []
    for k in ("tty_json", "pipe_json"):
        peers.check(k in keep, "the %s run did not succeed" % k)
        objs = parse_lines(keep[k])
        peers.check(len(objs) == 1, "%s: %d JSON objects" % (k, len(objs)))
        check_stats(objs[0])
        notes.append("kex %.1f ms auth %.1f ms c2s %d pkts %d B" % (
            objs[0]["kex_ms"], objs[0]["auth_ms"], objs[0]["packets_c2s"],
            objs[0]["bytes_c2s"]))
    return "; ".join(notes)


def main():
    runner = peers.Runner("test_probe_many")
    sshds = []
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        first = peers.Sshd("probe-many-0").start()
        sshds.append(first)
        for i in (1, 2):
            sshds.append(peers.Sshd("probe-many-%d" % i, keys_from=first).start())
        print("sshd %s on ports %s" % (first.banner, [s.port for s in sshds]), flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in sshds:
            s.stop()
        return runner.finish()
    try:
        fps = first.fp
        keep = {}
        runner.case("many.1000", case_many, sshbpp, sshds, fps)
        runner.case("stdin.text", case_stdin_text, sshbpp, sshds)
        runner.case("all_ok", case_all_ok, sshbpp, sshds)
        runner.case("bad_targets", case_bad_targets, sshbpp, sshds)
        runner.case("progress.tty", case_progress_tty, sshbpp, first, keep)
        runner.case("progress.pipe", case_progress_pipe, sshbpp, first, keep)
        runner.case("stats", case_stats, keep)
    finally:
        for s in sshds:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
