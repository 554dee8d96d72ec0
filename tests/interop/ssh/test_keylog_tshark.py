#!/usr/bin/python3
"""SSHKEYLOGFILE against Wireshark: `sshbpp probe` talks to OpenSSH's sshd
(and OpenSSH's ssh to `sshbpp serve`) while tcpdump captures the loopback
port; tshark then reads the capture with the key log the CLI wrote
(ssh.keylog_file) and must show the messages sent after NEWKEYS:
SSH_MSG_SERVICE_REQUEST / SERVICE_ACCEPT and USERAUTH_REQUEST / FAILURE.

  matrix.*      probe -> sshd, one session per (kex, cipher[, mac]) that
                Debian 12's tshark (4.0.17) can decrypt: curve25519-sha256
                (and @libssh.org) and the DH groups 14/16/18, with
                aes128/256-gcm, aes*-ctr and aes128-cbc with the hmac-sha2 /
                hmac-sha1 MACs. Each also checks the key log file: mode
                0600, exactly the two line forms, the cookie that of the
                client's KEXINIT in the capture, one warning line on stderr.
  cross_session the capture of one session read with the key log of
                another decrypts nothing (only the clear key exchange).
  no_keylog     without a key log tshark shows nothing after NEWKEYS, and
                without SSHKEYLOGFILE the probe writes nothing and warns not.
  refused_mode  an existing key log file readable by others is refused
                (error line, nothing written, the probe still succeeds).
  serve         OpenSSH's ssh -> `sshbpp serve` with SSHKEYLOGFILE: the
                server side's key (server cookie) decrypts too.
  rekeys        an authenticated probe with rekeys writes one line pair per
                exchange (distinct cookies).
  parallel_hosts  one probe of 8 targets at once (8 threads): 8 intact line
                pairs, and tshark decrypts all 8 sessions of the capture.
  info.*        what this tshark cannot decrypt (printed as INFO, not
                counted): chacha20-poly1305 (tshark 4.0 does not reset the
                sequence numbers at NEWKEYS under strict KEX, which OpenSSH
                and sshbpp both use, and chacha20's nonce is the sequence
                number), the -etm MACs, ecdh-sha2-nistp*, the group exchange.

Runs as root (sshd, tcpdump). A missing tcpdump or tshark is a failure.

Usage: test_keylog_tshark.py PATH/TO/sshbpp
"""

import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

SSH = "/usr/bin/ssh"
# Messages after NEWKEYS that the decrypted dissection must show.
WANT = {5: "SERVICE_REQUEST", 6: "SERVICE_ACCEPT", 50: "USERAUTH_REQUEST",
        51: "USERAUTH_FAILURE"}
# What tshark shows of a session it cannot decrypt: the clear key exchange.
CLEAR = {20, 21, 30, 31, 32, 33, 34}

MATRIX = [
    ("curve25519-sha256", "aes128-gcm@openssh.com", None),
    ("curve25519-sha256", "aes256-gcm@openssh.com", None),
    ("curve25519-sha256", "aes128-ctr", "hmac-sha2-256"),
    ("curve25519-sha256", "aes256-ctr", "hmac-sha2-512"),
    ("curve25519-sha256", "aes192-ctr", "hmac-sha1"),
    ("curve25519-sha256", "aes128-cbc", "hmac-sha2-256"),
    ("curve25519-sha256@libssh.org", "aes128-gcm@openssh.com", None),
    ("diffie-hellman-group14-sha256", "aes128-gcm@openssh.com", None),
    ("diffie-hellman-group14-sha256", "aes256-gcm@openssh.com", None),
    ("diffie-hellman-group14-sha256", "aes128-ctr", "hmac-sha2-256"),
    ("diffie-hellman-group16-sha512", "aes256-gcm@openssh.com", None),
    ("diffie-hellman-group18-sha512", "aes256-ctr", "hmac-sha2-512"),
]
NOT_BY_TSHARK_4_0 = [
    ("curve25519-sha256", "chacha20-poly1305@openssh.com", None),
    ("diffie-hellman-group14-sha256", "chacha20-poly1305@openssh.com", None),
    ("curve25519-sha256", "aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ("ecdh-sha2-nistp256", "aes128-gcm@openssh.com", None),
    ("diffie-hellman-group-exchange-sha256", "aes128-gcm@openssh.com", None),
]
GEX = "diffie-hellman-group-exchange-sha256"

LINE_PRIV = re.compile(r"^([0-9a-f]{32}) ([0-9a-f]+)$")
LINE_K = re.compile(r"^([0-9a-f]{32}) SHARED_SECRET ([0-9a-f]+)$")


class Capture:
    """tcpdump -i lo on one TCP port into a pcap file; ready once it said
    "listening on"; stopped once the file has stopped growing."""

    def __init__(self, tcpdump, port, path, fins=2):
        self.path = path
        self.want_fins = fins
        # In immediate mode libpcap's ring holds buffer / snaplen packets:
        # with the default 2 MiB and 256 KiB that is 8, and a burst while
        # tcpdump waits for a CPU drops packets. 64 KiB x 64 MiB: 1,024.
        self.proc = peers.spawn([tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode",
                                 "-s", "65535", "-B", "65536",
                                 "-w", path, "tcp port %d" % port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.err = []
        ready = threading.Event()

        def reader():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace")
                self.err.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(20) or self.proc.poll() is not None:
            peers.kill_proc(self.proc)
            raise peers.CaseFailure("tcpdump did not start listening: %s" % "".join(self.err))

    def fins(self):
        """FIN segments in the pcap written so far (Ethernet, IPv4, TCP on
        lo; a record cut short by a running write counts as not there)."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return 0
        if len(data) < 24:
            return 0
        order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
        off, n = 24, 0
        while off + 16 <= len(data):
            incl = struct.unpack(order + "I", data[off + 8:off + 12])[0]
            pkt = data[off + 16:off + 16 + incl]
            off += 16 + incl
            if len(pkt) < incl or len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
                continue
            ihl = (pkt[14] & 15) * 4
            if pkt[23] == 6 and len(pkt) >= 14 + ihl + 14 and pkt[14 + ihl + 13] & 0x01:
                n += 1
        return n

    def stop(self):
        # The peers have closed; wait until tcpdump has written both FINs
        # (a loaded machine may deschedule it for a while), then SIGINT.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.fins() < self.want_fins:
            time.sleep(0.05)
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            peers.kill_proc(self.proc)
            rc = None
        peers.check(rc == 0, "tcpdump exited %s: %s" % (rc, "".join(self.err)))
        peers.check(self.fins() >= self.want_fins, "the capture lacks the closing FINs: %s"
                    % "".join(self.err))
        return self.path

    def dropped(self):
        """Packets the kernel dropped (tcpdump's closing statistics)."""
        for line in self.err:
            m = re.match(r"\s*(\d+) packets dropped by kernel", line)
            if m:
                return int(m.group(1))
        raise peers.CaseFailure("tcpdump printed no drop count: %s" % "".join(self.err))


def captured(tcpdump, port, path, fn, fins=2, attempts=3):
    """Runs fn() under a capture; a capture that lost packets (the kernel
    dropped some: a loaded machine, not the code under test) is taken
    again, up to attempts times. Returns fn's result."""
    for attempt in range(attempts):
        c = Capture(tcpdump, port, path, fins=fins)
        try:
            result = fn()
        finally:
            c.stop()
        if c.dropped() == 0:
            return result
        print("     | capture %s lost %d packets (attempt %d), again"
              % (os.path.basename(path), c.dropped(), attempt + 1), flush=True)
        os.unlink(path)
    raise peers.CaseFailure("every capture lost packets")


class Dissection:
    """What tshark made of a capture: message codes (in order), service and
    user auth method names, MAC status values (1: good), the KEXINIT
    cookies per direction."""

    def __init__(self):
        self.codes, self.names, self.mac_status = [], [], []
        self.cookies = {"c2s": [], "s2c": []}

    def decrypted(self):
        """The messages after NEWKEYS read as plaintext: every one of WANT,
        and the service name of the SERVICE_REQUEST in clear."""
        return all(c in self.codes for c in WANT) and "ssh-userauth" in self.names

    def summary(self):
        return "codes %s, names %s, MAC status %s" % (
            sorted(set(self.codes)), sorted(set(self.names)), sorted(set(self.mac_status)))


def dissect(tshark, cap, port, keylog):
    """Runs tshark on cap (SSH on port) with keylog (None: an empty key log
    file name) and returns a Dissection."""
    fields = ["tcp.dstport", "ssh.message_code", "ssh.cookie", "ssh.service_name",
              "ssh.userauth_method_name", "ssh.mac.status"]
    argv = [tshark, "-n", "-r", cap, "-d", "tcp.port==%d,ssh" % port,
            "-o", "ssh.keylog_file:%s" % (keylog or ""), "-T", "fields", "-E", "separator=|",
            "-E", "aggregator=,"]
    for f in fields:
        argv += ["-e", f]
    r = peers.run(argv, timeout=120)
    peers.check(r.rc == 0, "tshark failed\n" + r.describe())
    d = Dissection()
    for line in r.out.splitlines():
        parts = line.split("|")
        if len(parts) < len(fields):
            continue
        dport, mcodes, cks, svc, meth, mac = parts[:6]
        d.codes += [int(c, 0) for c in mcodes.split(",") if c.strip()]
        d.names += [n for n in svc.split(",") + meth.split(",") if n]
        d.mac_status += [int(m, 0) for m in mac.split(",") if m.strip()]
        for ck in cks.split(","):
            ck = ck.strip().replace(":", "").lower()
            if ck:
                d.cookies["c2s" if dport == str(port) else "s2c"].append(ck)
    return d


def read_keylog(path):
    """(list of (cookie, priv), list of (cookie, K)); any other line fails."""
    privs, ks = [], []
    with open(path, encoding="ascii") as f:
        for line in f.read().splitlines():
            m = LINE_K.match(line)
            if m:
                ks.append((m.group(1), m.group(2)))
                continue
            m = LINE_PRIV.match(line)
            peers.check(m is not None, "unexpected key log line %r" % line[:120])
            privs.append((m.group(1), m.group(2)))
    return privs, ks


def check_decrypted(d, what, aead):
    peers.check(d.decrypted(), "%s: tshark did not decrypt %s and the service name (%s)"
                % (what, "/".join(WANT.values()), d.summary()))
    # AES-GCM: tshark checks the tag (status 1 = good). With a MAC, tshark
    # 4.0 computes it over the wrong sequence numbers (no strict-KEX reset),
    # so its status says nothing about our keys; the plaintext does.
    if aead:
        peers.check(d.mac_status and all(m == 1 for m in d.mac_status),
                    "%s: GCM tags not all good: %s" % (what, d.summary()))


def check_not_decrypted(d, what):
    """Garbage from wrong keys may look like message codes; plaintext it
    is not: no service name, not all of WANT, no good GCM tag."""
    peers.check(not d.names and not all(c in d.codes for c in WANT)
                and 1 not in d.mac_status,
                "%s: tshark decrypted messages: %s" % (what, d.summary()))


def warning_lines(err):
    return [l for l in err.splitlines() if l.startswith("sshbpp: warning: SSHKEYLOGFILE=")]


class Env:
    def __init__(self, sshbpp, tcpdump, tshark, sshd, tmp):
        self.sshbpp, self.tcpdump, self.tshark, self.sshd = sshbpp, tcpdump, tshark, sshd
        self.tmp = tmp
        self.n = 0
        self.sessions = []  # (cap, port, keylog) of decrypted sessions

    def fresh(self, tag):
        self.n += 1
        return os.path.join(self.tmp, "%02d-%s" % (self.n, re.sub(r"[^a-z0-9]+", "_", tag)))


def probe_session(env, kex, cipher, mac, keylog=True, extra=(), server=None, timeout=60):
    """One captured probe; returns (Result, cap, keylog path or None, port)."""
    server = server or env.sshd
    base = env.fresh("%s-%s" % (kex, cipher))
    cap, kl = base + ".pcap", (base + ".keylog" if keylog else None)
    argv = [env.sshbpp, "probe", "--json", "--kex", kex, "-c", cipher]
    if mac:
        argv += ["-m", mac]
    argv += list(extra) + ["--timeout", "30", "-p", str(server.port), "127.0.0.1"]
    environ = dict(os.environ)
    environ.pop("SSHKEYLOGFILE", None)
    if kl:
        environ["SSHKEYLOGFILE"] = kl
    def once():
        if kl and os.path.exists(kl):
            os.unlink(kl)  # a retried capture starts a fresh key log
        return peers.run(argv, timeout=timeout, env=environ)

    r = captured(env.tcpdump, server.port, cap, once)
    peers.check(r.rc == 0, "probe failed\n" + r.describe())
    return r, cap, kl, server.port


def case_matrix(env, kex, cipher, mac):
    r, cap, kl, port = probe_session(env, kex, cipher, mac)
    peers.check(len(warning_lines(r.err)) == 1,
                "expected one 'sshbpp: warning: SSHKEYLOGFILE=' line\n" + r.describe())
    mode = os.stat(kl).st_mode & 0o777
    peers.check(mode == 0o600, "key log mode %o, wanted 600" % mode)
    privs, ks = read_keylog(kl)
    peers.check(len(privs) == 1 and len(ks) == 1, "key log has %d private key and %d "
                "SHARED_SECRET lines, wanted 1 and 1" % (len(privs), len(ks)))
    peers.check(privs[0][0] == ks[0][0], "the two lines name different cookies")
    if kex.startswith("curve25519"):
        peers.check(len(privs[0][1]) == 64, "X25519 key of %d hex digits" % len(privs[0][1]))
    d = dissect(env.tshark, cap, port, kl)
    peers.check(d.cookies["c2s"] == [privs[0][0]],
                "key log cookie %s, the client's KEXINIT in the capture has %s"
                % (privs[0][0], d.cookies["c2s"]))
    check_decrypted(d, "%s %s %s" % (kex, cipher, mac or ""), mac is None)
    env.sessions.append((cap, port, kl))
    check_not_decrypted(dissect(env.tshark, cap, port, None), "without the key log")
    return "decrypted: %s%s" % (",".join(str(c) for c in sorted(set(d.codes) - CLEAR)),
                                " tags good" if mac is None else "")


def case_cross_session(env):
    peers.check(len(env.sessions) >= 2, "fewer than two decrypted sessions to cross")
    (cap_a, port_a, kl_a), (cap_b, port_b, kl_b) = env.sessions[0], env.sessions[1]
    for cap, port, kl, other in ((cap_a, port_a, kl_b, "B"), (cap_b, port_b, kl_a, "A")):
        check_not_decrypted(dissect(env.tshark, cap, port, kl),
                            "capture read with the key log of session %s" % other)
    # Both key logs together decrypt each (tshark picks the right line).
    both = env.fresh("both") + ".keylog"
    with open(both, "w", encoding="ascii") as out:
        for kl in (kl_b, kl_a):
            with open(kl, encoding="ascii") as f:
                out.write(f.read())
    check_decrypted(dissect(env.tshark, cap_a, port_a, both), "session A with both key logs",
                    True)
    return "no message decrypted with the other session's key log"


def case_no_keylog(env):
    r, cap, _, port = probe_session(env, "curve25519-sha256", "aes128-gcm@openssh.com", None,
                                    keylog=False)
    peers.check(not warning_lines(r.err), "warning without SSHKEYLOGFILE\n" + r.describe())
    d = dissect(env.tshark, cap, port, None)
    check_not_decrypted(d, "no key log")
    peers.check(20 in d.codes and 21 in d.codes, "tshark saw no KEXINIT/NEWKEYS: " + d.summary())
    return "nothing decrypted"


def case_refused_mode(env):
    kl = env.fresh("wide") + ".keylog"
    with open(kl, "w", encoding="ascii"):
        pass
    os.chmod(kl, 0o644)
    environ = dict(os.environ, SSHKEYLOGFILE=kl)
    r = peers.run([env.sshbpp, "probe", "--timeout", "30", "-p", str(env.sshd.port),
                   "127.0.0.1"], timeout=60, env=environ)
    peers.check(r.rc == 0, "probe failed\n" + r.describe())
    errs = [l for l in r.err.splitlines() if l.startswith("sshbpp: error: SSHKEYLOGFILE=")]
    peers.check(len(errs) == 1 and "0644" in errs[0], "expected one error line naming "
                "mode 0644\n" + r.describe())
    peers.check(not warning_lines(r.err), "warned about writing to a refused file")
    peers.check(os.path.getsize(kl) == 0, "the refused file was written to")
    return errs[0][len("sshbpp: error: "):][:70]


def ssh_argv(port, cipher):
    return [SSH, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=publickey",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/nonexistent/key",
            "-o", "IdentityAgent=none", "-o", "ConnectTimeout=10",
            "-o", "KexAlgorithms=curve25519-sha256", "-o", "Ciphers=%s" % cipher,
            "-p", str(port), "x@127.0.0.1", "true"]


def case_serve(env):
    peers.need_tool(SSH)
    kl = env.fresh("serve") + ".keylog"
    cap = env.fresh("serve") + ".pcap"
    pem = peers.pem_hostkeys(peers.temp_dir("keylog-serve"))
    saved = os.environ.get("SSHKEYLOGFILE")
    os.environ["SSHKEYLOGFILE"] = kl  # inherited by the serve child only
    try:
        serve = peers.SshbppServe(env.sshbpp, [pem["ed25519"]], ["--once"],
                                  tag="keylog-serve").start(check_banner=False)
    finally:
        if saved is None:
            del os.environ["SSHKEYLOGFILE"]
        else:
            os.environ["SSHKEYLOGFILE"] = saved
    try:
        c = Capture(env.tcpdump, serve.port, cap)
        try:
            r = peers.run(ssh_argv(serve.port, "aes128-gcm@openssh.com"), timeout=40)
        finally:
            c.stop()
        # serve --once takes one connection: no second try of a lossy capture
        peers.check(c.dropped() == 0, "the capture lost %d packets" % c.dropped())
        peers.check(r.rc == 255 and "Permission denied" in r.err,
                    "ssh should be refused by serve\n" + r.describe())
    finally:
        serve.stop()
    privs, ks = read_keylog(kl)
    peers.check(len(privs) == 1 and len(ks) == 1, "serve wrote %d/%d lines" % (len(privs),
                                                                              len(ks)))
    d = dissect(env.tshark, cap, serve.port, kl)
    peers.check(d.cookies["s2c"] == [privs[0][0]], "serve's key log cookie %s, its KEXINIT "
                "has %s" % (privs[0][0], d.cookies["s2c"]))
    check_decrypted(d, "ssh -> serve", True)
    codes = d.codes
    peers.check(len(warning_lines(serve.log())) == 1, "serve printed no key log warning:\n"
                + serve.log()[-1500:])
    return "server-side key decrypts: %s" % ",".join(str(c) for c in sorted(set(codes) - CLEAR))


def case_rekeys(env, sshd_auth):
    r, cap, kl, port = probe_session(
        env, "curve25519-sha256", "aes128-gcm@openssh.com", None, server=sshd_auth,
        extra=["-i", sshd_auth.client_key, "-l", "root", "--ignore-bytes", "512K",
               "--rekey-bytes", "128K"], timeout=120)
    data = peers.check_probe_json(r, peers.json.loads(r.out[r.out.find("{"):r.out.rfind("}") + 1]))
    n = data["rekeys"]
    peers.check(n >= 2, "only %d rekeys" % n)
    privs, ks = read_keylog(kl)
    peers.check(len(privs) == n + 1 and len(ks) == n + 1,
                "%d exchanges but %d/%d key log lines" % (n + 1, len(privs), len(ks)))
    peers.check(len({c for c, _ in privs}) == n + 1, "cookies repeat across exchanges")
    d = dissect(env.tshark, cap, port, kl)
    missing = [c for c in (5, 6, 50, 52) if c not in d.codes]
    peers.check(not missing and "ssh-userauth" in d.names,
                "messages %s of the first exchange not decrypted (%s)" % (missing, d.summary()))
    good = sum(1 for m in d.mac_status if m == 1)
    return "%d exchanges, %d line pairs; tshark: %d messages with a good tag, %d IGNORE " \
           "(info: after a rekey)" % (n + 1, len(ks), good, d.codes.count(2))


def case_parallel_hosts(env, n=8):
    """probe over n targets at once (one process, n threads): one warning,
    n complete line pairs with n distinct cookies, and every session in the
    capture decrypts."""
    kl = env.fresh("parallel") + ".keylog"
    cap = env.fresh("parallel") + ".pcap"
    environ = dict(os.environ, SSHKEYLOGFILE=kl)
    targets = ["127.0.0.1:%d" % env.sshd.port] * n
    def once():
        if os.path.exists(kl):
            os.unlink(kl)
        return peers.run([env.sshbpp, "probe", "--json", "-c", "aes128-gcm@openssh.com",
                          "--parallel", str(n), "--timeout", "30"] + targets, timeout=90,
                         env=environ)

    r = captured(env.tcpdump, env.sshd.port, cap, once, fins=2 * n)
    peers.check(r.rc == 0, "probe of %d targets failed\n%s" % (n, r.describe()))
    peers.check(len(warning_lines(r.err)) == 1, "expected one warning line\n" + r.describe())
    privs, ks = read_keylog(kl)
    peers.check(len(privs) == n and len(ks) == n, "%d/%d key log lines for %d sessions"
                % (len(privs), len(ks), n))
    cookies = {c for c, _ in privs}
    peers.check(len(cookies) == n and cookies == {c for c, _ in ks},
                "cookies of the two line forms differ or repeat")
    d = dissect(env.tshark, cap, env.sshd.port, kl)
    peers.check(sorted(d.cookies["c2s"]) == sorted(cookies),
                "the capture's client cookies %s are not the key log's %s"
                % (sorted(d.cookies["c2s"]), sorted(cookies)))
    for code in WANT:
        peers.check(d.codes.count(code) >= n, "%s decrypted in %d of %d sessions (%s)"
                    % (WANT[code], d.codes.count(code), n, d.summary()))
    return "%d sessions in one process: %d line pairs, all decrypted" % (n, len(ks))


def info_unsupported(env, kex, cipher, mac):
    """Not counted: prints whether this tshark decrypts a combination it is
    known not to (a newer tshark may)."""
    t0 = time.monotonic()
    try:
        _, cap, kl, port = probe_session(env, kex, cipher, mac)
        got = dissect(env.tshark, cap, port, kl).decrypted()
        verdict = "decrypted (this tshark can: move it to MATRIX)" if got else \
            "not decrypted by this tshark (known limitation)"
    except peers.CaseFailure as exc:
        verdict = "error: %s" % str(exc).splitlines()[0]
    print("INFO %-60s %5.2fs  %s" % ("info.%s.%s%s" % (kex, cipher, "." + mac if mac else ""),
                                    time.monotonic() - t0, verdict), flush=True)


def main():
    runner = peers.Runner("test_keylog_tshark")
    started = []
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        tcpdump = peers.need_tool("tcpdump")
        tshark = peers.need_tool("tshark")
        if os.geteuid() != 0:
            raise peers.MissingTool("capturing on lo needs root; run the tests as root")
        kexes = sorted({k for k, _, _ in MATRIX + NOT_BY_TSHARK_4_0})
        ciphers = sorted({c for _, c, _ in MATRIX + NOT_BY_TSHARK_4_0})
        macs = sorted({m for _, _, m in MATRIX + NOT_BY_TSHARK_4_0 if m})
        sshd = peers.Sshd("keylog-sshd", kex=kexes, ciphers=ciphers, macs=macs).start()
        started.append(sshd)
        sshd_auth = peers.Sshd("keylog-sshd-auth", client_key=True, keys_from=sshd).start()
        started.append(sshd_auth)
        env = Env(sshbpp, tcpdump, tshark, sshd, peers.temp_dir("keylog"))
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in started:
            s.stop()
        return runner.finish()
    try:
        for kex, cipher, mac in MATRIX:
            runner.case("matrix.%s.%s%s" % (kex, cipher, "." + mac if mac else ""),
                        case_matrix, env, kex, cipher, mac)
        runner.case("cross_session", case_cross_session, env)
        runner.case("no_keylog", case_no_keylog, env)
        runner.case("refused_mode", case_refused_mode, env)
        runner.case("serve", case_serve, env)
        runner.case("rekeys", case_rekeys, env, sshd_auth)
        runner.case("parallel_hosts", case_parallel_hosts, env)
        for kex, cipher, mac in NOT_BY_TSHARK_4_0:
            info_unsupported(env, kex, cipher, mac)
        r = peers.run([tshark, "--version"], timeout=30)
        print("INFO tshark: %s" % (r.out.splitlines()[0] if r.out else "?"), flush=True)
    finally:
        for s in started:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
