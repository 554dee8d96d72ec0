#!/usr/bin/python3
"""`sshbpp exec` (cli/exec.c) against OpenSSH's sshd, Dropbear, a paramiko
server that runs commands through /bin/sh, and `sshbpp serve
--authorized-keys`, each started here on a free loopback port with keys in
a temporary folder.

Cases, for each server (openssh., dropbear., paramiko., serve.):
  echo_hello        `echo hello`: "hello\\n", exit 0
  exit_7            `exit 7`: our exit status 7
  stderr_apart      stdout and stderr of one command kept apart
  cat_rekey_sha256  SSHBPP_TEST_BULK_BYTES (default 16 MiB; make test-full:
                    256 MiB) of random bytes through `cat` both ways, SHA-256
                    equal, with -o RekeyLimit=8M: the rekeys that -v reports
                    are counted and must be > 0
  killed            `kill -TERM $$`: exit status 255 as OpenSSH's ssh gives
                    (checked against ssh itself on sshd), and -v says
                    "killed by signal TERM"
  null_stdin        -n: `cat` sees EOF at once
  stdout_closed     `yes` with our stdout closed after 100 bytes: the
                    channel is closed and we exit with 255 at once, as ssh
                    (checked against it on sshd)
  eight_threads     exec_mt: 8 threads, one channel each on one connection,
                    bulk/8 bytes each (at least 1 MiB) through `cat`, SHA-256
Once:
  serve.exit_repeat  40 runs of `exit 7` with stdin at EOF, each exit status 7:
                    the stdin thread, done at about the time the command is,
                    once read the caller's freed state and crashed the
                    process at exit (SIGSEGV 1 run in 30 under the
                    coverage build)
  openssh.unknown_hostkey_refused  StrictHostKeyChecking=yes (the default)
                    with a known_hosts without the key: 255, "Host key
                    verification failed", the command not run; then
                    accept-new adds the key and yes passes
  openssh.ssh_signal_status  OpenSSH's ssh on the same command: 255 too
  openssh.compressed_cat  -C: zlib@openssh.com both ways (-v says so), 8 MiB
                    (half random, half compressible) through cat, SHA-256
  openssh.wrong_key_refused  a key sshd does not know: 255 and "Permission
                    denied (publickey)", as ssh; the command not run

Dropbear reads only ~root/.ssh/authorized_keys, so it runs in a private
mount namespace (unshare -m) where /root is a temporary folder.

Usage: test_exec.py PATH/TO/sshbpp PATH/TO/exec_mt
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

MIB = 1024 * 1024
BULK = int(os.environ.get("SSHBPP_TEST_BULK_BYTES", str(16 * MIB)))


def as_text(x):
    return x if isinstance(x, str) else x.decode("utf-8", "replace")


class Target:
    """One server and how to log in to it."""

    def __init__(self, name, port, key):
        self.name, self.port, self.key = name, port, key

    def base(self, sshbpp, *opts):
        return [sshbpp, "exec", "-F", "none", "-T", "-i", self.key, "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes"] + list(opts) + ["root@127.0.0.1"]


def run_exec(sshbpp, t, command, opts=(), input_bytes=None, timeout=300):
    argv = t.base(sshbpp, *opts) + [command]
    t0 = time.monotonic()
    p = subprocess.run(argv, input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, check=False,
                       stdin=None if input_bytes is not None else subprocess.DEVNULL)
    return p, time.monotonic() - t0


def describe(p):
    return "rc %s\nstdout %r\nstderr %s" % (p.returncode, p.stdout[-300:],
                                            as_text(p.stderr)[-1500:])


# ---- cases -------------------------------------------------------------------

def echo_hello(sshbpp, t):
    p, _ = run_exec(sshbpp, t, "echo hello")
    peers.check(p.returncode == 0 and p.stdout == b"hello\n", describe(p))
    return "stdout %r" % p.stdout


def exit_7(sshbpp, t):
    p, _ = run_exec(sshbpp, t, "exit 7")
    peers.check(p.returncode == 7, describe(p))
    return "rc 7"


def stderr_apart(sshbpp, t):
    p, _ = run_exec(sshbpp, t, "echo out; echo err >&2; echo out2; exit 3")
    peers.check(p.returncode == 3, describe(p))
    peers.check(p.stdout == b"out\nout2\n", describe(p))
    peers.check(p.stderr.endswith(b"err\n") and b"out" not in p.stderr, describe(p))
    return "stdout and stderr apart, rc 3"


def cat_rekey_sha256(sshbpp, t, data):
    p, elapsed = run_exec(sshbpp, t, "cat", opts=("-v", "-o", "RekeyLimit=8M"), input_bytes=data,
                          timeout=600)
    err = as_text(p.stderr)
    peers.check(p.returncode == 0, describe(p))
    got, want = hashlib.sha256(p.stdout).hexdigest(), hashlib.sha256(data).hexdigest()
    peers.check(got == want, "sha256 %s != %s (%d of %d bytes back)\n%s"
                % (got, want, len(p.stdout), len(data), err[-1500:]))
    m = re.search(r"Transferred: sent (\d+), received (\d+) bytes.*rekeys: (\d+)", err)
    peers.check(m is not None, "no Transferred line in -v output\n" + err[-1500:])
    sent, received, rekeys = int(m.group(1)), int(m.group(2)), int(m.group(3))
    peers.check(sent == len(data) and received == len(data), m.group(0))
    peers.check(rekeys > 0, "no rekey with RekeyLimit=8M over %d bytes: %s" % (len(data),
                                                                              m.group(0)))
    return "%d MiB each way, sha256 %s..., %d rekeys, %.2fs (%.0f MiB/s each way)" % (
        len(data) // MIB, want[:12], rekeys, elapsed, len(data) / MIB / max(elapsed, 1e-3))


def killed(sshbpp, t):
    p, _ = run_exec(sshbpp, t, "kill -TERM $$", opts=("-v",))
    peers.check(p.returncode == 255, describe(p))
    peers.check("killed by signal TERM" in as_text(p.stderr), describe(p))
    p2, _ = run_exec(sshbpp, t, "kill -TERM $$")
    peers.check(p2.returncode == 255 and b"signal" not in p2.stderr, describe(p2))
    return "rc 255, -v: killed by signal TERM"


def null_stdin(sshbpp, t):
    argv = t.base(sshbpp, "-n") + ["cat; echo done"]
    # our stdin stays open (a pipe nobody writes): -n must not read it
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise peers.CaseFailure("-n still waited for stdin\n" + as_text(err))
    peers.check(p.returncode == 0 and out == b"done\n", "rc %s out %r err %s"
                % (p.returncode, out, as_text(err)))
    return "EOF at once"


def closed_stdout_run(argv):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    got = p.stdout.read(100)
    p.stdout.close()
    t0 = time.monotonic()
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise peers.CaseFailure("%s went on after its stdout closed" % argv[0])
    err = as_text(p.stderr.read())
    p.stderr.close()
    return rc, got, time.monotonic() - t0, err


def exit_repeat(sshbpp, t, runs=40):
    bad = []
    for i in range(runs):
        p, _ = run_exec(sshbpp, t, "exit 7", input_bytes=b"")
        if p.returncode != 7:
            bad.append("run %d: %s" % (i, describe(p)))
    peers.check(not bad, "%d of %d runs failed\n%s" % (len(bad), runs, "\n".join(bad[:3])))
    return "%d runs, each rc 7" % runs


def stdout_closed(sshbpp, t):
    rc, got, dt, err = closed_stdout_run(t.base(sshbpp) + ["yes"])
    peers.check(got == b"y\n" * 50, "stdout %r" % got)
    peers.check(rc == 255, "rc %s\n%s" % (rc, err))
    ssh = peers.need_tool("ssh")
    if t.name == "openssh":
        argv = [ssh] + t.base(sshbpp)[2:] + ["yes"]
        src, _, _, serr = closed_stdout_run(argv)
        peers.check(src == rc, "ssh gave %s, we %s\n%s" % (src, rc, serr))
        return "rc 255 after %.2fs, as ssh" % dt
    return "rc 255 after %.2fs" % dt


def eight_threads(exec_mt, t):
    each = max(MIB, BULK // 8)
    r = peers.run([exec_mt, "127.0.0.1", str(t.port), "root", t.key, "8", str(each)],
                  timeout=600)
    peers.check(r.rc == 0 and "ALL OK" in r.out and r.out.count(" ok:") == 8, r.describe())
    return "8 threads x %d MiB through cat, sha256 equal (%.2fs)" % (each // MIB, r.elapsed)


def unknown_hostkey_refused(sshbpp, t, tmp):
    kh = os.path.join(tmp, "known_hosts")
    with open(kh, "w", encoding="ascii") as f:
        f.write("")
    marker = os.path.join(tmp, "ran")
    base = [sshbpp, "exec", "-F", "none", "-i", t.key, "-p", str(t.port), "-o",
            "UserKnownHostsFile=" + kh, "root@127.0.0.1", "touch " + marker]
    p = subprocess.run(base, capture_output=True, timeout=60, check=False)
    peers.check(p.returncode == 255, describe(p))
    peers.check("Host key verification failed" in as_text(p.stderr), describe(p))
    peers.check(not os.path.exists(marker), "the command ran although the key was refused")
    # the default is StrictHostKeyChecking=yes, and so is asking for it
    p = subprocess.run(base[:-2] + ["-o", "StrictHostKeyChecking=yes"] + base[-2:],
                       capture_output=True, timeout=60, check=False)
    peers.check(p.returncode == 255 and not os.path.exists(marker), describe(p))
    p = subprocess.run(base[:-2] + ["-o", "StrictHostKeyChecking=accept-new"] + base[-2:],
                       capture_output=True, timeout=60, check=False)
    peers.check(p.returncode == 0 and os.path.exists(marker), describe(p))
    os.unlink(marker)
    p = subprocess.run(base, capture_output=True, timeout=60, check=False)
    peers.check(p.returncode == 0 and os.path.exists(marker), describe(p))
    return "unknown key refused (255), accepted once known"


def compressed_cat(sshbpp, t):
    data = os.urandom(4 * MIB) + b"sshbpp " * (4 * MIB // 7)
    p, elapsed = run_exec(sshbpp, t, "cat", opts=("-C", "-v"), input_bytes=data, timeout=300)
    err = as_text(p.stderr)
    peers.check(p.returncode == 0, describe(p))
    peers.check(hashlib.sha256(p.stdout).digest() == hashlib.sha256(data).digest(),
                "sha256 differs (%d of %d bytes back)" % (len(p.stdout), len(data)))
    peers.check(err.count("compression: zlib@openssh.com") == 2, err[-1500:])
    return "%d bytes through zlib@openssh.com both ways, %.2fs" % (len(data), elapsed)


def keylog_written(sshbpp, t, tmp):
    """SSHKEYLOGFILE: exec writes Wireshark's two line forms (the tshark
    decryption itself is interop.ssh.keylog_tshark, for probe and serve)."""
    path = os.path.join(tmp, "exec.keylog")
    env = dict(os.environ, SSHKEYLOGFILE=path)
    argv = t.base(sshbpp, "-o", "KexAlgorithms=curve25519-sha256") + ["echo hello"]
    p = subprocess.run(argv, capture_output=True, timeout=60, check=False, env=env,
                       stdin=subprocess.DEVNULL)
    peers.check(p.returncode == 0 and p.stdout == b"hello\n", describe(p))
    peers.check(b"SSHKEYLOGFILE" in p.stderr, "no warning on stderr: " + describe(p))
    peers.check(os.stat(path).st_mode & 0o777 == 0o600, "mode %o" % os.stat(path).st_mode)
    with open(path) as f:
        lines = f.read().splitlines()
    peers.check(len(lines) == 2, "key log lines: %r" % lines)
    cookie, priv = lines[0].split()
    peers.check(re.fullmatch(r"[0-9a-f]{32}", cookie) and re.fullmatch(r"[0-9a-f]{64}", priv),
                "first line: %r" % lines[0])
    f2 = lines[1].split()
    peers.check(len(f2) == 3 and f2[0] == cookie and f2[1] == "SHARED_SECRET"
                and re.fullmatch(r"[0-9a-f]+", f2[2]), "second line: %r" % lines[1])
    return "cookie + X25519 scalar, cookie SHARED_SECRET K; mode 0600"


def wrong_key_refused(sshbpp, t, tmp):
    other = os.path.join(tmp, "other_key")
    r = peers.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], timeout=60)
    peers.check(r.rc == 0, r.describe())
    marker = os.path.join(tmp, "ran-wrong-key")
    argv = t.base(sshbpp)
    argv[argv.index("-i") + 1] = other
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["HOME"] = tmp  # no ~/.ssh/id_* to fall back on
    p = subprocess.run(argv + ["touch " + marker], capture_output=True, timeout=60, check=False,
                       env=env)
    peers.check(p.returncode == 255, describe(p))
    peers.check("Permission denied (publickey" in as_text(p.stderr), describe(p))
    peers.check(not os.path.exists(marker), "the command ran with a refused key")
    return "255, Permission denied (publickey)"


def ssh_signal_status(t):
    ssh = peers.need_tool("ssh")
    argv = [ssh, "-F", "none", "-T", "-i", t.key, "-p", str(t.port), "-o",
            "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
            "BatchMode=yes", "root@127.0.0.1", "kill -TERM $$"]
    p = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    peers.check(p.returncode == 255, describe(p))
    return "ssh: rc 255 for a command killed by SIGTERM (sshbpp exec: the same)"


# ---- servers -------------------------------------------------------------------

class DropbearLogin(peers.Dropbear):
    """Dropbear that lets root log in with one key: /root is a temporary
    folder with .ssh/authorized_keys, in a mount namespace of its own."""

    def __init__(self, key_pub, **kw):
        super().__init__(**kw)
        self.home = os.path.join(self.dir, "home")
        os.makedirs(os.path.join(self.home, ".ssh"), mode=0o700)
        os.chmod(self.home, 0o700)
        shutil.copy(key_pub, os.path.join(self.home, ".ssh", "authorized_keys"))
        os.chmod(os.path.join(self.home, ".ssh", "authorized_keys"), 0o600)

    def start(self, attempts=4):
        unshare = peers.need_tool("unshare")
        last = None
        for _ in range(attempts):
            port = peers.free_port()
            argv = [peers.DROPBEAR, "-F", "-E", "-s", "-W", str(2 * MIB),
                    "-P", os.path.join(self.dir, "pid"), "-p", "127.0.0.1:%d" % port]
            for stem in self.stems:
                argv += ["-r", self.keys[stem]]
            script = 'mount --bind "$0" /root && exec "$@"'
            log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
            proc = peers.spawn([unshare, "-m", "sh", "-c", script, self.home] + argv,
                               stdout=log, stderr=log)
            log.close()
            try:
                self.banner = peers.wait_banner(port, proc)
            except peers.CaseFailure as exc:
                last = exc
                peers.kill_proc(proc)
                continue
            self.proc, self.port = proc, port
            return self
        raise peers.CaseFailure("dropbear did not start: %s\nlog:\n%s"
                                % (last, self.log()[-2000:]))


class ParamikoExec(peers.ParamikoServer):
    """The paramiko server of peers.py with publickey for one key and exec
    requests run by /bin/sh -c in a subprocess (stdin, stdout, stderr,
    exit-status, or exit-signal for a killed command)."""

    SIGNAMES = {1: "HUP", 2: "INT", 9: "KILL", 13: "PIPE", 15: "TERM"}

    def __init__(self, key_pub, **kw):
        super().__init__(**kw)
        with open(key_pub, encoding="ascii") as f:
            self.allowed = f.read().split()[1]

    def _server_interface(self):
        paramiko = self.paramiko
        outer = self

        class Iface(paramiko.ServerInterface):
            def get_allowed_auths(self, username):
                return "publickey"

            def check_auth_none(self, username):
                return paramiko.AUTH_FAILED

            def check_auth_publickey(self, username, key):
                return (paramiko.AUTH_SUCCESSFUL if key.get_base64() == outer.allowed
                        else paramiko.AUTH_FAILED)

            def check_channel_request(self, kind, chanid):
                return (paramiko.OPEN_SUCCEEDED if kind == "session"
                        else paramiko.OPEN_FAILED_UNKNOWN_CHANNEL_TYPE)

            def check_channel_exec_request(self, channel, command):
                threading.Thread(target=outer._run, args=(channel, command),
                                 daemon=True).start()
                return True

        return Iface()

    def _run(self, chan, command):
        paramiko = self.paramiko
        proc = subprocess.Popen(["/bin/sh", "-c", command.decode("utf-8", "replace")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

        def feed():
            try:
                while True:
                    b = chan.recv(65536)
                    if not b:
                        break
                    proc.stdin.write(b)
            except (OSError, EOFError):
                pass
            try:
                proc.stdin.close()
            except OSError:
                pass

        def pump(stream, send):
            while True:
                b = stream.read1(65536)
                if not b:
                    break
                send(b)

        ts = [threading.Thread(target=feed, daemon=True),
              threading.Thread(target=pump, args=(proc.stdout, chan.sendall), daemon=True),
              threading.Thread(target=pump, args=(proc.stderr, chan.sendall_stderr),
                               daemon=True)]
        for th in ts:
            th.start()
        ts[1].join()
        ts[2].join()
        rc = proc.wait()
        if rc >= 0:
            chan.send_exit_status(rc)
        else:
            m = paramiko.Message()
            m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
            m.add_int(chan.remote_chanid)
            m.add_string("exit-signal")
            m.add_boolean(False)
            m.add_string(self.SIGNAMES.get(-rc, "TERM"))
            m.add_boolean(False)
            m.add_string("")
            m.add_string("")
            chan.transport._send_user_message(m)  # pylint: disable=protected-access
        chan.shutdown_write()
        chan.close()


# ---- main ----------------------------------------------------------------------

def main():
    runner = peers.Runner("test_exec")
    servers = []
    try:
        if len(sys.argv) < 3 or not os.access(sys.argv[2], os.X_OK):
            raise peers.MissingTool("usage: test_exec.py PATH/TO/sshbpp PATH/TO/exec_mt")
        sshbpp = peers.sshbpp_binary(sys.argv)
        exec_mt = os.path.abspath(sys.argv[2])
        sshd = peers.Sshd(tag="exec-sshd", client_key=True).start()
        servers.append(sshd)
        key = sshd.client_key
        dropbear = DropbearLogin(key + ".pub", tag="exec-dropbear").start()
        servers.append(dropbear)
        pm = ParamikoExec(key + ".pub", tag="exec-paramiko").start()
        servers.append(pm)
        serve = peers.SshbppServe(sshbpp, [], ["--authorized-keys", key + ".pub",
                                               "--login-grace", "60"], tag="exec-serve").start()
        servers.append(serve)
        tmp = peers.temp_dir("exec")
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in servers:
            s.stop()
        return runner.finish()
    data = os.urandom(BULK)
    try:
        targets = [Target("openssh", sshd.port, key), Target("dropbear", dropbear.port, key),
                   Target("paramiko", pm.port, key), Target("serve", serve.port, key)]
        for t in targets:
            runner.case(t.name + ".echo_hello", echo_hello, sshbpp, t)
            runner.case(t.name + ".exit_7", exit_7, sshbpp, t)
            runner.case(t.name + ".stderr_apart", stderr_apart, sshbpp, t)
            runner.case(t.name + ".cat_rekey_sha256", cat_rekey_sha256, sshbpp, t, data)
            runner.case(t.name + ".killed", killed, sshbpp, t)
            runner.case(t.name + ".null_stdin", null_stdin, sshbpp, t)
            runner.case(t.name + ".stdout_closed", stdout_closed, sshbpp, t)
            runner.case(t.name + ".eight_threads", eight_threads, exec_mt, t)
        runner.case("serve.exit_repeat", exit_repeat, sshbpp, targets[3])
        runner.case("openssh.unknown_hostkey_refused", unknown_hostkey_refused, sshbpp,
                    targets[0], tmp)
        runner.case("openssh.ssh_signal_status", ssh_signal_status, targets[0])
        runner.case("openssh.compressed_cat", compressed_cat, sshbpp, targets[0])
        runner.case("openssh.keylog_written", keylog_written, sshbpp, targets[0], tmp)
        runner.case("openssh.wrong_key_refused", wrong_key_refused, sshbpp, targets[0], tmp)
    finally:
        for s in servers:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
