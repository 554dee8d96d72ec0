#!/usr/bin/python3
"""`sshbpp probe` against OpenSSH's sshd (Debian 12: 9.2p1).

One sshd (root, -D -e, free loopback port, generated config and host keys:
ed25519, ECDSA P-256/384/521, RSA 3072) with every cipher, MAC, KEX and
host key algorithm that both sshd and sshbpp know enabled explicitly
(sshd's defaults leave out CBC, 3DES, MD5 and the -96 MACs). Cases:

  default         no forcing: strict KEX on, the server's lists in the JSON
                  equal sshd -T's, auth_methods == ["publickey"]
  cipher.X        every cipher (ssh -Q cipher ∩ sshbpp), AEAD ones alone
  cipher+mac.X.Y  every non-AEAD cipher x every MAC (ssh -Q mac ∩ sshbpp),
                  each with 256 KiB of IGNORE traffic before a final "none"
                  request that sshd must still answer
  kex+hostkey.K.H every KEX x every host key algorithm
  compression     --compression negotiates zlib@openssh.com
  mismatch        a cipher sshd does not enable: clean 'sshbpp: error:'
  auth_banner     a second sshd with a Banner file: the JSON's auth_banner
                  holds its text (control bytes other than CR/LF/tab '?')

Each successful case checks the negotiated names equal what was forced in
both directions, the host key fingerprint equals `ssh-keygen -l`'s for the
key of the negotiated type, and auth_methods contains "publickey".
Probes run two at a time against the one sshd.

Usage: test_probe_openssh.py PATH/TO/sshbpp
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


# Every cipher/MAC case also pushes 256 KiB of SSH_MSG_IGNORE before the
# final "none" request. No rekeys: sshd refuses KEXINIT before user
# authentication (see test_rekey.py), so rekeys are tested against the
# other peers.
TRAFFIC = ["--ignore-bytes", "262144"]


def probe_ok(sshbpp, sshd, args, cipher=None, mac=None, kex=None, hostkey=None, extra=None):
    return peers.probe_expect(sshbpp, sshd, args, cipher=cipher, mac=mac, kex=kex,
                              hostkey=hostkey, strict=True, extra=extra)


def check_default(sshd):
    cfg = sshd.effective_config()

    def extra(data):
        sa = data["server_algorithms"]
        want_c = cfg["ciphers"].split(",")
        want_m = cfg["macs"].split(",")
        want_k = cfg["kexalgorithms"].split(",")
        for d in ("client_to_server", "server_to_client"):
            peers.check(sa["encryption_algorithms_" + d] == want_c,
                        "encryption_algorithms_%s %r != sshd -T %r"
                        % (d, sa["encryption_algorithms_" + d], want_c))
            peers.check(sa["mac_algorithms_" + d] == want_m,
                        "mac_algorithms_%s %r != sshd -T %r" % (d, sa["mac_algorithms_" + d],
                                                                want_m))
            peers.check("none" in sa["compression_algorithms_" + d],
                        "compression_algorithms_%s %r" % (d, sa["compression_algorithms_" + d]))
            peers.check(sa["languages_" + d] == [], "languages_%s %r" % (d, sa["languages_" + d]))
        real = [k for k in sa["kex_algorithms"] if k not in peers.PSEUDO_KEX]
        peers.check(real == want_k, "kex_algorithms %r != sshd -T %r" % (real, want_k))
        peers.check("kex-strict-s-v00@openssh.com" in sa["kex_algorithms"],
                    "sshd did not offer strict KEX: %r" % sa["kex_algorithms"])
        hk = sa["server_host_key_algorithms"]
        peers.check(set(hk) == set(peers.SSHBPP_HOSTKEYS),
                    "server_host_key_algorithms %r, configured %r" % (hk, peers.SSHBPP_HOSTKEYS))
        peers.check(data["auth_methods"] == ["publickey"],
                    "auth_methods %r, wanted exactly ['publickey'] (password and "
                    "keyboard-interactive are off)" % data["auth_methods"])
        peers.check(data["rekeys"] == 0, "rekeys %r without traffic" % data["rekeys"])
    return extra


def main():
    runner = peers.Runner("test_probe_openssh")
    sshd = None
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        ciphers = peers.ssh_supported(peers.SSHBPP_CIPHERS, "cipher")
        macs = peers.ssh_supported(peers.SSHBPP_MACS, "mac")
        kexes = peers.ssh_supported(peers.SSHBPP_KEX, "kex")
        keytypes = peers.query_ssh("key")
        hostkeys = [h for h in peers.SSHBPP_HOSTKEYS
                    if h in keytypes or (h.startswith("rsa-sha2") and "ssh-rsa" in keytypes)]
        # sshd must offer everything sshbpp has (Debian 12's OpenSSH does);
        # a shrinking intersection would silently drop coverage.
        lost = [a for a in peers.SSHBPP_CIPHERS + peers.SSHBPP_MACS + peers.SSHBPP_KEX +
                peers.SSHBPP_HOSTKEYS if a not in ciphers + macs + kexes + hostkeys]
        if lost:
            raise peers.CaseFailure("this OpenSSH lacks %s" % lost)
        sshd = peers.Sshd("probe-openssh", ciphers=ciphers, macs=macs, kex=kexes,
                          hostkey_algorithms=hostkeys).start()
        print("sshd %s on 127.0.0.1:%d" % (sshd.banner, sshd.port), flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        if sshd:
            sshd.stop()
        return runner.finish()

    try:
        runner.case("default", probe_ok, sshbpp, sshd, [], extra=check_default(sshd))
        cases = []
        for c in ciphers:
            if c in peers.SSHBPP_AEAD:
                cases.append(("cipher.%s" % c, probe_ok, sshbpp, sshd, ["-c", c] + TRAFFIC, c))
        for c in ciphers:
            if c in peers.SSHBPP_AEAD:
                continue
            for m in macs:
                cases.append(("cipher+mac.%s.%s" % (c, m), probe_ok, sshbpp, sshd,
                              ["-c", c, "-m", m] + TRAFFIC, c, m))
        for k in kexes:
            for h in hostkeys:
                cases.append(("kex+hostkey.%s.%s" % (k, h), probe_ok, sshbpp, sshd,
                              ["--kex", k, "--hostkey-algorithms", h], None, None, k, h))

        def comp_check(data):
            peers.check(data["compression_c2s"] == "zlib@openssh.com" and
                        data["compression_s2c"] == "zlib@openssh.com",
                        "compression %r/%r, wanted zlib@openssh.com"
                        % (data["compression_c2s"], data["compression_s2c"]))
        cases.append(("compression.zlib@openssh.com", probe_ok, sshbpp, sshd,
                      ["--compression"], None, None, None, None, comp_check))
        runner.parallel(cases, workers=2)

        def mismatch():
            # A second sshd that enables only aes256-ctr: asking for a cipher
            # it lacks must fail cleanly.
            small = peers.Sshd("probe-openssh-small", ciphers=["aes256-ctr"],
                               macs=["hmac-sha2-256"], kex=kexes,
                               hostkey_algorithms=hostkeys, keys_from=sshd).start()
            try:
                r, _ = peers.probe(sshbpp, small.port, ["-c", "aes128-cbc", "--timeout", "20"],
                                   json_out=False)
            finally:
                small.stop()
            line = peers.check_probe_error(r)
            peers.check("no algorithm in common" in line.lower() or "cipher" in line.lower()
                        or "match" in line.lower(),
                        "error does not say what did not match: %r" % line)
            return line
        runner.case("mismatch.cipher_not_enabled", mismatch)

        def auth_banner():
            # sshd's Banner file reaches the JSON's auth_banner (the conn
            # keeps the first USERAUTH_BANNER), CR LF and all, with the
            # escape byte made '?'.
            path = os.path.join(peers.temp_dir("probe-openssh-banner"), "banner")
            with open(path, "wb") as f:
                f.write(b"Authorised use only.\r\n\x1b[1mno escapes\x1b[0m\r\n")
            bsshd = peers.Sshd("probe-openssh-banner", extra_config="Banner " + path,
                               kex=kexes, hostkey_algorithms=hostkeys, keys_from=sshd).start()
            try:
                r, data = peers.probe(sshbpp, bsshd.port, ["--timeout", "20"])
            finally:
                bsshd.stop()
            want = "Authorised use only.\r\n?[1mno escapes?[0m\r\n"
            peers.check(r.rc == 0 and data is not None and data["auth_banner"] == want,
                        "auth_banner %r, wanted %r\n%s"
                        % (data and data.get("auth_banner"), want, r.describe()))
            return "auth_banner %r" % data["auth_banner"]
        runner.case("auth_banner", auth_banner)
        log = sshd.log()
        if "fatal" in log.lower():
            print("note: sshd log has fatal lines:\n" +
                  "\n".join(l for l in log.splitlines() if "fatal" in l.lower())[-3000:])
    finally:
        sshd.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
