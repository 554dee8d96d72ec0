#!/usr/bin/python3
"""diffie-hellman-group-exchange-sha256 (RFC 4419) against Debian 12's
OpenSSH in both roles, and a scripted server's bad groups refused.

  probe.sshd                   probe --kex GEX against sshd (its
                               /etc/ssh/moduli groups)
  probe.sshd.auth_rekeys       authenticated, 1 MiB with a rekey every
                               128 KiB: every rekey a new group exchange
  ssh_vs_serve.system_moduli   ssh -o KexAlgorithms=GEX against serve
                               (default: /etc/ssh/moduli); ssh -v shows the
                               algorithm and its GEX_REQUEST/GROUP steps
  ssh_vs_serve.moduli_file     serve --moduli FILE holding one 2048-bit
                               group (the only one it can choose)
  ssh_vs_serve.rfc_file        serve --moduli with RFC 3526's 2048 and 3072
                               groups (from libcrypto) and a 1024-bit line,
                               which must be skipped
  serve.bad_moduli_refused     serve --moduli on a file with no usable group
                               exits at start with one error line
  scripted.group_1024          a scripted server answering with the 1024-bit
                               RFC 2409 group: the probe refuses it (one
                               error line naming the group exchange) and
                               sends no GEX_INIT
  scripted.group_9000_bits     a group above the requested maximum: refused
  scripted.generator_1         g = 1: refused
  scripted.group_2048_ok       control: the same server with RFC 3526's
                               2048-bit group gets the client's GEX_INIT (32)

Usage: test_gex.py PATH/TO/sshbpp
"""

import ctypes
import ctypes.util
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

SSH = "/usr/bin/ssh"
GEX = "diffie-hellman-group-exchange-sha256"


def libcrypto_prime(fn):
    """A well-known prime from libcrypto (BN_get_rfc2409_prime_1024, ...)."""
    name = ctypes.util.find_library("crypto")
    if name is None:
        raise peers.MissingTool("libcrypto not found for the RFC primes")
    lib = ctypes.CDLL(name)
    getter = getattr(lib, fn)
    getter.restype = ctypes.c_void_p
    getter.argtypes = [ctypes.c_void_p]
    lib.BN_bn2hex.restype = ctypes.c_void_p
    lib.BN_bn2hex.argtypes = [ctypes.c_void_p]
    lib.BN_free.argtypes = [ctypes.c_void_p]
    lib.CRYPTO_free.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    bn = getter(None)
    hexp = lib.BN_bn2hex(bn)
    value = int(ctypes.string_at(hexp).decode(), 16)
    lib.CRYPTO_free(hexp, b"test_gex.py", 0)
    lib.BN_free(bn)
    return value


def write_moduli(path, groups):
    with open(path, "w", encoding="ascii") as f:
        f.write("# Time Type Tests Tries Size Generator Modulus\n")
        for p, g in groups:
            f.write("20260101000000 2 6 100 %d %d %X\n" % (p.bit_length() - 1, g, p))


def ssh_argv(port, extra):
    return [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityFile=/nonexistent/key", "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10"] + list(extra) + ["-p", str(port), "x@127.0.0.1", "true"]


def ssh_vs_serve(serve, fp):
    r = peers.run(ssh_argv(serve.port, ["-o", "KexAlgorithms=" + GEX]), timeout=60)
    peers.check(r.rc == 255 and "Permission denied (publickey)." in r.err,
                "ssh did not reach auth\n" + r.describe(2500))
    m = re.search(r"debug1: kex: algorithm: (\S+)", r.err)
    peers.check(m is not None and m.group(1) == GEX, "kex %s" % (m and m.group(1)))
    req = re.search(r"SSH2_MSG_KEX_DH_GEX_REQUEST\((\d+)<(\d+)<(\d+)\) sent", r.err)
    peers.check(req is not None, "no GEX_REQUEST line in ssh -v\n" + r.describe(2500))
    grp = re.search(r"SSH2_MSG_KEX_DH_GEX_GROUP received", r.err)
    peers.check(grp is not None, "no GEX_GROUP line in ssh -v\n" + r.describe(2500))
    m3 = re.search(r"debug1: Server host key: (\S+) (SHA256:\S+)", r.err)
    peers.check(m3 is not None and m3.group(2) == fp,
                "host key %s, ssh-keygen -l says %s" % (m3 and m3.group(2), fp))
    return "request %s<%s<%s; %.2fs" % (req.group(1), req.group(2), req.group(3), r.elapsed)


def scripted(sshbpp, p, g, refused):
    import scripted_peer as sp  # pylint: disable=import-outside-toplevel
    srv = sp.ScriptedServer(gex_group=(p, g)).start()
    try:
        r, _ = peers.probe(sshbpp, srv.port, ["--kex", GEX, "--timeout", "20"], timeout=40)
    finally:
        srv.wait()
        srv.close()
    peers.check(srv.gex_request is not None, "the probe sent no GEX_REQUEST: %r" % srv.events)
    mn, n, mx = srv.gex_request
    peers.check(mn == 2048 and mx == 8192 and mn <= n <= mx,
                "request (%d, %d, %d), wanted 2048 <= n <= 8192" % (mn, n, mx))
    if refused:
        line = peers.check_probe_error(r)
        peers.check("group exchange" in line, "refused, but not for the group: " + line)
        peers.check(not any("sent 32" in e for e in srv.events),
                    "the probe answered the bad group with GEX_INIT: %r" % srv.events)
        return line[15:100]
    peers.check(any("sent 32" in e for e in srv.events),
                "the probe did not answer a good group with GEX_INIT: %r" % srv.events)
    return "GEX_INIT sent for the 2048-bit group"


def main():
    runner = peers.Runner("test_gex")
    started = []
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        p1024 = libcrypto_prime("BN_get_rfc2409_prime_1024")
        p2048 = libcrypto_prime("BN_get_rfc3526_prime_2048")
        p3072 = libcrypto_prime("BN_get_rfc3526_prime_3072")
        sshd = peers.Sshd("gex-sshd", kex=[GEX]).start()
        started.append(sshd)
        sshd_auth = peers.Sshd("gex-sshd-auth", kex=[GEX], client_key=True,
                               keys_from=sshd).start()
        started.append(sshd_auth)
        tmp = peers.temp_dir("gex-serve")
        pem = peers.pem_hostkeys(tmp)
        fp = {alg: peers.fingerprint(pem[stem] + ".pub")
              for alg, stem in peers.HOSTKEY_FILE.items()}
        one = os.path.join(tmp, "moduli-2048")
        write_moduli(one, [(p2048, 2)])
        rfc = os.path.join(tmp, "moduli-rfc")
        write_moduli(rfc, [(p2048, 2), (p3072, 2), (p1024, 2)])
        bad = os.path.join(tmp, "moduli-bad")
        write_moduli(bad, [(p1024, 2)])
        serve = peers.SshbppServe(sshbpp, [pem["ed25519"]], []).start()
        started.append(serve)
        serve_one = peers.SshbppServe(sshbpp, [pem["ed25519"]], ["-v", "--moduli", one],
                                      tag="gex-serve-one").start()
        started.append(serve_one)
        serve_rfc = peers.SshbppServe(sshbpp, [pem["ed25519"]], ["--moduli", rfc],
                                      tag="gex-serve-rfc").start()
        started.append(serve_rfc)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in started:
            s.stop()
        return runner.finish()

    def bad_moduli():
        r = peers.run([sshbpp, "serve", "-p", "0", "--moduli", bad], timeout=20)
        peers.check(r.rc == 1, "serve with an unusable moduli file exited %s\n%s"
                    % (r.rc, r.describe()))
        lines = [l for l in r.err.splitlines() if l.startswith("sshbpp: error: ")]
        peers.check(len(lines) == 1 and "moduli" in lines[0], "error lines %r" % lines)
        return lines[0]

    try:
        runner.case("probe.sshd", peers.probe_expect, sshbpp, sshd, ["--kex", GEX], kex=GEX)
        runner.case("probe.sshd.auth_rekeys", peers.probe_expect, sshbpp, sshd_auth,
                    ["-i", sshd_auth.client_key, "-l", "root", "--kex", GEX,
                     "--ignore-bytes", "1M", "--rekey-bytes", "128K"],
                    kex=GEX, extra=peers.rekeys_at_least(6), timeout=180)
        runner.case("ssh_vs_serve.system_moduli", ssh_vs_serve, serve, fp["ssh-ed25519"])
        runner.case("ssh_vs_serve.moduli_file", ssh_vs_serve, serve_one, fp["ssh-ed25519"])
        runner.case("ssh_vs_serve.rfc_file", ssh_vs_serve, serve_rfc, fp["ssh-ed25519"])
        runner.case("serve.bad_moduli_refused", bad_moduli)
        runner.case("scripted.group_1024", scripted, sshbpp, p1024, 2, True)
        runner.case("scripted.group_9000_bits", scripted, sshbpp, (1 << 8999) | 1, 2, True)
        runner.case("scripted.generator_1", scripted, sshbpp, p2048, 1, True)
        runner.case("scripted.group_2048_ok", scripted, sshbpp, p2048, 2, False)
    finally:
        for s in started:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
