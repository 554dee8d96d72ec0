#!/usr/bin/python3
"""Strict KEX (OpenSSH's kex-strict-*-v00@openssh.com, the Terrapin fix):
`sshbpp probe` against a scripted server (scripted_peer.py) that does a
real curve25519-sha256 / ssh-ed25519 / aes128-ctr / hmac-sha2-256 handshake
and injects protocol violations before its first NEWKEYS.

  violations (must fail, one 'sshbpp: error:' line naming strict KEX /
  order): IGNORE before KEXINIT, IGNORE after KEXINIT, IGNORE / DEBUG
  between the KEX reply and NEWKEYS, KEXINIT twice, NEWKEYS before the KEX
  reply;
  controls: the same server without kex-strict-s tolerates IGNORE/DEBUG
  (full handshake to auth, strict_kex false), and with strict KEX and no
  violation the handshake completes (strict_kex true; the sequence number
  reset is proven by the MACs both ways); a non-strict IGNORE followed by a
  server that hangs up after the client's KEX init must fail WITHOUT a
  strict-KEX error.

Every scenario is first run against OpenSSH's ssh (selfcheck.* cases): it
must reach auth on the clean ones and report "strict KEX violation" on the
violations, which proves the scripted peer itself is right.

Usage: test_strict_kex.py PATH/TO/sshbpp
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

SSH = "/usr/bin/ssh"


def ssh_argv(port):
    return [SSH, "-F", "/dev/null", "-v", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=publickey", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityFile=/nonexistent/key", "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10", "-p", str(port), "x@127.0.0.1", "true"]


def scenarios(sp):
    ign, dbg = sp.ignore_msg, sp.debug_msg
    # name -> (ScriptedServer kwargs, expectation)
    #   "ok-strict" / "ok-nonstrict": full handshake, probe exit 0
    #   "strict": refused, message mentions strict KEX
    #   "order": refused, message mentions strict KEX or order
    #   "order-only": refused, message mentions order (non-strict peer)
    #   "fail-not-strict": fails later, message must NOT mention strict
    return [
        ("strict_clean_handshake", dict(strict=True), "ok-strict"),
        ("nonstrict_ignore_debug_tolerated",
         dict(strict=False, inject={"before_kexinit": [ign()], "after_kexinit": [ign(), dbg()],
                                    "after_reply": [ign(), dbg()]}), "ok-nonstrict"),
        ("strict_ignore_debug_after_newkeys_allowed",
         dict(strict=True, inject={"after_newkeys": [ign(), dbg()]}), "ok-strict"),
        ("a_strict_ignore_before_kexinit",
         dict(strict=True, inject={"before_kexinit": [ign()]}), "strict"),
        ("b_strict_ignore_after_kexinit",
         dict(strict=True, inject={"after_kexinit": [ign()]}), "strict"),
        ("b_strict_ignore_before_newkeys",
         dict(strict=True, inject={"after_reply": [ign()]}), "strict"),
        ("b_strict_debug_before_newkeys",
         dict(strict=True, inject={"after_reply": [dbg()]}), "strict"),
        ("c_strict_kexinit_twice", dict(strict=True, double_kexinit=True), "order"),
        ("c_nonstrict_kexinit_twice", dict(strict=False, double_kexinit=True), "order-only"),
        ("strict_newkeys_before_reply", dict(strict=True, early_newkeys=True), "order"),
        ("control_nonstrict_ignore_then_hangup",
         dict(strict=False, inject={"before_kexinit": [ign()], "after_kexinit": [ign()]},
              stop_after="kexinit"), "fail-not-strict"),
    ]


def selfcheck(sp, kwargs, expect):
    """The scenario against OpenSSH's ssh client (validates the scripted peer)."""
    with sp.ScriptedServer(**kwargs) as srv:
        r = peers.run(ssh_argv(srv.port), timeout=40)
        srv.wait(5)
    peers.check(r.rc is not None, "ssh timed out\n" + r.describe())
    if expect.startswith("ok"):
        peers.check("Permission denied (publickey)" in r.err and r.rc == 255,
                    "ssh did not reach auth: %s\n%s" % (srv.error, r.describe()))
        peers.check(("Server host key: ssh-ed25519 " + srv.hostkey_fingerprint) in r.err,
                    "ssh saw another host key fingerprint\n" + r.describe())
        return "ssh reached auth"
    if expect in ("strict", "order"):
        m = re.search(r"strict KEX violation[^\r\n]*", r.err)
        peers.check(m is not None, "ssh did not report a strict KEX violation\n" + r.describe())
        peers.check("Permission denied" not in r.err, "ssh went on to auth\n" + r.describe())
        return "ssh: " + m.group(0)
    raise AssertionError(expect)


def probe_case(sshbpp, sp, kwargs, expect):
    with sp.ScriptedServer(**kwargs) as srv:
        r, data = peers.probe(sshbpp, srv.port, ["--timeout", "10"], timeout=40)
        srv.wait(5)
    events = "scripted server: error=%s events=%s" % (srv.error, "; ".join(srv.events[-12:]))
    if expect.startswith("ok"):
        data = peers.check_probe_json(r, data)
        strict = expect == "ok-strict"
        peers.check(data["strict_kex"] is strict, "strict_kex %r, wanted %r\n%s"
                    % (data["strict_kex"], strict, events))
        peers.check_negotiated(data, cipher="aes128-ctr", mac="hmac-sha2-256",
                               kex="curve25519-sha256", hostkey="ssh-ed25519",
                               fp=srv.hostkey_fingerprint)
        peers.check(data["server_banner"] == "SSH-2.0-sshbppScripted_1.0",
                    "server_banner %r" % data["server_banner"])
        peers.check(data["auth_methods"] == ["publickey"],
                    "auth_methods %r" % data["auth_methods"])
        peers.check(srv.reached_auth, "the scripted server saw no userauth request\n" + events)
        kexl = data["server_algorithms"]["kex_algorithms"]
        peers.check(("kex-strict-s-v00@openssh.com" in kexl) is strict,
                    "server_algorithms.kex_algorithms %r" % kexl)
        return "strict_kex=%s, reached auth" % data["strict_kex"]
    line = peers.check_probe_error(r)
    low = line.lower()
    if expect == "strict":
        peers.check("strict" in low, "error does not mention strict KEX: %r\n%s" % (line, events))
    elif expect == "order":
        peers.check("strict" in low or "order" in low,
                    "error mentions neither strict KEX nor order: %r\n%s" % (line, events))
    elif expect == "order-only":
        peers.check("order" in low or "kexinit" in low,
                    "error does not mention the order / KEXINIT: %r\n%s" % (line, events))
        peers.check("strict" not in low, "strict KEX error from a non-strict peer: %r" % line)
    elif expect == "fail-not-strict":
        peers.check("strict" not in low,
                    "a non-strict peer's IGNORE gave a strict KEX error: %r\n%s" % (line, events))
        peers.check(sp.MSG_KEX_ECDH_INIT in srv.received,
                    "the probe never sent its KEX init (IGNORE not tolerated?)\n" + events)
    # The probe must not have continued past the violation to auth.
    peers.check(not srv.reached_auth, "probe went on to userauth despite the violation")
    return line


def main():
    runner = peers.Runner("test_strict_kex")
    try:
        sshbpp = peers.sshbpp_binary(sys.argv)
        peers.need_tool(SSH)
        peers.import_paramiko()  # cryptography comes with it
        import scripted_peer as sp  # pylint: disable=import-outside-toplevel
    except Exception as exc:  # pylint: disable=broad-except
        runner.fatal("setup", exc)
        return runner.finish()
    cases = scenarios(sp)
    for name, kwargs, expect in cases:
        if expect in ("order-only", "fail-not-strict"):
            continue  # OpenSSH tolerates these (UNIMPLEMENTED) / hang-up: nothing to compare
        runner.case("selfcheck.ssh." + name, selfcheck, sp, kwargs, expect)
    for name, kwargs, expect in cases:
        runner.case("probe." + name, probe_case, sshbpp, sp, kwargs, expect)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
