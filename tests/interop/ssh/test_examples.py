#!/usr/bin/python3
"""The README's examples (examples/client.c, examples/epoll_client.c)
against a local sshd started here (root may log in with a PEM key).

Cases, for each example:
  X.accept_print        no fingerprint given: prints the host key, logs in
                        with the key; client runs `echo hello from
                        $(hostname)` and prints its output and "exit status
                        0"; epoll_client sends keepalive@openssh.com with
                        want-reply and prints sshd's REQUEST_FAILURE; exit 0
  X.fingerprint_match   the right SHA256 fingerprint given: the same
  X.fingerprint_wrong   a wrong fingerprint: refused before NEWKEYS
                        (SSHBPP_EHOSTKEYREJECTED), exit != 0, not
                        authenticated
  client.exit_status    `echo out; echo err >&2; exit 3`: stdout, stderr
                        apart, "exit status 3", and 3 as its own

Usage: test_examples.py PATH/TO/client PATH/TO/epoll_client
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def run_example(binary, sshd, extra=()):
    argv = [binary, "127.0.0.1", str(sshd.port), "root", sshd.client_key] + list(extra)
    return peers.run(argv, timeout=60)


def check_done(binary, r):
    """What a successful run prints: the command's output and status
    (client), or the global request's answer (epoll_client)."""
    if os.path.basename(binary).endswith("epoll_client"):
        peers.check("global request answered: REQUEST_FAILURE" in r.out,
                    "no answer to the global request\n" + r.describe())
    else:
        peers.check("hello from " in r.out and "exit status 0" in r.out,
                    "no command output or exit status\n" + r.describe())


def accept_print(binary, sshd):
    r = run_example(binary, sshd)
    peers.check(r.rc == 0, "exit %d\n%s" % (r.rc, r.describe()))
    peers.check("host key " in r.out, "no host key line\n" + r.describe())
    peers.check("authenticated as root" in r.out, "not authenticated\n" + r.describe())
    check_done(binary, r)
    return r.out.strip().splitlines()[0]


def exit_status(binary, sshd):
    r = run_example(binary, sshd, ["-", "echo out; echo err >&2; exit 3"])
    peers.check(r.rc == 3, r.describe())
    peers.check(r.out.endswith("3\nout\nexit status 3\n"), r.describe())
    peers.check(r.err == "err\n", r.describe())
    return "exit status 3, stderr apart"


def fingerprint_match(binary, sshd):
    first = run_example(binary, sshd)
    peers.check(first.rc == 0, first.describe())
    line = [l for l in first.out.splitlines() if l.startswith("host key ")][0]
    alg, fp = line.split()[2], line.split()[3]
    peers.check(fp.startswith("SHA256:"), line)
    peers.check(fp in sshd.fp.values(), "fingerprint %s is none of sshd's %s" % (fp, sshd.fp))
    r = run_example(binary, sshd, [fp])
    peers.check(r.rc == 0, r.describe())
    check_done(binary, r)
    return "%s %s" % (alg, fp)


def fingerprint_wrong(binary, sshd):
    r = run_example(binary, sshd, ["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
    peers.check(r.rc != 0, "a wrong fingerprint was accepted\n" + r.describe())
    peers.check("EHOSTKEYREJECTED" in r.out + r.err, r.describe())
    peers.check("authenticated" not in r.out, r.describe())
    return ""


def main():
    runner = peers.Runner("test_examples")
    try:
        if len(sys.argv) < 3:
            raise peers.MissingTool("usage: test_examples.py CLIENT EPOLL_CLIENT")
        binaries = {"client": os.path.abspath(sys.argv[1]),
                    "epoll_client": os.path.abspath(sys.argv[2])}
        for path in binaries.values():
            if not os.access(path, os.X_OK):
                raise peers.MissingTool("example binary %s is missing" % path)
        sshd = peers.Sshd(tag="examples", client_key=True).start()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    try:
        for name, path in binaries.items():
            runner.case(name + ".accept_print", accept_print, path, sshd)
            runner.case(name + ".fingerprint_match", fingerprint_match, path, sshd)
            runner.case(name + ".fingerprint_wrong", fingerprint_wrong, path, sshd)
        runner.case("client.exit_status", exit_status, binaries["client"], sshd)
    finally:
        sshd.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
