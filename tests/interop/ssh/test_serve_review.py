#!/usr/bin/python3
"""An attacker's and an OpenSSH user's review of `sshbpp serve` with
--authorized-keys: paramiko as the client, with raw RFC 4254 messages
where a well-behaved client would not send them.

  preauth.channel_open    CHANNEL_OPEN + exec before userauth: the
                          connection is cut, nothing runs
  auth.from_expiry        from= that excludes 127.0.0.1, and an expired
                          expiry-time=, are refused; a valid key is not
  auth.revoked_key        a key taken out of authorized_keys while serve
                          runs is refused on the next connection, and a
                          key added is accepted, as sshd reads the file
                          at each authentication
  forced.all_kinds        command= is run for exec, shell and subsystem
                          (sftp), as sshd does; the client's command, or
                          the subsystem's, in SSH_ORIGINAL_COMMAND
  exec.second_refused     a second exec on one channel is refused and the
                          first command's output is intact
  exec.long_command      a 20,000-byte command (a script passed inline,
                          as `ssh host "$(cat script)"` does) runs; sshd
                          takes any command that fits a packet
  env.filtered            env requests: LD_PRELOAD, PATH, a name with '='
                          or a newline refused; LC_* kept with its value
  child.fds               the child has fds 0, 1, 2 and nothing else
  json_log.injection      quotes, newlines and control bytes in the user
                          name, the exec command and request names: every
                          log line parses, no forged event
  text_log.injection      the same strings against --log-format text:
                          every line starts with "sshbpp: ", no control
                          byte reaches the log
  window.overflow         WINDOW_ADJUST beyond 2^32-1 total: disconnect
  maxpacket.zero          a channel whose maximum packet is 0: serve does
                          not spin (CPU bounded) and still serves others
  flood.no_read           a client that sends requests with want-reply and
                          never reads the replies: serve stops reading it,
                          its memory stays bounded
  auth.methods_after     "none", password and keyboard-interactive fail;
                          a USERAUTH_REQUEST for another user after
                          success is ignored, the session goes on
  auth.rekey_between     a key exchange after the first one and before
                          userauth, and one after success: the session
                          works, the forced command still applies
  channel.other_client   a second client's exec on channel 0, which only
                          the first client has open: the second is cut
                          off, nothing runs, the first is untouched
  requests.flood          5,000 env and pty-req requests on one channel:
                          each answered, at most 32 variables kept, the
                          connection still runs the command
  disconnect.kills        the client goes while a command that ignores
                          SIGHUP runs: its process group is killed and
                          reaped within a few seconds
  data_after_eof          CHANNEL_DATA after CHANNEL_EOF: disconnect
  open_close.loop         150 channels opened and closed in turn: no fd,
                          child or memory left behind

Usage: test_serve_review.py PATH/TO/sshbpp
"""

import json
import logging
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

MSG_CHANNEL_OPEN = 90
MSG_CHANNEL_WINDOW_ADJUST = 93
MSG_CHANNEL_REQUEST = 98


class Env:
    pass


def setup(sshbpp):
    e = Env()
    e.sshbpp = sshbpp
    peers.need_tool("/usr/lib/openssh/sftp-server")
    e.dir = peers.temp_dir("serve-review")
    pubs = {}
    for stem in ("user", "forced", "from", "expired"):
        r = peers.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", stem,
                       "-f", os.path.join(e.dir, stem)])
        peers.check(r.rc == 0, "ssh-keygen: " + r.describe())
        with open(os.path.join(e.dir, stem + ".pub")) as f:
            pubs[stem] = f.read().strip()
    e.marker = os.path.join(e.dir, "ran")
    e.ak = os.path.join(e.dir, "authorized_keys")
    with open(e.ak, "w") as f:
        f.write(pubs["user"] + "\n")
        f.write('restrict,command="echo forced:$SSH_ORIGINAL_COMMAND" ' + pubs["forced"] + "\n")
        f.write('from="10.0.0.0/8,!127.0.0.1" ' + pubs["from"] + "\n")
        f.write('expiry-time="20000101" ' + pubs["expired"] + "\n")
    return e


def server(e, args=(), tag="serve-review"):
    return peers.SshbppServe(e.sshbpp, [], ["--authorized-keys", e.ak, "--log-format", "json",
                                            "--login-grace", "60"] + list(args), tag=tag)


def proc_children(pid):
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


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    rest = st[st.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def transport(e, paramiko, port, key="user", user="root"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    t = paramiko.Transport(sock)
    t.banner_timeout = 15
    t.start_client(timeout=15)
    if key is not None:
        pkey = paramiko.Ed25519Key.from_private_key_file(os.path.join(e.dir, key))
        t.auth_publickey(user, pkey)
    return t


def raw(paramiko, t, *parts):
    """Sends one message built from (kind, value) parts."""
    m = paramiko.Message()
    for kind, v in parts:
        if kind == "byte":
            m.add_byte(bytes([v]))
        elif kind == "u32":
            m.add_int(v)
        elif kind == "bool":
            m.add_boolean(v)
        elif kind == "str":
            m.add_string(v)
    t._send_user_message(m)  # pylint: disable=protected-access


def run_on(ch, timeout=15):
    """Output and exit status of a command already started on ch."""
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        if ch.recv_ready():
            out += ch.recv(65536)
            continue
        if ch.exit_status_ready() and not ch.recv_ready():
            break
        if time.monotonic() > deadline:
            raise peers.CaseFailure("command did not end in %ss (got %r)" % (timeout, out))
        time.sleep(0.02)
    return out, ch.recv_exit_status()


def exec_out(t, cmd):
    ch = t.open_session(timeout=10)
    ch.exec_command(cmd)
    return run_on(ch)


# ---------------------------------------------------------------------------

def case_preauth_open(e, srv, paramiko):
    t = transport(e, paramiko, srv.port, key=None)
    try:
        raw(paramiko, t, ("byte", MSG_CHANNEL_OPEN), ("str", "session"), ("u32", 0),
            ("u32", 2 * 1024 * 1024), ("u32", 32768))
        raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", 0), ("str", "exec"),
            ("bool", True), ("str", "touch " + e.marker))
        peers.wait_until(lambda: not t.is_active(), 10, "serve kept a client that opened a "
                         "channel before authentication")
    finally:
        t.close()
    time.sleep(0.5)
    peers.check(not os.path.exists(e.marker), "the command ran without authentication")
    return "cut off, nothing ran"


def case_from_expiry(e, srv, paramiko):
    for key in ("from", "expired"):
        try:
            t = transport(e, paramiko, srv.port, key=key)
            t.close()
            raise peers.CaseFailure("key %s accepted" % key)
        except paramiko.AuthenticationException:
            pass
    t = transport(e, paramiko, srv.port, key="user")
    t.close()
    return "from= and expiry-time= refused, plain key accepted"


def case_revoked_key(e, paramiko):
    ak = os.path.join(e.dir, "authorized_keys.live")
    with open(e.ak) as f:
        lines = f.read().splitlines(True)

    def write(ls):
        with open(ak + ".tmp", "w") as f:
            f.writelines(ls)
        os.rename(ak + ".tmp", ak)
    write(lines)
    srv = peers.SshbppServe(e.sshbpp, [], ["--authorized-keys", ak, "--log-format", "json",
                                           "--login-grace", "60"], tag="serve-revoke").start()
    try:
        transport(e, paramiko, srv.port, key="user").close()
        write(lines[1:])  # "user" is the first line
        try:
            transport(e, paramiko, srv.port, key="user").close()
            raise peers.CaseFailure("a key removed from authorized_keys was still accepted")
        except paramiko.AuthenticationException:
            pass
        transport(e, paramiko, srv.port, key="forced").close()
        write(lines)
        transport(e, paramiko, srv.port, key="user").close()
    finally:
        srv.stop()
    return "removed key refused at once, restored key accepted"


def case_forced_all(e, srv, paramiko):
    t = transport(e, paramiko, srv.port, key="forced")
    try:
        out, st = exec_out(t, "id")
        peers.check(out == b"forced:id\n" and st == 0, "exec: %r rc %s" % (out, st))
        ch = t.open_session(timeout=10)
        ch.invoke_shell()  # no --shell on this server: allowed only because forced
        out, st = run_on(ch)
        peers.check(out == b"forced:\n" and st == 0, "shell: %r rc %s" % (out, st))
        ch = t.open_session(timeout=10)
        ch.invoke_subsystem("sftp")
        out, st = run_on(ch)
        # sshd: SSH_ORIGINAL_COMMAND is the subsystem's command, what
        # wrappers that allow SFTP look for
        peers.check(out == b"forced:/usr/lib/openssh/sftp-server\n",
                    "subsystem: %r rc %s (sshd gives the subsystem's command in "
                    "SSH_ORIGINAL_COMMAND)" % (out, st))
    finally:
        t.close()
    return "exec, shell and subsystem all ran the forced command"


def case_second_exec(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        ch = t.open_session(timeout=10)
        ch.exec_command("sleep 0.5; echo first")
        try:
            raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
                ("str", "exec"), ("bool", False), ("str", "touch " + e.marker))
        except Exception as exc:  # pylint: disable=broad-except
            raise peers.CaseFailure("could not send the second exec: %s" % exc)
        out, st = run_on(ch)
        peers.check(out == b"first\n" and st == 0, "output %r rc %s" % (out, st))
        peers.check(t.is_active(), "connection died")
    finally:
        t.close()
    peers.check(not os.path.exists(e.marker), "the second exec ran")
    peers.wait_until(lambda: "a command already runs on this channel" in srv.log(), 5,
                     "second exec not logged as refused")
    return "refused, first command intact"


def case_long_command(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        body = "x" * 20000
        out, st = exec_out(t, "printf %s " + body + " | wc -c")
    finally:
        t.close()
    peers.check(st == 0 and out.strip() == b"20000", "rc %s, output %r" % (st, out[:200]))
    return "ran, %d-byte command" % (len(body) + 18)


def case_env(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        ch = t.open_session(timeout=10)
        for name, value in (("LD_PRELOAD", "/tmp/x.so"), ("PATH", "/tmp"),
                            ("LC_A=B", "c"), ("LC_N\nX", "y"), ("lc_lower", "z"),
                            ("LC_OK", "v=1\nline2"), ("LANG", "C.UTF-8")):
            raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
                ("str", "env"), ("bool", False), ("str", name), ("str", value))
        ch.exec_command("env")
        out, st = run_on(ch)
    finally:
        t.close()
    envs = out.decode("utf-8", "replace")
    peers.check(st == 0, "env rc %s" % st)
    peers.check("LD_PRELOAD" not in envs and "/tmp/x.so" not in envs, "LD_PRELOAD passed")
    peers.check("PATH=/tmp\n" not in envs, "PATH overridden")
    peers.check("LC_A" not in envs and "LC_N" not in envs and "lc_lower" not in envs,
                "a bad name passed: %r" % envs)
    peers.check("LC_OK=v=1\nline2\n" in envs and "LANG=C.UTF-8" in envs,
                "LC_OK/LANG missing: %r" % envs)
    return "only LC_OK and LANG"


def case_fds(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        out, st = exec_out(t, "ls /proc/$$/fd")
    finally:
        t.close()
    fds = sorted(out.split())
    peers.check(st == 0 and fds == [b"0", b"1", b"2"], "child fds %r (rc %s)" % (fds, st))
    return "0 1 2"


def case_json_injection(e, srv, paramiko):
    evil = 'x"y\\z\n{"event":"forged"}\x01\x1b[2J\xe9'
    try:
        t = transport(e, paramiko, srv.port, key="user", user=evil)
        out, _ = exec_out(t, 'echo "%s" >/dev/null; true' % evil.replace('"', ''))
        ch = t.open_session(timeout=10)
        raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
            ("str", 'bad"\n{"event":"forged2"}'), ("bool", False))
        time.sleep(0.3)
        t.close()
    except paramiko.AuthenticationException:
        raise peers.CaseFailure("the key was refused for a strange user name")
    time.sleep(0.5)
    n = 0
    for line in srv.log().splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise peers.CaseFailure("log line does not parse: %r" % line)
        peers.check(obj.get("event") not in ("forged", "forged2"), "forged event: %r" % line)
        n += 1
    peers.check('forged' in srv.log(), "the evil strings are not in the log at all")
    return "%d lines parse, nothing forged" % n


def case_text_injection(e, paramiko):
    evil = 'x"y\nsshbpp: conn 9 forged\x01\x1b[2J'
    srv = peers.SshbppServe(e.sshbpp, [], ["--authorized-keys", e.ak, "--login-grace", "60"],
                            tag="serve-review-text").start()
    try:
        t = transport(e, paramiko, srv.port, key="user", user=evil)
        ch = t.open_session(timeout=10)
        raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
            ("str", 'bad\nsshbpp: conn 9 forged2'), ("bool", False))
        exec_out(t, "true # " + evil.replace("\x01", ""))
        t.close()
        time.sleep(0.5)
        log = srv.log()
    finally:
        srv.stop()
    for line in log.splitlines():
        peers.check(line.startswith("sshbpp: "), "a line not ours: %r" % line)
        peers.check("forged" not in line or not line.startswith("sshbpp: conn 9"),
                    "forged line: %r" % line)
        peers.check(not any(ord(ch) < 0x20 for ch in line), "control byte: %r" % line)
    peers.check("forged" in log, "the strings are not in the log")
    return "%d lines, all ours" % len(log.splitlines())


def case_window_overflow(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        ch = t.open_session(timeout=10)
        # serve starts with the window we offered (paramiko: 2 MiB); this
        # grant makes it exceed 2^32-1
        raw(paramiko, t, ("byte", MSG_CHANNEL_WINDOW_ADJUST), ("u32", ch.remote_chanid),
            ("u32", 0xFFFFFFFF))
        peers.wait_until(lambda: not t.is_active(), 10, "window overflow accepted")
    finally:
        t.close()
    return "disconnected"


def case_maxpacket_zero(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        # our own channel number 77: paramiko ignores what comes back for it
        raw(paramiko, t, ("byte", MSG_CHANNEL_OPEN), ("str", "session"), ("u32", 77),
            ("u32", 2 * 1024 * 1024), ("u32", 0))
        time.sleep(0.3)
        # serve's channel for it is the first free one: 0 on a new conn
        raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", 0), ("str", "exec"),
            ("bool", False), ("str", "head -c 100000 /dev/zero"))
        time.sleep(0.3)
        c0 = cpu_seconds(srv.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(srv.proc.pid) - c0
        peers.check(used < 0.5, "serve used %.2f s of CPU in 2 s (spinning)" % used)
        if t.is_active():
            out, st = exec_out(t, "echo other")
            peers.check(out == b"other\n" and st == 0, "other channel: %r" % out)
            note = "no spin (%.2f s CPU in 2 s); other channels still served" % used
        else:
            note = "connection refused (%.2f s CPU)" % used
    finally:
        t.close()
    return note


def case_flood_no_read(e, paramiko):
    """Channel opens of an unknown type, each answered by OPEN_FAILURE,
    sent by a client whose reader is stopped: the replies can only pile
    up in serve. serve must stop reading this client once the replies
    back up, as sshd stops at its output buffer's bound."""
    with server(e, tag="serve-flood") as srv:
        base = vm_rss_kib(srv.proc.pid)
        t = transport(e, paramiko, srv.port)
        stop = threading.Event()
        orig = t.packetizer.read_message

        def stalled():
            stop.wait()
            return orig()
        t.packetizer.read_message = stalled
        t.sock.settimeout(None)
        sent = [0]
        done = threading.Event()

        def flood():
            try:
                m = paramiko.Message()
                m.add_byte(bytes([MSG_CHANNEL_OPEN]))
                m.add_string("x")
                m.add_int(1)
                m.add_int(0)
                m.add_int(0)
                while not stop.is_set() and sent[0] < 48 * 1024 * 1024:
                    t.packetizer.send_message(m)
                    sent[0] += 48
            except Exception:  # pylint: disable=broad-except
                pass
            done.set()
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        peak, last, still = base, -1, 0
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not done.is_set():
            time.sleep(0.5)
            peak = max(peak, vm_rss_kib(srv.proc.pid))
            still = still + 1 if sent[0] == last else 0
            last = sent[0]
            if still >= 6:  # our sends blocked for 3 s: serve stopped reading
                break
        peak = max(peak, vm_rss_kib(srv.proc.pid))
        stop.set()
        t.close()
        grown = peak - base
        peers.check(grown < 24 * 1024, "serve's RSS grew by %d KiB while a non-reading client "
                    "sent %d KiB of requests" % (grown, sent[0] // 1024))
        peers.check(srv.alive(), "serve died")
    return "sent %d KiB, then serve stopped reading; RSS +%d KiB" % (sent[0] // 1024, grown)


def case_auth_methods(e, srv, paramiko):
    t = transport(e, paramiko, srv.port, key=None)
    try:
        for name, fn in (("none", lambda: t.auth_none("root")),
                         ("password", lambda: t.auth_password("root", "root")),
                         ("keyboard-interactive",
                          lambda: t.auth_interactive("root", lambda *a: ["root"] * len(a[2])))):
            try:
                fn()
                raise peers.CaseFailure("%s accepted" % name)
            except paramiko.AuthenticationException:
                pass
            except paramiko.SSHException as exc:
                if "accepted" in str(exc):
                    raise
        peers.check(not t.is_authenticated(), "authenticated without a key")
    finally:
        t.close()
    t = transport(e, paramiko, srv.port, key="forced")
    try:
        pkey = paramiko.Ed25519Key.from_private_key_file(os.path.join(e.dir, "user"))
        # a second request after success, for another user and key: ignored
        raw(paramiko, t, ("byte", 50), ("str", "other"), ("str", "ssh-connection"),
            ("str", "publickey"), ("bool", False), ("str", "ssh-ed25519"),
            ("str", pkey.asbytes()))
        out, st = exec_out(t, "id")
        peers.check(out == b"forced:id\n", "after a second USERAUTH_REQUEST: %r" % out)
    finally:
        t.close()
    return "none/password/keyboard-interactive refused; later request ignored, command= kept"


def case_rekey_between(e, srv, paramiko):
    t = transport(e, paramiko, srv.port, key=None)
    try:
        pkey = paramiko.Ed25519Key.from_private_key_file(os.path.join(e.dir, "forced"))
        t.renegotiate_keys()
        t.auth_publickey("root", pkey)
        t.renegotiate_keys()
        out, st = exec_out(t, "id")
        peers.check(out == b"forced:id\n" and st == 0, "after rekeys: %r rc %s" % (out, st))
    finally:
        t.close()
    return "rekeyed before and after auth; forced command kept"


def case_other_client(e, srv, paramiko):
    a = transport(e, paramiko, srv.port)
    b = transport(e, paramiko, srv.port)
    try:
        ch = a.open_session(timeout=10)
        raw(paramiko, b, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
            ("str", "exec"), ("bool", True), ("str", "touch " + e.marker))
        peers.wait_until(lambda: not b.is_active(), 10, "request on a channel it never opened "
                         "was accepted")
        ch.exec_command("echo mine")
        out, st = run_on(ch)
        peers.check(out == b"mine\n" and st == 0, "first client: %r" % out)
    finally:
        a.close()
        b.close()
    peers.check(not os.path.exists(e.marker), "the other client's command ran")
    return "second client cut off; first client's channel works"


def case_requests_flood(e, srv, paramiko):
    # paramiko closes its channel on a CHANNEL_FAILURE: here it only counts
    table = paramiko.Transport._channel_handler_table  # pylint: disable=protected-access
    orig = table[paramiko.common.MSG_CHANNEL_FAILURE]
    failures = [0]

    def counted(chan, m):  # pylint: disable=unused-argument
        failures[0] += 1
    table[paramiko.common.MSG_CHANNEL_FAILURE] = counted
    t = transport(e, paramiko, srv.port)
    try:
        ch = t.open_session(timeout=10)
        for i in range(5000):
            raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
                ("str", "env"), ("bool", True), ("str", "LC_F%d" % i), ("str", "v"))
            if i % 10 == 0:
                raw(paramiko, t, ("byte", MSG_CHANNEL_REQUEST), ("u32", ch.remote_chanid),
                    ("str", "pty-req"), ("bool", True), ("str", "xterm"), ("u32", 80),
                    ("u32", 24), ("u32", 0), ("u32", 0), ("str", ""))
        peers.wait_until(lambda: failures[0] >= 5500 - 32, 20,
                         "%d refusals came back" % failures[0])
        ch.exec_command("env")
        out, st = run_on(ch, timeout=30)
    finally:
        table[paramiko.common.MSG_CHANNEL_FAILURE] = orig
        t.close()
    n = sum(1 for line in out.split(b"\n") if line.startswith(b"LC_F"))
    peers.check(st == 0 and n == 32, "%d LC_F variables kept (rc %s)" % (n, st))
    peers.check(failures[0] == 5500 - 32, "%d refusals, want %d" % (failures[0], 5500 - 32))
    return "5,500 requests each answered (%d refused), %d variables kept" % (failures[0], n)


def case_disconnect_kills(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    pidfile = os.path.join(e.dir, "hup.pid")
    try:
        ch = t.open_session(timeout=10)
        ch.exec_command("trap '' HUP; (trap '' HUP; sleep 100) & echo $! > %s; sleep 100"
                        % pidfile)
        peers.wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0,
                         10, "command did not start")
        with open(pidfile) as f:
            grandchild = int(f.read())
        peers.check(len(proc_children(srv.proc.pid)) == 1, "no child running")
    finally:
        t.close()
    t0 = time.monotonic()
    peers.wait_until(lambda: proc_children(srv.proc.pid) == [], 10,
                     "child not reaped after the client left")
    took = time.monotonic() - t0
    peers.wait_until(lambda: not os.path.exists("/proc/%d" % grandchild) or
                     open("/proc/%d/stat" % grandchild).read().split(") ")[1][0] == "Z", 5,
                     "the background process of the command survived")
    return "child and its background job gone %.1f s after the client left" % took


def case_data_after_eof(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        ch = t.open_session(timeout=10)
        ch.exec_command("cat >/dev/null; sleep 5")
        ch.shutdown_write()
        time.sleep(0.2)
        raw(paramiko, t, ("byte", 94), ("u32", ch.remote_chanid), ("str", "late"))
        peers.wait_until(lambda: not t.is_active(), 10, "data after EOF accepted")
    finally:
        t.close()
    return "disconnected (OpenSSH drops such data; stricter here)"


def case_open_close_loop(e, srv, paramiko):
    t = transport(e, paramiko, srv.port)
    try:
        out, _ = exec_out(t, "true")
        time.sleep(0.2)
        fds0, rss0 = fd_count(srv.proc.pid), vm_rss_kib(srv.proc.pid)
        for _ in range(150):
            ch = t.open_session(timeout=10)
            ch.close()
        out, st = exec_out(t, "echo alive")
        peers.check(out == b"alive\n" and st == 0, "after the loop: %r" % out)
        time.sleep(0.3)
        fds1, rss1 = fd_count(srv.proc.pid), vm_rss_kib(srv.proc.pid)
    finally:
        t.close()
    peers.check(fds1 <= fds0, "fds %d -> %d" % (fds0, fds1))
    peers.check(rss1 - rss0 < 4096, "RSS %d -> %d KiB" % (rss0, rss1))
    peers.wait_until(lambda: proc_children(srv.proc.pid) == [], 10, "children left")
    return "fds %d -> %d, RSS %d -> %d KiB" % (fds0, fds1, rss0, rss1)


def main():
    runner = peers.Runner("test_serve_review")
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        paramiko = peers.import_paramiko()
        logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)
        e = setup(sshbpp)
        srv = server(e).start()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    try:
        time.sleep(0.3)
        runner.case("preauth.channel_open", case_preauth_open, e, srv, paramiko)
        runner.case("auth.from_expiry", case_from_expiry, e, srv, paramiko)
        runner.case("forced.all_kinds", case_forced_all, e, srv, paramiko)
        runner.case("exec.second_refused", case_second_exec, e, srv, paramiko)
        runner.case("exec.long_command", case_long_command, e, srv, paramiko)
        runner.case("env.filtered", case_env, e, srv, paramiko)
        runner.case("child.fds", case_fds, e, srv, paramiko)
        runner.case("window.overflow", case_window_overflow, e, srv, paramiko)
        runner.case("maxpacket.zero", case_maxpacket_zero, e, srv, paramiko)
        runner.case("auth.methods_after", case_auth_methods, e, srv, paramiko)
        runner.case("auth.rekey_between", case_rekey_between, e, srv, paramiko)
        runner.case("channel.other_client", case_other_client, e, srv, paramiko)
        runner.case("requests.flood", case_requests_flood, e, srv, paramiko)
        runner.case("disconnect.kills", case_disconnect_kills, e, srv, paramiko)
        runner.case("data_after_eof", case_data_after_eof, e, srv, paramiko)
        runner.case("open_close.loop", case_open_close_loop, e, srv, paramiko)
        runner.case("json_log.injection", case_json_injection, e, srv, paramiko)
    finally:
        srv.stop()
    runner.case("auth.revoked_key", case_revoked_key, e, paramiko)
    runner.case("text_log.injection", case_text_injection, e, paramiko)
    runner.case("flood.no_read", case_flood_no_read, e, paramiko)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
