#!/usr/bin/python3
"""`sshbpp serve --authorized-keys` runs commands and SFTP for real clients
(issue 11 item 4, issue 13 item 4): OpenSSH ssh/sftp/scp, Dropbear dbclient
and paramiko against one serve, plus servers started with tight bounds.

  ssh.exec               exit status 7, stdout and stderr kept apart
  ssh.env                SetEnv LC_X kept, another name dropped; SSH_CONNECTION
  ssh.bulk_up/down       SSHBPP_TEST_BULK_BYTES (default 16 MiB) each way, SHA-256
  sftp.put_get           SSHBPP_TEST_SFTP_BYTES (default 16 MiB) put then get
  scp.up_down            the same through scp (SFTP underneath in OpenSSH 9)
  dbclient.exec          Dropbear's client: exit status and a checksummed transfer
  dbclient.bulk          SSHBPP_TEST_BULK_BYTES each way through dbclient, SHA-256
  paramiko.exec          exit status, stderr apart, stdin to cat
  paramiko.bulk          SSHBPP_TEST_BULK_BYTES each way through paramiko, SHA-256
  paramiko.wide_window   8 downloads of SSHBPP_TEST_BULK_BYTES on channels whose
                         window (2^31-1) never needs adjusting: serve must
                         move the output with no WINDOW_ADJUST to wake it
  ssh.wrong_key          a key not in authorized_keys is refused
  ssh.command_forced     command= runs instead, the client's command in
                         SSH_ORIGINAL_COMMAND; restrict: pty refused
  shell.refused/allowed  shell only with --shell
  paramiko.100_channels  --max-channels 10: 10 open, 90 refused, the
                         connection still runs a command on channel 0
  bounds.children        --max-children 2 (server) and --max-conn-children 1
                         (per connection): the one over each is refused
  paramiko.no_read       a client that never reads: serve's VmRSS stays
                         bounded while the child writes without end; the
                         child is stopped by its pipe, killed and reaped
                         when the channel closes
  paramiko.stdin_not_read  a child that never reads stdin: the client
                         can push no more than our window (2 MiB) + a pipe
  reaped_and_closed      after all of it: no child of serve left (no
                         zombie), its fd count back to where it started
  json_log               every stderr line parses as JSON; kex algorithms,
                         exec, child_exit and disconnect reasons present
  stop.reaps_children    SIGTERM: serve exits 0 and the command's whole
                         process group is gone

Usage: test_serve_exec.py PATH/TO/sshbpp
"""

import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

MiB = 1024 * 1024
BULK = int(os.environ.get("SSHBPP_TEST_BULK_BYTES", 16 * MiB))
SFTP_BYTES = int(os.environ.get("SSHBPP_TEST_SFTP_BYTES", os.environ.get("SSHBPP_TEST_BULK_BYTES", 16 * MiB)))
if "SSHBPP_TEST_SFTP_BYTES" not in os.environ and SFTP_BYTES > 64 * MiB:
    SFTP_BYTES = 64 * MiB  # the SFTP size


class Env:
    pass


def setup(sshbpp):
    e = Env()
    e.sshbpp = sshbpp
    e.ssh = peers.need_tool("ssh")
    e.sftp = peers.need_tool("sftp")
    e.scp = peers.need_tool("scp")
    e.dbclient = peers.need_tool("dbclient")
    e.dbconvert = peers.need_tool("dropbearconvert")
    peers.need_tool("/usr/lib/openssh/sftp-server")
    e.dir = peers.temp_dir("serve-exec")
    for stem in ("user", "wrong", "forced"):
        r = peers.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", stem,
                       "-f", os.path.join(e.dir, stem)])
        peers.check(r.rc == 0, "ssh-keygen: " + r.describe())
    r = peers.run([e.dbconvert, "openssh", "dropbear", os.path.join(e.dir, "user"),
                   os.path.join(e.dir, "user.db")])
    peers.check(r.rc == 0, "dropbearconvert: " + r.describe())
    with open(os.path.join(e.dir, "user.pub")) as f:
        user_pub = f.read().strip()
    with open(os.path.join(e.dir, "forced.pub")) as f:
        forced_pub = f.read().strip()
    e.ak = os.path.join(e.dir, "authorized_keys")
    with open(e.ak, "w") as f:
        f.write(user_pub + "\n")
        f.write('restrict,command="echo forced:$SSH_ORIGINAL_COMMAND" ' + forced_pub + "\n")
    # the data: random, in a file, hashed once
    e.data = os.path.join(e.dir, "data")
    with open(e.data, "wb") as f:
        left = max(BULK, SFTP_BYTES)
        while left > 0:
            chunk = os.urandom(min(left, 4 * MiB))
            f.write(chunk)
            left -= len(chunk)
    e.bulk_sha = sha_file(e.data, BULK)
    e.sftp_data = os.path.join(e.dir, "sftp-data")
    with open(e.data, "rb") as src, open(e.sftp_data, "wb") as dst:
        dst.write(src.read(SFTP_BYTES))
    e.sftp_sha = sha_file(e.sftp_data)
    return e


def sha_file(path, limit=None):
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while limit is None or n < limit:
            want = 1 * MiB if limit is None else min(1 * MiB, limit - n)
            b = f.read(want)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest()


def ssh_opts(e, key="user"):
    return ["-F", "none", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
            "-i", os.path.join(e.dir, key)]


def ssh(e, port, cmd, key="user", extra=(), input_bytes=None, timeout=60):
    return peers.run([e.ssh] + ssh_opts(e, key) + ["-p", str(port)] + list(extra) +
                     ["127.0.0.1"] + ([cmd] if cmd is not None else []),
                     input_bytes=input_bytes, timeout=timeout)


def server(e, args=(), tag="serve-exec"):
    return peers.SshbppServe(e.sshbpp, [], ["--authorized-keys", e.ak, "--log-format", "json",
                                            "--login-grace", "60"] + list(args), tag=tag)


def proc_children(pid):
    """(pid, state) of every process whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append((int(d), rest[0]))
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise peers.CaseFailure("no VmRSS for %d" % pid)


def paramiko_client(e, paramiko, port, key="user"):
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", port=port, username="root",
              key_filename=os.path.join(e.dir, key), look_for_keys=False,
              allow_agent=False, timeout=15, banner_timeout=15, auth_timeout=15)
    return c


# ---------------------------------------------------------------------------
# cases against the shared server

def case_exec(e, srv):
    r = ssh(e, srv.port, "echo hello; echo oops >&2; exit 7")
    peers.check(r.rc == 7, "exit status %s, want 7:\n%s" % (r.rc, r.describe()))
    peers.check(r.out == "hello\n", "stdout %r" % r.out)
    peers.check("oops" in r.err and "hello" not in r.err, "stderr %r" % r.err)
    # killed by a signal: exit-signal TERM (ssh then exits 255)
    r = ssh(e, srv.port, "kill -TERM $$")
    peers.check(r.rc == 255, "killed command: rc %s" % r.rc)
    peers.wait_until(lambda: '"signal":"TERM"' in srv.log(), 5, "no exit by TERM logged")
    return "rc 7, stderr apart; SIGTERM as exit-signal"


def case_env(e, srv):
    r = ssh(e, srv.port, 'echo "$LC_SSHBPP_T/$EVIL_T/$SSH_CONNECTION/$USER/$HOME"',
            extra=["-o", "SetEnv=LC_SSHBPP_T=kept", "-o", "SetEnv=EVIL_T=dropped"])
    peers.check(r.rc == 0, r.describe())
    parts = r.out.strip().split("/", 2)
    peers.check(parts[0] == "kept" and parts[1] == "", "env: %r" % r.out)
    peers.check(re.search(r"127\.0\.0\.1 \d+ 127\.0\.0\.1 %d" % srv.port, r.out) is not None,
                "SSH_CONNECTION missing: %r" % r.out)
    return r.out.strip()


def run_stream(argv, stdin_path=None, timeout=300):
    t0 = time.monotonic()
    fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        p = subprocess.Popen(argv, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        h = hashlib.sha256()
        n = 0
        deadline = time.monotonic() + timeout
        while True:
            b = p.stdout.read(1 * MiB)
            if not b:
                break
            n += len(b)
            h.update(b)
            if time.monotonic() > deadline:
                p.kill()
                raise peers.CaseFailure("timed out after %d bytes" % n)
        err = p.stderr.read().decode("utf-8", "replace")
        rc = p.wait(timeout=30)
    finally:
        if stdin_path:
            fin.close()
    return rc, h.hexdigest(), n, err, time.monotonic() - t0


def case_bulk_up_checked(e, srv):
    p = subprocess.run(["sh", "-c", 'f=$1; s=$2; shift 2; head -c %d "$f" | "$s" "$@"' % BULK,
                        "sh", e.data, e.ssh] +
                       ssh_opts(e) + ["-p", str(srv.port), "127.0.0.1", "sha256sum"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    got = p.stdout.decode().split()[0] if p.stdout else ""
    peers.check(p.returncode == 0, "rc %s: %s" % (p.returncode, p.stderr[-500:]))
    peers.check(got == e.bulk_sha, "remote sha256 %s, sent %s" % (got, e.bulk_sha))
    return "%d MiB, sha256 matches" % (BULK // MiB)


def case_bulk_down(e, srv):
    rc, digest, n, err, dt = run_stream([e.ssh] + ssh_opts(e) + [
        "-p", str(srv.port), "127.0.0.1", "head -c %d %s" % (BULK, e.data)])
    peers.check(rc == 0, "rc %s: %s" % (rc, err[-500:]))
    peers.check(n == BULK, "got %d bytes, want %d" % (n, BULK))
    peers.check(digest == e.bulk_sha, "sha256 differs")
    return "%d MiB down in %.2f s, sha256 matches" % (BULK // MiB, dt)


def case_sftp(e, srv):
    up = os.path.join(e.dir, "sftp-up")
    down = os.path.join(e.dir, "sftp-down")
    batch = "put %s %s\nget %s %s\n" % (e.sftp_data, up, up, down)
    t0 = time.monotonic()
    r = peers.run([e.sftp] + ssh_opts(e) + ["-P", str(srv.port), "-b", "-", "127.0.0.1"],
                  input_bytes=batch.encode(), timeout=300)
    dt = time.monotonic() - t0
    peers.check(r.rc == 0, r.describe())
    peers.check(sha_file(up) == e.sftp_sha, "put: sha256 differs")
    peers.check(sha_file(down) == e.sftp_sha, "get: sha256 differs")
    os.unlink(up)
    os.unlink(down)
    return "%d MiB put and get in %.2f s" % (SFTP_BYTES // MiB, dt)


def case_scp(e, srv):
    up = os.path.join(e.dir, "scp-up")
    down = os.path.join(e.dir, "scp-down")
    r = peers.run([e.scp] + ssh_opts(e) + ["-P", str(srv.port), e.sftp_data,
                                           "127.0.0.1:" + up], timeout=300)
    peers.check(r.rc == 0, r.describe())
    r = peers.run([e.scp] + ssh_opts(e) + ["-P", str(srv.port), "127.0.0.1:" + up, down],
                  timeout=300)
    peers.check(r.rc == 0, r.describe())
    peers.check(sha_file(up) == e.sftp_sha and sha_file(down) == e.sftp_sha, "sha256 differs")
    os.unlink(up)
    os.unlink(down)
    return "%d MiB up and down" % (SFTP_BYTES // MiB)


def dbclient(e, port, cmd, input_bytes=None):
    return peers.run([e.dbclient, "-y", "-y", "-i", os.path.join(e.dir, "user.db"), "-p",
                      str(port), "-l", "root", "127.0.0.1", cmd], input_bytes=input_bytes,
                     timeout=120)


def case_dbclient(e, srv):
    r = dbclient(e, srv.port, "echo hi-dropbear; exit 5")
    peers.check(r.rc == 5, "rc %s, want 5:\n%s" % (r.rc, r.describe()))
    peers.check("hi-dropbear" in r.out, r.describe())
    n = min(BULK, 4 * MiB)
    with open(e.data, "rb") as f:
        blob = f.read(n)
    r = dbclient(e, srv.port, "sha256sum", input_bytes=blob)
    peers.check(r.rc == 0, r.describe())
    peers.check(r.out.split()[0] == hashlib.sha256(blob).hexdigest(), "dbclient upload sha256")
    return "rc 5; %d MiB sha256 matches" % (n // MiB)


def dbclient_argv(e, port, cmd):
    return [e.dbclient, "-y", "-y", "-i", os.path.join(e.dir, "user.db"), "-p", str(port),
            "-l", "root", "127.0.0.1", cmd]


def case_dbclient_bulk(e, srv):
    p = subprocess.run(["sh", "-c", 'f=$1; shift; head -c %d "$f" | "$@"' % BULK, "sh", e.data] +
                       dbclient_argv(e, srv.port, "sha256sum"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    got = p.stdout.decode().split()[0] if p.stdout else ""
    peers.check(p.returncode == 0, "up: rc %s: %s" % (p.returncode, p.stderr[-500:]))
    peers.check(got == e.bulk_sha, "up: remote sha256 %s, sent %s" % (got, e.bulk_sha))
    rc, digest, n, err, dt = run_stream(dbclient_argv(e, srv.port, "head -c %d %s" %
                                                      (BULK, e.data)))
    peers.check(rc == 0 and n == BULK and digest == e.bulk_sha,
                "down: rc %s, %d bytes, sha256 %s: %s" % (rc, n, digest == e.bulk_sha, err[-300:]))
    return "%d MiB each way, sha256 matches (down %.2f s)" % (BULK // MiB, dt)


def case_paramiko_bulk(e, srv, paramiko):
    c = paramiko_client(e, paramiko, srv.port)
    try:
        ch = c.get_transport().open_session()
        ch.exec_command("sha256sum")
        with open(e.data, "rb") as f:
            left = BULK
            while left > 0:
                b = f.read(min(left, 256 * 1024))
                ch.sendall(b)
                left -= len(b)
        ch.shutdown_write()
        out = ch.makefile("rb").read()
        peers.check(ch.recv_exit_status() == 0, "up: exit status")
        peers.check(out.split()[0].decode() == e.bulk_sha, "up: remote sha256 differs")
        ch = c.get_transport().open_session()
        ch.exec_command("head -c %d %s" % (BULK, e.data))
        h = hashlib.sha256()
        n = 0
        t0 = time.monotonic()
        while True:
            b = ch.recv(1 * MiB)
            if not b:
                break
            h.update(b)
            n += len(b)
        dt = time.monotonic() - t0
        peers.check(ch.recv_exit_status() == 0, "down: exit status")
        peers.check(n == BULK and h.hexdigest() == e.bulk_sha, "down: %d bytes, sha256 differs" % n)
    finally:
        c.close()
    return "%d MiB each way, sha256 matches (down %.2f s)" % (BULK // MiB, dt)


def case_paramiko_wide_window(e, srv, paramiko):
    # paramiko adjusts only past a tenth of its window, so no packet comes
    # from the client while serve sends; serve once hung here whenever its
    # pump stopped at its round limit just as the socket drained
    c = paramiko_client(e, paramiko, srv.port)
    times = []
    try:
        for _ in range(8):
            ch = c.get_transport().open_session(window_size=2**31 - 1)
            ch.settimeout(30)
            ch.exec_command("head -c %d %s" % (BULK, e.data))
            h = hashlib.sha256()
            n = 0
            t0 = time.monotonic()
            while True:
                try:
                    b = ch.recv(1 * MiB)
                except socket.timeout:
                    raise peers.CaseFailure("no data for 30 s after %d of %d bytes" % (n, BULK))
                if not b:
                    break
                h.update(b)
                n += len(b)
            times.append(time.monotonic() - t0)
            peers.check(ch.recv_exit_status() == 0, "exit status")
            peers.check(n == BULK and h.hexdigest() == e.bulk_sha, "%d bytes, sha256 differs" % n)
    finally:
        c.close()
    times.sort()
    return "8 x %d MiB, sha256 matches (median %.2f s, max %.2f s)" % (BULK // MiB, times[4],
                                                                       times[-1])


def case_stop_reaps(e):
    srv = server(e, tag="serve-stop").start()
    try:
        p = subprocess.Popen([e.ssh] + ssh_opts(e) + ["-p", str(srv.port), "127.0.0.1",
                                                     "sleep 100 & sleep 100"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            peers.wait_until(lambda: len(proc_children(srv.proc.pid)) == 1, 10,
                             "the command did not start")
            shell = proc_children(srv.proc.pid)[0][0]
            # the shell forks its two sleeps after it starts: wait for them
            def members():
                return [d for d in os.listdir("/proc") if d.isdigit() and _pgid(d) == shell]
            peers.wait_until(lambda: len(members()) >= 2, 10,
                             "process group of the command: %r" % members())
            group = members()
            srv.proc.terminate()
            srv.proc.wait(timeout=10)
            peers.check(srv.proc.returncode == 0, "serve exited %s on SIGTERM" % srv.proc.returncode)
            peers.wait_until(lambda: not any(_pgid(d) == shell for d in group), 5,
                             "the command's processes outlived serve")
        finally:
            p.kill()
            p.wait()
    finally:
        srv.stop()
    return "SIGTERM: serve exited 0, command group (%d processes) gone" % len(group)


def _pgid(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return int(st[st.rindex(")") + 2:].split()[2])


def case_paramiko(e, srv, paramiko):
    c = paramiko_client(e, paramiko, srv.port)
    try:
        stdin, stdout, stderr = c.exec_command("cat; echo to-stderr >&2; exit 3", timeout=30)
        stdin.write(b"through-cat\n")
        stdin.channel.shutdown_write()
        out = stdout.read()
        err = stderr.read()
        st = stdout.channel.recv_exit_status()
    finally:
        c.close()
    peers.check(out == b"through-cat\n", "stdout %r" % out)
    peers.check(err == b"to-stderr\n", "stderr %r" % err)
    peers.check(st == 3, "exit status %s" % st)
    return "rc 3, stdin through cat, stderr apart"


def case_wrong_key(e, srv):
    r = ssh(e, srv.port, "echo should-not-run", key="wrong")
    peers.check(r.rc == 255, "rc %s:\n%s" % (r.rc, r.describe()))
    peers.check("Permission denied (publickey)" in r.err, r.describe())
    peers.check("should-not-run" not in r.out, "the command ran")
    return "Permission denied (publickey)"


def case_forced(e, srv, paramiko):
    r = ssh(e, srv.port, "echo original", key="forced")
    peers.check(r.rc == 0, r.describe())
    peers.check(r.out.strip() == "forced:echo original", "output %r" % r.out)
    # restrict: a pty is refused (ssh -t ends on that, so paramiko asks),
    # and the forced command runs whatever the client asks for
    c = paramiko_client(e, paramiko, srv.port, key="forced")
    try:
        ch = c.get_transport().open_session()
        try:
            ch.get_pty()
            raise peers.CaseFailure("pty-req granted under restrict")
        except paramiko.SSHException:
            pass
        # paramiko closes a channel whose request failed: a new one
        ch = c.get_transport().open_session()
        ch.exec_command("date")
        out = ch.makefile("rb").read()
        st = ch.recv_exit_status()
    finally:
        c.close()
    peers.check(out == b"forced:date\n" and st == 0, "paramiko: %r rc %s" % (out, st))
    peers.wait_until(lambda: "pty not permitted by authorized_keys" in srv.log(), 5,
                     "no pty refusal logged under restrict")
    return "%s; pty refused" % r.out.strip()


def case_shell_refused(e, srv):
    r = ssh(e, srv.port, None, extra=["-T"], input_bytes=b"echo from-shell\n")
    peers.check("from-shell" not in r.out, "a shell ran without --shell")
    peers.check(r.rc != 0, "rc 0 without a shell")
    return "refused (rc %s)" % r.rc


def case_shell_allowed(e):
    with server(e, ["--shell"], tag="serve-shell") as srv:
        r = ssh(e, srv.port, None, extra=["-T"], input_bytes=b"echo from-shell; exit 4\n")
        peers.check(r.rc == 4 and "from-shell" in r.out, r.describe())
    return "shell ran, rc 4"


def case_100_channels(e, srv, paramiko):
    c = paramiko_client(e, paramiko, srv.port)
    t = c.get_transport()
    ok, refused = [], 0
    try:
        for _ in range(100):
            try:
                ok.append(t.open_session(timeout=10))
            except paramiko.ChannelException as exc:
                peers.check(exc.code == 4, "refusal code %s, want 4 (resource shortage)" % exc.code)
                refused += 1
        peers.check(len(ok) == 10 and refused == 90, "%d opened, %d refused" % (len(ok), refused))
        peers.check(t.is_active(), "the connection died")
        ch = ok[0]
        ch.exec_command("echo still-alive")
        out = b""
        deadline = time.monotonic() + 15
        while not ch.exit_status_ready() or ch.recv_ready():
            if ch.recv_ready():
                out += ch.recv(4096)
            elif time.monotonic() > deadline:
                break
            else:
                time.sleep(0.02)
        peers.check(out == b"still-alive\n" and ch.recv_exit_status() == 0, "output %r" % out)
    finally:
        c.close()
    return "10 opened, 90 refused (resource shortage), channel 0 still runs commands"


def case_children_bounds(e, paramiko):
    with server(e, ["--max-children", "2", "--max-conn-children", "1"],
                tag="serve-kids") as srv:
        c1 = paramiko_client(e, paramiko, srv.port)
        c2 = paramiko_client(e, paramiko, srv.port)
        c3 = paramiko_client(e, paramiko, srv.port)
        try:
            a = c1.get_transport().open_session()
            a.exec_command("sleep 30")
            b = c1.get_transport().open_session()
            try:
                b.exec_command("sleep 30")
                raise peers.CaseFailure("a second child on one connection was started")
            except paramiko.SSHException:
                pass
            d = c2.get_transport().open_session()
            d.exec_command("sleep 30")
            f = c3.get_transport().open_session()
            try:
                f.exec_command("sleep 30")
                raise peers.CaseFailure("a third child on the server was started")
            except paramiko.SSHException:
                pass
            kids = [k for k in proc_children(srv.proc.pid)]
            peers.check(len(kids) == 2, "children running: %r" % kids)
            log = srv.log()
            peers.check("too many children on this connection" in log, "no per-connection refusal logged")
            peers.check("too many children on this server" in log, "no server-wide refusal logged")
        finally:
            c1.close()
            c2.close()
            c3.close()
        peers.wait_until(lambda: proc_children(srv.proc.pid) == [], 10,
                         "children left after the clients went: %r" % proc_children(srv.proc.pid))
    return "per connection 1 and server 2 kept; children reaped on disconnect"


def case_no_read(e, srv, paramiko):
    base = vm_rss_kib(srv.proc.pid)
    c = paramiko_client(e, paramiko, srv.port)
    try:
        ch = c.get_transport().open_session()
        ch.exec_command("exec cat /dev/zero")
        peak = base
        kids = []
        for _ in range(30):
            time.sleep(0.1)
            peak = max(peak, vm_rss_kib(srv.proc.pid))
            kids = proc_children(srv.proc.pid)
        peers.check(len(kids) == 1, "the writer is not running: %r" % kids)
        # the child is stopped by its full pipe, not spinning: its state is S
        peers.check(kids[0][1] == "S", "writer state %s" % kids[0][1])
        grown = peak - base
        peers.check(grown < 24 * 1024, "serve's RSS grew by %d KiB (base %d KiB)" % (grown, base))
        ch.close()
        peers.wait_until(lambda: proc_children(srv.proc.pid) == [], 10,
                         "the writer was not reaped after CLOSE")
    finally:
        c.close()
    return "RSS %d KiB -> peak %d KiB (+%d) while the child writes" % (base, peak, peak - base)


def case_stdin_not_read(e, srv, paramiko):
    """A child that never reads its stdin: the client can push at most our
    window (2 MiB) plus the pipe's 64 KiB before it has to stop."""
    import socket  # pylint: disable=import-outside-toplevel
    base = vm_rss_kib(srv.proc.pid)
    c = paramiko_client(e, paramiko, srv.port)
    try:
        ch = c.get_transport().open_session()
        ch.exec_command("sleep 30")
        ch.settimeout(1.0)
        sent = 0
        chunk = b"x" * 32768
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                n = ch.send(chunk)
            except socket.timeout:
                break
            if n <= 0:
                break
            sent += n
            peers.check(sent <= 64 * MiB, "serve took %d bytes for a child that reads none" % sent)
        rss = vm_rss_kib(srv.proc.pid)
        peers.check(sent <= 2 * MiB + 256 * 1024,
                    "the client pushed %d bytes, past the 2 MiB window" % sent)
        peers.check(sent >= 1 * MiB, "only %d bytes taken" % sent)
        peers.check(rss - base < 16 * 1024, "RSS grew by %d KiB" % (rss - base))
        ch.close()
    finally:
        c.close()
    return "the client stopped after %d KiB; RSS +%d KiB" % (sent // 1024, rss - base)


def case_json_log(srv):
    lines = [l for l in srv.log().splitlines() if l.strip()]
    peers.check(len(lines) > 10, "only %d log lines" % len(lines))
    events = []
    for i, l in enumerate(lines):
        try:
            events.append(json.loads(l))
        except ValueError as exc:
            raise peers.CaseFailure("line %d is not JSON: %r (%s)" % (i + 1, l[:200], exc)) from exc
    for ev in events:
        peers.check(isinstance(ev.get("event"), str) and isinstance(ev.get("conn"), int) and
                    isinstance(ev.get("time"), str), "missing common keys: %r" % ev)
    kinds = {ev["event"] for ev in events}
    for want in ("accepted", "version", "kex", "auth_attempt", "auth_result", "channel_open",
                 "exec", "subsystem", "child_exit", "channel_close", "disconnect",
                 "request_refused"):
        peers.check(want in kinds, "no %r event; have %s" % (want, sorted(kinds)))
    kex = [ev for ev in events if ev["event"] == "kex"]
    for k in ("kex_alg", "hostkey_alg", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c",
              "compression_c2s", "compression_s2c"):
        peers.check(all(isinstance(ev.get(k), str) and ev[k] for ev in kex), "kex lacks %s" % k)
    disc = [ev for ev in events if ev["event"] == "disconnect"]
    peers.check(all(ev.get("reason") for ev in disc), "a disconnect without reason")
    peers.check(any(ev.get("peer_disconnect_text") == "disconnected by user" for ev in disc),
                "no client DISCONNECT reason recorded")
    peers.check(any(ev.get("bytes_in", 0) > BULK for ev in disc), "no byte counts")
    ex = [ev for ev in events if ev["event"] == "exec"]
    peers.check(any(ev.get("command") == "echo hello; echo oops >&2; exit 7" for ev in ex),
                "exec command not logged")
    peers.check(any(ev.get("forced_command") for ev in ex), "forced command not logged")
    peers.check(any(ev["event"] == "child_exit" and ev.get("status") == 7 for ev in events),
                "child exit 7 not logged")
    return "%d lines, %d connections, %d event kinds" % (len(lines), len(disc), len(kinds))


def main():
    runner = peers.Runner("test_serve_exec")
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        paramiko = peers.import_paramiko()
        # 90 refused opens are the point of one case: no log line each
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
        e = setup(sshbpp)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    try:
        srv = server(e).start()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("start", exc)
        return runner.finish()
    try:
        time.sleep(0.3)  # the banner probe's connection ends
        base_fds = fd_count(srv.proc.pid)
        runner.case("ssh.exec", case_exec, e, srv)
        runner.case("ssh.env", case_env, e, srv)
        runner.case("ssh.bulk_up", case_bulk_up_checked, e, srv)
        runner.case("ssh.bulk_down", case_bulk_down, e, srv)
        runner.case("sftp.put_get", case_sftp, e, srv)
        runner.case("scp.up_down", case_scp, e, srv)
        runner.case("dbclient.exec", case_dbclient, e, srv)
        runner.case("dbclient.bulk", case_dbclient_bulk, e, srv)
        runner.case("paramiko.exec", case_paramiko, e, srv, paramiko)
        runner.case("paramiko.bulk", case_paramiko_bulk, e, srv, paramiko)
        runner.case("paramiko.wide_window", case_paramiko_wide_window, e, srv, paramiko)
        runner.case("ssh.wrong_key", case_wrong_key, e, srv)
        runner.case("ssh.command_forced", case_forced, e, srv, paramiko)
        runner.case("shell.refused", case_shell_refused, e, srv)
        runner.case("paramiko.100_channels", case_100_channels, e, srv, paramiko)
        runner.case("paramiko.no_read", case_no_read, e, srv, paramiko)
        runner.case("paramiko.stdin_not_read", case_stdin_not_read, e, srv, paramiko)

        def reaped_and_closed():
            peers.wait_until(lambda: proc_children(srv.proc.pid) == [], 10,
                             "children left: %r" % proc_children(srv.proc.pid))
            peers.wait_until(lambda: fd_count(srv.proc.pid) == base_fds, 10,
                             "fds %d, %d at start" % (fd_count(srv.proc.pid), base_fds))
            return "no child, %d fds as at start" % base_fds
        runner.case("reaped_and_closed", reaped_and_closed)
        runner.case("json_log", case_json_log, srv)
    finally:
        srv.stop()
    runner.case("shell.allowed", case_shell_allowed, e)
    runner.case("bounds.children", case_children_bounds, e, paramiko)
    runner.case("stop.reaps_children", case_stop_reaps, e)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
