#!/usr/bin/python3
"""Legacy algorithms only on request, and the newer group18, against Debian
12's OpenSSH (both directions).

sshbpp never offers diffie-hellman-group1-sha1, diffie-hellman-group14-sha1
or ssh-rsa (SHA-1) signatures by default; with OpenSSH's list syntax
(-o KexAlgorithms=+..., -o HostKeyAlgorithms=+...) it does. Each sshd here
offers only the legacy algorithm under test, so a default probe must fail
(the proof that it is not offered) and an asking probe must negotiate it.

  default.refuses.K                 sshd offering only K (group1-sha1,
                                    group14-sha1): default probe fails with
                                    one error line (no common method)
  asked.K                           probe -o KexAlgorithms=+K: negotiated
  default.refuses.ssh-rsa           sshd with HostKeyAlgorithms ssh-rsa only
  asked.ssh-rsa                     probe -o HostKeyAlgorithms=+ssh-rsa: the
                                    SHA-1 signature verifies, fingerprint ok
  asked.group1+ssh-rsa.caret        both, with ^ (put first) instead of +
  ssh_vs_serve.K                    ssh -o KexAlgorithms=K against serve -o
                                    KexAlgorithms=+K (group1-sha1,
                                    group14-sha1): ssh -v names K
  ssh_vs_serve.ssh-rsa              ssh -o HostKeyAlgorithms=ssh-rsa against
                                    serve -o HostKeyAlgorithms=+ssh-rsa
  ssh_vs_serve.default_refuses      ssh asking only group1-sha1 against a
                                    default serve: no matching method
  group18.probe                     probe --kex diffie-hellman-group18-sha512
                                    against sshd
  group18.ssh_vs_serve              ssh -o KexAlgorithms=group18 against serve
  query.lists                       `sshbpp -Q kex` lists the legacy methods,
                                    `-Q kex-default` does not; the hybrid
                                    mlkem768x25519-sha256 is in both (first)
                                    exactly when `openssl version` is >= 3.5,
                                    and asking for it otherwise is a usage
                                    error naming what is missing

Usage: test_legacy.py PATH/TO/sshbpp
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

SSH = "/usr/bin/ssh"
G1 = "diffie-hellman-group1-sha1"
G14_1 = "diffie-hellman-group14-sha1"
G18 = "diffie-hellman-group18-sha512"


def ssh_argv(port, extra):
    return [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityFile=/nonexistent/key", "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10"] + list(extra) + ["-p", str(port), "x@127.0.0.1", "true"]


def refused(sshbpp, server, args=()):
    r, _ = peers.probe(sshbpp, server.port, list(args) + ["--timeout", "20"], timeout=30)
    line = peers.check_probe_error(r)
    peers.check("no algorithm in common" in line or "ENOMATCH" in line or "match" in line,
                "probe failed, but not for want of a common algorithm: " + line)
    return line[:100]


def ssh_vs_serve(serve, fp, extra, kex=None, hostkey=None):
    r = peers.run(ssh_argv(serve.port, extra), timeout=40)
    peers.check(r.rc == 255 and "Permission denied (publickey)." in r.err,
                "ssh did not reach auth\n" + r.describe(2500))
    m = re.search(r"debug1: kex: algorithm: (\S+)", r.err)
    peers.check(m is not None and (kex is None or m.group(1) == kex),
                "kex %s, wanted %s" % (m and m.group(1), kex))
    m2 = re.search(r"debug1: kex: host key algorithm: (\S+)", r.err)
    peers.check(m2 is not None and (hostkey is None or m2.group(1) == hostkey),
                "host key algorithm %s, wanted %s" % (m2 and m2.group(1), hostkey))
    m3 = re.search(r"debug1: Server host key: (\S+) (SHA256:\S+)", r.err)
    peers.check(m3 is not None and m3.group(2) == fp,
                "host key %s, ssh-keygen -l says %s" % (m3 and m3.group(2), fp))
    return "%s %s %.2fs" % (m.group(1), m2.group(1), r.elapsed)


def ssh_refused(serve, extra):
    r = peers.run(ssh_argv(serve.port, extra), timeout=40)
    peers.check(r.rc == 255 and "no matching key exchange method" in r.err,
                "ssh should find no common kex\n" + r.describe(2500))
    return "ssh: no matching key exchange method"


def query_lists(sshbpp):
    def q(what):
        r = peers.run([sshbpp, "-Q", what], timeout=30)
        peers.check(r.rc == 0, "sshbpp -Q %s failed\n%s" % (what, r.describe()))
        return r.out.split()
    sup, dflt = q("kex"), q("kex-default")
    for k in (G1, G14_1):
        peers.check(k in sup and k not in dflt, "%s: -Q kex %r, -Q kex-default %r" % (k, sup, dflt))
    peers.check("ssh-rsa" in q("key") and "ssh-rsa" not in q("key-default"), "ssh-rsa listing")
    ver = peers.run([peers.need_tool("/usr/bin/openssl"), "version"], timeout=30)
    m = re.match(r"OpenSSL (\d+)\.(\d+)", ver.out)
    peers.check(m is not None, "openssl version: %r" % ver.out)
    pq = (int(m.group(1)), int(m.group(2))) >= (3, 5)
    name = "mlkem768x25519-sha256"
    peers.check((name in sup) == pq and (name in dflt) == pq,
                "%s in -Q kex: %s, OpenSSL >= 3.5: %s" % (name, name in sup, pq))
    if pq:
        peers.check(sup[0] == name and dflt[0] == name, "%s not first" % name)
        return "%s first (%s)" % (name, ver.out.strip()[:20])
    r = peers.run([sshbpp, "probe", "--kex", name, "-p", "1", "127.0.0.1"], timeout=30)
    peers.check(r.rc == 2 and "OpenSSL >= 3.5" in r.err,
                "asking for %s without ML-KEM:\n%s" % (name, r.describe()))
    return "absent (%s); asking: %s" % (ver.out.strip()[:20], r.err.strip()[:60])


def main():
    runner = peers.Runner("test_legacy")
    started = []
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        base = peers.Sshd("legacy-base").start()
        started.append(base)
        base.fp["ssh-rsa"] = base.fp["rsa-sha2-256"]
        sshd = {}
        for k in (G1, G14_1):
            sshd[k] = peers.Sshd("legacy-" + k, kex=[k], keys_from=base).start()
            started.append(sshd[k])
        sshd_rsa = peers.Sshd("legacy-ssh-rsa", hostkey_algorithms=["ssh-rsa"],
                              keys_from=base).start()
        started.append(sshd_rsa)
        sshd_both = peers.Sshd("legacy-both", kex=[G1], hostkey_algorithms=["ssh-rsa"],
                               keys_from=base).start()
        started.append(sshd_both)
        sshd18 = peers.Sshd("legacy-g18", kex=[G18], keys_from=base).start()
        started.append(sshd18)
        tmp = peers.temp_dir("legacy-serve")
        pem = peers.pem_hostkeys(tmp)
        fp = {alg: peers.fingerprint(pem[stem] + ".pub")
              for alg, stem in peers.HOSTKEY_FILE.items()}
        fp["ssh-rsa"] = fp["rsa-sha2-256"]
        serve = peers.SshbppServe(sshbpp, [pem["ed25519"], pem["rsa"]],
                                  ["-o", "KexAlgorithms=+%s,%s" % (G1, G14_1),
                                   "-o", "HostKeyAlgorithms=+ssh-rsa"]).start()
        started.append(serve)
        serve_default = peers.SshbppServe(sshbpp, [pem["ed25519"], pem["rsa"]], [],
                                          tag="legacy-serve-default").start()
        started.append(serve_default)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        for s in started:
            s.stop()
        return runner.finish()

    try:
        for k in (G1, G14_1):
            runner.case("default.refuses." + k, refused, sshbpp, sshd[k])
            runner.case("asked." + k, peers.probe_expect, sshbpp, sshd[k],
                        ["-o", "KexAlgorithms=+" + k], kex=k)
        runner.case("default.refuses.ssh-rsa", refused, sshbpp, sshd_rsa)
        runner.case("asked.ssh-rsa", peers.probe_expect, sshbpp, sshd_rsa,
                    ["-o", "HostKeyAlgorithms=+ssh-rsa"], hostkey="ssh-rsa")
        runner.case("asked.group1+ssh-rsa.caret", peers.probe_expect, sshbpp, sshd_both,
                    ["-o", "KexAlgorithms=^" + G1, "-o", "HostKeyAlgorithms=^ssh-rsa"],
                    kex=G1, hostkey="ssh-rsa")
        for k in (G1, G14_1):
            runner.case("ssh_vs_serve." + k, ssh_vs_serve, serve, fp["ssh-ed25519"],
                        ["-o", "KexAlgorithms=" + k], kex=k)
        runner.case("ssh_vs_serve.ssh-rsa", ssh_vs_serve, serve, fp["ssh-rsa"],
                    ["-o", "HostKeyAlgorithms=ssh-rsa"], hostkey="ssh-rsa")
        runner.case("ssh_vs_serve.default_refuses", ssh_refused, serve_default,
                    ["-o", "KexAlgorithms=" + G1])
        runner.case("query.lists", query_lists, sshbpp)
        runner.case("group18.probe", peers.probe_expect, sshbpp, sshd18, ["--kex", G18], kex=G18)
        runner.case("group18.ssh_vs_serve", ssh_vs_serve, serve_default, fp["ssh-ed25519"],
                    ["-o", "KexAlgorithms=" + G18], kex=G18)
    finally:
        for s in started:
            s.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
