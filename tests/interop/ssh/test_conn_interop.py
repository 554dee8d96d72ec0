#!/usr/bin/python3
"""The connection object and its blocking driver (sshbpp_conn.h,
sshbpp_driver.h) as a client against real servers, through conn_peer.

Cases:
  openssh.publickey             sshd: "none" refused with the methods list,
                                then publickey (PEM ECDSA key) accepted, then
                                keepalive@openssh.com answered REQUEST_FAILURE
  openssh.maxauthtries_disconnect
                                sshd with MaxAuthTries 1: a key it does not
                                know makes it disconnect; the reason code (2)
                                and the text "Too many authentication
                                failures" reach the caller, the call fails
                                with SSHBPP_EDISCONNECT
  paramiko.password             paramiko server taking one password: a wrong
                                one is refused (methods listed), the right
                                one accepted
  paramiko.kbdint               the same server's keyboard-interactive with
                                one prompt: a wrong answer refused, the right
                                one accepted; the prompt text arrives
  paramiko.password_only_wrong  only wrong passwords: every one refused, exit
                                != 0, no crash, no error line
  openssh.ssh_rsa_on_request    sshd with PubkeyAcceptedAlgorithms +ssh-rsa,
                                conn_peer -o PubkeyAcceptedAlgorithms=ssh-rsa
                                with an RSA key: accepted (a SHA-1 signature)
  openssh.ssh_rsa_only_sshd     sshd accepting ssh-rsa alone: the same client
                                is accepted (so it signed with SHA-1), the
                                default client is refused and sshd logs that
                                rsa-sha2-* is not accepted: it never sent
                                ssh-rsa
  openssh.ssh_rsa_default_sshd  sshd with its default list: the ssh-rsa
                                client is refused and sshd logs "signature
                                algorithm ssh-rsa not in
                                PubkeyAcceptedAlgorithms"; the default client
                                gets in with the same RSA key (rsa-sha2-512)

Usage: test_conn_interop.py PATH/TO/conn_peer
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

PASSWORD = "right-pw"
ANSWER = "right-answer"


def conn_peer(binary, port, user, steps, timeout=60, pubkey_algs=None):
    opt = ["-o", "PubkeyAcceptedAlgorithms=" + pubkey_algs] if pubkey_algs else []
    return peers.run([binary] + opt + ["127.0.0.1", str(port), user] + list(steps),
                     timeout=timeout)


def sshd_log(sshd):
    with open(sshd.log_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def add_authorized(sshd, pub):
    with open(pub, encoding="ascii") as src, open(sshd.authorized_keys, "a",
                                                  encoding="ascii") as dst:
        dst.write(src.read())


def ssh_rsa_on_request(binary, sshd, rsa_key):
    r = conn_peer(binary, sshd.port, "root", ["key:" + rsa_key], pubkey_algs="ssh-rsa")
    peers.check(r.rc == 0 and "auth publickey ok" in r.out, r.describe())
    return "ssh-rsa accepted by sshd +ssh-rsa"


def ssh_rsa_only_sshd(binary, sshd, rsa_key):
    r = conn_peer(binary, sshd.port, "root", ["key:" + rsa_key], pubkey_algs="ssh-rsa")
    peers.check(r.rc == 0 and "auth publickey ok" in r.out, r.describe())
    r = conn_peer(binary, sshd.port, "root", ["key:" + rsa_key])
    peers.check(r.rc != 0 and "auth publickey refused" in r.out, r.describe())
    log = sshd_log(sshd)
    peers.check("signature algorithm rsa-sha2-" in log and
                "signature algorithm ssh-rsa not in" not in log,
                "sshd log does not show a SHA-2 attempt refused\n" + log[-3000:])
    return "ssh-rsa client ok; default client refused (sent rsa-sha2-*)"


def ssh_rsa_default_sshd(binary, sshd, rsa_key):
    r = conn_peer(binary, sshd.port, "root", ["key:" + rsa_key], pubkey_algs="ssh-rsa")
    peers.check(r.rc != 0 and "auth publickey refused" in r.out, r.describe())
    peers.check("signature algorithm ssh-rsa not in PubkeyAcceptedAlgorithms" in sshd_log(sshd),
                "sshd did not see ssh-rsa\n" + sshd_log(sshd)[-3000:])
    r = conn_peer(binary, sshd.port, "root", ["key:" + rsa_key])
    peers.check(r.rc == 0 and "auth publickey ok" in r.out, r.describe())
    return "ssh-rsa refused by default sshd; default client ok"


def openssh_publickey(binary, sshd):
    r = conn_peer(binary, sshd.port, "root", ["none", "key:" + sshd.client_key])
    peers.check(r.rc == 0, r.describe())
    peers.check("auth none refused publickey partial=0" in r.out, r.describe())
    peers.check("auth publickey ok" in r.out, r.describe())
    peers.check("greq REQUEST_FAILURE" in r.out, r.describe())
    return ""


def openssh_maxauthtries(binary, sshd, wrong_key):
    r = conn_peer(binary, sshd.port, "root", ["none", "key:" + wrong_key,
                                              "key:" + sshd.client_key])
    peers.check(r.rc != 0, "accepted after MaxAuthTries 1\n" + r.describe())
    peers.check("disconnect 2 Too many authentication failures" in r.out,
                "no reason/text\n" + r.describe())
    peers.check("error SSHBPP_EDISCONNECT" in r.out, r.describe())
    peers.check("auth publickey ok" not in r.out, r.describe())
    return [l for l in r.out.splitlines() if l.startswith("disconnect")][0]


def make_server():
    base = peers.ParamikoServer

    class Server(base):
        def _server_interface(self):
            paramiko = self.paramiko

            class Iface(paramiko.ServerInterface):
                def get_allowed_auths(self, username):
                    return "password,keyboard-interactive"

                def check_auth_none(self, username):
                    return paramiko.AUTH_FAILED

                def check_auth_password(self, username, password):
                    return paramiko.AUTH_SUCCESSFUL if password == PASSWORD \
                        else paramiko.AUTH_FAILED

                def check_auth_interactive(self, username, submethods):
                    q = paramiko.server.InteractiveQuery("sshbpp-test", "answer the question")
                    q.add_prompt("Answer: ", False)
                    return q

                def check_auth_interactive_response(self, responses):
                    return paramiko.AUTH_SUCCESSFUL if list(responses) == [ANSWER] \
                        else paramiko.AUTH_FAILED

            return Iface()

    return Server(tag="conn-paramiko")


def paramiko_password(binary, srv):
    r = conn_peer(binary, srv.port, "u", ["password:wrong", "password:" + PASSWORD])
    peers.check(r.rc == 0, r.describe())
    peers.check("auth password refused password,keyboard-interactive partial=0" in r.out,
                r.describe())
    peers.check("auth password ok" in r.out, r.describe())
    peers.check("greq REQUEST_FAILURE" in r.out, r.describe())
    return " | ".join(l for l in r.out.splitlines() if not l.startswith("hostkey"))


def paramiko_kbdint(binary, srv):
    r = conn_peer(binary, srv.port, "u", ["kbdint:wrong", "kbdint:" + ANSWER])
    peers.check(r.rc == 0, r.describe())
    peers.check("prompt Answer:  echo=0" in r.out, "no prompt\n" + r.describe())
    peers.check("auth keyboard-interactive refused" in r.out, r.describe())
    peers.check("auth keyboard-interactive ok" in r.out, r.describe())
    return " | ".join(l for l in r.out.splitlines() if not l.startswith("hostkey"))


def paramiko_wrong_only(binary, srv):
    r = conn_peer(binary, srv.port, "u", ["password:a", "password:b", "kbdint:c"])
    peers.check(r.rc != 0, r.describe())
    peers.check(r.out.count("refused") == 3, r.describe())
    peers.check("error " not in r.out, r.describe())
    return ""


def main():
    runner = peers.Runner("test_conn_interop")
    try:
        if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
            raise peers.MissingTool("usage: test_conn_interop.py PATH/TO/conn_peer (built)")
        binary = os.path.abspath(sys.argv[1])
        sshd = peers.Sshd(tag="conn-sshd", client_key=True).start()
        strict = peers.Sshd(tag="conn-sshd1", client_key=True,
                            extra_config="MaxAuthTries 1").start()
        wrong_dir = peers.temp_dir("conn-wrongkey")
        wrong_key = os.path.join(wrong_dir, "wrong")
        r = peers.run(["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f",
                       wrong_key], timeout=60)
        if r.rc != 0:
            raise peers.CaseFailure("ssh-keygen failed\n" + r.describe())
        rsa_dir = peers.temp_dir("conn-rsakey")
        rsa_key = os.path.join(rsa_dir, "rsa")
        r = peers.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-m", "PEM", "-N", "",
                       "-f", rsa_key], timeout=120)
        if r.rc != 0:
            raise peers.CaseFailure("ssh-keygen failed\n" + r.describe())
        plus_rsa = peers.Sshd(tag="conn-sshd-plusrsa", client_key=True,
                              extra_config="PubkeyAcceptedAlgorithms +ssh-rsa")
        only_rsa = peers.Sshd(tag="conn-sshd-onlyrsa", client_key=True,
                              extra_config="PubkeyAcceptedAlgorithms ssh-rsa")
        for s in (sshd, plus_rsa, only_rsa):
            add_authorized(s, rsa_key + ".pub")
        plus_rsa.start()
        only_rsa.start()
        srv = make_server().start()
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    try:
        runner.case("openssh.publickey", openssh_publickey, binary, sshd)
        runner.case("openssh.maxauthtries_disconnect", openssh_maxauthtries, binary, strict,
                    wrong_key)
        runner.case("paramiko.password", paramiko_password, binary, srv)
        runner.case("paramiko.kbdint", paramiko_kbdint, binary, srv)
        runner.case("paramiko.password_only_wrong", paramiko_wrong_only, binary, srv)
        runner.case("openssh.ssh_rsa_on_request", ssh_rsa_on_request, binary, plus_rsa, rsa_key)
        runner.case("openssh.ssh_rsa_only_sshd", ssh_rsa_only_sshd, binary, only_rsa, rsa_key)
        runner.case("openssh.ssh_rsa_default_sshd", ssh_rsa_default_sshd, binary, sshd,
                    rsa_key)
    finally:
        sshd.stop()
        strict.stop()
        plus_rsa.stop()
        only_rsa.stop()
        srv.stop()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
