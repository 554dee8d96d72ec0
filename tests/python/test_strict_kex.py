"""Strict KEX (Terrapin countermeasure) through sshbpp.Packetizer, as
paramiko's TestStrictKex checks it. Detected by feature: with a paramiko
whose Transport takes strict_kex= (3.4+) the sequence numbers must reset at
NEWKEYS; with one that does not (2.12) they must not."""

import inspect
import socket
import threading
import time

import paramiko
import pytest

import sshbpp
import sshbpp.paramiko
import sshpair

HAS_STRICT = "strict_kex" in inspect.signature(paramiko.Transport.__init__).parameters


@pytest.fixture(autouse=True)
def _installed():
    sshbpp.paramiko.install()
    yield
    sshbpp.paramiko.uninstall()


def _connect(strict, packetizer_class=None):
    a, b = socket.socketpair()
    kw = {}
    if HAS_STRICT:
        kw["strict_kex"] = strict
    if packetizer_class is not None:
        kw["packetizer_class"] = packetizer_class
    ts = paramiko.Transport(a, **kw)
    tc = paramiko.Transport(b, **kw)
    ts.add_server_key(sshpair.hostkey())
    done = threading.Event()
    ts.start_server(event=done, server=sshpair.Server())
    tc.connect()
    # the server has processed the client's NEWKEYS only once this is set
    assert done.wait(10) and ts.is_active()
    return tc, ts


def _seqs(t):
    p = t.packetizer
    return p._Packetizer__sequence_number_in, p._Packetizer__sequence_number_out


def test_sequence_numbers_at_newkeys():
    tc, ts = _connect(strict=True)
    try:
        assert isinstance(tc.packetizer, sshbpp.Packetizer)
        if HAS_STRICT:
            assert tc.agreed_on_strict_kex and ts.agreed_on_strict_kex
            # paramiko's test_sequence_numbers_reset_on_newkeys_when_strict;
            # the server's EXT_INFO follows its NEWKEYS: wait for it to land
            deadline = time.time() + 10
            while _seqs(tc)[0] == 0 and time.time() < deadline:
                time.sleep(0.01)
            assert _seqs(tc) == (1, 0)
            assert _seqs(ts) == (0, 1)
        else:
            assert all(s != 0 for s in _seqs(tc) + _seqs(ts))
    finally:
        tc.close()
        ts.close()


def test_sequence_numbers_not_reset_when_not_strict():
    tc, ts = _connect(strict=False)
    try:
        assert all(s != 0 for s in _seqs(tc) + _seqs(ts))
    finally:
        tc.close()
        ts.close()
