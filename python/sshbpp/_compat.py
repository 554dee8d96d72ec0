"""The compatible cipher path of sshbpp.Packetizer.

Used for a direction whose cipher arrives as a Python object sshbpp cannot
take the key out of (a ``cryptography`` CipherContext, an AESGCM object),
whose MAC is not one of SSH's, or whose compressor is a custom callable.
It frames packets in Python the way paramiko's Packetizer does
(../shared/spec/packetizer.md section 3), calling those objects, while
the socket I/O (read_all / write_all), the timers and the sequence numbers
stay in C.
"""

import hmac as _hmac
import os as _os
import struct as _struct

from . import _sshbpp

DIR_IN = _sshbpp.DIR_IN
DIR_OUT = _sshbpp.DIR_OUT

try:
    from paramiko.common import MSG_NAMES as _MSG_NAMES
    from paramiko.util import format_binary as _format_binary
except ImportError:  # pragma: no cover
    _MSG_NAMES = {}

    def _format_binary(data, prefix=""):
        out = []
        for i in range(0, len(data), 16):
            chunk = data[i:i + 16]
            hexpart = " ".join("%02X" % c for c in chunk)
            asc = "".join(chr(c) if 32 <= c <= 126 else "." for c in chunk)
            out.append("%s%-50s %s" % (prefix, hexpart, asc))
        return out

DEBUG = 10


def _name(cmd):
    return _MSG_NAMES.get(cmd, "$%x" % cmd)


class Direction(object):
    """One direction's keys and counters on the compatible path."""

    __slots__ = ("engine", "block_size", "mac_engine", "mac_size", "mac_key", "sdctr", "etm",
                 "aead", "iv", "compressor", "packets", "bytes", "overflow_packets",
                 "overflow_bytes")

    def __init__(self, engine, block_size, mac_engine, mac_size, mac_key, sdctr, etm, aead, iv,
                 compressor):
        self.engine = engine
        self.block_size = block_size
        self.mac_engine = mac_engine
        self.mac_size = mac_size
        self.mac_key = mac_key
        self.sdctr = sdctr
        self.etm = etm
        self.aead = aead
        self.iv = iv
        self.compressor = compressor
        self.packets = 0
        self.bytes = 0
        self.overflow_packets = 0
        self.overflow_bytes = 0


def inc_iv_counter(iv):
    """AES-GCM nonce: 4 fixed bytes, then a 64-bit big-endian counter + 1."""
    counter = int.from_bytes(iv[4:], "big") + 1
    return iv[:4] + counter.to_bytes(8, "big")


def _mac(key, data, ctor, size):
    return _hmac.HMAC(key, data, ctor).digest()[:size]


def build_packet(d, payload, fixed=None):
    """Length, padding length, payload, padding, as paramiko pads (fixed:
    a padding byte for known-answer tests)."""
    bs = d.block_size
    addlen = 4 if (d.etm or d.aead) else 8
    padding = 3 + bs - ((len(payload) + addlen) % bs)
    header = _struct.pack(">IB", len(payload) + padding + 1, padding)
    if d.sdctr or d.engine is None:
        pad = b"\x00" * padding
    elif fixed is not None:
        pad = bytes([fixed]) * padding
    else:
        pad = _os.urandom(padding)
    return header + payload + pad


def _hexdump(pz, prefix, data):
    pz._log(DEBUG, _format_binary(data, prefix))  # pylint: disable=protected-access


def send_message(pz, d, data):
    """paramiko's send_message on the compatible path."""
    data = data.asbytes() if hasattr(data, "asbytes") else bytes(data)
    cmd = data[0]
    orig_len = len(data)
    with pz._compat_lock:  # pylint: disable=protected-access
        if d.compressor is not None:
            data = d.compressor(data)
        packet = build_packet(d, data, pz.__dict__.get("_Packetizer__fixed_pad"))
        if pz.get_hexdump():
            pz._log(DEBUG, "Write packet <%s>, length %d" % (_name(cmd), orig_len))
            _hexdump(pz, "OUT: ", packet)
        seq = pz._stats(DIR_OUT)[0]  # pylint: disable=protected-access
        if d.engine is None:
            out = packet
        elif d.etm:
            out = packet[:4] + d.engine.update(packet[4:])
        elif d.aead:
            out = packet[:4] + d.engine.encrypt(d.iv, packet[4:], packet[:4])
            d.iv = inc_iv_counter(d.iv)
        else:
            out = d.engine.update(packet)
        if d.engine is not None and not d.aead:
            mac_input = out if d.etm else packet
            out += _mac(d.mac_key, _struct.pack(">I", seq) + mac_input, d.mac_engine,
                        d.mac_size)
        nxt = (seq + 1) & 0xFFFFFFFF
        if nxt == 0 and not pz._initial_kex_done:  # pylint: disable=protected-access
            from . import SSHException  # pylint: disable=import-outside-toplevel
            raise SSHException("Sequence number rolled over during initial kex!")
        pz._set_seqno(DIR_OUT, nxt)  # pylint: disable=protected-access
        pz.write_all(out)
        d.bytes += len(out)
        d.packets += 1
        if (d.packets >= pz.REKEY_PACKETS or d.bytes >= pz.REKEY_BYTES) \
                and not pz.need_rekey():
            pz._log(DEBUG, "Rekeying (hit %d packets, %d bytes sent)" % (d.packets, d.bytes))
            comp_in = pz.__dict__.get("_compat_in")
            if comp_in is not None:
                comp_in.overflow_packets = comp_in.overflow_bytes = 0
            pz._trigger_rekey()  # pylint: disable=protected-access


def read_message(pz, d):
    """paramiko's read_message on the compatible path."""
    from . import SSHException  # pylint: disable=import-outside-toplevel
    bs = d.block_size
    header = pz.read_all(bs, check_rekey=True)
    if d.etm:
        packet_size = _struct.unpack(">I", header[:4])[0]
        remaining = packet_size - bs + 4
        packet = header[4:] + pz.read_all(remaining, False)
        mac = pz.read_all(d.mac_size, False)
        seq = pz._stats(DIR_IN)[0]  # pylint: disable=protected-access
        my_mac = _mac(d.mac_key, _struct.pack(">II", seq, packet_size) + packet,
                      d.mac_engine, d.mac_size)
        if not _hmac.compare_digest(my_mac, mac):
            raise SSHException("Mismatched MAC")
        header = packet
    if d.aead:
        packet_size = _struct.unpack(">I", header[:4])[0]
        aad = header[:4]
        remaining = packet_size - bs + 4 + d.mac_size
        packet = header[4:] + pz.read_all(remaining, False)
        header = d.engine.decrypt(d.iv, packet, aad)
        d.iv = inc_iv_counter(d.iv)
    if d.engine is not None and not d.aead:
        header = d.engine.update(header)
    hexdump = pz.get_hexdump()
    if hexdump:
        _hexdump(pz, "IN: ", header)
    if not d.etm and not d.aead:
        packet_size = _struct.unpack(">I", header[:4])[0]
        leftover = header[4:]
        if (packet_size - len(leftover)) % bs != 0:
            raise SSHException("Invalid packet blocking")
        buf = pz.read_all(packet_size + d.mac_size - len(leftover))
        packet = buf[:packet_size - len(leftover)]
        post_packet = buf[packet_size - len(leftover):]
        if d.engine is not None:
            packet = d.engine.update(packet)
        packet = leftover + packet
    else:
        packet = header
    if hexdump:
        _hexdump(pz, "IN: ", packet)
    seq = pz._stats(DIR_IN)[0]  # pylint: disable=protected-access
    if d.mac_size > 0 and not d.etm and not d.aead:
        mac = post_packet[:d.mac_size]
        my_mac = _mac(d.mac_key, _struct.pack(">II", seq, packet_size) + packet,
                      d.mac_engine, d.mac_size)
        if not _hmac.compare_digest(my_mac, mac):
            raise SSHException("Mismatched MAC")
    padding = packet[0]
    payload = packet[1:packet_size - padding]
    if hexdump:
        pz._log(DEBUG, "Got payload (%d bytes, %d padding)" % (packet_size, padding))
    if d.compressor is not None:
        payload = d.compressor(payload)
    from . import Message  # pylint: disable=import-outside-toplevel
    msg = Message(payload[1:]) if Message is not None else payload[1:]
    if Message is not None:
        msg.seqno = seq
    nxt = (seq + 1) & 0xFFFFFFFF
    if nxt == 0 and not pz._initial_kex_done:  # pylint: disable=protected-access
        raise SSHException("Sequence number rolled over during initial kex!")
    pz._set_seqno(DIR_IN, nxt)  # pylint: disable=protected-access
    raw = packet_size + d.mac_size + 4
    d.bytes += raw
    d.packets += 1
    if pz.need_rekey():
        d.overflow_bytes += raw
        d.overflow_packets += 1
        if d.overflow_packets >= pz.REKEY_PACKETS_OVERFLOW_MAX or \
                d.overflow_bytes >= pz.REKEY_BYTES_OVERFLOW_MAX:
            raise SSHException("Remote transport is ignoring rekey requests")
    elif d.packets >= pz.REKEY_PACKETS or d.bytes >= pz.REKEY_BYTES:
        pz._log(DEBUG, "Rekeying (hit %d packets, %d bytes received)" % (d.packets, d.bytes))
        d.overflow_bytes = d.overflow_packets = 0
        pz._trigger_rekey()  # pylint: disable=protected-access
    cmd = payload[0]
    if hexdump:
        pz._log(DEBUG, "Read packet <%s>, length %d" % (_name(cmd), len(payload)))
    return cmd, msg
