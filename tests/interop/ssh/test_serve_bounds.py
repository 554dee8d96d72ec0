#!/usr/bin/python3
"""`sshbpp serve` cannot be exhausted by unauthenticated clients: each bound
is exceeded from distinct 127.0.0.x source addresses and the excess must be
refused, while a well-behaved client still gets through.

  startups.full          --max-startups 3:100:3: three silent clients hold
                         slots, the fourth is dropped at once (no banner);
                         one leaves and a paramiko client gets to userauth
  startups.random_drop   --max-startups 2:80:8: below start every client is
                         kept; between start and full some are dropped at
                         random (rate 80% rising to 100%); at full all are
  per_source             --per-source-max 2: a third client from the same
                         address is dropped, a paramiko client from another
                         address gets to userauth
  login_grace            --login-grace 1: a silent client is closed within
                         a few seconds
  preauth_bytes          --preauth-bytes 200000: a client that streams
                         IGNOREs after the key exchange is cut off within
                         one packet of the bound

Usage: test_serve_bounds.py PATH/TO/sshbpp
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def connect_from(src, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def banner_or_drop(s):
    """'banner' if the server greets, 'dropped' if it closes at once."""
    try:
        data = s.recv(256)
    except (ConnectionResetError, BrokenPipeError):
        return "dropped"
    except socket.timeout as exc:
        raise peers.CaseFailure("neither a banner nor a close within 5 s") from exc
    if data == b"":
        return "dropped"
    peers.check(data.startswith(b"SSH-2.0-"), "unexpected greeting %r" % data[:40])
    return "banner"


def silent(src, port, want):
    s = connect_from(src, port)
    got = banner_or_drop(s)
    if got != want:
        s.close()
        raise peers.CaseFailure("client from %s: %s, want %s" % (src, got, want))
    return s


def paramiko_gets_to_auth(paramiko, src, port):
    """A well-behaved client: key exchange, then the server's refusal."""
    sock = connect_from(src, port)
    sock.settimeout(15)
    t = paramiko.Transport(sock)
    try:
        t.start_client(timeout=15)
        try:
            t.auth_none("x")
            raise peers.CaseFailure("auth_none succeeded")
        except paramiko.BadAuthenticationType as exc:
            peers.check(list(exc.allowed_types) == ["publickey"],
                        "allowed %r" % exc.allowed_types)
    finally:
        t.close()


def startups_full(sshbpp, paramiko):
    with peers.SshbppServe(sshbpp, [], ["--max-startups", "3:100:3", "--login-grace", "60"],
                           tag="full") as srv:
        held = []
        for i in range(3):
            held.append(retry_banner("127.0.0.%d" % (2 + i), srv.port))
        extra = connect_from("127.0.0.5", srv.port)
        peers.check(banner_or_drop(extra) == "dropped", "a fourth client was kept")
        extra.close()
        peers.wait_until(lambda: "MaxStartups full" in srv.log(), 5,
                         "serve's log does not name the MaxStartups drop")
        held.pop().close()
        # once serve has seen the close, there is room for one
        deadline = time.monotonic() + 10
        while True:
            try:
                paramiko_gets_to_auth(paramiko, "127.0.0.6", srv.port)
                break
            except Exception:  # pylint: disable=broad-except
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for s in held:
            s.close()
        peers.check(srv.alive(), "serve died")
    return "3 held, the 4th dropped, paramiko admitted after one left"


def retry_banner(src, port, timeout=10):
    """A silent client that must be kept; retried while serve has not yet
    noticed that an earlier short-lived connection (the readiness probe,
    a previous case) went away."""
    deadline = time.monotonic() + timeout
    while True:
        s = connect_from(src, port)
        if banner_or_drop(s) == "banner":
            return s
        s.close()
        if time.monotonic() > deadline:
            raise peers.CaseFailure("client from %s dropped for %d s" % (src, timeout))
        time.sleep(0.05)


def startups_random(sshbpp):
    with peers.SshbppServe(sshbpp, [], ["--max-startups", "2:80:8", "--login-grace", "60"],
                           tag="random") as srv:
        held = [retry_banner("127.0.0.7", srv.port), retry_banner("127.0.0.8", srv.port)]
        dropped = attempts = 0
        while len(held) < 8 and attempts < 400:
            attempts += 1
            s = connect_from("127.0.1.%d" % (1 + attempts % 250), srv.port)
            if banner_or_drop(s) == "banner":
                held.append(s)
            else:
                dropped += 1
                s.close()
        peers.check(len(held) == 8, "only %d kept after %d attempts" % (len(held), attempts))
        peers.check(dropped >= 1, "no random early drop in %d attempts" % attempts)
        for i in range(5):
            s = connect_from("127.0.2.%d" % (1 + i), srv.port)
            peers.check(banner_or_drop(s) == "dropped", "a client was kept at full")
            s.close()
        peers.check("MaxStartups random early drop" in srv.log(), "no random drop logged")
        for s in held:
            s.close()
    return "%d of %d dropped between start and full, all at full" % (dropped, attempts)


def per_source(sshbpp, paramiko):
    with peers.SshbppServe(sshbpp, [], ["--per-source-max", "2", "--login-grace", "60"],
                           tag="persource") as srv:
        held = [retry_banner("127.0.0.9", srv.port), retry_banner("127.0.0.9", srv.port)]
        s = connect_from("127.0.0.9", srv.port)
        peers.check(banner_or_drop(s) == "dropped", "a third client from 127.0.0.9 was kept")
        s.close()
        peers.wait_until(lambda: "per-source limit" in srv.log(), 5, "no per-source drop logged")
        paramiko_gets_to_auth(paramiko, "127.0.0.10", srv.port)
        for h in held:
            h.close()
    return "third from one address dropped, another address admitted"


def login_grace(sshbpp):
    with peers.SshbppServe(sshbpp, [], ["--login-grace", "1"], tag="grace") as srv:
        s = retry_banner("127.0.0.11", srv.port)
        t0 = time.monotonic()
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        dt = time.monotonic() - t0
        s.close()
        peers.check(dt < 5, "a silent client stayed %.1f s with a 1 s grace" % dt)
        peers.wait_until(lambda: "timed out" in srv.log(), 5, "no timeout logged")
    return "closed after %.1f s" % dt


def preauth_bytes(sshbpp, paramiko):
    with peers.SshbppServe(sshbpp, [], ["--preauth-bytes", "200000", "--login-grace", "60"],
                           tag="bytes") as srv:
        sock = connect_from("127.0.0.12", srv.port)
        sock.settimeout(15)
        t = paramiko.Transport(sock)
        sent = 0
        try:
            t.start_client(timeout=15)
            deadline = time.monotonic() + 15
            while t.is_active() and time.monotonic() < deadline and sent < 64 * 1024 * 1024:
                try:
                    t.send_ignore(32000)
                    sent += 32000
                except Exception:  # pylint: disable=broad-except
                    break
            peers.wait_until(lambda: not t.is_active(), 10,
                             "the client is still connected after %d bytes" % sent)
        finally:
            t.close()
        peers.check(sent < 8 * 1024 * 1024, "serve took %d bytes before closing" % sent)
        peers.wait_until(lambda: "bytes before authentication" in srv.log(), 5,
                         "no byte-bound close logged:\n" + srv.log()[-800:])
        m = re.search(r"more than 200000 bytes before authentication \((\d+)\)", srv.log())
        peers.check(m is not None, "no byte count logged:\n" + srv.log()[-800:])
        got = int(m.group(1))
        # at most one packet (32000 bytes of IGNORE plus framing) past the bound
        peers.check(200000 < got <= 200000 + 33000, "serve read %d bytes" % got)
    return "serve read %d bytes (bound 200000), the client had sent %d" % (got, sent)


def main():
    runner = peers.Runner("test_serve_bounds")
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        paramiko = peers.import_paramiko()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    runner.case("startups.full", startups_full, sshbpp, paramiko)
    runner.case("startups.random_drop", startups_random, sshbpp)
    runner.case("per_source", per_source, sshbpp, paramiko)
    runner.case("login_grace", login_grace, sshbpp)
    runner.case("preauth_bytes", preauth_bytes, sshbpp, paramiko)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
