#!/usr/bin/python3
"""`sshbpp exec -N -L` (local port forwarding over direct-tcpip channels,
cli/forward.c) against OpenSSH's sshd, both started here on free loopback
ports with keys in a temporary folder; the forwarding targets are small
TCP servers in this script on free loopback ports.

Cases (openssh.):
  listen_loopback     -v says each of the 5 forwards listens on 127.0.0.1 only
                      (no bind_address given, as ssh's GatewayPorts=no)
  bulk_sha256         SSHBPP_TEST_BULK_BYTES (default 16 MiB; make
                      test-full: 256 MiB) of random bytes through an echo
                      target, both ways at once, SHA-256 equal, EOF at the end
  half_close_ours     we send 1 MiB and shut down our write side; the target
                      answers only after its EOF (the SHA-256 of what it got,
                      then 1 MiB more): the forward stays readable after our EOF
  half_close_theirs   the target sends 1 MiB and shuts down its write side
                      first; we read to EOF, then send 1 MiB, which it still
                      gets (SHA-256 checked on its side), then the forward
                      closes
  eight_concurrent    8 forwarded connections at once, bulk/8 (at least
                      1 MiB) each through the echo target, SHA-256 each
  connect_failed      a forward to a closed port: the local connection is
                      closed and stderr says "open failed: connect failed
                      (reason 2)"; the forward goes on working afterwards
  limit_64            64 forwarded connections held open to a target that
                      never closes; the 65th is closed at once with a warning;
                      once one of the 64 ends, a new one is forwarded again
  exit_on_failure     a listen port already taken: with
                      -o ExitOnForwardFailure=yes exit 255 at once; without,
                      the error line and the other -L keeps working
  rekey_during_forward  -o RekeyLimit=1M: 8 MiB each way through two
                      forwarded connections at once with our key exchanges in
                      the middle (-vv counts at least 4 "Rekeying"), SHA-256
  bad_specs           malformed -L (ports 0 or over 65535, an empty host, too
                      few or many fields, an unclosed bracket): exit 255 with
                      the error line, before connecting
  ipv6_bind           -L [::1]:port:127.0.0.1:echo listens on ::1 only and
                      forwards
  with_command        -L beside a command (no -N): the forward works while
                      the command runs, then the command's exit status is ours
  refused_no_forwarding  against a second sshd with AllowTcpForwarding no:
                      the local connection is closed, stderr says "open
                      failed: administratively prohibited (reason 1)"

Usage: test_forward.py PATH/TO/sshbpp
"""

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

MIB = 1024 * 1024
BULK = int(os.environ.get("SSHBPP_TEST_BULK_BYTES", str(16 * MIB)))
CHUNK = 256 * 1024


# ---- forwarding targets --------------------------------------------------------

class Target:
    """A TCP server on 127.0.0.1:free port; handler(conn) per connection, in a
    thread of its own."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.lock = threading.Lock()
        self.results = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(self, c)
        except OSError:
            pass
        finally:
            c.close()

    def count(self):
        with self.lock:
            return self.accepted


def echo(_t, c):
    while True:
        b = c.recv(CHUNK)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


def digest_then_more(_t, c):
    """Reads to EOF, then sends the SHA-256 hex of it and 1 MiB of 'z'."""
    h = hashlib.sha256()
    while True:
        b = c.recv(CHUNK)
        if not b:
            break
        h.update(b)
    c.sendall(h.hexdigest().encode() + b"z" * MIB)
    c.shutdown(socket.SHUT_WR)


def send_first(t, c):
    """Sends 1 MiB of 'y', shuts down its write side, then reads to EOF and
    records the SHA-256 of what it got."""
    c.sendall(b"y" * MIB)
    c.shutdown(socket.SHUT_WR)
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
    with t.lock:
        t.results.append((n, h.hexdigest()))


def hold(t, c):
    """Keeps the connection until the peer closes it."""
    while c.recv(CHUNK):
        pass


# ---- the client ----------------------------------------------------------------

class Forwarder:
    """`sshbpp exec -N -v -L ...` to sshd; stderr to a file."""

    def __init__(self, sshbpp, sshd, specs, opts=(), tmp=None, tag="fwd"):
        self.err_path = os.path.join(tmp, "%s-%d.err" % (tag, time.monotonic_ns()))
        argv = [sshbpp, "exec", "-F", "none", "-T", "-N", "-v", "-i", sshd.client_key,
                "-p", str(sshd.port), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"] + list(opts)
        for s in specs:
            argv += ["-L", s]
        argv.append("root@127.0.0.1")
        self.argv = argv
        with open(self.err_path, "wb") as err:
            self.proc = peers.spawn(argv, stdout=subprocess.DEVNULL, stderr=err)

    def err(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_listening(self, n=1, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise peers.CaseFailure("sshbpp exited with %s\n%s"
                                        % (self.proc.returncode, self.err()[-2000:]))
            return self.err().count("Local forwarding listening on") >= n
        peers.wait_until(ready, timeout, "forward not listening\n" + self.err()[-2000:])

    def stop(self):
        peers.kill_proc(self.proc)


def connect(port, timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_all(s):
    h = hashlib.sha256()
    n = 0
    while True:
        b = s.recv(CHUNK)
        if not b:
            return n, h.hexdigest()
        h.update(b)
        n += len(b)


def through_echo(port, data):
    """data through one forwarded connection to the echo target, both
    directions at once; returns (bytes back, their sha256)."""
    s = connect(port)
    err = []

    def sender():
        try:
            mv = memoryview(data)
            for off in range(0, len(data), CHUNK):
                s.sendall(mv[off:off + CHUNK])
            s.shutdown(socket.SHUT_WR)
        except OSError as exc:
            err.append(exc)

    t = threading.Thread(target=sender)
    t.start()
    try:
        got = recv_all(s)
    finally:
        t.join()
        s.close()
    if err:
        raise peers.CaseFailure("send: %s" % err[0])
    return got


def expect_closed(port, what, timeout=20):
    """Connects; the forward must close the connection without data."""
    s = connect(port, timeout=timeout)
    try:
        s.settimeout(timeout)
        try:
            b = s.recv(16)
        except ConnectionResetError:
            b = b""
        except socket.timeout as exc:
            raise peers.CaseFailure("%s: the local connection stayed open" % what) from exc
        peers.check(b == b"", "%s: got data %r" % (what, b))
    finally:
        s.close()


# ---- cases ---------------------------------------------------------------------

def listen_loopback(fw, port):
    err = fw.err()
    peers.check("Local forwarding listening on 127.0.0.1:%d." % port in err, err[-1500:])
    lines = [ln for ln in err.splitlines() if "Local forwarding listening on" in ln]
    peers.check(len(lines) == 5 and all("listening on 127.0.0.1:" in ln for ln in lines),
                "\n".join(lines))
    return "5 forwards, each on 127.0.0.1 only"


def bulk_sha256(port, data):
    t0 = time.monotonic()
    n, got = through_echo(port, data)
    dt = time.monotonic() - t0
    want = hashlib.sha256(data).hexdigest()
    peers.check(n == len(data) and got == want,
                "%d of %d bytes back, sha256 %s != %s" % (n, len(data), got, want))
    return "%d MiB each way, sha256 %s..., %.2fs (%.0f MiB/s each way)" % (
        len(data) // MIB, want[:12], dt, len(data) / MIB / max(dt, 1e-3))


def half_close_ours(port):
    data = os.urandom(MIB)
    s = connect(port)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        back = b""
        while True:
            b = s.recv(CHUNK)
            if not b:
                break
            back += b
    finally:
        s.close()
    want = hashlib.sha256(data).hexdigest().encode()
    peers.check(back[:64] == want, "digest %r != %r" % (back[:64], want))
    peers.check(back[64:] == b"z" * MIB, "%d bytes after the digest" % (len(back) - 64))
    return "target's answer after our EOF: digest + 1 MiB"


def half_close_theirs(port, target):
    data = os.urandom(MIB)
    before = len(target.results)
    s = connect(port)
    try:
        n, h = recv_all(s)  # their 1 MiB, then their EOF
        peers.check(n == MIB and h == hashlib.sha256(b"y" * MIB).hexdigest(),
                    "got %d bytes before their EOF" % n)
        s.sendall(data)  # still accepted after their EOF
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        peers.check(s.recv(16) == b"", "data after EOF")
    finally:
        s.close()
    peers.wait_until(lambda: len(target.results) > before, 20, "target saw no EOF")
    n, h = target.results[-1]
    peers.check(n == MIB and h == hashlib.sha256(data).hexdigest(),
                "target got %d bytes after its EOF, sha256 mismatch" % n)
    return "1 MiB each way around their EOF"


def eight_concurrent(port):
    per = max(MIB, BULK // 8)
    datas = [os.urandom(per) for _ in range(8)]
    res = [None] * 8

    def one(i):
        try:
            res[i] = through_echo(port, datas[i])
        except Exception as exc:  # pylint: disable=broad-except
            res[i] = exc

    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    for i in range(8):
        peers.check(not isinstance(res[i], Exception), "connection %d: %s" % (i, res[i]))
        want = hashlib.sha256(datas[i]).hexdigest()
        peers.check(res[i] == (per, want), "connection %d: %d bytes back, sha256 %s"
                    % (i, res[i][0], "ok" if res[i][1] == want else "mismatch"))
    return "8 x %d MiB each way, %.2fs" % (per // MIB, dt)


def connect_failed(fw, port, echo_port):
    expect_closed(port, "forward to a closed port")
    peers.wait_until(lambda: "open failed: connect failed (reason 2)" in fw.err(), 10,
                     "no refusal line\n" + fw.err()[-1500:])
    peers.check(fw.proc.poll() is None, "sshbpp exited\n" + fw.err()[-1500:])
    n, h = through_echo(echo_port, b"after" * 1000)
    peers.check(n == 5000 and h == hashlib.sha256(b"after" * 1000).hexdigest(),
                "the other forward broke")
    return "local connection closed; 'open failed: connect failed (reason 2)'"


def limit_64(fw, port, target):
    base = target.count()
    socks = []
    try:
        for _ in range(64):
            socks.append(connect(port))
        peers.wait_until(lambda: target.count() - base >= 64, 60,
                         "only %d of 64 reached the target" % (target.count() - base))
        expect_closed(port, "the 65th connection")
        peers.check("64 connections already open" in fw.err(), fw.err()[-1500:])
        peers.check(target.count() - base == 64, "the 65th reached the target")
        socks.pop().close()
        # its threads end and the count drops: a new one is forwarded again
        def again():
            s = connect(port)
            socks.append(s)
            time.sleep(0.2)
            if target.count() - base >= 65:
                return True
            socks.pop().close()
            return False
        peers.wait_until(again, 20, "no new forward after one of the 64 closed")
    finally:
        for s in socks:
            s.close()
    return "64 held, the 65th closed at once, a new one after one ended"


def exit_on_failure(sshbpp, sshd, tmp, echo_port):
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    tport = taken.getsockname()[1]
    try:
        fw = Forwarder(sshbpp, sshd, ["%d:127.0.0.1:%d" % (tport, echo_port)],
                       opts=("-o", "ExitOnForwardFailure=yes"), tmp=tmp, tag="eof-yes")
        try:
            rc = fw.proc.wait(timeout=30)
        except subprocess.TimeoutExpired as exc:
            fw.stop()
            raise peers.CaseFailure("ExitOnForwardFailure=yes: still running") from exc
        peers.check(rc == 255, "rc %s\n%s" % (rc, fw.err()[-1500:]))
        peers.check("bind 127.0.0.1:%d" % tport in fw.err(), fw.err()[-1500:])
        other = peers.free_port()
        fw = Forwarder(sshbpp, sshd, ["%d:127.0.0.1:%d" % (tport, echo_port),
                                      "%d:127.0.0.1:%d" % (other, echo_port)], tmp=tmp,
                       tag="eof-no")
        try:
            fw.wait_listening(1)
            peers.check("Could not request local forwarding of port %d." % tport in fw.err(),
                        fw.err()[-1500:])
            n, h = through_echo(other, b"ok" * 5000)
            peers.check(n == 10000 and h == hashlib.sha256(b"ok" * 5000).hexdigest(),
                        "the other -L did not work")
        finally:
            fw.stop()
    finally:
        taken.close()
    return "yes: rc 255; no: error line, the other -L works"


def rekey_during_forward(sshbpp, sshd, tmp, echo_port):
    port = peers.free_port()
    fw = Forwarder(sshbpp, sshd, ["%d:127.0.0.1:%d" % (port, echo_port)],
                   opts=("-vv", "-o", "RekeyLimit=1M"), tmp=tmp, tag="rekey")
    try:
        fw.wait_listening(1)
        datas = [os.urandom(8 * MIB) for _ in range(2)]
        res = [None, None]

        def one(i):
            try:
                res[i] = through_echo(port, datas[i])
            except Exception as exc:  # pylint: disable=broad-except
                res[i] = exc

        ts = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i in range(2):
            peers.check(res[i] == (8 * MIB, hashlib.sha256(datas[i]).hexdigest()),
                        "connection %d: %s" % (i, res[i] if isinstance(res[i], Exception)
                                               else "%d bytes back or sha256 mismatch"
                                               % res[i][0]))
        n = sum(1 for ln in fw.err().splitlines() if "Rekeying" in ln)
        peers.check(n >= 4, "only %d rekeys\n%s" % (n, fw.err()[-1500:]))
        peers.check(fw.proc.poll() is None, "sshbpp exited\n" + fw.err()[-1500:])
    finally:
        fw.stop()
    return "2 x 8 MiB each way, %d rekeys" % n


def bad_specs(sshbpp):
    cases = [("abc", "bad local forwarding specification"),
             ("0:h:1", "bad listen port '0'"),
             ("70000:h:1", "bad listen port '70000'"),
             ("1:h:0", "bad host port '0'"),
             ("1:h:65536", "bad host port '65536'"),
             ("1::2", "empty host"),
             ("[::1:5:h:1", "bad local forwarding specification"),
             ("a:b:c:d:e", "bad local forwarding specification"),
             ("h" * 300 + ":1:h:1", "bad local forwarding specification")]
    for spec, want in cases:
        # port 1 of 127.0.0.1: nothing listens, so a connection attempt
        # would say so instead of the line we want
        r = peers.run([sshbpp, "exec", "-N", "-p", "1", "-L", spec, "root@127.0.0.1"], timeout=30)
        peers.check(r.rc == 255 and want in r.err and "onnect" not in r.err,
                    "-L %s: %s" % (spec[:40], r.describe()))
    return "%d malformed specs refused" % len(cases)


def ipv6_bind(sshbpp, sshd, tmp, echo_port):
    port = peers.free_port()
    fw = Forwarder(sshbpp, sshd, ["[::1]:%d:127.0.0.1:%d" % (port, echo_port)], tmp=tmp,
                   tag="v6")
    try:
        fw.wait_listening(1)
        peers.check("Local forwarding listening on [::1]:%d." % port in fw.err(),
                    fw.err()[-1500:])
        s = socket.create_connection(("::1", port), timeout=30)
        s.sendall(b"over v6")
        s.shutdown(socket.SHUT_WR)
        peers.check(recv_all(s) == (7, hashlib.sha256(b"over v6").hexdigest()), "echo over ::1")
        s.close()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            raise peers.CaseFailure("127.0.0.1:%d accepted: not ::1 only" % port)
        except ConnectionRefusedError:
            pass
    finally:
        fw.stop()
    return "[::1]:%d only, echo through it" % port


def with_command(sshbpp, sshd, tmp, echo_port):
    port = peers.free_port()
    flag = os.path.join(tmp, "go-%d" % time.monotonic_ns())
    argv = [sshbpp, "exec", "-F", "none", "-T", "-v", "-i", sshd.client_key,
            "-p", str(sshd.port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-L", "%d:127.0.0.1:%d" % (port, echo_port), "root@127.0.0.1",
            "while [ ! -e %s ]; do sleep 0.05; done; echo done; exit 3" % flag]
    err_path = flag + ".err"
    with open(err_path, "wb") as err:
        proc = peers.spawn(argv, stdout=subprocess.PIPE, stderr=err)
    try:
        peers.wait_until(lambda: "Local forwarding listening on" in open(err_path).read(), 30,
                         "not listening")
        data = os.urandom(MIB)
        peers.check(through_echo(port, data) == (MIB, hashlib.sha256(data).hexdigest()),
                    "echo beside the command")
        with open(flag, "w", encoding="ascii"):
            pass
        out, _ = proc.communicate(timeout=30)
        peers.check(proc.returncode == 3 and out == b"done\n",
                    "rc %s out %r\n%s" % (proc.returncode, out, open(err_path).read()[-1500:]))
    finally:
        peers.kill_proc(proc)
    return "1 MiB forwarded while the command ran; its exit status 3 ours"


def refused_no_forwarding(sshbpp, sshd_nofwd, tmp, echo_port):
    port = peers.free_port()
    fw = Forwarder(sshbpp, sshd_nofwd, ["%d:127.0.0.1:%d" % (port, echo_port)], tmp=tmp,
                   tag="nofwd")
    try:
        fw.wait_listening(1)
        expect_closed(port, "AllowTcpForwarding no")
        peers.wait_until(
            lambda: "open failed: administratively prohibited (reason 1)" in fw.err(), 10,
            "no refusal line\n" + fw.err()[-1500:])
        peers.check(fw.proc.poll() is None, "sshbpp exited\n" + fw.err()[-1500:])
    finally:
        fw.stop()
    return "local connection closed; 'open failed: administratively prohibited (reason 1)'"


# ---- main ----------------------------------------------------------------------

def main():
    runner = peers.Runner("test_forward")
    servers = []
    fw = None
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        sshd = peers.Sshd(tag="fwd-sshd", client_key=True,
                          extra_config="AllowTcpForwarding yes\nMaxSessions 100").start()
        servers.append(sshd)
        nofwd = peers.Sshd(tag="fwd-sshd-nofwd", client_key=True, keys_from=sshd,
                           extra_config="AllowTcpForwarding no").start()
        servers.append(nofwd)
        tmp = peers.temp_dir("fwd")
        t_echo = Target(echo)
        t_digest = Target(digest_then_more)
        t_first = Target(send_first)
        t_hold = Target(hold)
        closed_port = peers.free_port()  # nobody listens there
        p_echo, p_digest, p_first, p_hold, p_closed = (peers.free_port() for _ in range(5))
        fw = Forwarder(sshbpp, sshd, [
            "%d:127.0.0.1:%d" % (p_echo, t_echo.port),
            "%d:127.0.0.1:%d" % (p_digest, t_digest.port),
            "%d:127.0.0.1:%d" % (p_first, t_first.port),
            "%d:127.0.0.1:%d" % (p_hold, t_hold.port),
            "%d:127.0.0.1:%d" % (p_closed, closed_port)], tmp=tmp)
        fw.wait_listening(5)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        if fw is not None:
            print(fw.err()[-2000:])
            fw.stop()
        for s in servers:
            s.stop()
        return runner.finish()
    data = os.urandom(BULK)
    try:
        runner.case("openssh.listen_loopback", listen_loopback, fw, p_echo)
        runner.case("openssh.bulk_sha256", bulk_sha256, p_echo, data)
        runner.case("openssh.half_close_ours", half_close_ours, p_digest)
        runner.case("openssh.half_close_theirs", half_close_theirs, p_first, t_first)
        runner.case("openssh.eight_concurrent", eight_concurrent, p_echo)
        runner.case("openssh.connect_failed", connect_failed, fw, p_closed, p_echo)
        runner.case("openssh.limit_64", limit_64, fw, p_hold, t_hold)
        if fw.proc.poll() is not None:
            runner.fatal("openssh.still_running",
                         peers.CaseFailure("sshbpp exited with %s\n%s"
                                           % (fw.proc.returncode, fw.err()[-2000:])))
        fw.stop()
        runner.case("openssh.exit_on_failure", exit_on_failure, sshbpp, sshd, tmp, t_echo.port)
        runner.case("openssh.rekey_during_forward", rekey_during_forward, sshbpp, sshd, tmp,
                    t_echo.port)
        runner.case("openssh.bad_specs", bad_specs, sshbpp)
        runner.case("openssh.ipv6_bind", ipv6_bind, sshbpp, sshd, tmp, t_echo.port)
        runner.case("openssh.with_command", with_command, sshbpp, sshd, tmp, t_echo.port)
        runner.case("openssh.refused_no_forwarding", refused_no_forwarding, sshbpp, nofwd, tmp,
                    t_echo.port)
    finally:
        fw.stop()
        for s in servers:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
