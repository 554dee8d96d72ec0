"""A scripted SSH server over a raw socket, for strict-KEX tests.

It does the real thing where it matters: version exchange, a real KEXINIT,
curve25519-sha256 with an ssh-ed25519 host key, RFC 4253 key derivation,
NEWKEYS, then aes128-ctr + hmac-sha2-256 packets (with or without strict
KEX's sequence number reset), SERVICE_ACCEPT and USERAUTH_FAILURE
"publickey". Crypto comes from `cryptography` (paramiko's own dependency).

On top of that it injects protocol violations at chosen points (see
INJECT_POINTS), so that a client's strict-KEX enforcement can be checked
against the same server that, without injections, completes a handshake
with OpenSSH's ssh and with the client under test.

One ScriptedServer serves one connection per scenario; every step it took
and what it received are kept in .events (for the test's messages).
"""

import hashlib
import hmac
import os
import socket
import struct
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MSG_DISCONNECT = 1
MSG_IGNORE = 2
MSG_UNIMPLEMENTED = 3
MSG_DEBUG = 4
MSG_SERVICE_REQUEST = 5
MSG_SERVICE_ACCEPT = 6
MSG_EXT_INFO = 7
MSG_KEXINIT = 20
MSG_NEWKEYS = 21
MSG_KEX_ECDH_INIT = 30
MSG_KEX_ECDH_REPLY = 31
MSG_USERAUTH_REQUEST = 50
MSG_USERAUTH_FAILURE = 51

STRICT_S = "kex-strict-s-v00@openssh.com"

# Where violations can be injected (server -> client, all before the
# server's first NEWKEYS unless named otherwise):
#   before_kexinit   messages sent before our first KEXINIT
#   after_kexinit    right after our KEXINIT (before the KEX reply)
#   after_reply      after KEX_ECDH_REPLY, before NEWKEYS
#   after_newkeys    first encrypted messages (allowed in any mode)
INJECT_POINTS = ("before_kexinit", "after_kexinit", "after_reply", "after_newkeys")


def _u32(n):
    return struct.pack(">I", n)


def _string(b):
    if isinstance(b, str):
        b = b.encode()
    return _u32(len(b)) + b


def _mpint(b):
    """mpint from a big-endian unsigned byte string."""
    b = b.lstrip(b"\x00")
    if b and b[0] & 0x80:
        b = b"\x00" + b
    return _string(b)


def _namelist(names):
    return _string(",".join(names))


class Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def byte(self):
        v = self.d[self.i]
        self.i += 1
        return v

    def u32(self):
        v = struct.unpack(">I", self.d[self.i:self.i + 4])[0]
        self.i += 4
        return v

    def string(self):
        n = self.u32()
        v = self.d[self.i:self.i + n]
        if len(v) != n:
            raise ValueError("truncated string")
        self.i += n
        return v

    def namelist(self):
        s = self.string().decode("ascii", "replace")
        return s.split(",") if s else []


def ignore_msg(text=b"scripted-ignore"):
    return bytes([MSG_IGNORE]) + _string(text)


def debug_msg(text="scripted debug"):
    return bytes([MSG_DEBUG, 0]) + _string(text) + _string("")


class PeerClosed(Exception):
    pass


class ScriptedServer:
    """Listens on 127.0.0.1:free port and runs one scenario per connection.

    strict:      advertise kex-strict-s-v00@openssh.com (and reset
                 sequence numbers after NEWKEYS when the client also does)
    inject:      {point: [payload, ...]} extra messages (INJECT_POINTS)
    double_kexinit: send our KEXINIT twice
    early_newkeys:  send NEWKEYS right after KEXINIT (no KEX reply)
    stop_after:  "kexinit" / "reply" to stop (close) after that step, None
                 to run the whole handshake and userauth
    gex_group:   (p, g) integers: offer only diffie-hellman-group-exchange-
                 sha256, answer the client's GEX_REQUEST with this group and
                 record what the client does next (the group tests)
    """

    def __init__(self, strict=True, inject=None, double_kexinit=False, early_newkeys=False,
                 stop_after=None, timeout=20.0, gex_group=None):
        self.strict = strict
        self.gex_group = gex_group
        self.gex_request = None
        self.inject = inject or {}
        self.double_kexinit = double_kexinit
        self.early_newkeys = early_newkeys
        self.stop_after = stop_after
        self.timeout = timeout
        self.hostkey = Ed25519PrivateKey.generate()
        self.hostkey_blob = _string("ssh-ed25519") + _string(
            self.hostkey.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw))
        self.events = []
        self.error = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.done = threading.Event()
        # connection state
        self.conn = None
        self.buf = b""
        self.seq_in = 0
        self.seq_out = 0
        self.enc_out = self.enc_in = None
        self.mac_out = self.mac_in = None
        self.received = []  # message types received, in order

    def start(self):
        self.thread.start()
        return self

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass

    def wait(self, timeout=None):
        """Call after the client has exited: stops a pending accept (no
        client ever came) and waits for the scenario thread."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if not self.done.wait(timeout if timeout is not None else 5.0):
            if self.conn is not None:
                try:
                    self.conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.done.wait(2.0)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ----- I/O

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise PeerClosed("peer closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_packet(self, payload):
        bs = 16 if self.enc_out else 8
        pad = bs - (5 + len(payload)) % bs
        if pad < 4:
            pad += bs
        pkt = _u32(1 + len(payload) + pad) + bytes([pad]) + payload + os.urandom(pad)
        if self.enc_out:
            mac = hmac.new(self.mac_out, _u32(self.seq_out) + pkt, hashlib.sha256).digest()
            wire = self.enc_out.update(pkt) + mac
        else:
            wire = pkt
        self.conn.sendall(wire)
        self.events.append("sent %d (seq %d)" % (payload[0], self.seq_out))
        self.seq_out = (self.seq_out + 1) & 0xFFFFFFFF

    def _read_packet(self):
        if self.enc_in:
            first = self.enc_in.update(self._recv_exact(16))
            length = struct.unpack(">I", first[:4])[0]
            if length > 35000 or (length + 4) % 16:
                raise ValueError("bad encrypted packet length %d" % length)
            rest = self.enc_in.update(self._recv_exact(length + 4 - 16))
            pkt = first + rest
            mac = self._recv_exact(32)
            want = hmac.new(self.mac_in, _u32(self.seq_in) + pkt, hashlib.sha256).digest()
            if not hmac.compare_digest(mac, want):
                raise ValueError("MAC mismatch on received packet (seq %d): the client's "
                                 "sequence numbering disagrees" % self.seq_in)
        else:
            head = self._recv_exact(5)
            length = struct.unpack(">I", head[:4])[0]
            if length > 35000:
                raise ValueError("bad packet length %d" % length)
            pkt = head + self._recv_exact(length - 1)
        padlen = pkt[4]
        payload = pkt[5:4 + struct.unpack(">I", pkt[:4])[0] - padlen]
        self.events.append("recv %d (seq %d)" % (payload[0], self.seq_in))
        self.seq_in = (self.seq_in + 1) & 0xFFFFFFFF
        self.received.append(payload[0])
        return payload

    def _read_msg(self, skip=(MSG_IGNORE, MSG_DEBUG, MSG_EXT_INFO)):
        while True:
            p = self._read_packet()
            if p[0] == MSG_DISCONNECT:
                r = Reader(p[1:])
                code = r.u32()
                desc = r.string().decode("utf-8", "replace")
                raise PeerClosed("peer sent DISCONNECT %d: %s" % (code, desc))
            if p[0] not in skip:
                return p

    def _inject(self, point):
        for payload in self.inject.get(point, []):
            self._send_packet(payload)

    # ----- the scenario

    def _kexinit(self):
        kex = (["diffie-hellman-group-exchange-sha256"] if self.gex_group else
               ["curve25519-sha256"]) + ([STRICT_S] if self.strict else [])
        return (bytes([MSG_KEXINIT]) + os.urandom(16) + _namelist(kex) +
                _namelist(["ssh-ed25519"]) + _namelist(["aes128-ctr"]) * 2 +
                _namelist(["hmac-sha2-256"]) * 2 + _namelist(["none"]) * 2 +
                _namelist([]) * 2 + b"\x00" + _u32(0))

    def _run(self):
        try:
            self.sock.settimeout(self.timeout)
            self.conn, _ = self.sock.accept()
            self.conn.settimeout(self.timeout)
            self._scenario()
        except Exception as exc:  # pylint: disable=broad-except
            self.error = "%s: %s" % (type(exc).__name__, exc)
            self.events.append("end: " + self.error)
        finally:
            try:
                if self.conn is not None:
                    self.conn.close()
            except OSError:
                pass
            self.done.set()

    def _scenario(self):
        v_s = b"SSH-2.0-sshbppScripted_1.0"
        self.conn.sendall(v_s + b"\r\n")
        line = b""
        while True:
            line = b""
            while not line.endswith(b"\n"):
                line += self._recv_exact(1)
                if len(line) > 1024:
                    raise ValueError("client version line too long")
            if line.startswith(b"SSH-"):
                break
        v_c = line.rstrip(b"\r\n")
        self.events.append("client version %r" % v_c)

        self._inject("before_kexinit")
        i_s = self._kexinit()
        self._send_packet(i_s)
        self._inject("after_kexinit")
        if self.double_kexinit:
            self._send_packet(self._kexinit())
        if self.early_newkeys:
            self._send_packet(bytes([MSG_NEWKEYS]))

        i_c = self._read_msg(skip=(MSG_IGNORE, MSG_DEBUG))
        if i_c[0] != MSG_KEXINIT:
            raise ValueError("expected the client's KEXINIT, got %d" % i_c[0])
        r = Reader(i_c[17:])
        client_kex = r.namelist()
        client_strict = "kex-strict-c-v00@openssh.com" in client_kex
        strict = self.strict and client_strict
        self.events.append("client strict=%s, negotiated strict=%s" % (client_strict, strict))
        if self.gex_group:
            p = self._read_msg(skip=(MSG_IGNORE, MSG_DEBUG))
            if p[0] != 34:
                raise ValueError("expected KEX_DH_GEX_REQUEST, got %d" % p[0])
            rd = Reader(p[1:])
            self.gex_request = (rd.u32(), rd.u32(), rd.u32())
            self.events.append("gex request %r" % (self.gex_request,))
            gp, gg = self.gex_group
            self._send_packet(bytes([31]) + _mpint(gp.to_bytes((gp.bit_length() + 7) // 8, "big"))
                              + _mpint(gg.to_bytes((gg.bit_length() + 7) // 8, "big")))
            try:
                p = self._read_msg(skip=())
                self.events.append("after our group the client sent %d" % p[0])
            except PeerClosed:
                self.events.append("after our group the client closed")
            return
        if self.stop_after == "kexinit":
            # Wait for whatever the client does next (its KEX init, or an error).
            p = self._read_msg(skip=())
            self.events.append("after our kexinit the client sent %d" % p[0])
            return

        p = self._read_msg(skip=(MSG_IGNORE, MSG_DEBUG))
        if p[0] != MSG_KEX_ECDH_INIT:
            raise ValueError("expected KEX_ECDH_INIT, got %d" % p[0])
        q_c = Reader(p[1:]).string()
        eph = X25519PrivateKey.generate()
        q_s = eph.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        shared = eph.exchange(X25519PublicKey.from_public_bytes(q_c))
        k = _mpint(shared)
        h = hashlib.sha256(_string(v_c) + _string(v_s) + _string(i_c) + _string(i_s) +
                           _string(self.hostkey_blob) + _string(q_c) + _string(q_s) +
                           k).digest()
        sig = _string("ssh-ed25519") + _string(self.hostkey.sign(h))
        self._send_packet(bytes([MSG_KEX_ECDH_REPLY]) + _string(self.hostkey_blob) +
                          _string(q_s) + _string(sig))
        if self.stop_after == "reply":
            p = self._read_msg(skip=())
            self.events.append("after our reply the client sent %d" % p[0])
            return
        self._inject("after_reply")
        self._send_packet(bytes([MSG_NEWKEYS]))

        def derive(letter, n):
            return hashlib.sha256(k + h + letter + h).digest()[:n]

        iv_c2s, iv_s2c = derive(b"A", 16), derive(b"B", 16)
        key_c2s, key_s2c = derive(b"C", 16), derive(b"D", 16)
        mac_c2s, mac_s2c = derive(b"E", 32), derive(b"F", 32)
        self.enc_out = Cipher(algorithms.AES(key_s2c), modes.CTR(iv_s2c)).encryptor()
        self.mac_out = mac_s2c
        if strict:
            self.seq_out = 0

        p = self._read_msg(skip=(MSG_IGNORE, MSG_DEBUG))
        if p[0] != MSG_NEWKEYS:
            raise ValueError("expected NEWKEYS, got %d" % p[0])
        self.enc_in = Cipher(algorithms.AES(key_c2s), modes.CTR(iv_c2s)).decryptor()
        self.mac_in = mac_c2s
        if strict:
            self.seq_in = 0
        self.events.append("keys installed (strict=%s)" % strict)
        self._inject("after_newkeys")

        # Service request and userauth: fail everything with "publickey".
        p = self._read_msg()
        if p[0] != MSG_SERVICE_REQUEST:
            raise ValueError("expected SERVICE_REQUEST, got %d" % p[0])
        service = Reader(p[1:]).string()
        self._send_packet(bytes([MSG_SERVICE_ACCEPT]) + _string(service))
        for _ in range(20):
            p = self._read_msg()
            if p[0] != MSG_USERAUTH_REQUEST:
                raise ValueError("expected USERAUTH_REQUEST, got %d" % p[0])
            self.events.append("userauth request answered")
            self._send_packet(bytes([MSG_USERAUTH_FAILURE]) + _namelist(["publickey"]) +
                              b"\x00")
            self.reached_auth = True

    reached_auth = False

    @property
    def hostkey_fingerprint(self):
        import base64  # pylint: disable=import-outside-toplevel
        return "SHA256:" + base64.b64encode(
            hashlib.sha256(self.hostkey_blob).digest()).decode().rstrip("=")
