#!/usr/bin/python3
"""Real SSH clients against `sshbpp serve`: OpenSSH's ssh, Dropbear's
dbclient and a paramiko client (Debian 12 versions).

One `sshbpp serve -p 0` with five PKCS#8 host keys (ed25519, ECDSA
P-256/384/521, RSA 3072, from openssl genpkey) and every cipher, MAC, KEX
and host key algorithm sshbpp has enabled. Every client must complete the
key exchange and reach user authentication, where the server refuses with
"publickey" (which needs encrypted traffic in both directions):

  ssh.cipher.X / ssh.cipher+mac.X.Y   every cipher (AEAD alone, the others
                   with every MAC), "Permission denied (publickey)." and
                   exit 255; ssh -v must show the forced cipher/MAC both
                   ways and the host key fingerprint of `ssh-keygen -l`
  ssh.kex+hostkey.K.H                 every KEX x every host key algorithm
  dbclient.cipher(+mac)               dbclient's ciphers x MACs (it has
                   chacha20-poly1305, aes128/256-ctr, hmac-sha1/sha2-256):
                   "No auth methods could be used."; serve's log line must
                   name the forced algorithms
  paramiko.cipher+mac.X.Y             paramiko's 7 ciphers x 8 MACs, with
                   IGNORE traffic and a client-initiated rekey, then
                   auth_none -> BadAuthenticationType ['publickey']
  paramiko.kex+hostkey.K.H            paramiko's 6 KEX x 6 host keys, the
                   host key fingerprint must equal ssh-keygen -l's
  paramiko.compression.*              zlib (immediate) with and without a
                   rekey; zlib@openssh.com (delayed) negotiated

Usage: test_clients_vs_serve.py PATH/TO/sshbpp
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

SSH = "/usr/bin/ssh"
DB_CIPHERS = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"]
DB_MACS = ["hmac-sha1", "hmac-sha2-256"]


class Ctx:
    sshbpp = None
    serve = None
    keys = None     # {stem: pem}
    fp = None       # {hostkey alg: fingerprint}
    tmp = None
    paramiko = None


def serve_saw(ctx, *names, timeout=3.0):
    """serve logs one line per connection: some line must name all of `names`."""
    deadline = time.monotonic() + timeout
    while True:
        for line in ctx.serve.log().splitlines():
            if all(n in line for n in names):
                return line
        if time.monotonic() > deadline:
            raise peers.CaseFailure("no serve log line names %s; log tail:\n%s"
                                    % (names, ctx.serve.log()[-1500:]))
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# OpenSSH ssh

def ssh_case(ctx, cipher=None, mac=None, kex=None, hostkey=None, compression=False,
             port=None):
    argv = [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityFile=/nonexistent/key", "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=0"]
    if cipher:
        argv += ["-c", cipher]
    if mac:
        argv += ["-m", mac]
    if kex:
        argv += ["-o", "KexAlgorithms=" + kex]
    if hostkey:
        argv += ["-o", "HostKeyAlgorithms=" + hostkey]
    if compression:
        argv += ["-C"]
    argv += ["-p", str(port or ctx.serve.port), "x@127.0.0.1", "true"]
    r = peers.run(argv, timeout=40)
    peers.check(r.rc == 255 and "Permission denied (publickey)." in r.err,
                "ssh did not reach auth\n" + r.describe(2500))
    for d in ("server->client", "client->server"):
        m = re.search(r"debug1: kex: %s cipher: (\S+) MAC: (\S+) compression: (\S+)" % d, r.err)
        peers.check(m is not None, "no 'kex: %s cipher' line in ssh -v\n%s" % (d, r.describe()))
        if cipher:
            peers.check(m.group(1) == cipher, "%s cipher %s, forced %s" % (d, m.group(1), cipher))
            if cipher in peers.SSHBPP_AEAD:
                peers.check(m.group(2) == "<implicit>", "%s MAC %s with AEAD" % (d, m.group(2)))
        if mac:
            peers.check(m.group(2) == mac, "%s MAC %s, forced %s" % (d, m.group(2), mac))
        if compression:
            peers.check(m.group(3) == "zlib@openssh.com", "%s compression %s, wanted "
                        "zlib@openssh.com" % (d, m.group(3)))
    m = re.search(r"debug1: kex: algorithm: (\S+)", r.err)
    peers.check(m is not None and (kex is None or m.group(1) == kex),
                "kex %s, forced %s" % (m and m.group(1), kex))
    m = re.search(r"debug1: Server host key: (\S+) (SHA256:\S+)", r.err)
    peers.check(m is not None, "no 'Server host key' line\n" + r.describe())
    alg = {"ssh-rsa": "rsa-sha2-256"}.get(m.group(1), m.group(1))
    peers.check(m.group(2) == ctx.fp[alg], "ssh saw %s %s, ssh-keygen -l says %s"
                % (m.group(1), m.group(2), ctx.fp[alg]))
    m2 = re.search(r"debug1: kex: host key algorithm: (\S+)", r.err)
    peers.check(m2 is not None and (hostkey is None or m2.group(1) == hostkey),
                "host key algorithm %s, forced %s" % (m2 and m2.group(1), hostkey))
    return "%s %s/%s %s %.2fs" % (kex or "default", cipher or "default", mac or "-",
                                  m2.group(1), r.elapsed)


# ---------------------------------------------------------------------------
# Dropbear dbclient

def dbclient_case(ctx, cipher, mac=None):
    env = dict(os.environ, HOME=ctx.tmp)  # no ~/.ssh/id_dropbear, no known_hosts
    argv = [peers.DBCLIENT, "-y", "-y", "-T", "-p", str(ctx.serve.port), "-c", cipher]
    if mac:
        argv += ["-m", mac]
    argv += ["-i", os.path.join(ctx.tmp, "no-such-key"), "x@127.0.0.1", "true"]
    r = peers.run(argv, timeout=40, env=env)
    peers.check(r.rc is not None and r.rc != 0 and "No auth methods could be used" in r.err,
                "dbclient did not reach auth\n" + r.describe())
    line = serve_saw(ctx, "dropbear", "c2s=" + cipher + "/" + (mac or ""),
                     "s2c=" + cipher + "/" + (mac or ""))
    return line.split(" kex=")[-1][:110] if " kex=" in line else line[:110]


# ---------------------------------------------------------------------------
# paramiko client

def paramiko_session(ctx, ciphers=None, macs=None, kex=None, keys=None, compression=None,
                     ignores=0, rekeys=0):
    """Connects, optionally pushes IGNOREs and rekeys, then auth_none; returns
    (transport facts dict, allowed auth types)."""
    paramiko = ctx.paramiko
    sock = socket.create_connection(("127.0.0.1", ctx.serve.port), timeout=15)
    t = paramiko.Transport(sock)
    try:
        so = t.get_security_options()
        if ciphers:
            so.ciphers = ciphers
        if macs:
            so.digests = macs
        if kex:
            so.kex = kex
        if keys:
            so.key_types = keys
        if compression:
            so.compression = compression
        try:
            t.start_client(timeout=20)
        except Exception as exc:  # pylint: disable=broad-except
            raise peers.CaseFailure("paramiko handshake failed: %r%s" % (exc, serve_errors(ctx)))
        step = "traffic"
        try:
            for i in range(rekeys + 1):
                for _ in range(ignores):
                    t.send_ignore(4000)
                if i < rekeys:
                    step = "rekey %d of %d" % (i + 1, rekeys)
                    t.renegotiate_keys()
        except Exception as exc:  # pylint: disable=broad-except
            raise peers.CaseFailure("paramiko failed during %s: %r (transport: %r)%s"
                                    % (step, exc, t.saved_exception, serve_errors(ctx)))
        facts = {"cipher_out": t.local_cipher, "cipher_in": t.remote_cipher,
                 "mac_out": t.local_mac, "mac_in": t.remote_mac,
                 "comp_out": t.local_compression, "comp_in": t.remote_compression,
                 "hostkey": t.host_key_type, "key": t.get_remote_server_key()}
        try:
            t.auth_none("x")
        except paramiko.BadAuthenticationType as exc:
            return facts, list(exc.allowed_types)
        except Exception as exc:  # pylint: disable=broad-except
            raise peers.CaseFailure("paramiko auth_none failed: %r (transport: %r)%s"
                                    % (exc, t.saved_exception, serve_errors(ctx)))
        raise peers.CaseFailure("auth_none succeeded")
    finally:
        t.close()


def serve_errors(ctx):
    errs = [l for l in ctx.serve.log().splitlines() if "error" in l]
    return ("\nserve's latest errors:\n" + "\n".join(errs[-3:])) if errs else ""


def paramiko_fp(key):
    return peers.fingerprint_of_blob(key.asbytes())


def paramiko_cipher_case(ctx, cipher, mac):
    facts, allowed = paramiko_session(ctx, ciphers=(cipher,), macs=(mac,), ignores=16,
                                      rekeys=1)
    peers.check(facts["cipher_out"] == cipher and facts["cipher_in"] == cipher,
                "paramiko negotiated %s/%s" % (facts["cipher_out"], facts["cipher_in"]))
    peers.check(facts["mac_out"] == mac and facts["mac_in"] == mac,
                "paramiko negotiated MAC %s/%s" % (facts["mac_out"], facts["mac_in"]))
    peers.check(allowed == ["publickey"], "allowed auth types %r" % allowed)
    serve_saw(ctx, "paramiko", "c2s=%s/%s" % (cipher, mac), "s2c=%s/%s" % (cipher, mac))
    return "after 64 KiB IGNORE + 1 rekey: allowed %s" % allowed


def paramiko_kex_case(ctx, kex, hostkey):
    facts, allowed = paramiko_session(ctx, kex=(kex,), keys=(hostkey,))
    peers.check(facts["hostkey"] == hostkey, "host key type %s" % facts["hostkey"])
    fp = paramiko_fp(facts["key"])
    peers.check(fp == ctx.fp[hostkey], "paramiko saw %s, ssh-keygen -l says %s"
                % (fp, ctx.fp[hostkey]))
    peers.check(allowed == ["publickey"], "allowed auth types %r" % allowed)
    serve_saw(ctx, "paramiko", "kex=" + kex + " ", "hostkey=" + hostkey + " ")
    return "%s %s" % (hostkey, fp)


def paramiko_comp_case(ctx, name, rekeys):
    facts, allowed = paramiko_session(ctx, compression=(name,), ignores=32, rekeys=rekeys)
    peers.check(facts["comp_out"] == name and facts["comp_in"] == name,
                "compression %s/%s" % (facts["comp_out"], facts["comp_in"]))
    peers.check(allowed == ["publickey"], "allowed auth types %r" % allowed)
    return "%s, %d rekey(s)" % (name, rekeys)


# ---------------------------------------------------------------------------

def main():
    runner = peers.Runner("test_clients_vs_serve")
    ctx = Ctx()
    try:
        ctx.sshbpp = peers.sshbpp_binary(sys.argv)
        peers.need_tool(SSH)
        peers.need_tool(peers.DBCLIENT)
        peers.need_tool("/usr/bin/ssh-keygen")
        ctx.paramiko = peers.import_paramiko()
        ctx.tmp = peers.temp_dir("clients")
        ctx.keys = peers.pem_hostkeys(ctx.tmp)
        ctx.fp = {alg: peers.fingerprint(ctx.keys[stem] + ".pub")
                  for alg, stem in peers.HOSTKEY_FILE.items()}
        args = ["-c", ",".join(peers.SSHBPP_CIPHERS), "-m", ",".join(peers.SSHBPP_MACS),
                "--kex", ",".join(peers.SSHBPP_KEX),
                "--hostkey-algorithms", ",".join(peers.SSHBPP_HOSTKEYS),
                "--compression", "--login-grace", "60"]
        ctx.serve = peers.SshbppServe(ctx.sshbpp, [ctx.keys[s] for s in
                                                   ("ed25519", "ecdsa256", "ecdsa384",
                                                    "ecdsa521", "rsa")], args).start()
        print("sshbpp serve %s on 127.0.0.1:%d" % (ctx.serve.banner, ctx.serve.port), flush=True)
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        if ctx.serve:
            ctx.serve.stop()
        return runner.finish()

    try:
        ciphers = peers.ssh_supported(peers.SSHBPP_CIPHERS, "cipher")
        macs = peers.ssh_supported(peers.SSHBPP_MACS, "mac")
        kexes = peers.ssh_supported(peers.SSHBPP_KEX, "kex")
        cases = []
        for c in ciphers:
            if c in peers.SSHBPP_AEAD:
                cases.append(("ssh.cipher.%s" % c, ssh_case, ctx, c))
                continue
            for m in macs:
                cases.append(("ssh.cipher+mac.%s.%s" % (c, m), ssh_case, ctx, c, m))
        for k in kexes:
            for h in peers.SSHBPP_HOSTKEYS:
                cases.append(("ssh.kex+hostkey.%s.%s" % (k, h), ssh_case, ctx, None, None, k, h))
        for c in DB_CIPHERS:
            if c in peers.SSHBPP_AEAD:
                cases.append(("dbclient.cipher.%s" % c, dbclient_case, ctx, c))
                continue
            for m in DB_MACS:
                cases.append(("dbclient.cipher+mac.%s.%s" % (c, m), dbclient_case, ctx, c, m))
        cases.append(("ssh.compression.zlib@openssh.com", ssh_case, ctx, None, None, None,
                      None, True))
        runner.parallel(cases, workers=2)

        def serve_once():
            once = peers.SshbppServe(ctx.sshbpp, [ctx.keys["ed25519"]], ["--once"],
                                     tag="serve-once")
            once.start(check_banner=False)
            try:
                ssh_case(ctx, port=once.port)
                try:
                    rc = once.proc.wait(timeout=10)
                except Exception:  # pylint: disable=broad-except
                    raise peers.CaseFailure("serve --once still running after its connection")
                peers.check(rc == 0, "serve --once exited %s after a client that reached auth"
                            "\n%s" % (rc, once.log()[-1000:]))
                return "ssh reached auth, serve exited 0"
            finally:
                once.stop()
        runner.case("serve.once", serve_once)

        opts = ctx.paramiko.Transport.__dict__
        pciphers = [c for c in opts["_preferred_ciphers"] if c in peers.SSHBPP_CIPHERS]
        pmacs = [m for m in opts["_preferred_macs"] if m in peers.SSHBPP_MACS]
        pkex = [k for k in opts["_preferred_kex"] if k in peers.SSHBPP_KEX]
        pkeys = [h for h in opts["_preferred_keys"] if h in peers.SSHBPP_HOSTKEYS]
        cases = []
        for c in pciphers:
            for m in pmacs:
                cases.append(("paramiko.cipher+mac.%s.%s" % (c, m), paramiko_cipher_case,
                              ctx, c, m))
        for k in pkex:
            for h in pkeys:
                cases.append(("paramiko.kex+hostkey.%s.%s" % (k, h), paramiko_kex_case,
                              ctx, k, h))
        cases.append(("paramiko.compression.zlib", paramiko_comp_case, ctx, "zlib", 0))
        cases.append(("paramiko.compression.zlib@openssh.com", paramiko_comp_case, ctx,
                      "zlib@openssh.com", 1))
        cases.append(("paramiko.compression.zlib_across_rekeys", paramiko_comp_case, ctx,
                      "zlib", 2))
        runner.parallel(cases, workers=2)

        def still_serving():
            peers.check(ctx.serve.alive(), "sshbpp serve exited (rc %s)\n%s"
                        % (ctx.serve.proc.poll(), ctx.serve.log()[-2000:]))
            peers.wait_banner(ctx.serve.port, ctx.serve.proc, timeout=5)
            return "serve still accepting"
        runner.case("serve.still_alive", still_serving)
    finally:
        ctx.serve.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
