#!/usr/bin/python3
"""The connection object as a server (conn_serve: sshbpp_driver.h with the
conn's auth callback) against OpenSSH's ssh client (ssh -N: no channels).

Cases:
  openssh_ssh.accepted   ssh -i ACCEPT: a query (PK_OK), then the signed
                         request is accepted; ssh's log says "Authenticated"
  openssh_ssh.refused    ssh -i OTHER: refused; ssh fails with "Permission
                         denied (publickey)", conn_serve times out its login
                         wait with the client gone
  openssh_ssh.partial    ssh -i PARTIAL -i ACCEPT: the first key gives
                         partial success, ssh goes on with the second and is
                         accepted ("partial success" in ssh's log)

Usage: test_conn_serve.py PATH/TO/conn_serve
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def keygen(directory, stem):
    path = os.path.join(directory, stem)
    r = peers.run(["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f", path],
                  timeout=60)
    if r.rc != 0:
        raise peers.CaseFailure("ssh-keygen failed\n" + r.describe())
    return path


def serve_and_ssh(server_bin, keys, identities):
    log = os.path.join(keys["dir"], "serve.out")
    with open(log, "wb") as out:
        proc = peers.spawn([server_bin, keys["host"], keys["accept"], keys["partial"]],
                           stdout=subprocess.PIPE, stderr=out)
        try:
            line = peers._readline_timeout(proc.stdout, 15)  # pylint: disable=W0212
            if not line or not line.startswith("port "):
                raise peers.CaseFailure("conn_serve did not print its port: %r" % line)
            port = int(line.split()[1])
            argv = [peers.need_tool("ssh"), "-F", "/dev/null", "-N", "-v", "-p", str(port),
                    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
                    "-o", "ConnectTimeout=10"]
            for ident in identities:
                argv += ["-i", ident]
            r = peers.run(argv + ["tester@127.0.0.1"], timeout=60)
            rest = proc.stdout.read().decode("utf-8", "replace")
            proc.wait(timeout=60)
        finally:
            peers.kill_proc(proc)
    return r, rest, proc.returncode


def accepted(server_bin, keys):
    r, out, rc = serve_and_ssh(server_bin, keys, [keys["accept"]])
    peers.check(rc == 0, "conn_serve exit %s\n%s\n%s" % (rc, out, r.describe()))
    peers.check("attempt tester publickey sig=0 -> accept" in out, out)
    peers.check("attempt tester publickey sig=1 -> accept" in out, out)
    peers.check("auth ok" in out, out)
    peers.check("Authenticated to 127.0.0.1" in r.err, r.describe())
    return ""


def refused(server_bin, keys):
    r, out, rc = serve_and_ssh(server_bin, keys, [keys["other"]])
    peers.check(rc != 0, "conn_serve accepted an unknown key\n" + out)
    peers.check("-> reject" in out and "auth ok" not in out, out)
    peers.check("Permission denied (publickey)" in r.err, r.describe())
    return [l for l in out.splitlines() if l.startswith("error")][0] if "error" in out else ""


def partial(server_bin, keys):
    r, out, rc = serve_and_ssh(server_bin, keys, [keys["partial"], keys["accept"]])
    peers.check(rc == 0, "conn_serve exit %s\n%s\n%s" % (rc, out, r.describe()))
    peers.check("attempt tester publickey sig=1 -> partial" in out, out)
    peers.check("attempt tester publickey sig=1 -> accept" in out, out)
    peers.check("partial success" in r.err, "ssh did not see partial success\n" + r.describe())
    peers.check("Authenticated to 127.0.0.1" in r.err, r.describe())
    return ""


def main():
    runner = peers.Runner("test_conn_serve")
    try:
        if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
            raise peers.MissingTool("usage: test_conn_serve.py PATH/TO/conn_serve (built)")
        server_bin = os.path.abspath(sys.argv[1])
        d = peers.temp_dir("conn-serve")
        keys = {"dir": d, "host": peers.pem_hostkeys(d)["ed25519"],
                "accept": keygen(d, "accept"), "partial": keygen(d, "partial"),
                "other": keygen(d, "other")}
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    runner.case("openssh_ssh.accepted", accepted, server_bin, keys)
    runner.case("openssh_ssh.refused", refused, server_bin, keys)
    runner.case("openssh_ssh.partial", partial, server_bin, keys)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
