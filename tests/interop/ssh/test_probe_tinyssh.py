#!/usr/bin/python3
"""`sshbpp probe` against tinysshd (Debian 12: 20230101), the strictest peer
we have about packet sizes.

RFC 4253 section 6.1 obliges an implementation to take payloads of 32,768
bytes and no more; tinysshd takes at most 32,763 and drops the connection
("protocol error") on anything larger. So a long IGNORE stream through it,
with rekeys, shows that nothing probe sends exceeds that bound: the server,
not our own bookkeeping, is the judge.

tinysshd runs from inetd-style (the connection on stdin and stdout); this
test accepts on a free 127.0.0.1 port and starts one tinysshd per
connection. Its host key is made by tinysshd-makekey; the fingerprint is
computed from the raw ed25519 public key, as ssh-keygen would.

No rekeys here: tinysshd 20230101 at times leaves buffered input
unprocessed until more bytes arrive, so a KEXINIT of ours that arrives
behind the last IGNORE waits for an answer forever (the probe's final
request is repeated each second, as ssh's ServerAliveInterval, which
nudges it; a key exchange has nothing to nudge with).

Usage: test_probe_tinyssh.py PATH/TO/sshbpp
"""

import os
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

# tinysshnoneauthd is tinysshd with the "none" method enabled (same code,
# same packet checks): it lets the probe authenticate without an account on
# this machine, and tinysshd counts IGNORE before authentication as abuse.
TINYSSHD = "/usr/sbin/tinysshnoneauthd"
MAKEKEY = "/usr/sbin/tinysshd-makekey"
# tinysshd refuses to run as root: the test runs it as nobody.
SETPRIV = "/usr/bin/setpriv"
RUN_AS = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]
# What tinysshd 20230101 offers (checked in the "offered" case).
CIPHERS = ["chacha20-poly1305@openssh.com"]
KEX = ["curve25519-sha256", "curve25519-sha256@libssh.org"]


def ssh_string(b):
    return struct.pack(">I", len(b)) + b


class TinySshd:
    """An inetd-style listener on 127.0.0.1: one tinysshd per connection."""

    def __init__(self, tag="tinysshd"):
        peers.need_tool(TINYSSHD)
        peers.need_tool(MAKEKEY)
        peers.need_tool(SETPRIV)
        self.dir = peers.temp_dir(tag)
        self.keydir = os.path.join(self.dir, "keys")
        r = peers.run([MAKEKEY, self.keydir], timeout=30)
        if r.rc != 0:
            raise peers.CaseFailure("tinysshd-makekey failed\n" + r.describe())
        if os.getuid() == 0:
            for name in [""] + os.listdir(self.keydir):
                os.chown(os.path.join(self.keydir, name), 65534, 65534)
        with open(os.path.join(self.keydir, "ed25519.pk"), "rb") as f:
            raw = f.read()
        peers.check(len(raw) == 32, "ed25519.pk has %d bytes" % len(raw))
        blob = ssh_string(b"ssh-ed25519") + ssh_string(raw)
        self.fp = {"ssh-ed25519": peers.fingerprint_of_blob(blob)}
        self.log_path = os.path.join(self.dir, "tinysshd.log")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.children = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.banner = None

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with open(self.log_path, "ab") as log:
                child = peers.spawn(([SETPRIV] + RUN_AS if os.getuid() == 0 else []) +
                                    [TINYSSHD, "-v", "-e", "/bin/true", self.keydir], stdin=conn.fileno(),
                                    stdout=conn.fileno(), stderr=log)
            conn.close()
            self.children.append(child)

    def start(self):
        self.thread.start()
        self.banner = peers.wait_banner(self.port)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.children:
            peers.kill_proc(c)


def offered(sshbpp, server):
    r, data = peers.probe(sshbpp, server.port, ["--timeout", "20"])
    data = peers.check_probe_json(r, data)
    sa = data["server_algorithms"]
    for c in CIPHERS:
        peers.check(c in sa["encryption_algorithms_client_to_server"],
                    "tinysshd does not offer %s: %r" % (c, sa["encryption_algorithms_client_to_server"]))
    for k in KEX:
        peers.check(k in sa["kex_algorithms"], "tinysshd does not offer %s" % k)
    return "ciphers %s" % ",".join(sa["encryption_algorithms_client_to_server"])


def traffic(sshbpp, server, args, want_bytes, min_rekeys):
    def extra(data):
        peers.check(data["ignore_bytes_sent"] == want_bytes,
                    "ignore_bytes_sent %r, wanted %d" % (data["ignore_bytes_sent"], want_bytes))
        peers.check(data["rekeys"] >= min_rekeys,
                    "rekeys %r, wanted >= %d" % (data["rekeys"], min_rekeys))
        peers.check(data["authenticated"] is True and data["auth_method"] == "none",
                    "not authenticated with none: %r/%r" % (data["authenticated"], data["auth_method"]))
    try:
        return peers.probe_expect(sshbpp, server, args, hostkey="ssh-ed25519", extra=extra,
                                  banner_prefix=True)
    except peers.CaseFailure as exc:
        raise peers.CaseFailure("%s\ntinysshd log:\n%s" % (exc, server.log()[-1500:]))


def main():
    runner = peers.Runner("test_probe_tinyssh")
    server = None
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        server = TinySshd().start()
        print("tinysshd %s on 127.0.0.1:%d" % (server.banner, server.port), flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        if server is not None:
            server.stop()
        return runner.finish()
    try:
        runner.case("offered", offered, sshbpp, server)
        # tinysshd takes our data slowly (about 1 s per 300 KiB here, in
        # bursts), so 1 MiB: 33 packets of the largest size is the point.
        size = 1024 * 1024
        for c in CIPHERS:
            for k in KEX:
                runner.case("ignore-1MiB.%s.%s" % (c, k), traffic, sshbpp, server,
                            ["-c", c, "--kex", k, "--ignore-bytes", str(size)], size, 0)
        # An odd size: the last packet is a short one.
        runner.case("ignore-odd-size", traffic, sshbpp, server,
                    ["--ignore-bytes", "100003"], 100003, 0)
    finally:
        server.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
