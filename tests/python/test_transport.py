"""paramiko Transports on sshbpp.Packetizer: SFTP, rekeys, keepalive,
timeouts, mixed pairs (accelerated against plain paramiko), install() /
uninstall(), and the object model Transport and paramiko's tests rely on."""

import gc
import hashlib
import logging
import os
import socket
import threading
import time
import weakref

import paramiko
import paramiko.packet
import paramiko.transport
import pytest
from paramiko.message import Message

import loopsock
import sshbpp
import sshbpp.paramiko
import sshpair


@pytest.fixture(autouse=True)
def _installed():
    sshbpp.paramiko.install()
    yield
    sshbpp.paramiko.uninstall()


def _rekeys(t, direction=sshbpp.DIR_OUT):
    return t.packetizer._stats(direction)[5]


@pytest.mark.parametrize("accel", [(True, True), (True, False), (False, True)],
                         ids=["both", "client-only", "server-only"])
def test_exec_data_mixed_pairs(accel):
    pair = sshpair.Pair(accel_client=accel[0], accel_server=accel[1])
    try:
        assert isinstance(pair.tc.packetizer, sshbpp.Packetizer) == accel[0]
        assert isinstance(pair.ts.packetizer, sshbpp.Packetizer) == accel[1]
        assert type(pair.tc.packetizer) is (sshbpp.Packetizer if accel[0]
                                            else paramiko.packet.Packetizer)
        ch, sch = pair.exec_channels()
        sshpair.bidirectional(ch, sch, sshpair.data_size())
    finally:
        pair.close()


@pytest.mark.parametrize("accel", [(True, True), (True, False)], ids=["both", "client-only"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
def test_sftp_put_get(accel, compress):
    size = sshpair.data_size()
    with sshpair.temp_folder() as root, sshpair.temp_folder() as local:
        pair = sshpair.Pair(accel_client=accel[0], accel_server=accel[1], sftp_root=root,
                            compress=compress)
        try:
            src = os.path.join(local, "src.bin")
            digest = sshpair.write_file(src, size)
            sftp = paramiko.SFTPClient.from_transport(pair.tc)
            sftp.put(src, "/up.bin")
            assert sshpair.file_sha256(os.path.join(root, "up.bin")) == digest
            dst = os.path.join(local, "dst.bin")
            sftp.get("/up.bin", dst)
            assert sshpair.file_sha256(dst) == digest
            assert sftp.stat("/up.bin").st_size == size
            sftp.close()
        finally:
            pair.close()


def test_rekey_forced_by_rekey_bytes_mid_transfer():
    pair = sshpair.Pair()
    try:
        session = pair.tc.session_id
        ch, sch = pair.exec_channels()
        before_c, before_s = _rekeys(pair.tc), _rekeys(pair.ts)

        def during():  # runs while the four transfer threads are going
            # per-instance override, as paramiko's test_renegotiate does
            pair.tc.packetizer.REKEY_BYTES = 256 * 1024
            pair.ts.packetizer.REKEY_BYTES = 256 * 1024
        size = max(sshpair.data_size(), 16 << 20)
        sshpair.one_way(ch, sch, size, during=during)
        sshpair.one_way(sch, ch, size)
        assert _rekeys(pair.tc) >= before_c + 2, "client did not rekey"
        assert _rekeys(pair.ts) >= before_s + 2, "server did not rekey"
        assert pair.tc.H != session
        # the override is read through the instance, the class is untouched
        assert pair.tc.packetizer.REKEY_BYTES == 256 * 1024
        assert sshbpp.Packetizer.REKEY_BYTES == 2 ** 29
    finally:
        pair.close()


def test_renegotiate_like_paramiko():
    """paramiko's test_renegotiate: REKEY_BYTES = 16384, 20 x 1 KiB."""
    pair = sshpair.Pair()
    try:
        pair.tc.packetizer.REKEY_BYTES = 16384
        ch, sch = pair.exec_channels()
        for _ in range(20):
            ch.send(b"x" * 1024)
        deadline = time.time() + 5
        while pair.tc.H == pair.tc.session_id and time.time() < deadline:
            time.sleep(0.05)
        assert pair.tc.H != pair.tc.session_id
    finally:
        pair.close()


def test_renegotiate_keys_explicit():
    pair = sshpair.Pair(ciphers=["aes256-cbc"], macs=["hmac-md5-96"])
    try:
        assert pair.tc.packetizer.get_mac_size_out() == 12
        assert pair.tc.packetizer.get_mac_size_in() == 12
        pair.tc.send_ignore(1024)
        pair.tc.renegotiate_keys()
        pair.ts.send_ignore(1024)
        ch, sch = pair.exec_channels()
        sshpair.bidirectional(ch, sch, 1 << 20)
    finally:
        pair.close()


def test_compression_sent_bytes():
    """paramiko's test_compression: 1 KiB of 'x' costs 16 + bs + mac bytes."""
    pair = sshpair.Pair(ciphers=["aes128-ctr"], macs=["hmac-sha2-256"], compress=True)
    try:
        ch, sch = pair.exec_channels()
        p = pair.tc.packetizer
        bytes1 = p._Packetizer__sent_bytes
        ch.send("x" * 1024)
        bytes2 = p._Packetizer__sent_bytes
        block_size = pair.tc._cipher_info[pair.tc.local_cipher]["block-size"]
        mac_size = pair.tc._mac_info[pair.tc.local_mac]["size"]
        assert bytes2 - bytes1 < 1024
        assert bytes2 - bytes1 == 16 + block_size + mac_size
        assert sch.recv(2048) == b"x" * 1024
    finally:
        pair.close()


def test_keepalive():
    pair = sshpair.Pair()
    try:
        assert pair.server.global_requests == []
        pair.tc.set_keepalive(1)
        time.sleep(2.5)
        assert "keepalive@lag.net" in pair.server.global_requests
    finally:
        pair.close()


class SlowPacketizer(sshbpp.Packetizer):
    def read_message(self):
        time.sleep(1)
        return super().read_message()


def test_handshake_timeout():
    """paramiko's test_handshake_timeout, with a subclass of sshbpp.Packetizer."""
    a, b = socket.socketpair()
    ts = paramiko.Transport(a)
    ts.add_server_key(sshpair.hostkey())
    tc = paramiko.Transport(b)
    tc.packetizer = SlowPacketizer(b)
    tc.packetizer.set_log(tc.logger)
    tc.handshake_timeout = 1e-12
    ts.start_server(event=threading.Event(), server=sshpair.Server())
    t0 = time.time()
    with pytest.raises(EOFError):
        tc.connect()
    assert time.time() - t0 < 10
    tc.close()
    ts.close()


def test_banner_timeout():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.create_connection(ls.getsockname())
    s, _ = ls.accept()  # never says anything
    tc = paramiko.Transport(c)
    assert isinstance(tc.packetizer, sshbpp.Packetizer)
    tc.banner_timeout = 0.5
    t0 = time.time()
    with pytest.raises(paramiko.SSHException, match="^Error reading SSH protocol banner"):
        tc.connect()
    assert 0.4 < time.time() - t0 < 5
    tc.close()
    s.close()
    ls.close()


def test_uninstall_restores_paramiko_exactly():
    sshbpp.paramiko.uninstall()
    T = paramiko.transport.Transport
    before = (paramiko.transport.Packetizer, dict(T.__dict__))
    names = sshbpp.paramiko.install()
    assert paramiko.transport.Packetizer is sshbpp.Packetizer
    assert set(names) & {"_get_cipher", "_get_engine"}
    assert sshbpp.paramiko.install() == names  # idempotent
    sshbpp.paramiko.uninstall()
    assert paramiko.transport.Packetizer is before[0] is paramiko.packet.Packetizer
    assert dict(T.__dict__) == before[1]
    t = paramiko.Transport(socket.socketpair()[0])
    assert type(t.packetizer) is paramiko.packet.Packetizer
    t.close()


def test_subclass_weakref_and_collection():
    a, b = socket.socketpair()
    pair = sshpair.Pair()
    ref = weakref.ref(pair.tc.packetizer)
    pair.close()
    del pair
    for _ in range(3):
        gc.collect()
        if ref() is None:
            break
        time.sleep(0.2)
    assert ref() is None, "Packetizer not collected after Transport.close()"
    a.close()
    b.close()


def test_name_mangled_attributes():
    a, b = socket.socketpair()
    p = sshbpp.Packetizer(a)
    for name in ("sent_bytes", "sent_packets", "received_bytes", "received_packets",
                 "sequence_number_in", "sequence_number_out", "block_size_in",
                 "block_size_out", "mac_size_in", "mac_size_out", "init_count",
                 "received_bytes_overflow", "received_packets_overflow"):
        assert getattr(p, "_Packetizer__" + name) in (0, 8), name
    p._Packetizer__sequence_number_out = 41
    assert p._Packetizer__sequence_number_out == 41
    assert p._initial_kex_done is False
    assert p.closed is False and p.need_rekey() is False
    assert p.get_hexdump() is False
    p.set_hexdump(1)
    assert p.get_hexdump() == 1
    p.close()
    assert p.closed is True
    b.close()


def test_hexdump_log_format():
    """The verified log of one plaintext type-94 send + read (spec section 5)."""
    expected = [
        "Write packet <channel-data>, length 47",
        "OUT: 00 00 00 34 04 5E 00 00 00 07 00 00 00 26 68 65    ...4.^.......&he",
        "OUT: 6C 6C 6F 20 77 6F 72 6C 64 2C 20 74 68 69 73 20    llo world, this ",
        "OUT: 69 73 20 61 20 6C 6F 6E 67 65 72 20 70 61 79 6C    is a longer payl",
        "OUT: 6F 61 64 21 00 00 00 00                            oad!....",
        "IN: 00 00 00 34 04 5E 00 00                            ...4.^..",
        "IN: 04 5E 00 00 00 07 00 00 00 26 68 65 6C 6C 6F 20    .^.......&hello ",
        "IN: 77 6F 72 6C 64 2C 20 74 68 69 73 20 69 73 20 61    world, this is a",
        "IN: 20 6C 6F 6E 67 65 72 20 70 61 79 6C 6F 61 64 21     longer payload!",
        "IN: 00 00 00 00                                        ....",
        "Got payload (52 bytes, 4 padding)",
        "Read packet <channel-data>, length 47",
    ]

    class Rec(object):
        def __init__(self):
            self.lines = []

        def log(self, level, msg):
            assert level == logging.DEBUG
            self.lines.extend(msg if isinstance(msg, list) else [msg])

    m = Message()
    m.add_byte(b"\x5e")
    m.add_int(7)
    m.add_string("hello world, this is a longer payload!")
    for cls in (paramiko.packet.Packetizer, sshbpp.Packetizer):
        a, b = socket.socketpair()
        rec = Rec()
        w, r = cls(a), cls(b)
        for p in (w, r):
            p.set_log(rec)
            p.set_hexdump(True)
        w.send_message(m)
        cmd, msg = r.read_message()
        assert cmd == 94
        # paramiko dumps "IN:" of the first block then the packet; the
        # C engine logs the same lines (what matters is the text)
        assert [ln.rstrip() for ln in rec.lines] == [ln.rstrip() for ln in expected], cls
        a.close()
        b.close()


def test_rekey_log_line_through_python_logger(caplog):
    a, b = socket.socketpair()
    logger = logging.getLogger("paramiko.transport.sshbpp-test")
    p, q = sshbpp.Packetizer(a), sshbpp.Packetizer(b)
    p.set_log(logger)
    p.REKEY_PACKETS = 2
    m = Message()
    m.add_byte(b"\x02")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        p.send_message(m)
        p.send_message(m)
    assert p.need_rekey()
    assert [r.getMessage() for r in caplog.records] == [
        "Rekeying (hit 2 packets, 32 bytes sent)"]  # paramiko logs the same line
    a.close()
    b.close()


def test_threads_many_senders_one_reader_and_close_wakes_reader():
    for kind in ("fd", "loop"):
        if kind == "fd":
            a, b = socket.socketpair()
            a.settimeout(0.1)
            b.settimeout(0.1)
        else:
            a, b = loopsock.pair()
            a.settimeout(0.1)
            b.settimeout(0.1)
        w, r = sshbpp.Packetizer(a), sshbpp.Packetizer(b)
        key, iv = os.urandom(16), os.urandom(16)
        w.set_outbound_cipher(sshbpp.RawCipher("aes128-ctr", key, iv, True), 16,
                              hashlib.sha256, 32, b"k" * 32, True)
        r.set_inbound_cipher(sshbpp.RawCipher("aes128-ctr", key, iv, False), 16,
                             hashlib.sha256, 32, b"k" * 32)
        senders, per = 4, 500
        got = []

        def send(i):
            for j in range(per):
                m = Message()
                m.add_byte(b"\x5e")
                m.add_int(i)
                m.add_int(j)
                m.add_string(b"z" * (j % 300))
                w.send_message(m)

        def read():
            for _ in range(senders * per):
                cmd, m = r.read_message()
                got.append((m.get_int(), m.get_int()))

        ticks = [0]
        stop = threading.Event()

        def spin():  # proves the GIL is released while the others wait
            while not stop.is_set():
                ticks[0] += 1
                time.sleep(0.001)
        threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
        rt = threading.Thread(target=read)
        st = threading.Thread(target=spin)
        for t in threads + [rt, st]:
            t.start()
        for t in threads + [rt]:
            t.join(60)
            assert not t.is_alive()
        assert sorted(got) == sorted((i, j) for i in range(senders) for j in range(per))
        for i in range(senders):  # per-sender order is kept
            assert [j for (s, j) in got if s == i] == list(range(per))

        # a blocked reader wakes when another thread closes the Packetizer
        result = []

        def blocked():
            try:
                r.read_message()
            except EOFError:
                result.append("EOFError")
            except Exception as e:  # pylint: disable=broad-except
                result.append(repr(e))
        bt = threading.Thread(target=blocked)
        bt.start()
        time.sleep(0.3)
        assert bt.is_alive()
        t0 = time.time()
        r.close()
        bt.join(5)
        assert not bt.is_alive() and result == ["EOFError"]
        assert time.time() - t0 < 1
        stop.set()
        st.join()
        assert ticks[0] > 50
        w.close()


def test_reentrant_send_from_log_callback_does_not_deadlock():
    a, b = socket.socketpair()
    p, q = sshbpp.Packetizer(a), sshbpp.Packetizer(b)
    p.REKEY_PACKETS = 1
    calls = []
    m = Message()
    m.add_byte(b"\x02")

    class L(object):
        def log(self, level, msg):
            calls.append(msg)
            try:
                p.send_message(m)  # nested: refused, never a deadlock
            except Exception as e:  # pylint: disable=broad-except
                calls.append(type(e).__name__)
    p.set_log(L())
    done = threading.Event()
    threading.Thread(target=lambda: (p.send_message(m), done.set()), daemon=True).start()
    assert done.wait(5), "nested send deadlocked"
    a.close()
    b.close()
