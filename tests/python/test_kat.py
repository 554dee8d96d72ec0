"""Known-answer vectors (../shared/spec/packetizer.md 8.1 and 8.3) through
sshbpp.Packetizer, on the fast path (RawCipher: all crypto in C) and on the
compatible path (cryptography cipher objects and hashlib constructors, as
paramiko's own tests pass them)."""

import hashlib
import socket

import pytest
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from paramiko.message import Message

import sshbpp

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:
    TripleDES = algorithms.TripleDES

M1 = bytes.fromhex("64000000640000000100000384")
M2 = bytes.fromhex("5e000000070000002668656c6c6f20776f726c642c20746869732069732061206c6f6e67"
                   "6572207061796c6f616421")

# name, key, iv, mac ctor, mac size, mac key, sdctr, etm, aead, start seq, fixed pad,
# [(payload, wire hex)]
VECTORS = {
    "none": ("none", None, None, None, 0, None, False, False, False, 0, None, [
        (M1, "000000140664000000640000000100000384000000000000"),
        (M2, "00000034045e000000070000002668656c6c6f20776f726c642c20746869732069732061206c6f"
             "6e676572207061796c6f61642100000000")]),
    "aes128-ctr+hmac-sha2-256": (
        "aes128-ctr", b"\x00" * 16, b"\x55" * 16, hashlib.sha256, 32, b"\x1f" * 32, True, False,
        False, 0, None, [
            (M1, "9adae048f859faff5ec58e45edf7ea6f6c1de8dabef3f9c8cba945878b9c4eaffa8a6690a4697454"
                 "60216a8866204c1b4f5ec78b695bc4f2daf18b9cbd5d9e91"),
            (M2, "065afb3f548030078095df0f388376f78bc8b7e0857da6298205ec7e12586070567775395eae37"
                 "20cae75e5a1f56316e314b4728638b72421df8669043801907c20432dafb37d505379e579fcc2cc2"
                 "949b2ba089cbd76d672f4e78f7ebe59d7a")]),
    "aes256-ctr+hmac-sha2-512-etm": (
        "aes256-ctr", bytes(range(32)), b"\x00" * 15 + b"\x01", hashlib.sha512, 64, b"\x2a" * 64,
        True, True, False, 0, None, [
            (M1, "00000020e23976ae4add9fe5a6f79b314b46363d0ebcb5deb52c83bd08a8a935182c919961b0f8"
                 "5aa65e173bc328dffec0ab070b0e9d5469c4ea7551f5b61810ae9e11e90a9b6fd10faba4ce7a5313"
                 "73414d2f17d23fb44f7d2cd748af79849c30501994"),
            (M2, "00000040c21d56532886602f80b8dbe6a9933276393094d04ede98725baa02d5a8bd492f896b2e"
                 "881e14348520d7464a25012ac5e96f3e0a91d150e2d389d3c71624489982883b8dd743835a398d3d"
                 "3b4a3482b46d08b99ea3546adc71bae1acffd3a4ba2181a4c8c781e5a51b05a2ef78efde74bedaec"
                 "38a995395d6cdfcbbf9181bfbe")]),
    "aes128-ctr+hmac-sha1-96-wrap": (
        "aes128-ctr", b"\x00" * 16, b"\xff" * 16, hashlib.sha1, 12, b"\x1f" * 20, True, False,
        False, 0xFFFFFFFE, None, [
            (M1, "3f5b8cd5e4e15a0afa1747d23e8c664e656d4bd4ef8a2c3b884cfa59ca342b2edc9e22d9318d52c1"
                 "1736e520"),
            (M1, "58e2fcd2f41a3061361b1d57a4e6455a000cdace60b6a392f328c2b971b2fe78ba7edfd66d3e14b7"
                 "bd1bff84")]),
    "aes128-gcm": (
        "aes128-gcm@openssh.com", b"\x00" * 16, bytes.fromhex("000102030405060708090a0b"), None,
        16, None, True, False, True, 0, None, [
            (M1, "0000002021b973ec17e22d26e1f05a5db6614f6cdafa36c8076342fc2bc2c3ed012f53940ca1db"
                 "46d71c9e0d24ecbb43f8d75613"),
            (M2, "00000040e9d2f0a1e19f1ed364a5b8b71a6d5e0a10f7c03c8d7fe5347b8caa0d5c12c1b0296e47"
                 "1b0700082bd75474852240d7765079f0ebbab1ed5a00502167a00af412bf7600c53394db499505d1"
                 "e0f7055999")]),
    "aes256-gcm-carry": (
        "aes256-gcm@openssh.com", bytes(range(32)), bytes.fromhex("0102030400000000fffffffe"),
        None, 16, None, True, False, True, 0, None, [
            (M1, "00000020efa84b1e4c7e22ccd4fec2befbed1db846549a5b9bdeb112b0fec89c6c7f5a4cc4ad29af"
                 "6eec0e3e9cc21ccf574e3a91"),
            (M2, "000000408fefccea933c55d981c4bbde479efabb0ee519c2b1015f5623e3779187744f03cdf87157"
                 "e7c328232232d1468736c25f7aa53accaea5e7de198ba59caf20232d4930498d8950527613aa9f21"
                 "ca3825fa"),
            (M1, "0000002088f97566daeb3d24d98051dbe9817c113bbd71c3389e73119fa24d10e33b7ea6c61a5850"
                 "25f5d0857536a9a8abdbcdf4")]),
    "aes256-cbc+hmac-sha1": (
        "aes256-cbc", b"\x00" * 32, b"\x55" * 16, hashlib.sha1, 20, b"\x1f" * 20, False, False,
        False, 0, 0xAA, [
            (M1, "296d524a6b25d526367fecc14b1e19f3dc5d789a2cab504abcc1a0ff5057d0ffa3b54f780a78cc06"
                 "6306a03ba7fa96c14f9db190"),
            (M2, "0bc490ea99aa5908606081733166847fb27a3d40f3b36d7da6c7a1ed346be766ef945310a2d46cce"
                 "13f01278d951607c267c923181f35e04eb376541783f8e3aeaf42a8533c892dbd1b1e85282d6fc40"
                 "299eca8a")]),
    "aes128-cbc+hmac-sha2-256-etm": (
        "aes128-cbc", b"\x00" * 16, b"\x55" * 16, hashlib.sha256, 32, b"\x1f" * 32, False, True,
        False, 0, 0xAA, [
            (M1, "00000020999e1d22a9c9267a4d94632ea22648dc6ce7fcba0cfc58b4bba8b91ca8d46a3123ea8ff9"
                 "426c0ad65d51c8861ec1f38990a902d46df294aa9a8a0b96647523af"),
            (M2, "0000004097f8cd996c8d19a6e2a1079ce3a4b3b0e6c448df3f70bb4fa4dff7f814b9eafce6031ac8"
                 "a353aab82be760cc7b9de90705ae3bd69a72703a60b5bde78323fd4af1938d171cbbfdce19c68ded"
                 "572ca2cee4a9862f52c3293c069f0cc0688aed9d")]),
    "3des-cbc+hmac-md5-96": (
        "3des-cbc", bytes(range(24)), b"\x55" * 8, hashlib.md5, 12, b"\x1f" * 16, False, False,
        False, 0, 0xAA, [
            (M1, "b0f4140c1575022d665f60593d3da849fa336aac8db858599420a3e1246f34981a4e3a2d"),
            (M2, "14b9f7dbf77389dcaa795d764f0b3b19f70701e9aaf557906c0f5f7b43d549eaa9f92762690938"
                 "80af5020202bcb6cb393ee8fb66b55fdd821173b36b5fdb29b691681f6")]),
}

CHACHA = [  # fast path only: paramiko has no chacha20-poly1305
    (0, M1, "94450e4112dc4231ad82a6d113605c61acc74e27f8b1f3f5e1ad5b5cf182427e8f21d63221f9575860"
            "132ae5"),
    (1, M2, "c922a79d61027cd9310db87a2d57164adf787832679e4d2caa9ddc012d53c608409dbf6bf3418364d4"
            "9edca351299248c982ceefc5fe4573896b543590fefcde5116139f1dbb495a2e7f85a6"),
    (0xFFFFFFFF, M1, "b90ee4a803f60c9bae60d4e29637abb2710202ae16ba3916cf2fdb78078230cd1a46834235c2"
                     "583ed07099e8"),
]


def _engine(name, key, iv, encrypt, path):
    if name == "none":
        return None
    if path == "fast":
        return sshbpp.RawCipher(name, key, iv, encrypt, name.endswith("gcm@openssh.com"))
    if name.endswith("gcm@openssh.com"):
        return AESGCM(key)
    if name == "3des-cbc":
        c = Cipher(TripleDES(key), modes.CBC(iv), backend=default_backend())
    else:
        mode = modes.CTR(iv) if name.endswith("-ctr") else modes.CBC(iv)
        c = Cipher(algorithms.AES(key), mode, backend=default_backend())
    return c.encryptor() if encrypt else c.decryptor()


def _expected_path(pz, direction, path):
    comp = pz.__dict__["_compat_out" if direction == "out" else "_compat_in"]
    assert (comp is None) == (path == "fast"), "wrong cipher path taken"


def _msg(payload):
    m = Message()
    m.add_bytes(payload)
    return m


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "EOF"
        buf += chunk
    return buf


@pytest.mark.parametrize("path", ["fast", "compat"])
@pytest.mark.parametrize("vid", sorted(VECTORS))
def test_vector_write_and_read(vid, path):
    (name, key, iv, mac, mac_size, mac_key, sdctr, etm, aead, seq, pad, packets) = VECTORS[vid]
    bs = 8 if name in ("none", "3des-cbc") else 16
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    try:
        w = sshbpp.Packetizer(a)
        w._initial_kex_done = True
        if pad is not None:
            w._set_fixed_padding(pad)
        if name != "none":
            kw = dict(sdctr=sdctr, etm=etm)
            if aead:
                kw.update(aead=True, iv_out=iv)
            w.set_outbound_cipher(_engine(name, key, iv, True, path), bs, mac, mac_size,
                                  mac_key, **kw)
            _expected_path(w, "out", path)
        w._Packetizer__sequence_number_out = seq
        r = sshbpp.Packetizer(b)
        r._initial_kex_done = True
        if name != "none":
            kw = dict(etm=etm)
            if aead:
                kw.update(aead=True, iv_in=iv)
            r.set_inbound_cipher(_engine(name, key, iv, False, path), bs, mac, mac_size,
                                 mac_key, **kw)
            _expected_path(r, "in", path)
        r._Packetizer__sequence_number_in = seq
        for i, (payload, wire_hex) in enumerate(packets):
            wire = bytes.fromhex(wire_hex)
            w.send_message(_msg(payload))
            assert _recv_exact(b, len(wire)).hex() == wire_hex, "packet %d" % i
            a.sendall(wire)
            cmd, m = r.read_message()
            assert cmd == payload[0]
            assert m.asbytes() == payload[1:]
            assert m.seqno == (seq + i) & 0xFFFFFFFF
        assert w._Packetizer__sequence_number_out == (seq + len(packets)) & 0xFFFFFFFF
        assert w._Packetizer__sent_packets == len(packets)
        assert w._Packetizer__sent_bytes == sum(len(p[1]) // 2 for p in packets)
        assert r._Packetizer__received_packets == len(packets)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("path", ["fast", "compat"])
def test_paramiko_test_packetizer_write_read(path):
    """paramiko's tests/test_packetizer.py test_write and test_read."""
    key, iv = b"\x00" * 16, b"\x55" * 16
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    w = sshbpp.Packetizer(a)
    w.set_hexdump(True)
    w.set_outbound_cipher(_engine("aes128-cbc", key, iv, True, path), 16, hashlib.sha1, 12,
                          b"\x1f" * 20)
    m = Message()
    m.add_byte(b"\x64")
    m.add_int(100)
    m.add_int(1)
    m.add_int(900)
    w.send_message(m)
    data = b.recv(100)
    assert len(data) == 44
    assert data[:16] == bytes.fromhex("439197bd5b50ac2587c2c46bc7e938c0")
    r = sshbpp.Packetizer(b)
    r.set_inbound_cipher(_engine("aes128-cbc", key, iv, False, path), 16, hashlib.sha1, 12,
                         b"\x1f" * 20)
    a.sendall(bytes.fromhex("439197bd5b50ac2587c2c46bc7e938c090d216560d717361387c4c3dfb977de2"
                            "6e03b1a0c21cd641414cb459"))
    cmd, m = r.read_message()
    assert cmd == 100
    assert (m.get_int(), m.get_int(), m.get_int()) == (100, 1, 900)
    a.close()
    b.close()


def test_chacha20_poly1305_fast_path():
    key = bytes(range(64))
    for seq, payload, wire_hex in CHACHA:
        a, b = socket.socketpair()
        a.settimeout(5)
        b.settimeout(5)
        w = sshbpp.Packetizer(a)
        w._initial_kex_done = True
        w._set_fixed_padding(0)
        w.set_outbound_cipher(sshbpp.RawCipher("chacha20-poly1305@openssh.com", key, None,
                                               True, True), 8, None, 16, None, aead=True)
        w._Packetizer__sequence_number_out = seq
        w.send_message(_msg(payload))
        wire = _recv_exact(b, len(wire_hex) // 2)
        assert wire.hex() == wire_hex
        r = sshbpp.Packetizer(b)
        r._initial_kex_done = True
        r.set_inbound_cipher(sshbpp.RawCipher("chacha20-poly1305@openssh.com", key, None,
                                              False, True), 8, None, 16, None, aead=True)
        r._Packetizer__sequence_number_in = seq
        a.sendall(wire)
        cmd, m = r.read_message()
        assert (cmd, m.asbytes(), m.seqno) == (payload[0], payload[1:], seq)
        a.close()
        b.close()


@pytest.mark.parametrize("impl", ["paramiko", "fast", "compat"])
def test_keepalive_fires_like_paramiko(impl):
    """set_keepalive: an idle read_message() on a keyed connection calls the
    callback, which sends; paramiko's own Packetizer is the reference, and
    both sshbpp cipher paths must behave as it does (the compatible path
    keeps its cipher in Python, so C must still count it as keyed)."""
    import threading
    import time

    import paramiko.packet

    key, iv = b"\x00" * 16, b"\x55" * 16
    a, b = socket.socketpair()
    a.settimeout(0.1)  # Transport's poll interval: the idle wake-up
    b.settimeout(10)
    if impl == "paramiko":
        pz = paramiko.packet.Packetizer(a)
        engine = _engine("aes128-ctr", key, iv, True, "compat")
    else:
        pz = sshbpp.Packetizer(a)
        engine = _engine("aes128-ctr", key, iv, True, impl)
    pz.set_outbound_cipher(engine, 16, hashlib.sha256, 32, b"\x1f" * 32, sdctr=True)
    if impl != "paramiko":
        _expected_path(pz, "out", impl)
    calls = []

    def keepalive():
        calls.append(time.monotonic())
        pz.send_message(_msg(b"\x02"))  # SSH_MSG_IGNORE-like payload

    pz.set_keepalive(1, keepalive)
    got = []
    reader = threading.Thread(target=lambda: got.append(_try_read(pz)), daemon=True)
    reader.start()
    # the keepalive's packet reaches the peer: 16 + 32 bytes of aes-ctr + mac
    first = b.recv(48)
    assert len(first) > 0
    assert len(calls) >= 1
    # end the read: the peer closes, the reader sees EOF
    b.close()
    reader.join(10)
    assert not reader.is_alive()
    assert got and isinstance(got[0], EOFError)
    a.close()


def _try_read(pz):
    try:
        return pz.read_message()
    except Exception as e:  # the EOF that ends the test
        return e
