"""Error paths: sshbpp.Packetizer raises the same exception class with the
same message as paramiko's own Packetizer, case by case. Every case runs
against both classes (on a real socketpair: the fd path, and where it
matters on a LoopSocket: the callback path) and the two outcomes must be
equal."""

import errno
import hashlib
import socket
import struct
import threading
import time

import paramiko.packet
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from paramiko.message import Message
from paramiko.ssh_exception import ProxyCommandFailure

import loopsock
import sshbpp

KEY, IV = b"\x00" * 16, b"\x55" * 16


def _msg(payload=b"\x64\x00\x00\x00\x01"):
    m = Message()
    m.add_bytes(payload)
    return m


_keep = []  # the peers of the Packetizers under test stay open during a case


def _sockpair(kind):
    pair = _sockpair_new(kind)
    _keep.append(pair)
    return pair


def _sockpair_new(kind):
    if kind == "fd":
        a, b = socket.socketpair()
        a.settimeout(0.1)
        b.settimeout(0.1)
        return a, b
    a, b = loopsock.pair()
    a.settimeout(0.1)
    b.settimeout(0.1)
    return a, b


def _outcome(fn):
    t0 = time.monotonic()
    try:
        r = fn()
    except Exception as e:  # pylint: disable=broad-except
        return (type(e), str(e)), time.monotonic() - t0
    return ("returned", repr(r)[:80]), time.monotonic() - t0


def _cipher(encrypt, kind="ctr"):
    mode = modes.CTR(IV) if kind == "ctr" else modes.CBC(IV)
    c = Cipher(algorithms.AES(KEY), mode)
    return c.encryptor() if encrypt else c.decryptor()


def _raw(encrypt, name="aes128-ctr"):
    return sshbpp.RawCipher(name, KEY, IV, encrypt)


# Each case: (cls, kind, path) -> the call that must fail. `path` is "fast"
# (RawCipher for sshbpp) or "compat"; paramiko always gets cryptography.

def case_invalid_blocking(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.send(bytes.fromhex("00000005040000000000000000"))
    return p.read_message


def _keyed_pair(cls, kind, path, etm, mac=hashlib.sha256, size=32):
    a, b = _sockpair(kind)
    w = cls(a)
    r = cls(b)
    enc = _raw(True) if (cls is sshbpp.Packetizer and path == "fast") else _cipher(True)
    dec = _raw(False) if (cls is sshbpp.Packetizer and path == "fast") else _cipher(False)
    w.set_outbound_cipher(enc, 16, mac, size, b"\x1f" * size, True, etm=etm)
    r.set_inbound_cipher(dec, 16, mac, size, b"\x1f" * size, etm=etm)
    return a, b, w, r


class _Flip(object):
    """Wraps a socket; flips one bit of the n-th byte it sends."""

    def __init__(self, sock, at):
        self.s, self.at, self.sent = sock, at, 0

    def send(self, data):
        data = bytearray(data)
        if self.sent <= self.at < self.sent + len(data):
            data[self.at - self.sent] ^= 1
        n = self.s.send(bytes(data))
        self.sent += n
        return n

    def recv(self, n):
        return self.s.recv(n)

    def settimeout(self, t):
        self.s.settimeout(t)

    def close(self):
        self.s.close()


def _mac_case(etm, at):
    def case(cls, kind, path):
        a, b, w, r = _keyed_pair(cls, kind, path, etm)
        w2 = cls(_Flip(a, at))
        enc = _raw(True) if (cls is sshbpp.Packetizer and path == "fast") else _cipher(True)
        w2.set_outbound_cipher(enc, 16, hashlib.sha256, 32, b"\x1f" * 32, True, etm=etm)
        w2.send_message(_msg())
        return r.read_message
    return case


def case_eof_between_packets(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.close()
    return p.read_message


def case_eof_mid_packet(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.send(bytes.fromhex("0000001c0a64"))
    a.close()
    return p.read_message


def case_read_after_close(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    p.close()
    return p.read_message


def case_send_after_close(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(a)
    p.close()
    return lambda: p.send_message(_msg())


def case_send_zero(cls, kind, path):
    a, b = loopsock.pair()
    a.send = lambda data: 0
    p = cls(a)
    return lambda: p.send_message(_msg())


def case_send_proxy_failure(cls, kind, path):
    a, b = loopsock.pair()

    def send(data):
        raise ProxyCommandFailure("ssh -W", "broken pipe")
    a.send = send
    p = cls(a)
    return lambda: p.send_message(_msg())


def case_recv_reset(cls, kind, path):
    a, b = loopsock.pair()

    def recv(n):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    b.recv = recv
    p = cls(b)
    return p.read_message


def case_need_rekey(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    p.REKEY_PACKETS = 1
    q = cls(a)
    q.send_message(_msg())
    p.read_message()
    assert p.need_rekey()
    return lambda: p.read_all(4, check_rekey=True)


def _bounded(sock, fn, seconds=3.0):
    """fn() with a watchdog: if it still blocks after `seconds`, the peer
    socket is closed, so a read that never raises NeedRekeyException ends
    in EOFError (a different outcome) instead of hanging the test."""
    def run():
        t = threading.Timer(seconds, sock.close)
        t.start()
        try:
            return fn()
        finally:
            t.cancel()
    return run


def _need_rekey_keyed(cls, kind, path, by_send):
    # Keyed with real ciphers (the compatible path: cryptography objects),
    # the rekey limit hit by a received packet or by a sent one, then the
    # peer goes idle: paramiko's read_message raises NeedRekeyException
    # after one socket timeout (spec 3.3 step 1, 4.1).
    a, b, w, r = _keyed_pair(cls, kind, path, False)
    if by_send:
        # b also sends, keyed, to a reader on a that is never used.
        enc = _raw(True) if (cls is sshbpp.Packetizer and path == "fast") else _cipher(True)
        r.set_outbound_cipher(enc, 16, hashlib.sha256, 32, b"\x1f" * 32, True)
        r.REKEY_PACKETS = 1
        r.send_message(_msg())
    else:
        r.REKEY_PACKETS = 1
        w.send_message(_msg())
        r.read_message()
    assert r.need_rekey()
    return _bounded(a, r.read_message)


def case_need_rekey_read_message(cls, kind, path):
    return _need_rekey_keyed(cls, kind, path, False)


def case_need_rekey_read_message_sent(cls, kind, path):
    return _need_rekey_keyed(cls, kind, path, True)


def case_rekey_ignored(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    p.REKEY_PACKETS = 2
    p.REKEY_PACKETS_OVERFLOW_MAX = 3
    q = cls(a)
    for _ in range(5):
        q.send_message(_msg())
    for _ in range(4):
        p.read_message()
    return p.read_message


def case_readline_timeout(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.send(b"SSH-2.0-no newline")
    return lambda: p.readline(0.3)


def case_readline_eof(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.send(b"SSH-2.0-partial")
    a.close()
    return lambda: p.readline(2)


def case_readline_bad_utf8(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.send(b"SSH-2.0-\xff\xfe\r\n")
    return lambda: p.readline(2)


def case_empty_payload(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    a.send(bytes.fromhex("0000000c0b") + b"\x00" * 11)
    return p.read_message


def case_handshake_timeout(cls, kind, path):
    a, b = _sockpair(kind)
    p = cls(b)
    p.start_handshake(0.2)
    time.sleep(0.3)
    return p.read_message


CASES = {
    "invalid-blocking": case_invalid_blocking,
    "mismatched-mac": _mac_case(False, 20),
    "mismatched-mac-in-mac": _mac_case(False, 40),
    "mismatched-mac-etm": _mac_case(True, 10),
    "eof-between-packets": case_eof_between_packets,
    "eof-mid-packet": case_eof_mid_packet,
    "read-after-close": case_read_after_close,
    "send-after-close": case_send_after_close,
    "send-zero-bytes": case_send_zero,
    "send-proxy-failure": case_send_proxy_failure,
    "recv-connection-reset": case_recv_reset,
    "need-rekey": case_need_rekey,
    "need-rekey-read-message": case_need_rekey_read_message,
    "need-rekey-read-message-sent": case_need_rekey_read_message_sent,
    "rekey-ignored": case_rekey_ignored,
    "readline-timeout": case_readline_timeout,
    "readline-eof": case_readline_eof,
    "readline-bad-utf8": case_readline_bad_utf8,
    "empty-payload": case_empty_payload,
    "handshake-timeout": case_handshake_timeout,
}


@pytest.mark.parametrize("kind", ["fd", "loop"])
@pytest.mark.parametrize("path", ["fast", "compat"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_exception_as_paramiko(name, path, kind):
    case = CASES[name]
    del _keep[:]
    want, _ = _outcome(case(paramiko.packet.Packetizer, kind, path))
    got, elapsed = _outcome(case(sshbpp.Packetizer, kind, path))
    assert want[0] != "returned", "paramiko did not fail: %r" % (want,)
    assert got == want
    assert elapsed < 5


def test_gcm_bad_tag_raises_invalid_tag():
    from cryptography.exceptions import InvalidTag
    nonce = bytes(12)
    for path in ("fast", "compat"):
        a, b = socket.socketpair()
        w, r = sshbpp.Packetizer(a), sshbpp.Packetizer(b)
        name = "aes128-gcm@openssh.com"
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        enc = sshbpp.RawCipher(name, KEY, nonce, True, True)
        dec = sshbpp.RawCipher(name, KEY, nonce, False, True) if path == "fast" else AESGCM(KEY)
        w.set_outbound_cipher(enc, 16, None, 16, None, True, aead=True, iv_out=nonce)
        r.set_inbound_cipher(dec, 16, None, 16, None, aead=True, iv_in=nonce)
        w2 = sshbpp.Packetizer(_Flip(a, 30))
        w2.set_outbound_cipher(sshbpp.RawCipher(name, KEY, nonce, True, True), 16, None, 16,
                               None, True, aead=True, iv_out=nonce)
        w2.send_message(_msg())
        with pytest.raises(InvalidTag) as ei:
            r.read_message()
        assert str(ei.value) == ""
        a.close()
        b.close()


def test_sequence_rollover_before_initial_kex():
    """paramiko 3.4+: SSHException('Sequence number rolled over during
    initial kex!'); 2.12 wraps silently, so the expected text is fixed."""
    for direction in ("in", "out"):
        a, b = socket.socketpair()
        w, r = sshbpp.Packetizer(a), sshbpp.Packetizer(b)
        if direction == "out":
            w._Packetizer__sequence_number_out = 0xFFFFFFFF
            with pytest.raises(sshbpp.SSHException,
                               match="^Sequence number rolled over during initial kex!$"):
                w.send_message(_msg())
        else:
            r._Packetizer__sequence_number_in = 0xFFFFFFFF
            w.send_message(_msg())
            with pytest.raises(sshbpp.SSHException,
                               match="^Sequence number rolled over during initial kex!$"):
                r.read_message()
        a.close()
        b.close()

