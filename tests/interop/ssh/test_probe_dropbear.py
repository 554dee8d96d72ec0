#!/usr/bin/python3
"""`sshbpp probe` against Dropbear's server (Debian 12: 2022.83).

Dropbear loads at most four host keys, so two servers run: A with
ed25519, ECDSA P-256, P-384 and RSA 3072, B with ECDSA P-521 (keys made by
dropbearkey; fingerprints by `ssh-keygen -l` of `dropbearkey -y`'s public
key line). Dropbear's algorithms are a compile-time choice; what this
Debian build offers and sshbpp supports is (checked against the server's
KEXINIT in the "offered" case, so nothing it offers goes untested):

  ciphers  chacha20-poly1305@openssh.com, aes128-ctr, aes256-ctr
  MACs     hmac-sha1, hmac-sha2-256
  KEX      curve25519-sha256(@libssh.org), ecdh-sha2-nistp256/384/521,
           diffie-hellman-group14-sha256
  host key ssh-ed25519, ecdsa-sha2-nistp256/384/521, rsa-sha2-256

Cases: every cipher (x every MAC for the non-AEAD ones), each with 64 KiB
of IGNORE traffic and two client rekeys; every KEX x every host key;
compression zlib@openssh.com; a 16 MiB / 256 KiB rekey run.

Usage: test_probe_dropbear.py PATH/TO/sshbpp
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"]
MACS = ["hmac-sha1", "hmac-sha2-256"]
KEX = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
       "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group14-sha256"]
HOSTKEYS_A = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "rsa-sha2-256"]
HOSTKEYS_B = ["ecdsa-sha2-nistp521"]
TRAFFIC = ["--ignore-bytes", "65536", "--rekey-bytes", "32768"]


def probe_ok(sshbpp, server, args, cipher=None, mac=None, kex=None, hostkey=None, extra=None):
    # Dropbear 2022.83 in Debian 12 has the strict KEX fix (deb12u1).
    return peers.probe_expect(sshbpp, server, args, cipher=cipher, mac=mac, kex=kex,
                              hostkey=hostkey, strict=True, extra=extra)


def offered(sshbpp, a, b):
    """The servers' KEXINITs: nothing sshbpp supports is left untested."""
    tested = set(CIPHERS + MACS + KEX + HOSTKEYS_A + HOSTKEYS_B)
    notes = []
    for server, hostkeys in ((a, HOSTKEYS_A), (b, HOSTKEYS_B)):
        r, data = peers.probe(sshbpp, server.port, ["--timeout", "20"])
        data = peers.check_probe_json(r, data)
        left = peers.offered_but_untested(data, tested)
        peers.check(not left, "Dropbear offers %s, which this test does not cover" % left)
        sa = data["server_algorithms"]
        for h in hostkeys:
            peers.check(h in sa["server_host_key_algorithms"],
                        "Dropbear does not offer %s: %r" % (h, sa["server_host_key_algorithms"]))
        for name in CIPHERS:
            peers.check(name in sa["encryption_algorithms_client_to_server"],
                        "Dropbear does not offer cipher %s" % name)
        for name in MACS:
            peers.check(name in sa["mac_algorithms_client_to_server"],
                        "Dropbear does not offer MAC %s" % name)
        for name in KEX:
            peers.check(name in sa["kex_algorithms"], "Dropbear does not offer KEX %s" % name)
        peers.check(data["auth_methods"] == ["publickey"],
                    "auth_methods %r (dropbear -s: publickey only)" % data["auth_methods"])
        notes.append(",".join(sa["server_host_key_algorithms"]))
    return "host keys offered: A=%s B=%s" % tuple(notes)


def main():
    runner = peers.Runner("test_probe_dropbear")
    servers = []
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        peers.need_tool(peers.DBCLIENT)  # same package; its absence means a broken install
        a = peers.Dropbear("probe-dropbear-a")
        servers.append(a.start())
        b = peers.Dropbear("probe-dropbear-b", stems=["ecdsa521"], keys_from=a)
        servers.append(b.start())
        print("dropbear %s on 127.0.0.1:%d and :%d" % (a.banner, a.port, b.port), flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in servers:
            s.stop()
        return runner.finish()

    try:
        runner.case("offered", offered, sshbpp, a, b)
        cases = []
        for c in CIPHERS:
            if c in peers.SSHBPP_AEAD:
                cases.append(("cipher.%s" % c, probe_ok, sshbpp, a, ["-c", c] + TRAFFIC, c,
                              None, None, None, peers.rekeys_at_least(2)))
                continue
            for m in MACS:
                cases.append(("cipher+mac.%s.%s" % (c, m), probe_ok, sshbpp, a,
                              ["-c", c, "-m", m] + TRAFFIC, c, m, None, None,
                              peers.rekeys_at_least(2)))
        for k in KEX:
            for server, hostkeys in ((a, HOSTKEYS_A), (b, HOSTKEYS_B)):
                for h in hostkeys:
                    cases.append(("kex+hostkey.%s.%s" % (k, h), probe_ok, sshbpp, server,
                                  ["--kex", k, "--hostkey-algorithms", h], None, None, k, h))

        def comp_check(data):
            peers.check(data["compression_c2s"] == "zlib@openssh.com" and
                        data["compression_s2c"] == "zlib@openssh.com",
                        "compression %r/%r, wanted zlib@openssh.com"
                        % (data["compression_c2s"], data["compression_s2c"]))
        cases.append(("compression.zlib@openssh.com", probe_ok, sshbpp, a,
                      ["--compression"] + TRAFFIC, None, None, None, None, comp_check))
        cases.append(("traffic.16MiB_rekey_256KiB", probe_ok, sshbpp, a,
                      ["--ignore-bytes", "16777216", "--rekey-bytes", "262144"], None, None,
                      None, None, peers.rekeys_at_least(64)))
        runner.parallel(cases, workers=2)
    finally:
        for s in servers:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
