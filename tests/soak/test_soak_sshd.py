#!/usr/bin/python3
"""The soak against OpenSSH's sshd: sshbpp_soak's `sshd` mode streams BYTES
of random data through `cat` on a session channel and back, with our rekey
every REKEY bytes, and compares the SHA-256 of what went out with what came
back (tests/soak/soak.c says how).

Cases (each its own sshd on a free loopback port, keys in a temp folder):
  openssh.soak_default   the negotiated defaults
  openssh.soak_ctr_etm   aes128-ctr with hmac-sha2-256-etm@openssh.com

Usage: test_soak_sshd.py PATH/TO/sshbpp_soak [BYTES [REKEY]]
BYTES and REKEY (K/M/G suffixes) default to 64M and 4M; the environment
variables SSHBPP_SOAK_BYTES and SSHBPP_SOAK_REKEY override them
(`make soak`: 8G and 256M).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "interop", "ssh"))
import peers  # noqa: E402


def soak(binary, size, rekey, sshd):
    r = peers.run([binary, "sshd", size, rekey, "127.0.0.1", str(sshd.port), "root",
                   sshd.client_key], timeout=7200)
    print(r.out.rstrip(), flush=True)
    peers.check(r.rc == 0 and "soak: OK" in r.out, r.describe())
    line = [x for x in r.out.splitlines() if x.startswith("soak sshd")]
    return line[0] if line else "ok"


def main():
    runner = peers.Runner("test_soak_sshd")
    args = sys.argv[1:]
    if not args or not os.access(args[0], os.X_OK):
        runner.fatal("setup", peers.MissingTool(
            "usage: test_soak_sshd.py PATH/TO/sshbpp_soak (built) [BYTES [REKEY]]"))
        return runner.finish()
    binary = os.path.abspath(args[0])
    size = os.environ.get("SSHBPP_SOAK_BYTES") or (args[1] if len(args) > 1 else "64M")
    rekey = os.environ.get("SSHBPP_SOAK_REKEY") or (args[2] if len(args) > 2 else "4M")
    cases = [("openssh.soak_default", {}),
             ("openssh.soak_ctr_etm", {"ciphers": ["aes128-ctr"],
                                       "macs": ["hmac-sha2-256-etm@openssh.com"]})]
    for label, kw in cases:
        try:
            sshd = peers.Sshd(tag="soak-sshd", client_key=True, **kw).start()
        except Exception as exc:  # pylint: disable=broad-except
            runner.fatal(label + ".setup", exc)
            continue
        try:
            runner.case(label, soak, binary, size, rekey, sshd)
        finally:
            sshd.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
