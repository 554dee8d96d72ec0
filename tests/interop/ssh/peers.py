"""Shared helpers for the SSH interop tests (tests/interop/ssh/test_*.py).

Everything here starts real peers on 127.0.0.1 free ports with keys in a
temporary folder, and makes sure they die with the test:

  - every child is started with PR_SET_PDEATHSIG=SIGKILL (Linux) so it dies
    even if the driver itself is SIGKILLed (ctest's timeout), is registered
    for an atexit() kill, and SIGTERM/SIGINT/SIGHUP turn into an exit that
    runs those handlers;
  - every subprocess call and every wait has a timeout;
  - temporary folders are removed at exit.

A missing tool (sshd, dropbear, dbclient, ssh-keygen, paramiko, ...) is a
test FAILURE: MissingTool is raised and the driver reports it loudly; there
is no skip.

Only the standard library is imported here; paramiko (and cryptography,
which paramiko depends on) are imported by the drivers that need them, via
import_paramiko().
"""

import atexit
import base64
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# The algorithms sshbpp implements (include/sshbpp/sshbpp_kex.h).
SSHBPP_CIPHERS = [
    "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
    "aes128-ctr", "aes192-ctr", "aes256-ctr",
    "aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc",
]
SSHBPP_AEAD = {"chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
               "aes256-gcm@openssh.com"}
_MAC_BASE = ["hmac-sha1", "hmac-sha1-96", "hmac-md5", "hmac-md5-96",
             "hmac-sha2-256", "hmac-sha2-512"]
SSHBPP_MACS = _MAC_BASE + [m + "-etm@openssh.com" for m in _MAC_BASE] + [
    "umac-64@openssh.com", "umac-128@openssh.com",
    "umac-64-etm@openssh.com", "umac-128-etm@openssh.com"]
SSHBPP_KEX = [
    "curve25519-sha256", "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
]
SSHBPP_HOSTKEYS = [
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "rsa-sha2-256", "rsa-sha2-512",
]
# Host key algorithm -> key file stem used by the helpers below.
HOSTKEY_FILE = {
    "ssh-ed25519": "ed25519",
    "ecdsa-sha2-nistp256": "ecdsa256",
    "ecdsa-sha2-nistp384": "ecdsa384",
    "ecdsa-sha2-nistp521": "ecdsa521",
    "rsa-sha2-256": "rsa",
    "rsa-sha2-512": "rsa",
}
# KEXINIT pseudo-algorithms that are not real methods.
PSEUDO_KEX = {"ext-info-c", "ext-info-s", "kex-strict-c-v00@openssh.com",
              "kex-strict-s-v00@openssh.com", "kexguess2@matt.ucc.asn.au"}

KEXINIT_KEYS = [
    "kex_algorithms", "server_host_key_algorithms",
    "encryption_algorithms_client_to_server", "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server", "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server", "compression_algorithms_server_to_client",
    "languages_client_to_server", "languages_server_to_client",
]
PROBE_JSON_KEYS = [
    "server_banner", "kex", "hostkey_algorithm", "hostkey_fingerprint",
    "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "compression_c2s",
    "compression_s2c", "strict_kex", "rekeys", "auth_methods", "server_algorithms",
]

DEFAULT_TIMEOUT = 30.0


class MissingTool(Exception):
    """A tool or module the test needs is not installed: a failure, never a skip."""


class CaseFailure(Exception):
    """A check inside a test case failed."""


# ---------------------------------------------------------------------------
# Child processes

_children = []
_children_lock = threading.Lock()
_tempdirs = []


try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved once, before any fork
except (OSError, AttributeError):
    _PRCTL = None


def _pdeathsig():
    """preexec_fn: the child gets SIGKILL when the thread that forked it dies."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1


def kill_proc(proc, grace=3.0):
    """Terminates proc (SIGTERM, then SIGKILL after `grace` seconds) and reaps it."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        except OSError:
            pass
    with _children_lock:
        if proc in _children:
            _children.remove(proc)


def _cleanup():
    with _children_lock:
        procs = list(_children)
    for p in procs:
        kill_proc(p, grace=1.0)
    for d in _tempdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _on_signal(signum, _frame):
    # sys.exit runs the atexit handlers (children killed, folders removed).
    sys.stderr.write("interop: caught signal %d, cleaning up\n" % signum)
    sys.exit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def spawn(argv, stdout=None, stderr=None, stdin=subprocess.DEVNULL, env=None, cwd=None):
    """Starts a long-running child (a server) and registers it for cleanup."""
    proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
                            preexec_fn=_pdeathsig, close_fds=True)
    with _children_lock:
        _children.append(proc)
    return proc


class Result:
    """What run() returns: argv, rc (None on timeout), out, err, elapsed."""

    def __init__(self, argv, rc, out, err, elapsed, timed_out=False):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self.elapsed, self.timed_out = elapsed, timed_out

    def describe(self, limit=1500):
        text = "cmd: %s\nrc: %s%s\nstdout: %s\nstderr: %s" % (
            " ".join(self.argv), self.rc, " (TIMEOUT)" if self.timed_out else "",
            self.out[-limit:], self.err[-limit:])
        return text


def run(argv, timeout=DEFAULT_TIMEOUT, env=None, input_bytes=None, cwd=None):
    """Runs a short command with a timeout; never raises on failure."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input_bytes is not None
                            else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                            preexec_fn=_pdeathsig, close_fds=True)
    with _children_lock:
        _children.append(proc)
    timed_out = False
    try:
        out, err = proc.communicate(input=input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    finally:
        with _children_lock:
            if proc in _children:
                _children.remove(proc)
    return Result(argv, None if timed_out else proc.returncode,
                  out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                  time.monotonic() - t0, timed_out)


# ---------------------------------------------------------------------------
# Tools, folders, ports

def need_tool(path_or_name):
    """Returns the absolute path of a tool or raises MissingTool."""
    if os.path.isabs(path_or_name):
        if os.access(path_or_name, os.X_OK):
            return path_or_name
        raise MissingTool("%s is not installed (run scripts/install-deps.sh)" % path_or_name)
    found = shutil.which(path_or_name, path=os.environ.get("PATH", "") +
                         ":/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise MissingTool("%s is not installed (run scripts/install-deps.sh)" % path_or_name)
    return found


def import_paramiko():
    """Imports the system paramiko or raises MissingTool."""
    try:
        import paramiko  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise MissingTool("cannot import paramiko with %s: %s (install python3-paramiko)"
                          % (sys.executable, exc)) from exc
    import warnings  # pylint: disable=import-outside-toplevel
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*TripleDES.*")
    warnings.filterwarnings("ignore", message=".*Blowfish.*")
    return paramiko


def temp_dir(tag):
    d = tempfile.mkdtemp(prefix="sshbpp-%s-" % tag)
    os.chmod(d, 0o755)
    _tempdirs.append(d)
    return d


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_banner(port, proc=None, timeout=15.0):
    """Waits until 127.0.0.1:port accepts and sends an SSH banner; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise CaseFailure("server exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
                s.settimeout(3.0)
                data = b""
                while b"\n" not in data and len(data) < 4096:
                    chunk = s.recv(256)
                    if not chunk:
                        break
                    data += chunk
                for line in data.split(b"\n"):
                    if line.startswith(b"SSH-"):
                        return line.rstrip(b"\r").decode("ascii", "replace")
                last = "no banner: %r" % data[:100]
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise CaseFailure("nothing answered on 127.0.0.1:%d within %.0fs (%s)" % (port, timeout, last))


# ---------------------------------------------------------------------------
# Keys and fingerprints

def ssh_keygen_generate(directory, stem, ktype, bits=None):
    """ssh-keygen -t ktype -N '' -f directory/stem; returns the private key path."""
    keygen = need_tool("/usr/bin/ssh-keygen")
    path = os.path.join(directory, stem)
    argv = [keygen, "-q", "-t", ktype, "-N", "", "-C", "sshbpp-test-" + stem, "-f", path]
    if bits:
        argv[4:4] = ["-b", str(bits)]
    r = run(argv, timeout=60)
    if r.rc != 0:
        raise CaseFailure("ssh-keygen failed\n" + r.describe())
    return path


def openssh_hostkeys(directory):
    """The five host keys of the OpenSSH/paramiko peers (OpenSSH format):
    returns {stem: private key path} with stems of HOSTKEY_FILE."""
    return {
        "ed25519": ssh_keygen_generate(directory, "ed25519", "ed25519"),
        "ecdsa256": ssh_keygen_generate(directory, "ecdsa256", "ecdsa", 256),
        "ecdsa384": ssh_keygen_generate(directory, "ecdsa384", "ecdsa", 384),
        "ecdsa521": ssh_keygen_generate(directory, "ecdsa521", "ecdsa", 521),
        "rsa": ssh_keygen_generate(directory, "rsa", "rsa", 3072),
    }


def fingerprint(pubfile):
    """The SHA256 fingerprint field of `ssh-keygen -l -f pubfile`."""
    keygen = need_tool("/usr/bin/ssh-keygen")
    r = run([keygen, "-l", "-E", "sha256", "-f", pubfile], timeout=30)
    if r.rc != 0:
        raise CaseFailure("ssh-keygen -l failed\n" + r.describe())
    fields = r.out.split()
    if len(fields) < 2 or not fields[1].startswith("SHA256:"):
        raise CaseFailure("unexpected ssh-keygen -l output: %r" % r.out)
    return fields[1]


def fingerprint_of_blob(blob):
    """Fingerprint of a public key blob, computed like ssh-keygen (for cross-checks)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# ---------------------------------------------------------------------------
# sshbpp probe

def probe(sshbpp, port, args=(), host="127.0.0.1", timeout=60.0, json_out=True):
    """Runs `sshbpp probe [--json] ARGS -p PORT HOST`; returns (Result, dict or None)."""
    argv = [sshbpp, "probe"] + (["--json"] if json_out else []) + list(args) + \
        ["-p", str(port), host]
    r = run(argv, timeout=timeout)
    data = None
    if json_out and r.rc == 0:
        text = r.out.strip()
        try:
            data = json.loads(text)
        except ValueError:
            # Tolerate other lines around the single JSON object.
            start, end = text.find("{"), text.rfind("}")
            if start >= 0 and end > start:
                try:
                    data = json.loads(text[start:end + 1])
                except ValueError:
                    data = None
    return r, data


def check(cond, msg):
    if not cond:
        raise CaseFailure(msg)


def check_probe_error(r):
    """A failing probe: non-zero exit and one 'sshbpp: error: ...' line on stderr."""
    check(r.rc is not None, "probe timed out\n" + r.describe())
    check(r.rc != 0, "probe exited 0 but should have failed\n" + r.describe())
    lines = [l for l in r.err.splitlines() if l.startswith("sshbpp: error: ")]
    check(len(lines) == 1, "expected exactly one 'sshbpp: error: ' line on stderr\n"
          + r.describe())
    return lines[0]


def check_probe_json(r, data):
    """Common checks of a successful probe; returns the JSON object."""
    check(r.rc is not None, "probe timed out\n" + r.describe())
    check(r.rc == 0, "probe exited %s\n%s" % (r.rc, r.describe()))
    check(isinstance(data, dict), "probe printed no JSON object\n" + r.describe())
    missing = [k for k in PROBE_JSON_KEYS if k not in data]
    check(not missing, "JSON lacks keys %s\n%s" % (missing, r.describe()))
    sa = data["server_algorithms"]
    check(isinstance(sa, dict), "server_algorithms is not an object")
    missing = [k for k in KEXINIT_KEYS if k not in sa]
    check(not missing, "server_algorithms lacks %s" % missing)
    for k in KEXINIT_KEYS:
        check(isinstance(sa[k], list), "server_algorithms.%s is not an array" % k)
    check(isinstance(data["strict_kex"], bool), "strict_kex is not a bool")
    check(isinstance(data["rekeys"], int) and not isinstance(data["rekeys"], bool),
          "rekeys is not a number")
    check(isinstance(data["auth_methods"], list), "auth_methods is not an array")
    return data


def check_negotiated(data, cipher=None, mac=None, kex=None, hostkey=None, fp=None):
    """Checks forced algorithms in a probe's JSON. mac is checked only for a
    non-AEAD cipher; with an AEAD cipher the MAC fields must be empty."""
    if cipher is not None:
        check(data["cipher_c2s"] == cipher and data["cipher_s2c"] == cipher,
              "cipher %s/%s, wanted %s" % (data["cipher_c2s"], data["cipher_s2c"], cipher))
        if cipher in SSHBPP_AEAD:
            check(data["mac_c2s"] in ("", None) and data["mac_s2c"] in ("", None),
                  "AEAD cipher %s but MAC %r/%r" % (cipher, data["mac_c2s"], data["mac_s2c"]))
    if mac is not None:
        check(data["mac_c2s"] == mac and data["mac_s2c"] == mac,
              "mac %s/%s, wanted %s" % (data["mac_c2s"], data["mac_s2c"], mac))
    if kex is not None:
        check(data["kex"] == kex, "kex %s, wanted %s" % (data["kex"], kex))
    if hostkey is not None:
        check(data["hostkey_algorithm"] == hostkey,
              "host key algorithm %s, wanted %s" % (data["hostkey_algorithm"], hostkey))
    if fp is not None:
        check(data["hostkey_fingerprint"] == fp,
              "fingerprint %s, ssh-keygen -l says %s" % (data["hostkey_fingerprint"], fp))


def probe_expect(sshbpp, server, args, cipher=None, mac=None, kex=None, hostkey=None,
                 strict=None, extra=None, timeout=60.0, banner_prefix=False):
    """Runs a probe against `server` (anything with .port, .fp {alg: fp} and
    .banner) that must succeed; checks forced names, the fingerprint of the
    negotiated host key type, auth_methods containing "publickey", the
    banner and (if not None) strict_kex. Returns a one-line summary.
    banner_prefix: the server's banner changes per connection after its
    first space (tinysshd puts a session tag there): compare what precedes."""
    r, data = probe(sshbpp, server.port, list(args) + ["--timeout", str(int(timeout - 10))],
                    timeout=timeout)
    data = check_probe_json(r, data)
    check_negotiated(data, cipher=cipher, mac=mac, kex=kex, hostkey=hostkey)
    alg = data["hostkey_algorithm"]
    check(alg in server.fp, "unexpected host key algorithm %r" % alg)
    check_negotiated(data, fp=server.fp[alg])
    if not data.get("auth_none_accepted"):
        check("publickey" in data["auth_methods"],
              "auth_methods %r lacks publickey" % data["auth_methods"])
    if banner_prefix:
        check(data["server_banner"].split(" ")[0] == server.banner.split(" ")[0],
              "server_banner %r, the server sent %r" % (data["server_banner"], server.banner))
    else:
        check(data["server_banner"] == server.banner,
              "server_banner %r, the server sent %r" % (data["server_banner"], server.banner))
    if strict is not None:
        check(data["strict_kex"] is strict, "strict_kex %r, wanted %r"
              % (data["strict_kex"], strict))
    if extra:
        extra(data)
    return "%s %s/%s %s %s rekeys=%s %.2fs" % (
        data["kex"], data["cipher_c2s"], data["mac_c2s"] or "-", data["hostkey_algorithm"],
        data["hostkey_fingerprint"][:19], data["rekeys"], r.elapsed)


def rekeys_at_least(n):
    def extra(data):
        check(data["rekeys"] >= n, "rekeys %r, wanted >= %d" % (data["rekeys"], n))
    return extra


def offered_but_untested(data, tested):
    """Algorithms of the server's KEXINIT (JSON server_algorithms) that sshbpp
    supports but `tested` (a set) does not cover."""
    sa = data["server_algorithms"]
    ours = set(SSHBPP_CIPHERS + SSHBPP_MACS + SSHBPP_KEX + SSHBPP_HOSTKEYS)
    offered = set()
    for k in KEXINIT_KEYS[:6]:
        offered.update(sa[k])
    return sorted((offered & ours) - set(tested))


# ---------------------------------------------------------------------------
# OpenSSH sshd

SSHD = "/usr/sbin/sshd"


def openssh_version():
    """(major, minor) of the installed OpenSSH (`ssh -V`), or (0, 0)."""
    r = run(["/usr/bin/ssh", "-V"], timeout=30)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", r.err + r.out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class Sshd:
    """An sshd -D -e on 127.0.0.1:free port with its own config, keys and log."""

    def __init__(self, tag="sshd", extra_config="", ciphers=None, macs=None, kex=None,
                 hostkey_algorithms=None, keys_from=None, client_key=False):
        need_tool(SSHD)
        if os.geteuid() != 0:
            raise MissingTool("sshd must run as root (privilege separation); run the tests "
                              "as root")
        self.dir = temp_dir(tag)
        if keys_from is not None:  # share another instance's host keys
            self.keys, self.fp = keys_from.keys, keys_from.fp
        else:
            self.keys = openssh_hostkeys(self.dir)
            self.fp = {alg: fingerprint(self.keys[stem] + ".pub")
                       for alg, stem in HOSTKEY_FILE.items()}
        self.ciphers = ciphers or ssh_supported(SSHBPP_CIPHERS, "cipher")
        self.macs = macs or ssh_supported(SSHBPP_MACS, "mac")
        # Our KEX first (all of sshd's real ones stay enabled after them).
        self.kex = kex or ssh_supported(SSHBPP_KEX, "kex")
        self.hostkey_algorithms = hostkey_algorithms or list(SSHBPP_HOSTKEYS)
        self.extra_config = extra_config
        # A client key root may log in with (publickey), for the cases that
        # need an authenticated connection: sshd neither accepts nor starts
        # a key re-exchange before authentication. PEM so OpenSSL reads it.
        self.client_key = None
        self.authorized_keys = None
        if client_key:
            need_tool("ssh-keygen")
            self.client_key = os.path.join(self.dir, "client_ecdsa")
            r = run(["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "",
                     "-f", self.client_key], timeout=60)
            if r.rc != 0:
                raise CaseFailure("ssh-keygen failed\n" + r.describe())
            self.authorized_keys = os.path.join(self.dir, "authorized_keys")
            with open(self.client_key + ".pub", encoding="ascii") as src, \
                    open(self.authorized_keys, "w", encoding="ascii") as dst:
                dst.write(src.read())
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.banner = None

    def config_text(self, port):
        lines = [
            "ListenAddress 127.0.0.1:%d" % port,
            "PidFile %s" % os.path.join(self.dir, "sshd.pid"),
            "UsePAM no",
            "StrictModes no",
            "LogLevel VERBOSE",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile %s" % (self.authorized_keys or "none"),
            "HostbasedAuthentication no",
            "PermitRootLogin %s" % ("prohibit-password" if self.client_key else "no"),
            "MaxStartups 100:30:200",
            "LoginGraceTime 60",
        ]
        # OpenSSH >= 9.8 (Debian 13) blocks a source after repeated
        # unauthenticated connections, which is what most cases here are.
        if openssh_version() >= (9, 8):
            lines.append("PerSourcePenalties no")
        lines += [
            "Ciphers %s" % ",".join(self.ciphers),
            "MACs %s" % ",".join(self.macs),
            "KexAlgorithms %s" % ",".join(self.kex),
            "HostKeyAlgorithms %s" % ",".join(self.hostkey_algorithms),
        ]
        for stem in ("ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa"):
            lines.append("HostKey %s" % self.keys[stem])
        if self.extra_config:
            lines.extend(self.extra_config.strip().splitlines())
        return "\n".join(lines) + "\n"

    def start(self, attempts=4):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        last = None
        for _ in range(attempts):
            port = free_port()
            cfg = os.path.join(self.dir, "sshd_config")
            with open(cfg, "w", encoding="ascii") as f:
                f.write(self.config_text(port))
            t = run([SSHD, "-t", "-f", cfg], timeout=30)
            if t.rc != 0:
                raise CaseFailure("sshd -t rejected the generated config\n" + t.describe())
            log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
            proc = spawn([SSHD, "-D", "-e", "-f", cfg], stdout=log, stderr=log)
            log.close()
            try:
                self.banner = wait_banner(port, proc)
            except CaseFailure as exc:
                last = exc
                kill_proc(proc)
                continue
            self.proc, self.port, self.config = proc, port, cfg
            return self
        raise CaseFailure("sshd did not start: %s\nlog:\n%s" % (last, self.log()[-2000:]))

    def effective_config(self):
        """`sshd -T -f CONFIG` as a dict of lower-case keyword -> value."""
        r = run([SSHD, "-T", "-f", self.config], timeout=30)
        if r.rc != 0:
            raise CaseFailure("sshd -T failed\n" + r.describe())
        out = {}
        for line in r.out.splitlines():
            k, _, v = line.partition(" ")
            out.setdefault(k, v)
        return out

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        kill_proc(self.proc)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


_query_cache = {}


def wait_until(cond, timeout, what):
    """Polls cond() every 20 ms until it is true; CaseFailure(what) after
    timeout seconds. For tests to wait on the condition itself (a log line,
    a counter), not on a sleep."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise CaseFailure("%s (waited %.1f s)" % (what, timeout))
        time.sleep(0.02)


# The fewest of our algorithms of each kind that the local OpenSSH must
# support for the interop matrix to count (Debian 12's 9.2 has them all:
# 10 ciphers, 12 MACs, 7 kex); below that the test fails instead of
# quietly testing less.
SSH_MINIMUM = {"cipher": 6, "mac": 8, "kex": 6}


def ssh_supported(ours, what, minimum=None):
    """ours intersected with `ssh -Q what`, in our order. Every name left
    out is reported on stdout; fewer than the minimum is a failure."""
    offered = query_ssh(what)
    kept = [x for x in ours if x in offered]
    for x in ours:
        if x not in offered:
            print("note: %s %s is not in `ssh -Q %s`: not tested against OpenSSH" % (what, x, what))
    need = SSH_MINIMUM.get(what, 1) if minimum is None else minimum
    if len(kept) < need:
        raise CaseFailure("only %d of our %d %s algorithms are in `ssh -Q %s` (need %d)"
                          % (len(kept), len(ours), what, what, need))
    return kept


def query_ssh(what):
    """`ssh -Q what` as a list (cipher, mac, kex, key)."""
    if what not in _query_cache:
        ssh = need_tool("/usr/bin/ssh")
        r = run([ssh, "-Q", what], timeout=30)
        if r.rc != 0:
            raise CaseFailure("ssh -Q %s failed\n%s" % (what, r.describe()))
        _query_cache[what] = r.out.split()
    return _query_cache[what]


# ---------------------------------------------------------------------------
# Dropbear

DROPBEAR = "/usr/sbin/dropbear"
DROPBEARKEY = "/usr/bin/dropbearkey"
DBCLIENT = "/usr/bin/dbclient"


class Dropbear:
    """dropbear -F -E -s on 127.0.0.1:free port.

    Dropbear 2022.83 loads at most 4 host keys (-r), so `stems` picks which
    (default: ed25519, ecdsa256, ecdsa384, rsa); a second instance with
    stems=["ecdsa521"] and keys_from=first covers P-521."""

    KEYS = [("ed25519", "ed25519", None), ("ecdsa256", "ecdsa", 256),
            ("ecdsa384", "ecdsa", 384), ("ecdsa521", "ecdsa", 521), ("rsa", "rsa", 3072)]

    def __init__(self, tag="dropbear", stems=("ed25519", "ecdsa256", "ecdsa384", "rsa"),
                 keys_from=None):
        need_tool(DROPBEAR)
        need_tool(DROPBEARKEY)
        self.dir = temp_dir(tag)
        self.stems = list(stems)
        if keys_from is not None:
            self.keys, self.fp = keys_from.keys, keys_from.fp
        else:
            self.keys = {}
            for stem, ktype, bits in self.KEYS:
                path = os.path.join(self.dir, stem)
                argv = [DROPBEARKEY, "-t", ktype, "-f", path] + \
                    (["-s", str(bits)] if bits else [])
                r = run(argv, timeout=60)
                if r.rc != 0:
                    raise CaseFailure("dropbearkey failed\n" + r.describe())
                # The public key line of `dropbearkey -y`, for ssh-keygen -l.
                r = run([DROPBEARKEY, "-y", "-f", path], timeout=30)
                pub = [l for l in r.out.splitlines() if re.match(r"^(ssh-|ecdsa-)", l)]
                if r.rc != 0 or not pub:
                    raise CaseFailure("dropbearkey -y failed\n" + r.describe())
                with open(path + ".pub", "w", encoding="ascii") as f:
                    f.write(pub[0] + "\n")
                self.keys[stem] = path
            self.fp = {alg: fingerprint(self.keys[stem] + ".pub")
                       for alg, stem in HOSTKEY_FILE.items()}
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.dir, "dropbear.log")
        self.banner = None

    def start(self, attempts=4):
        last = None
        for _ in range(attempts):
            port = free_port()
            argv = [DROPBEAR, "-F", "-E", "-s", "-w", "-P", os.path.join(self.dir, "pid"),
                    "-p", "127.0.0.1:%d" % port]
            for stem in self.stems:
                argv += ["-r", self.keys[stem]]
            log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
            proc = spawn(argv, stdout=log, stderr=log)
            log.close()
            try:
                self.banner = wait_banner(port, proc)
            except CaseFailure as exc:
                last = exc
                kill_proc(proc)
                continue
            self.proc, self.port = proc, port
            return self
        raise CaseFailure("dropbear did not start: %s\nlog:\n%s" % (last, self.log()[-2000:]))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        kill_proc(self.proc)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# paramiko server (in-process, one thread per connection)

def paramiko_hostkeys(paramiko, keys):
    """Loads OpenSSH-format keys {stem: path} as paramiko PKey objects."""
    out = []
    for stem, path in keys.items():
        if stem == "ed25519":
            out.append(paramiko.Ed25519Key.from_private_key_file(path))
        elif stem.startswith("ecdsa"):
            out.append(paramiko.ECDSAKey.from_private_key_file(path))
        else:
            out.append(paramiko.RSAKey.from_private_key_file(path))
    return out


class ParamikoServer:
    """A paramiko Transport in server mode on 127.0.0.1:free port.

    Every connection gets the same host keys; userauth offers "publickey"
    only and fails "none". `configure(transport)` (optional) is called on
    each Transport before start_server (e.g. to change REKEY_BYTES). The
    negotiated algorithms and errors of every connection are kept in
    self.sessions (dicts), in accept order."""

    def __init__(self, tag="paramiko", configure=None, keys_from=None):
        self.paramiko = import_paramiko()
        self.dir = temp_dir(tag)
        if keys_from is not None:  # share another instance's host keys
            self.keys, self.fp, self.pkeys = keys_from.keys, keys_from.fp, keys_from.pkeys
        else:
            self.keys = openssh_hostkeys(self.dir)
            self.fp = {alg: fingerprint(self.keys[stem] + ".pub")
                       for alg, stem in HOSTKEY_FILE.items()}
            self.pkeys = paramiko_hostkeys(self.paramiko, self.keys)
        self.configure = configure
        self.sock = None
        self.port = None
        self.sessions = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = None

    def start(self):
        import logging  # pylint: disable=import-outside-toplevel
        # One log file for all of paramiko in this process (every instance's
        # log() reads it); the first instance creates it.
        log = logging.getLogger("paramiko")
        handlers = [h for h in log.handlers if isinstance(h, logging.FileHandler)]
        if not handlers:
            h = logging.FileHandler(os.path.join(self.dir, "paramiko.log"))
            h.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(message)s"))
            log.addHandler(h)
            log.setLevel(logging.INFO)
            log.propagate = False
            handlers = [h]
        self.log_path = handlers[0].baseFilename
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()
        self.banner = wait_banner(self.port)
        time.sleep(0.2)
        with self.lock:
            self.sessions = []
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def last_session(self, timeout=10.0):
        """The latest connection's info once it has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                info = self.sessions[-1] if self.sessions else None
            if info is not None and info.get("done"):
                return info
            time.sleep(0.02)
        return info

    def _server_interface(self):
        paramiko = self.paramiko

        class Iface(paramiko.ServerInterface):
            def get_allowed_auths(self, username):
                return "publickey"

            def check_auth_none(self, username):
                return paramiko.AUTH_FAILED

            def check_auth_publickey(self, username, key):
                return paramiko.AUTH_FAILED

        return Iface()

    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        paramiko = self.paramiko
        info = {"error": None, "kexes": 0, "kexinits_sent": 0, "done": False}
        with self.lock:
            self.sessions.append(info)
        t = paramiko.Transport(conn)
        # Count completed exchanges (every NEWKEYS received) and the
        # KEXINITs paramiko sent (initial + the ones it started or answered).
        orig_activate, orig_kexinit = t._activate_inbound, t._send_kex_init

        def activate():
            info["kexes"] += 1
            return orig_activate()

        def kexinit():
            info["kexinits_sent"] += 1
            return orig_kexinit()
        t._activate_inbound, t._send_kex_init = activate, kexinit
        try:
            for k in self.pkeys:
                t.add_server_key(k)
            if self.configure:
                self.configure(t)
            # With an event, start_server returns at once. Without one it
            # polls every 0.1 s and checks is_active() before the event, so
            # a client that finishes its whole session (kex, rekeys,
            # DISCONNECT) inside one poll made it raise a bogus
            # "Negotiation failed." after a successful negotiation.
            t.start_server(event=threading.Event(), server=self._server_interface())
            deadline = time.monotonic() + 300
            # Keep the transport up until the client goes away.
            while t.is_active() and time.monotonic() < deadline and not self.stopping:
                time.sleep(0.02)
                self._snapshot(t, info)
            self._snapshot(t, info)
            if t.saved_exception is not None:
                info["error"] = repr(t.saved_exception)
        except Exception as exc:  # pylint: disable=broad-except
            info["error"] = repr(exc)
        finally:
            try:
                t.close()
            except Exception:  # pylint: disable=broad-except
                pass
            info["done"] = True

    @staticmethod
    def _snapshot(t, info):
        try:
            if t.remote_cipher:
                info["cipher_in"] = t.remote_cipher
                info["cipher_out"] = t.local_cipher
                info["mac_in"] = t.remote_mac
                info["mac_out"] = t.local_mac
                info["compression_in"] = t.remote_compression
                info["compression_out"] = t.local_compression
                info["hostkey"] = t.host_key_type
        except Exception:  # pylint: disable=broad-except
            pass

    def stop(self):
        self.stopping = True
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# sshbpp serve

class SshbppServe:
    """`sshbpp serve -p 0 --hostkey ...` on 127.0.0.1; reads the listening line."""

    def __init__(self, sshbpp, hostkeys, args=(), tag="serve"):
        self.sshbpp = sshbpp
        self.hostkeys = list(hostkeys)
        self.args = list(args)
        self.dir = temp_dir(tag)
        self.proc = None
        self.port = None
        self.err_path = os.path.join(self.dir, "serve.err")
        self.banner = None

    def start(self, timeout=15.0, check_banner=True):
        argv = [self.sshbpp, "serve", "-p", "0", "--bind", "127.0.0.1"]
        for k in self.hostkeys:
            argv += ["--hostkey", k]
        argv += self.args
        err = open(self.err_path, "ab")  # pylint: disable=consider-using-with
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=err)
        err.close()
        line = _readline_timeout(self.proc.stdout, timeout)
        m = re.match(r"^sshbpp: listening on 127\.0\.0\.1:(\d+)\s*$", line or "")
        if not m:
            rc = self.proc.poll()
            kill_proc(self.proc)
            raise CaseFailure("sshbpp serve did not print 'sshbpp: listening on 127.0.0.1:PORT'"
                              " (got %r, rc %s)\nstderr:\n%s" % (line, rc, self.log()[-2000:]))
        self.port = int(m.group(1))
        # Drain stdout so the server never blocks on a full pipe.
        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()
        if check_banner:
            self.banner = wait_banner(self.port, self.proc)
        return self

    def log(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        kill_proc(self.proc)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _readline_timeout(stream, timeout):
    box = []

    def reader():
        try:
            box.append(stream.readline().decode("utf-8", "replace"))
        except Exception:  # pylint: disable=broad-except
            box.append(None)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    th.join(timeout)
    return box[0] if box else None


def _drain(stream):
    try:
        while stream.read(4096):
            pass
    except Exception:  # pylint: disable=broad-except
        pass


def pem_hostkeys(directory):
    """PKCS#8 PEM host keys for `sshbpp serve` (ed25519, P-256/384/521, RSA
    3072), made with openssl genpkey, plus an OpenSSH .pub of each for
    `ssh-keygen -l` (ssh-keygen 9.2 cannot read a PKCS#8 ed25519 key, so the
    public line comes from python3-cryptography, paramiko's own
    dependency). Returns {stem: pem path}."""
    openssl = need_tool("/usr/bin/openssl")
    try:
        from cryptography.hazmat.primitives import serialization  # pylint: disable=C0415
    except ImportError as exc:
        raise MissingTool("python3-cryptography (paramiko's dependency) is missing: %s"
                          % exc) from exc
    specs = {
        "ed25519": ["-algorithm", "ed25519"],
        "ecdsa256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-pkeyopt", "ec_param_enc:named_curve"],
        "ecdsa384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384",
                     "-pkeyopt", "ec_param_enc:named_curve"],
        "ecdsa521": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521",
                     "-pkeyopt", "ec_param_enc:named_curve"],
        "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
    }
    out = {}
    for stem, spec in specs.items():
        path = os.path.join(directory, stem + ".pem")
        r = run([openssl, "genpkey"] + spec + ["-out", path], timeout=60)
        if r.rc != 0:
            raise CaseFailure("openssl genpkey failed\n" + r.describe())
        os.chmod(path, 0o600)
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                            serialization.PublicFormat.OpenSSH)
        with open(path + ".pub", "wb") as f:
            f.write(pub + b"\n")
        out[stem] = path
    return out


# ---------------------------------------------------------------------------
# Case runner

class Runner:
    """Runs named cases, prints one line per case and the final tally."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.failures = []

    def case(self, label, fn, *args, **kwargs):
        t0 = time.monotonic()
        try:
            note = fn(*args, **kwargs)
        except MissingTool as exc:
            self._fail(label, "MISSING TOOL: %s" % exc, t0)
            return False
        except CaseFailure as exc:
            self._fail(label, str(exc), t0)
            return False
        except Exception:  # pylint: disable=broad-except
            self._fail(label, "exception:\n" + traceback.format_exc(), t0)
            return False
        with self.lock:
            self.passed += 1
            print("PASS %-60s %5.2fs%s" % (label, time.monotonic() - t0,
                                           ("  " + note) if note else ""), flush=True)
        return True

    def _fail(self, label, text, t0):
        with self.lock:
            self.failed += 1
            self.failures.append(label)
            first, _, rest = text.partition("\n")
            print("FAIL %-60s %5.2fs  %s" % (label, time.monotonic() - t0, first), flush=True)
            if rest:
                for line in rest.splitlines():
                    print("     | " + line, flush=True)

    def fatal(self, label, exc):
        """A failure outside any case (setup): counted as one failed case."""
        if isinstance(exc, MissingTool):
            text = "MISSING TOOL (this is a failure, not a skip): %s" % exc
        elif isinstance(exc, CaseFailure):
            text = str(exc)
        else:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._fail(label, text, self.t0)

    def parallel(self, cases, workers=2):
        """cases: list of (label, fn, args...) run `workers` at a time."""
        it = iter(cases)
        it_lock = threading.Lock()

        def worker():
            while True:
                with it_lock:
                    try:
                        c = next(it)
                    except StopIteration:
                        return
                self.case(c[0], c[1], *c[2:])

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    def finish(self):
        elapsed = time.monotonic() - self.t0
        if self.failures:
            print("%s: failed cases: %s" % (self.name, ", ".join(self.failures)), flush=True)
        print("%s: %.1fs" % (self.name, elapsed), flush=True)
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed or self.passed == 0 else 0


def sshbpp_binary(argv):
    """The sshbpp path from argv[1]; a missing binary is a failure."""
    if len(argv) < 2:
        raise MissingTool("usage: %s PATH/TO/sshbpp" % argv[0])
    path = os.path.abspath(argv[1])
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise MissingTool("sshbpp binary %s does not exist (build target sshbpp_cli)" % path)
    return path
