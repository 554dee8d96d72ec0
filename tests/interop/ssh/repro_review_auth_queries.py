#!/usr/bin/python3
"""Reproduction for the review (not a ctest: the fix is in src/conn/, the
exec engineer's area): rejected publickey queries (no signature) never
count as failures in sshbpp's server auth, so one unauthenticated
connection can test any number of public keys against authorized_keys.
sshd counts each rejected query toward MaxAuthTries and disconnects.

Usage: repro_review_auth_queries.py PATH/TO/sshbpp [sshd]
Prints whether the connection is still alive after 200 rejected queries:
"alive: True" against serve is the problem; sshd gives "alive: False".
"""
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402
import test_serve_review as T  # noqa: E402


def main():
    paramiko = peers.import_paramiko()
    logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)
    e = T.setup(peers.sshbpp_binary(sys.argv))
    srv = peers.Sshd(tag="review-q", client_key=True) if "sshd" in sys.argv[2:] else T.server(e)
    srv.start()
    try:
        t = T.transport(e, paramiko, srv.port, key=None)
        try:
            t.auth_none("root")
        except paramiko.BadAuthenticationType:
            pass
        k = paramiko.Ed25519Key.from_private_key_file(os.path.join(e.dir, "user"))
        n = 0
        for i in range(200):
            blob = bytearray(k.asbytes())
            blob[-1] ^= (i % 255) + 1  # another key each time, none authorized
            try:
                T.raw(paramiko, t, ("byte", 50), ("str", "root"), ("str", "ssh-connection"),
                      ("str", "publickey"), ("bool", False), ("str", "ssh-ed25519"),
                      ("str", bytes(blob)))
            except Exception:  # pylint: disable=broad-except
                break
            n += 1
            time.sleep(0.005)
        time.sleep(0.5)
        print("sent %d rejected publickey queries; alive: %s" % (n, t.is_active()))
        return 0
    finally:
        srv.stop()


if __name__ == "__main__":
    sys.exit(main())
