"""paramiko 3.x only (run in the Debian 13 root by the python.trixie test):
packetizer_class= with subclasses of sshbpp.Packetizer, the strict-KEX
rollover and KEXINIT-order checks (paramiko's TestStrictKex), AES-GCM.
Running this file with a paramiko that lacks those features is a failure."""

import hashlib
import socket

import paramiko
import pytest

import sshbpp
import sshbpp.paramiko
import sshpair
from test_strict_kex import HAS_STRICT, _connect, _installed  # noqa: F401

assert HAS_STRICT, "paramiko %s has no strict KEX: this file needs 3.4+" % paramiko.__version__


def test_sequence_number_rollover_detected():
    class RolloverPacketizer(sshbpp.Packetizer):
        def __init__(self, sock):
            super().__init__(sock)
            self._Packetizer__sequence_number_in = 2 ** 32 - 1
            self._Packetizer__sequence_number_out = 2 ** 32 - 1

    with pytest.raises(paramiko.SSHException,
                       match=r"Sequence number rolled over during initial kex!"):
        _connect(strict=False, packetizer_class=RolloverPacketizer)


def test_kexinit_not_first_packet_is_refused_when_strict():
    class BadSeqPacketizer(sshbpp.Packetizer):
        def read_message(self):
            cmd, msg = super().read_message()
            if cmd == paramiko.common.MSG_KEXINIT:
                msg.seqno = 17
            return cmd, msg

    from paramiko.ssh_exception import MessageOrderError
    with pytest.raises(MessageOrderError):
        _connect(strict=True, packetizer_class=BadSeqPacketizer)


@pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"])
def test_gcm_fast_path(cipher):
    assert cipher in paramiko.Transport._preferred_ciphers
    pair = sshpair.Pair(ciphers=[cipher])
    try:
        for t in (pair.tc, pair.ts):
            p = t.packetizer
            assert (t.local_cipher, t.remote_cipher) == (cipher, cipher)
            assert p.__dict__["_compat_in"] is None and p.__dict__["_compat_out"] is None
            assert p._Packetizer__aead_out and p.get_mac_size_out() == 16
        ch, sch = pair.exec_channels()
        sshpair.bidirectional(ch, sch, sshpair.data_size())
        pair.tc.renegotiate_keys()
        sshpair.bidirectional(ch, sch, 1 << 20)
    finally:
        pair.close()
