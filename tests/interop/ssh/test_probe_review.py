#!/usr/bin/python3
"""`sshbpp probe` over many hosts against a resolver that never answers
(issue 13 item 2: a per-host deadline).

A private mount namespace (unshare -m) gets its own /etc/resolv.conf
naming a DNS server on 127.0.0.53:53 that takes every query (UDP and TCP)
and never answers; the rest of the machine keeps its resolver.

  resolver.silent_deadline   three unresolvable names and a closed port,
                             --parallel 1 --timeout 2: each name's line is
                             a timeout after about 2 s, not the resolver's
                             own 5 s x 2 attempts; the closed port still
                             fails at once
  resolver.literal_no_wait   IP literals never wait for the resolver
  text.no_control_bytes      a target file with terminal escapes and control
                             bytes in host names: the text lines (stdout and
                             stderr) carry none of them, one host one line;
                             the same for one host on the command line

Needs root (mount namespace), unshare(1) and 127.0.0.53:53 free.

Usage: test_probe_review.py PATH/TO/sshbpp
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

DNS_ADDR = "127.0.0.53"


class SilentDns:
    """Takes DNS queries on DNS_ADDR:53 and never answers."""

    def __init__(self):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.udp.bind((DNS_ADDR, 53))
            self.tcp.bind((DNS_ADDR, 53))
        except OSError as exc:
            raise peers.MissingTool("cannot bind %s:53 for the silent resolver: %s"
                                    % (DNS_ADDR, exc)) from exc
        self.tcp.listen(64)
        self.queries = 0
        self.held = []
        self.stop = False
        threading.Thread(target=self._udp, daemon=True).start()
        threading.Thread(target=self._tcp, daemon=True).start()

    def _udp(self):
        while not self.stop:
            try:
                self.udp.recvfrom(4096)
                self.queries += 1
            except OSError:
                return

    def _tcp(self):
        while not self.stop:
            try:
                c, _ = self.tcp.accept()
                self.held.append(c)
            except OSError:
                return

    def close(self):
        self.stop = True
        for s in [self.udp, self.tcp] + self.held:
            try:
                s.close()
            except OSError:
                pass


def probe_in_ns(sshbpp, resolv, args, stdin_text, timeout=120):
    unshare = peers.need_tool("unshare")
    script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
    argv = [unshare, "-m", "sh", "-c", script, "sh", resolv, sshbpp, "probe"] + list(args)
    return peers.run(argv, timeout=timeout, input_bytes=stdin_text.encode())


def lines_of(r):
    out = {}
    for line in r.out.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            raise peers.CaseFailure("not JSON: %r\n%s" % (line, r.describe()))
        out[obj.get("host")] = obj
    return out


def case_silent(sshbpp, resolv, dns):
    names = ["silent-%d.sshbpp-review.example" % i for i in range(3)]
    t0 = time.monotonic()
    r = probe_in_ns(sshbpp, resolv, ["--json", "--parallel", "1", "--timeout", "2", "-f", "-"],
                    "\n".join(names + ["127.0.0.1:1"]) + "\n")
    took = time.monotonic() - t0
    got = lines_of(r)
    peers.check(dns.queries > 0, "the silent resolver saw no query (namespace not used?)")
    peers.check(r.rc != 0, "exit status 0 with failing hosts")
    for n in names:
        peers.check(n in got, "no line for %s:\n%s" % (n, r.describe()))
        o = got[n]
        peers.check(not o.get("ok") and o["error"]["code"] == "SSHBPP_ETIMEDOUT",
                    "%s: %r" % (n, o))
        peers.check(o["total_ms"] < 3500, "%s took %.0f ms with --timeout 2" % (n, o["total_ms"]))
    peers.check("127.0.0.1" in got and got["127.0.0.1"]["error"]["code"] == "SSHBPP_EIO",
                "closed port: %r" % got.get("127.0.0.1"))
    # three names one after another at 2 s each, not at the resolver's 10 s
    peers.check(took < 3 * 2 + 4, "the run took %.1f s" % took)
    return "3 names timed out at %s ms; run %.1f s; %d queries unanswered" % (
        "/".join("%.0f" % got[n]["total_ms"] for n in names), took, dns.queries)


def case_literals(sshbpp, resolv):
    t0 = time.monotonic()
    r = probe_in_ns(sshbpp, resolv, ["--json", "--timeout", "2", "-f", "-"],
                    "127.0.0.1:1\n[::1]:1\n")
    took = time.monotonic() - t0
    got = lines_of(r)
    peers.check(len(got) == 2, r.describe())
    peers.check(took < 1.5, "literals took %.1f s" % took)
    return "%.2f s" % took


def case_text_control(sshbpp, refused_resolv):
    # resolved against a loopback resolver that refuses at once: no query
    # leaves the machine, every name fails fast
    names = ["evil\x1b]0;owned\x07-a.invalid", "evil\x1b[2J\x01-b.invalid:22"]
    r = probe_in_ns(sshbpp, refused_resolv, ["--timeout", "2", "-f", "-"],
                    "\n".join(names) + "\n", timeout=60)
    peers.check(r.rc != 0, "exit status 0")
    lines = r.out.splitlines()
    peers.check(len(lines) == 2 and all(" FAIL " in x for x in lines), r.describe())
    for text in (r.out, r.err):
        bad = [c for c in text if ord(c) < 0x20 and c != "\n"]
        peers.check(not bad, "control bytes %r in %r" % (bad, text))
    r = probe_in_ns(sshbpp, refused_resolv, ["--timeout", "2", names[0]], "", timeout=60)
    peers.check(r.rc != 0, "one host: exit status 0")
    bad = [c for c in r.out + r.err if ord(c) < 0x20 and c != "\n"]
    peers.check(not bad, "one host: control bytes %r in %r" % (bad, r.err))
    return "%d lines, no control byte" % len(lines)


def main():
    runner = peers.Runner("test_probe_review")
    dns = None
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        d = peers.temp_dir("probe-review")
        resolv = os.path.join(d, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver %s\noptions timeout:5 attempts:2\n" % DNS_ADDR)
        refused = os.path.join(d, "resolv-refused.conf")
        with open(refused, "w") as f:
            f.write("nameserver 127.0.0.54\noptions timeout:1 attempts:1\n")
        dns = SilentDns()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    try:
        runner.case("resolver.silent_deadline", case_silent, sshbpp, resolv, dns)
        runner.case("resolver.literal_no_wait", case_literals, sshbpp, resolv)
        runner.case("text.no_control_bytes", case_text_control, sshbpp, refused)
    finally:
        dns.close()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
