"""Every cipher x MAC the installed paramiko offers, with and without zlib:
two paramiko Transports over a socketpair, both with sshbpp.paramiko.install(),
exchanging exec-style channel data in both directions at once, checked with
SHA-256. The Packetizers must be sshbpp's and on the fast path (keys in C)."""

import paramiko
import pytest

import sshbpp
import sshpair

CIPHERS = list(paramiko.Transport._preferred_ciphers)
MACS = list(paramiko.Transport._preferred_macs)


def _on_fast_path(t):
    p = t.packetizer
    assert isinstance(p, sshbpp.Packetizer)
    assert p.__dict__["_compat_in"] is None and p.__dict__["_compat_out"] is None, \
        "compatible path used"
    assert isinstance(p._Packetizer__block_engine_out, sshbpp.RawCipher)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
@pytest.mark.parametrize("mac", MACS)
@pytest.mark.parametrize("cipher", CIPHERS)
def test_cipher_mac(cipher, mac, compress):
    size = sshpair.data_size(4 << 20)
    pair = sshpair.Pair(ciphers=[cipher], macs=[mac], compress=compress)
    try:
        assert pair.tc.local_cipher == cipher and pair.tc.remote_cipher == cipher
        assert pair.tc.local_mac == mac and pair.tc.remote_mac == mac
        if compress:
            assert pair.tc.local_compression != "none"
        _on_fast_path(pair.tc)
        _on_fast_path(pair.ts)
        ch, sch = pair.exec_channels()
        sshpair.bidirectional(ch, sch, size)
    finally:
        pair.close()
