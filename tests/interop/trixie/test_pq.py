#!/usr/bin/python3
"""mlkem768x25519-sha256 against OpenSSH 10, inside the Debian 13 root.

Run by in-root.sh (scripts/trixie-root.sh run), so sshd, ssh, openssl and
the sshbpp binary are Debian 13's (OpenSSH 10.0, OpenSSL 3.5). Every peer is
started here on a free 127.0.0.1 port with keys in a temporary folder
(tests/interop/ssh/peers.py). Cases:

  query.default_first           `sshbpp -Q kex` lists the hybrid, and the
                                default KEXINIT list starts with it
  probe.sshd10.default          probe with no --kex against sshd 10 (which
                                offers the hybrid among others): the hybrid
                                is negotiated, host key fingerprint matches
  probe.sshd10.auth_rekeys      probe -i (authenticated) --kex hybrid, 4 MiB
                                of IGNORE with a rekey every 256 KiB: rekeys
                                >= 12, all under the hybrid
  probe.sshd10.sshd_rekeys      sshd with RekeyLimit 16K rekeys against an
                                authenticated probe sending 64 MiB: rekeys
                                >= 2 (sshd-initiated, under the hybrid)
  ssh10.vs_serve.default        trixie's ssh -v (default algorithms) against
                                sshbpp serve: "kex: algorithm:
                                mlkem768x25519-sha256", reaches publickey auth
  ssh10.vs_serve.forced         the same with -o KexAlgorithms=the hybrid
  probe.vs_serve.rekeys         sshbpp probe -> sshbpp serve, hybrid, 4 MiB
                                with a rekey every 256 KiB (both roles of our
                                code rekeying under ML-KEM)
  serve.refuses_without_pq      serve --kex curve25519-sha256 and ssh asking
                                only for the hybrid: no common method, ssh
                                says so (negative control for the cases above)

Usage: test_pq.py PATH/TO/sshbpp
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ssh"))
import peers  # noqa: E402

PQ = "mlkem768x25519-sha256"
SSH = "/usr/bin/ssh"


def ssh_argv(port, extra=()):
    return [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityFile=/nonexistent/key", "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10"] + list(extra) + \
        ["-p", str(port), "x@127.0.0.1", "true"]


def query_default_first(sshbpp):
    r = peers.run([sshbpp, "-Q", "kex"], timeout=30)
    peers.check(r.rc == 0, "sshbpp -Q kex failed\n" + r.describe())
    names = r.out.split()
    peers.check(PQ in names, "sshbpp -Q kex lacks %s: %r" % (PQ, names))
    peers.check(names[0] == PQ, "first -Q kex entry %r, wanted %s" % (names[0], PQ))
    return "%d methods, %s first" % (len(names), names[0])


def ssh_vs_serve(serve, fp, forced):
    extra = ["-o", "KexAlgorithms=" + PQ] if forced else []
    r = peers.run(ssh_argv(serve.port, extra), timeout=40)
    peers.check(r.rc == 255 and "Permission denied (publickey)." in r.err,
                "ssh did not reach auth\n" + r.describe(2500))
    m = re.search(r"debug1: kex: algorithm: (\S+)", r.err)
    peers.check(m is not None and m.group(1) == PQ,
                "ssh -v says kex %s, wanted %s\n%s" % (m and m.group(1), PQ, r.describe(2500)))
    m = re.search(r"debug1: Server host key: (\S+) (SHA256:\S+)", r.err)
    peers.check(m is not None and m.group(2) == fp,
                "host key %s, ssh-keygen -l says %s" % (m and m.group(2), fp))
    line = [l for l in r.err.splitlines() if "kex: algorithm:" in l][0]
    return "%s; %.2fs" % (line.strip(), r.elapsed)


def serve_refuses(serve_classic):
    r = peers.run(ssh_argv(serve_classic.port, ["-o", "KexAlgorithms=" + PQ]), timeout=40)
    peers.check(r.rc == 255 and "no matching key exchange method" in r.err,
                "ssh should find no common kex\n" + r.describe(2500))
    return "ssh: no matching key exchange method"


def main():
    runner = peers.Runner("test_pq")
    started = []
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        peers.check(PQ in peers.query_ssh("kex"),
                    "this ssh has no %s: not OpenSSH >= 9.9 (not the trixie root?)" % PQ)
        sshd = peers.Sshd("pq-sshd", kex=["sntrup761x25519-sha512@openssh.com", PQ,
                                          "curve25519-sha256"]).start()
        started.append(sshd)
        sshd_auth = peers.Sshd("pq-sshd-auth", kex=[PQ], client_key=True,
                               keys_from=sshd).start()
        started.append(sshd_auth)
        sshd_limit = peers.Sshd("pq-sshd-limit", kex=[PQ], client_key=True,
                                extra_config="RekeyLimit 16K", keys_from=sshd).start()
        started.append(sshd_limit)
        tmp = peers.temp_dir("pq-serve")
        pem = peers.pem_hostkeys(tmp)
        fp = {alg: peers.fingerprint(pem[stem] + ".pub")
              for alg, stem in peers.HOSTKEY_FILE.items()}
        serve = peers.SshbppServe(sshbpp, [pem["ed25519"]], ["--login-grace", "120"]).start()
        serve.fp = fp
        started.append(serve)
        serve_classic = peers.SshbppServe(sshbpp, [pem["ed25519"]],
                                          ["--kex", "curve25519-sha256"],
                                          tag="pq-serve-classic").start()
        started.append(serve_classic)
        print("sshd 10 :%d/:%d/:%d, serve :%d/:%d" % (
            sshd.port, sshd_auth.port, sshd_limit.port, serve.port, serve_classic.port),
            flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in started:
            s.stop()
        return runner.finish()

    try:
        runner.case("query.default_first", query_default_first, sshbpp)
        runner.case("probe.sshd10.default", peers.probe_expect, sshbpp, sshd, [], kex=PQ,
                    strict=True)
        auth = ["-i", sshd_auth.client_key, "-l", "root"]
        runner.case("probe.sshd10.auth_rekeys", peers.probe_expect, sshbpp, sshd_auth,
                    auth + ["--kex", PQ, "--ignore-bytes", "4M", "--rekey-bytes", "256K"],
                    kex=PQ, extra=peers.rekeys_at_least(12), timeout=120)
        runner.case("probe.sshd10.sshd_rekeys", peers.probe_expect, sshbpp, sshd_limit,
                    ["-i", sshd_limit.client_key, "-l", "root", "--ignore-bytes", "64M"],
                    kex=PQ, extra=peers.rekeys_at_least(2), timeout=120)
        runner.case("ssh10.vs_serve.default", ssh_vs_serve, serve, fp["ssh-ed25519"], False)
        runner.case("ssh10.vs_serve.forced", ssh_vs_serve, serve, fp["ssh-ed25519"], True)
        runner.case("probe.vs_serve.rekeys", peers.probe_expect, sshbpp, serve,
                    ["--kex", PQ, "--ignore-bytes", "4M", "--rekey-bytes", "256K"],
                    kex=PQ, extra=peers.rekeys_at_least(12), timeout=120)
        runner.case("serve.refuses_without_pq", serve_refuses, serve_classic)
    finally:
        for s in started:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
