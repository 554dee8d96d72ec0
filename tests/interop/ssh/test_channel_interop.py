#!/usr/bin/python3
"""Channels (sshbpp_channel.h, sshbpp_driver_channel.h) as a client against
Debian's sshd, through chan_exec.

Cases:
  openssh.echo_hello     `echo hello`: "hello\\n" on stdout, exit 0
  openssh.exit_7         `exit 7`: exit status 7
  openssh.stderr_apart   stdout and stderr of one command kept apart
  openssh.cat_sha256     8 MiB of random bytes through `cat` (more than the
                         2 MiB windows both ways), SHA-256 equal
  openssh.eight_channels 8 channels at once on one connection, each its own
                         output
  openssh.killed         a command killed by SIGKILL reported as signal KILL

Usage: test_channel_interop.py PATH/TO/chan_exec
"""

import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def chan_exec(binary, sshd, command, nch=1, input_bytes=None, timeout=120):
    return peers.run([binary, "127.0.0.1", str(sshd.port), "root", sshd.client_key, str(nch),
                      command], timeout=timeout, input_bytes=input_bytes)


def as_bytes(x):
    return x if isinstance(x, bytes) else x.encode("utf-8", "surrogateescape")


def echo_hello(binary, sshd):
    r = chan_exec(binary, sshd, "echo hello")
    peers.check(r.rc == 0, r.describe())
    peers.check(as_bytes(r.out) == b"hello\n", r.describe())
    return "stdout %r" % r.out


def exit_7(binary, sshd):
    r = chan_exec(binary, sshd, "exit 7")
    peers.check(r.rc == 7, r.describe())
    return "rc 7"


def stderr_apart(binary, sshd):
    r = chan_exec(binary, sshd, "echo out; echo err >&2; exit 3")
    peers.check(r.rc == 3, r.describe())
    peers.check(as_bytes(r.out) == b"out\n", r.describe())
    peers.check(as_bytes(r.err) == b"err\n", r.describe())
    return "stdout and stderr apart"


def cat_sha256(binary, sshd):
    # raw bytes: peers.run() decodes its output as text
    data = os.urandom(8 * 1024 * 1024)
    t0 = time.monotonic()
    p = subprocess.run([binary, "127.0.0.1", str(sshd.port), "root", sshd.client_key, "1", "cat"],
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                       check=False)
    elapsed = time.monotonic() - t0
    peers.check(p.returncode == 0, "rc %s stderr %r" % (p.returncode, p.stderr[-500:]))
    got = hashlib.sha256(p.stdout).hexdigest()
    want = hashlib.sha256(data).hexdigest()
    peers.check(got == want, "sha256 %s != %s (%d bytes back)" % (got, want, len(p.stdout)))
    return "8 MiB sha256 %s... in %.2fs" % (want[:12], elapsed)


def eight_channels(binary, sshd):
    r = chan_exec(binary, sshd, "echo ch-$$", nch=8)
    peers.check(r.rc == 0, r.describe())
    lines = as_bytes(r.out).decode().split()
    peers.check(len(lines) == 8 and len(set(lines)) == 8, r.describe())
    return "8 distinct shells"


def killed(binary, sshd):
    r = chan_exec(binary, sshd, "kill -KILL $$")
    peers.check(r.rc == 255, r.describe())
    peers.check("signal KILL" in (r.err if isinstance(r.err, str) else r.err.decode()),
                r.describe())
    return "signal KILL"


def main():
    runner = peers.Runner("test_channel_interop")
    try:
        if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
            raise peers.MissingTool("usage: test_channel_interop.py PATH/TO/chan_exec (built)")
        binary = os.path.abspath(sys.argv[1])
        sshd = peers.Sshd(tag="chan-sshd", client_key=True).start()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    try:
        runner.case("openssh.echo_hello", echo_hello, binary, sshd)
        runner.case("openssh.exit_7", exit_7, binary, sshd)
        runner.case("openssh.stderr_apart", stderr_apart, binary, sshd)
        runner.case("openssh.cat_sha256", cat_sha256, binary, sshd)
        runner.case("openssh.eight_channels", eight_channels, binary, sshd)
        runner.case("openssh.killed", killed, binary, sshd)
    finally:
        sshd.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
