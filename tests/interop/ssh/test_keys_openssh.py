#!/usr/bin/python3
"""Keys and trust against OpenSSH's own tools (Debian 12: ssh-keygen, sshd,
ssh, ssh-keyscan, ssh-agent, ssh-add) and python3-cryptography.

Cases:
  keygen.<type>.<format>        every key type x format ssh-keygen writes
                                (OpenSSH default, -m PEM, -m PKCS8, and PEM /
                                PKCS8 with a passphrase): `sshbpp key -y`,
                                `-l`, `-l -E md5` equal ssh-keygen's output
                                byte for byte (with and without the .pub
                                beside the key)
  auth.<type>.<format>          probe -i KEY -l root authenticates to sshd
  genpkey.<type>                `openssl genpkey` keys load; their SHA256 /
                                MD5 fingerprints equal python3-cryptography's
  encrypted_openssh.error       a passphrase-protected OpenSSH key: the clear
                                error naming ssh-agent and ssh-keygen -p -m PEM
  agent.identity / agent.any    the same key ssh-add'ed (SSH_ASKPASS) to a real
  agent.rsa                     ssh-agent: probe -i KEY and probe without -i
                                authenticate through it (RSA: rsa-sha2 flags)
  agent.gone                    SSH_AUTH_SOCK names a dead socket: clear error
  known_hosts.ssh_hashed /      ssh -o UserKnownHostsFile=F -o
  known_hosts.ssh_plain         StrictHostKeyChecking=accept-new (HashKnownHosts
                                yes / no) writes F; probe -o
                                StrictHostKeyChecking=yes reads it: match
  known_hosts.keyscan           ssh-keyscan's output ([127.0.0.1]:port) matches
  known_hosts.changed           a different ed25519 key for the host: refused,
                                OpenSSH's warning naming file and line; refused
                                before our NEWKEYS (-vvv packet log)
  known_hosts.revoked           @revoked line with the server's key: refused
  known_hosts.unknown_yes       empty file, StrictHostKeyChecking=yes: refused
  known_hosts.accept_new.<h>    probe appends (hashed / plain); OpenSSH's ssh
                                with StrictHostKeyChecking=yes then accepts it
  serve.fingerprint             serve --hostkey (OpenSSH format) prints the line
                                ssh-keygen -l prints
  serve.ssh_login.<case>        OpenSSH's ssh -i (ed25519, OpenSSH format) logs in
                                to serve --authorized-keys: accepted for a plain
                                line and from="127.0.0.1"; refused for another
                                key, from="10.0.0.0/8", a past expiry-time= and
                                a line with an unknown option
  serve.probe_login             probe -i against serve --authorized-keys
  serve.ssh_rsa.<case>          OpenSSH's ssh -o PubkeyAcceptedAlgorithms=ssh-rsa
                                (a SHA-1 signature) with an RSA key: refused by
                                serve by default, accepted by serve -o
                                PubkeyAcceptedAlgorithms=+ssh-rsa

Usage: test_keys_openssh.py PATH/TO/sshbpp
"""

import base64
import hashlib
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

KEYGEN = "/usr/bin/ssh-keygen"
SSH = "/usr/bin/ssh"
PASS = "correct horse"

TYPES = [("ed25519", "ed25519", None), ("ecdsa256", "ecdsa", 256), ("ecdsa384", "ecdsa", 384),
         ("ecdsa521", "ecdsa", 521), ("rsa", "rsa", 3072)]
# (label, ssh-keygen -m argument or None, passphrase or None)
FORMATS = [("openssh", None, None), ("pem", "PEM", None), ("pkcs8", "PKCS8", None),
           ("pem_pass", "PEM", PASS), ("pkcs8_pass", "PKCS8", PASS)]


def keygen(directory, stem, ktype, bits, fmt, pw):
    path = os.path.join(directory, stem)
    argv = [KEYGEN, "-q", "-t", ktype, "-N", pw or "", "-C", "test key " + stem, "-f", path]
    if bits:
        argv += ["-b", str(bits)]
    if fmt:
        argv += ["-m", fmt]
    r = peers.run(argv, timeout=60)
    if r.rc != 0:
        raise peers.CaseFailure("ssh-keygen failed\n" + r.describe())
    return path


def same_output(mine, theirs, what):
    peers.check(mine.rc == 0, "%s: sshbpp failed\n%s" % (what, mine.describe()))
    peers.check(theirs.rc == 0, "%s: ssh-keygen failed\n%s" % (what, theirs.describe()))
    peers.check(mine.out == theirs.out, "%s differs:\n  sshbpp:     %r\n  ssh-keygen: %r"
                % (what, mine.out, theirs.out))


def case_keygen(sshbpp, path, pw, passfile):
    extra = ["--passphrase-file", passfile] if pw else []
    pwarg = ["-P", pw] if pw else []
    for pub_there in (True, False):
        if not pub_there:
            os.rename(path + ".pub", path + ".pub.away")
        try:
            same_output(peers.run([sshbpp, "key", "-y"] + extra + [path]),
                        peers.run([KEYGEN, "-y"] + pwarg + ["-f", path]), "-y")
            if pw and not pub_there:
                continue  # ssh-keygen -l cannot read an encrypted PEM key alone
            for e in ("sha256", "md5"):
                same_output(peers.run([sshbpp, "key", "-l", "-E", e] + extra + [path]),
                            peers.run([KEYGEN, "-l", "-E", e, "-f", path]),
                            "-l -E %s (.pub %s)" % (e, "present" if pub_there else "absent"))
        finally:
            if not pub_there:
                os.rename(path + ".pub.away", path + ".pub")
    if pw:
        r = peers.run([sshbpp, "key", "-y", path], timeout=30)
        peers.check(r.rc != 0 and "SSHBPP_EKEYPASSPHRASE" in r.err,
                    "no passphrase: expected SSHBPP_EKEYPASSPHRASE\n" + r.describe())
        bad = path + ".badpass"
        with open(bad, "w", encoding="ascii") as f:
            f.write("wrong\n")
        r = peers.run([sshbpp, "key", "-y", "--passphrase-file", bad, path], timeout=30)
        peers.check(r.rc != 0 and "SSHBPP_EKEYBADPASS" in r.err,
                    "wrong passphrase: expected SSHBPP_EKEYBADPASS\n" + r.describe())


def case_auth(sshbpp, sshd, path, pw, passfile):
    args = ["-i", path, "-l", "root"] + (["--passphrase-file", passfile] if pw else [])
    r, data = peers.probe(sshbpp, sshd.port, args, timeout=60)
    peers.check_probe_json(r, data)
    peers.check(data["authenticated"] and data["auth_method"] == "publickey",
                "not authenticated: %r\n%s" % (data, r.describe()))


def py_fingerprints(pem_path):
    """SHA256 and MD5 fingerprints by python3-cryptography, independently of us."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    with open(pem_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    sha = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    md5 = "MD5:" + ":".join("%02x" % b for b in hashlib.md5(blob).digest())
    return line.decode(), sha, md5


def case_genpkey(sshbpp, directory, label, algo_args):
    path = os.path.join(directory, "genpkey_%s.pem" % label)
    r = peers.run(["openssl", "genpkey"] + algo_args + ["-out", path], timeout=120)
    peers.check(r.rc == 0, "openssl genpkey failed\n" + r.describe())
    line, sha, md5 = py_fingerprints(path)
    y = peers.run([sshbpp, "key", "-y", path], timeout=30)
    peers.check(y.rc == 0 and y.out.strip() == line,
                "-y: %r, python-cryptography: %r\n%s" % (y.out, line, y.describe()))
    for e, want in (("sha256", sha), ("md5", md5)):
        r = peers.run([sshbpp, "key", "-l", "-E", e, path], timeout=30)
        fields = r.out.split()
        peers.check(r.rc == 0 and len(fields) >= 2 and fields[1] == want,
                    "-l -E %s: %r, python-cryptography: %s" % (e, r.out, want))


def case_encrypted_openssh(sshbpp, sshd, path):
    env_no_agent = dict(os.environ)
    env_no_agent.pop("SSH_AUTH_SOCK", None)
    r = peers.run([sshbpp, "key", "-y", path], timeout=30, env=env_no_agent)
    peers.check(r.rc != 0 and "SSHBPP_EKEYBCRYPT" in r.err and "ssh-agent" in r.err and
                "ssh-keygen -p -m PEM" in r.err, "key -y: expected the bcrypt error\n" +
                r.describe())
    argv = [sshbpp, "probe", "--json", "-i", path, "-l", "root", "-p", str(sshd.port), "127.0.0.1"]
    r = peers.run(argv, timeout=60, env=env_no_agent)
    peers.check(r.rc == 1 and "ssh-agent" in r.err and "ssh-keygen -p -m PEM" in r.err,
                "probe -i: expected the bcrypt error naming the ways out\n" + r.describe())


class Agent:
    def __init__(self, directory):
        self.dir = directory
        self.sock = os.path.join(directory, "agent.sock")
        self.proc = peers.spawn(["/usr/bin/ssh-agent", "-D", "-a", self.sock],
                                stdout=open(os.devnull, "wb"), stderr=open(os.devnull, "wb"))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise peers.CaseFailure("ssh-agent did not start")
            time.sleep(0.05)

    def env(self):
        e = dict(os.environ)
        e["SSH_AUTH_SOCK"] = self.sock
        return e

    def add(self, key, pw):
        """ssh-add with the passphrase fed by an SSH_ASKPASS script."""
        askpass = os.path.join(self.dir, "askpass.sh")
        with open(askpass, "w", encoding="ascii") as f:
            f.write("#!/bin/sh\necho '%s'\n" % pw)
        os.chmod(askpass, 0o700)
        e = self.env()
        e.update({"SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"})
        r = peers.run(["/usr/bin/ssh-add", key], timeout=30, env=e)
        peers.check(r.rc == 0, "ssh-add failed\n" + r.describe())

    def stop(self):
        peers.kill_proc(self.proc)


def case_agent(sshbpp, sshd, agent, identity):
    argv = [sshbpp, "probe", "--json", "-l", "root", "-p", str(sshd.port), "127.0.0.1"]
    if identity:
        argv[2:2] = ["-i", identity]
    r = peers.run(argv, timeout=60, env=agent.env())
    data = json_of(r)
    peers.check(r.rc == 0 and data is not None and data["authenticated"] and
                data["auth_method"] == "publickey", "not authenticated through the agent\n" +
                r.describe())


def case_agent_gone(sshbpp, sshd, directory, pubkey):
    e = dict(os.environ)
    e["SSH_AUTH_SOCK"] = os.path.join(directory, "no-agent-here.sock")
    argv = [sshbpp, "probe", "-i", pubkey, "-l", "root", "-p", str(sshd.port), "127.0.0.1"]
    r = peers.run(argv, timeout=60, env=e)
    peers.check(r.rc == 1 and "agent" in r.err and r.err.count("sshbpp: error:") == 1,
                "expected one clear agent error\n" + r.describe())


def ssh_login(sshd, known_hosts, client_key, strict, hashed=None):
    argv = [SSH, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" +
            known_hosts, "-o", "GlobalKnownHostsFile=/dev/null", "-o",
            "StrictHostKeyChecking=" + strict, "-o", "IdentitiesOnly=yes", "-i", client_key,
            "-p", str(sshd.port), "-l", "root", "127.0.0.1", "true"]
    if hashed is not None:
        argv[3:3] = ["-o", "HashKnownHosts=" + ("yes" if hashed else "no")]
    return peers.run(argv, timeout=60)


def probe_kh(sshbpp, sshd, kh, strict, extra=()):
    argv = [sshbpp, "probe", "--json", "--known-hosts", kh, "-o",
            "StrictHostKeyChecking=" + strict] + list(extra) + ["-p", str(sshd.port), "127.0.0.1"]
    e = dict(os.environ)
    e.pop("SSH_AUTH_SOCK", None)
    return peers.run(argv, timeout=60, env=e)


def json_of(r):
    import json  # pylint: disable=import-outside-toplevel
    try:
        return json.loads(r.out)
    except ValueError:
        return None


def case_kh_ssh(sshbpp, sshd, directory, client_key, hashed):
    kh = os.path.join(directory, "kh_ssh_%s" % ("hashed" if hashed else "plain"))
    r = ssh_login(sshd, kh, client_key, "accept-new", hashed)
    peers.check(r.rc == 0, "ssh accept-new failed\n" + r.describe())
    with open(kh, encoding="ascii") as f:
        text = f.read()
    peers.check(text.startswith("|1|") == hashed, "ssh wrote %r" % text[:80])
    # The probe may pick another host key type than ssh did: offer ssh's.
    ktype = text.split()[1]
    alg = {"ssh-rsa": "rsa-sha2-512"}.get(ktype, ktype)
    r = probe_kh(sshbpp, sshd, kh, "yes", ["--hostkey-algorithms", alg])
    data = json_of(r)
    peers.check(r.rc == 0 and data and data["known_hosts"] == "match",
                "probe did not match ssh's known_hosts\n" + r.describe())
    return ktype


def case_kh_keyscan(sshbpp, sshd, directory):
    kh = os.path.join(directory, "kh_keyscan")
    r = peers.run(["/usr/bin/ssh-keyscan", "-p", str(sshd.port), "127.0.0.1"], timeout=60)
    peers.check(r.rc == 0 and r.out.strip(), "ssh-keyscan failed\n" + r.describe())
    with open(kh, "w", encoding="ascii") as f:
        f.write(r.out)
    peers.check(("[127.0.0.1]:%d " % sshd.port) in r.out, "no [host]:port in %r" % r.out[:200])
    for alg in ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256"):
        r = probe_kh(sshbpp, sshd, kh, "yes", ["--hostkey-algorithms", alg])
        data = json_of(r)
        peers.check(r.rc == 0 and data and data["known_hosts"] == "match",
                    "%s: keyscan line not matched\n%s" % (alg, r.describe()))


def server_ed25519_line(sshd):
    with open(sshd.keys["ed25519"] + ".pub", encoding="ascii") as f:
        return " ".join(f.read().split()[:2])


def case_kh_changed(sshbpp, sshd, directory):
    other = keygen(directory, "other_ed25519", "ed25519", None, None, None)
    with open(other + ".pub", encoding="ascii") as f:
        otherline = " ".join(f.read().split()[:2])
    kh = os.path.join(directory, "kh_changed")
    with open(kh, "w", encoding="ascii") as f:
        f.write("# a comment\nexample.org %s\n[127.0.0.1]:%d %s\n"
                % (server_ed25519_line(sshd), sshd.port, otherline))
    for strict in ("yes", "accept-new"):
        r = probe_kh(sshbpp, sshd, kh, strict, ["--hostkey-algorithms", "ssh-ed25519"])
        peers.check(r.rc == 1 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in r.err and
                    ("%s:3" % kh) in r.err and "SSHBPP_EHOSTKEYCHANGED" not in r.out,
                    "%s: changed key not refused with file:line\n%s" % (strict, r.describe()))
    # The check runs on the connection's host-key event: refused before our
    # NEWKEYS, so nothing goes out under keys agreed with that server (the
    # packet log at -vvv shows the server's NEWKEYS may come, ours never).
    r = probe_kh(sshbpp, sshd, kh, "yes", ["--hostkey-algorithms", "ssh-ed25519", "-vvv"])
    peers.check(r.rc == 1 and "Write packet <kexinit>" in r.err and
                "Write packet <newkeys>" not in r.err and "Write packet <disconnect>" in r.err,
                "changed key: NEWKEYS sent before the known_hosts check\n" + r.describe())
    r = probe_kh(sshbpp, sshd, kh, "no", ["--hostkey-algorithms", "ssh-ed25519"])
    data = json_of(r)
    peers.check(r.rc == 0 and data and data["known_hosts"] == "changed",
                "StrictHostKeyChecking=no: expected a reported change\n" + r.describe())


def case_kh_revoked(sshbpp, sshd, directory):
    kh = os.path.join(directory, "kh_revoked")
    with open(kh, "w", encoding="ascii") as f:
        f.write("[127.0.0.1]:%d %s\n@revoked * %s\n" % (sshd.port, server_ed25519_line(sshd),
                                                      server_ed25519_line(sshd)))
    for strict in ("yes", "no"):
        r = probe_kh(sshbpp, sshd, kh, strict, ["--hostkey-algorithms", "ssh-ed25519"])
        peers.check(r.rc == 1 and "REVOKED" in r.err and ("%s:2" % kh) in r.err,
                    "%s: revoked key not refused\n%s" % (strict, r.describe()))


def case_kh_unknown_yes(sshbpp, sshd, directory):
    kh = os.path.join(directory, "kh_empty")
    open(kh, "w", encoding="ascii").close()
    r = probe_kh(sshbpp, sshd, kh, "yes")
    peers.check(r.rc == 1 and "verification failed" in r.err, "unknown key passed\n" +
                r.describe())
    peers.check(os.path.getsize(kh) == 0, "StrictHostKeyChecking=yes wrote to the file")


def case_kh_accept_new(sshbpp, sshd, directory, client_key, hashed):
    kh = os.path.join(directory, "kh_accept_%s" % ("hashed" if hashed else "plain"))
    r = probe_kh(sshbpp, sshd, kh, "accept-new",
                 ["-o", "HashKnownHosts=" + ("yes" if hashed else "no")])
    data = json_of(r)
    peers.check(r.rc == 0 and data and data["known_hosts"] == "added", "not added\n" +
                r.describe())
    with open(kh, encoding="ascii") as f:
        text = f.read()
    peers.check(text.count("\n") == 1 and text.startswith("|1|") == hashed,
                "wrote %r" % text)
    if not hashed:
        peers.check(text.startswith("[127.0.0.1]:%d " % sshd.port), "wrote %r" % text)
    r = probe_kh(sshbpp, sshd, kh, "yes")
    data = json_of(r)
    peers.check(r.rc == 0 and data and data["known_hosts"] == "match", "re-read failed\n" +
                r.describe())
    r = ssh_login(sshd, kh, client_key, "yes")
    peers.check(r.rc == 0, "OpenSSH's ssh refused our line\n" + r.describe())
    with open(kh, encoding="ascii") as f:
        peers.check(f.read() == text, "ssh changed the file")


def case_serve_fingerprint(sshbpp, directory):
    key = keygen(directory, "serve_ed25519", "ed25519", None, None, None)
    want = peers.run([KEYGEN, "-l", "-f", key], timeout=30).out.strip()
    # ssh-keygen -l takes the .pub's comment; serve has only the key file,
    # whose (OpenSSH-format) comment is the same one here.
    with peers.SshbppServe(sshbpp, [key]) as srv:
        time.sleep(0.3)
        log = srv.log()
    peers.check(("sshbpp: host key %s: %s" % (key, want)) in log,
                "serve did not print %r\nlog:\n%s" % (want, log[-1500:]))


def case_serve_login(sshbpp, directory, client_key, other_key, ak_line, accepted):
    with open(client_key + ".pub", encoding="ascii") as f:
        pub = f.read().strip()
    ak = os.path.join(directory, "serve_ak_%d" % abs(hash(ak_line)))
    with open(ak, "w", encoding="ascii") as f:
        f.write(ak_line.replace("KEY", pub) + "\n")
    with peers.SshbppServe(sshbpp, [], ["--authorized-keys", ak]) as srv:
        for key in (client_key, other_key):
            argv = [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes", "-o",
                    "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                    "IdentitiesOnly=yes", "-i", key, "-p", str(srv.port), "me@127.0.0.1", "true"]
            r = peers.run(argv, timeout=60)
            ok = "Authenticated to 127.0.0.1" in r.err
            want = accepted and key == client_key
            peers.check(ok == want, "%s with %s: authenticated=%s, expected %s\n%s\nserve:\n%s"
                        % (ak_line[:40], os.path.basename(key), ok, want, r.describe(),
                           srv.log()[-1500:]))
            if not want:
                peers.check("Permission denied (publickey)" in r.err, "no refusal\n" +
                            r.describe())
        log = srv.log()
    peers.check(("accepted publickey" in log) == accepted, "serve log:\n" + log[-1500:])


def case_serve_ssh_rsa(sshbpp, directory, rsa_key, serve_args, accepted):
    ak = os.path.join(directory, "serve_ak_rsa")
    shutil.copy(rsa_key + ".pub", ak)
    with peers.SshbppServe(sshbpp, [], ["--authorized-keys", ak] + serve_args) as srv:
        argv = [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes", "-o",
                "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                "IdentitiesOnly=yes", "-o", "PubkeyAcceptedAlgorithms=ssh-rsa", "-i", rsa_key,
                "-p", str(srv.port), "me@127.0.0.1", "true"]
        r = peers.run(argv, timeout=60)
        log = srv.log()
    ok = "Authenticated to 127.0.0.1" in r.err
    peers.check(ok == accepted, "authenticated=%s, expected %s\n%s\nserve:\n%s"
                % (ok, accepted, r.describe(), log[-1500:]))
    if not accepted:
        peers.check("Permission denied (publickey)" in r.err, "no refusal\n" + r.describe())
    return "accepted" if ok else "refused"


def case_serve_probe(sshbpp, directory, client_key):
    ak = os.path.join(directory, "serve_ak_probe")
    shutil.copy(client_key + ".pub", ak)
    with peers.SshbppServe(sshbpp, [], ["--authorized-keys", ak]) as srv:
        r, data = peers.probe(sshbpp, srv.port, ["-i", client_key, "-l", "me"], timeout=60)
    peers.check_probe_json(r, data)
    peers.check(data["authenticated"] and data["auth_method"] == "publickey",
                "probe not authenticated by serve\n" + r.describe())


def main():
    sshbpp = peers.sshbpp_binary(sys.argv)
    runner = peers.Runner("keys_openssh")
    d = peers.temp_dir("keys")
    passfile = os.path.join(d, "passphrase")
    with open(passfile, "w", encoding="ascii") as f:
        f.write(PASS + "\n")
    keys = []
    try:
        for stem, ktype, bits in TYPES:
            for flabel, fmt, pw in FORMATS:
                # ssh-keygen writes ed25519 in OpenSSH format whatever -m
                # says, so a passphrase makes it a bcrypt key (tested below).
                if ktype == "ed25519" and pw:
                    continue
                label = "%s.%s" % (stem, flabel)
                keys.append((label, keygen(d, label, ktype, bits, fmt, pw), pw))
        client_key = next(p for l, p, pw in keys if l == "ed25519.openssh")
        enc = keygen(d, "enc_ed25519", "ed25519", None, None, PASS)
        enc_rsa = keygen(d, "enc_rsa", "rsa", 3072, None, PASS)
        sshd = peers.Sshd(tag="keys-sshd", client_key=True)
        with open(sshd.authorized_keys, "a", encoding="ascii") as ak:
            for _, path, _ in keys:
                with open(path + ".pub", encoding="ascii") as f:
                    ak.write(f.read())
            for path in (enc, enc_rsa):
                with open(path + ".pub", encoding="ascii") as f:
                    ak.write(f.read())
        sshd.start()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    agent = None
    try:
        for label, path, pw in keys:
            runner.case("keygen." + label, case_keygen, sshbpp, path, pw, passfile)
        for label, path, pw in keys:
            runner.case("auth." + label, case_auth, sshbpp, sshd, path, pw, passfile)
        for label, args in (("ed25519", ["-algorithm", "ed25519"]),
                            ("p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                            ("p384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
                            ("p521", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"]),
                            ("rsa3072", ["-algorithm", "RSA", "-pkeyopt",
                                         "rsa_keygen_bits:3072"])):
            runner.case("genpkey." + label, case_genpkey, sshbpp, d, label, args)
        runner.case("encrypted_openssh.error", case_encrypted_openssh, sshbpp, sshd, enc)
        try:
            agent = Agent(d)
            agent.add(enc, PASS)
            agent.add(enc_rsa, PASS)
        except Exception as exc:  # pylint: disable=broad-except
            runner.fatal("agent setup", exc)
        if agent is not None:
            runner.case("agent.identity", case_agent, sshbpp, sshd, agent, enc)
            runner.case("agent.pubfile", case_agent, sshbpp, sshd, agent, enc + ".pub")
            runner.case("agent.rsa", case_agent, sshbpp, sshd, agent, enc_rsa)
            runner.case("agent.any", case_agent, sshbpp, sshd, agent, None)
        runner.case("agent.gone", case_agent_gone, sshbpp, sshd, d, enc + ".pub")
        runner.case("known_hosts.ssh_hashed", case_kh_ssh, sshbpp, sshd, d, client_key, True)
        runner.case("known_hosts.ssh_plain", case_kh_ssh, sshbpp, sshd, d, client_key, False)
        runner.case("known_hosts.keyscan", case_kh_keyscan, sshbpp, sshd, d)
        runner.case("known_hosts.changed", case_kh_changed, sshbpp, sshd, d)
        runner.case("known_hosts.revoked", case_kh_revoked, sshbpp, sshd, d)
        runner.case("known_hosts.unknown_yes", case_kh_unknown_yes, sshbpp, sshd, d)
        runner.case("known_hosts.accept_new.hashed", case_kh_accept_new, sshbpp, sshd, d,
                    client_key, True)
        runner.case("known_hosts.accept_new.plain", case_kh_accept_new, sshbpp, sshd, d,
                    client_key, False)
        runner.case("serve.fingerprint", case_serve_fingerprint, sshbpp, d)
        other = next(p for l, p, pw in keys if l == "ecdsa256.openssh")
        for label, line, accepted in (
                ("plain", "KEY", True),
                ("from_ok", 'from="127.0.0.1,!10.*" KEY', True),
                ("restrict_ok", 'restrict,command="true",expiry-time="29991231Z" KEY', True),
                ("from_refused", 'from="10.0.0.0/8" KEY', False),
                ("expired", 'expiry-time="20000101" KEY', False),
                ("unknown_option", 'no-pty,frobnicate KEY', False)):
            runner.case("serve.ssh_login." + label, case_serve_login, sshbpp, d, client_key, other,
                        line, accepted)
        runner.case("serve.probe_login", case_serve_probe, sshbpp, d, client_key)
        rsa_key = next(p for l, p, pw in keys if l == "rsa.openssh")
        runner.case("serve.ssh_rsa.default_refused", case_serve_ssh_rsa, sshbpp, d, rsa_key, [],
                    False)
        runner.case("serve.ssh_rsa.on_request", case_serve_ssh_rsa, sshbpp, d, rsa_key,
                    ["-o", "PubkeyAcceptedAlgorithms=+ssh-rsa"], True)
    finally:
        if agent is not None:
            agent.stop()
        sshd.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
