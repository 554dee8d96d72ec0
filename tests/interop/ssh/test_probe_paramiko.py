#!/usr/bin/python3
"""`sshbpp probe` against a paramiko server (Debian 12: python3-paramiko
2.12.0, Transport in server mode, in this process, one thread per
connection; host keys ed25519, ECDSA P-256/384/521 and RSA 3072 made by
ssh-keygen; userauth offers "publickey" only; compression enabled on the
server side so that --compression=zlib can be tested, the probe's default
offer is "none").

paramiko 2.12 and sshbpp share (checked against paramiko's KEXINIT in the
"offered" case, so nothing it offers goes untested):
  ciphers  aes128/192/256-ctr, aes128/192/256-cbc, 3des-cbc (no AEAD)
  MACs     hmac-sha1(-96), hmac-md5(-96), hmac-sha2-256/512 and their
           -etm@openssh.com variants
  KEX      curve25519-sha256@libssh.org, ecdh-sha2-nistp256/384/521,
           diffie-hellman-group14-sha256, diffie-hellman-group16-sha512
  host key ssh-ed25519, ecdsa-sha2-nistp256/384/521, rsa-sha2-256/512
paramiko 2.12 has no strict KEX: strict_kex must be false.

Cases: every cipher x every MAC with 64 KiB of IGNORE traffic and two
rekeys (paramiko's own view of the negotiated cipher/MAC must agree),
every KEX x every host key, zlib (immediate, so the traffic really is
compressed both ways) without and with rekeys (RFC 4253 6.2: the context
restarts at each key exchange, as paramiko does) and zlib@openssh.com
(delayed: negotiated only).

Usage: test_probe_paramiko.py PATH/TO/sshbpp
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

TRAFFIC = ["--ignore-bytes", "65536", "--rekey-bytes", "32768"]


def probe_ok(sshbpp, srv, args, cipher=None, mac=None, kex=None, hostkey=None, extra=None,
             server_check=None):
    note = peers.probe_expect(sshbpp, srv, args, cipher=cipher, mac=mac, kex=kex,
                              hostkey=hostkey, strict=False, extra=extra)
    if server_check:
        server_check()
    return note


def main():
    runner = peers.Runner("test_probe_paramiko")
    srv = None
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        paramiko = peers.import_paramiko()
        print("paramiko %s from %s" % (paramiko.__version__, paramiko.__file__), flush=True)
        srv = peers.ParamikoServer("probe-paramiko",
                                   configure=lambda t: t.use_compression(True)).start()
        opts = paramiko.Transport.__dict__
        ciphers = [c for c in opts["_preferred_ciphers"] if c in peers.SSHBPP_CIPHERS]
        macs = [m for m in opts["_preferred_macs"] if m in peers.SSHBPP_MACS]
        kexes = [k for k in opts["_preferred_kex"] if k in peers.SSHBPP_KEX]
        hostkeys = [h for h in opts["_preferred_keys"] if h in peers.SSHBPP_HOSTKEYS]
        print("paramiko server on 127.0.0.1:%d (%s): %d ciphers, %d MACs, %d KEX, %d host keys"
              % (srv.port, srv.banner, len(ciphers), len(macs), len(kexes), len(hostkeys)),
              flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        if srv:
            srv.stop()
        return runner.finish()

    def offered():
        r, data = peers.probe(sshbpp, srv.port, ["--timeout", "20"])
        data = peers.check_probe_json(r, data)
        left = peers.offered_but_untested(data, set(ciphers + macs + kexes + hostkeys))
        peers.check(not left, "paramiko offers %s, which this test does not cover" % left)
        sa = data["server_algorithms"]
        for name in ciphers:
            peers.check(name in sa["encryption_algorithms_server_to_client"],
                        "paramiko does not offer %s" % name)
        peers.check(data["strict_kex"] is False, "strict_kex true against paramiko 2.12")
        peers.check(data["auth_methods"] == ["publickey"], "auth_methods %r"
                    % data["auth_methods"])
        peers.check(len(ciphers) == 7 and len(macs) == 8 and len(kexes) == 6 and
                    len(hostkeys) == 6, "paramiko's lists shrank: %r %r %r %r"
                    % (ciphers, macs, kexes, hostkeys))
        return "server lists match"

    runner.case("offered", offered)

    try:
        # Cipher x MAC run one at a time: the server-side check reads the
        # latest connection.
        for c in ciphers:
            for m in macs:
                def server_check(c=c, m=m):
                    info = srv.last_session()
                    peers.check(info and info.get("cipher_in") == c and
                                info.get("cipher_out") == c and info.get("mac_in") == m and
                                info.get("mac_out") == m,
                                "paramiko's side says %r" % (info,))
                    peers.check(info.get("error") in (None, "None") or "EOF" in str(
                        info.get("error")), "paramiko error: %s" % info.get("error"))
                    peers.check(info.get("kexes", 0) >= 3, "paramiko counted %s exchanges, "
                                "wanted 3 (first + 2 rekeys)" % info.get("kexes"))
                runner.case("cipher+mac.%s.%s" % (c, m), probe_ok, sshbpp, srv,
                            ["-c", c, "-m", m] + TRAFFIC, c, m, None, None,
                            peers.rekeys_at_least(2), server_check)
        cases = []
        for k in kexes:
            for h in hostkeys:
                cases.append(("kex+hostkey.%s.%s" % (k, h), probe_ok, sshbpp, srv,
                              ["--kex", k, "--hostkey-algorithms", h], None, None, k, h))

        def comp(name):
            def check(data):
                peers.check(data["compression_c2s"] == name and data["compression_s2c"] == name,
                            "compression %r/%r, wanted %s" % (data["compression_c2s"],
                                                             data["compression_s2c"], name))
            return check
        cases.append(("compression.zlib@openssh.com", probe_ok, sshbpp, srv,
                      ["--compression"] + TRAFFIC, None, None, None, None,
                      comp("zlib@openssh.com")))
        runner.parallel(cases, workers=2)

        def zlib_case(args):
            try:
                return probe_ok(sshbpp, srv, ["--compression=zlib"] + args, extra=comp("zlib"))
            except peers.CaseFailure as exc:
                info = srv.last_session()
                raise peers.CaseFailure("%s\nparamiko's side: %s" % (
                    exc, (info or {}).get("error"))) from exc
        # zlib is immediate, so these compress the traffic both ways.
        runner.case("compression.zlib", zlib_case, ["--ignore-bytes", "1048576"])
        # RFC 4253 section 6.2: "The compression context is initialized after
        # each key exchange"; paramiko does so for "zlib".
        runner.case("compression.zlib_across_rekeys", zlib_case,
                    ["--ignore-bytes", "1048576", "--rekey-bytes", "262144"])
    finally:
        srv.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
