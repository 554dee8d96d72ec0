"""sshbpp for Python: a C implementation of paramiko's Packetizer.

``sshbpp.Packetizer`` has the interface of ``paramiko.packet.Packetizer``
(paramiko 2.12 and 3.x); ``sshbpp.paramiko.install()`` makes every paramiko
Transport created afterwards use it.

Two cipher paths:

* fast: the cipher arrives as a :class:`RawCipher` (what
  ``sshbpp.paramiko.install()`` makes Transport hand over) and the MAC as a
  hashlib constructor with an SSH MAC's digest and size: framing, padding,
  encryption, MAC and zlib all run in C with the GIL released;
* compatible: anything else (a ``cryptography`` CipherContext, an AESGCM
  object, a custom compressor) is driven from Python exactly as paramiko
  does (see ``sshbpp._compat``), with the socket I/O still in C.
"""

import socket as _socket
import threading as _threading
import time as _time

from . import _sshbpp
from . import _compat

try:  # paramiko's own classes, so that Transport catches what we raise
    from paramiko.ssh_exception import SSHException, ProxyCommandFailure
    from paramiko.packet import NeedRekeyException
    from paramiko.message import Message
except ImportError:  # pragma: no cover - sshbpp without paramiko
    class SSHException(Exception):
        """Stand-in for paramiko.ssh_exception.SSHException."""

    class ProxyCommandFailure(SSHException):
        """Stand-in for paramiko.ssh_exception.ProxyCommandFailure."""

    class NeedRekeyException(Exception):
        """Stand-in for paramiko.packet.NeedRekeyException."""

    Message = None

try:
    from cryptography.exceptions import InvalidTag
except ImportError:  # pragma: no cover
    class InvalidTag(Exception):
        """Stand-in for cryptography.exceptions.InvalidTag."""

_sshbpp._configure(ssh_exception=SSHException, need_rekey=NeedRekeyException,
                   message=Message if Message is not None else None,
                   invalid_tag=InvalidTag, proxy_failure=ProxyCommandFailure,
                   socket_timeout=_socket.timeout)

__all__ = ["Packetizer", "RawCipher", "NeedRekeyException", "SSHException",
           "CIPHERS", "MACS", "COMPRESSION", "version"]

version = _sshbpp.version
CIPHERS = tuple(_sshbpp.alg_list(0))
MACS = tuple(_sshbpp.alg_list(1))
COMPRESSION = tuple(_sshbpp.alg_list(2))

DIR_IN = _sshbpp.DIR_IN
DIR_OUT = _sshbpp.DIR_OUT
_PAD_RANDOM, _PAD_ZERO, _PAD_FIXED = 0, 1, 2


class RawCipher(object):
    """Raw key material for one direction, in place of a cipher object.

    ``sshbpp.paramiko.install()`` makes Transport build these instead of
    ``cryptography`` contexts, so that the key reaches C. Anything that
    still treats it as a cipher object (a plain paramiko Packetizer) gets
    the real object, built on first use by ``factory()``: ``update()`` for
    CTR/CBC, ``encrypt()``/``decrypt()`` for AES-GCM.
    """

    __slots__ = ("name", "key", "iv", "encrypt_dir", "aead", "_factory", "_obj")

    def __init__(self, name, key, iv=None, encrypt=True, aead=False, factory=None):
        self.name = name
        self.key = bytes(key)
        self.iv = None if iv is None else bytes(iv)
        self.encrypt_dir = bool(encrypt)
        self.aead = bool(aead)
        self._factory = factory
        self._obj = None

    def _real(self):
        if self._obj is None:
            if self._factory is None:
                raise SSHException("no cipher object for " + self.name)
            self._obj = self._factory()
        return self._obj

    def update(self, data):
        return self._real().update(data)

    def finalize(self):
        return self._real().finalize()

    def encrypt(self, nonce, data, aad):
        return self._real().encrypt(nonce, data, aad)

    def decrypt(self, nonce, data, aad):
        return self._real().decrypt(nonce, data, aad)

    def __repr__(self):
        return "<sshbpp.RawCipher %s %s>" % (self.name, "out" if self.encrypt_dir else "in")


# hashlib digest name and transmitted size -> SSH MAC name
_MAC_BY_DIGEST = {
    ("sha1", 20): "hmac-sha1", ("sha1", 12): "hmac-sha1-96",
    ("md5", 16): "hmac-md5", ("md5", 12): "hmac-md5-96",
    ("sha256", 32): "hmac-sha2-256", ("sha512", 64): "hmac-sha2-512",
}
_digest_names = {}


def _digest_name(ctor):
    try:
        return _digest_names[ctor]
    except (KeyError, TypeError):
        pass
    try:
        name = ctor().name.lower()
    except Exception:  # pylint: disable=broad-except
        return None
    try:
        _digest_names[ctor] = name
    except TypeError:
        pass
    return name


def _mac_name(mac_engine, mac_size, etm):
    name = _MAC_BY_DIGEST.get((_digest_name(mac_engine), mac_size))
    if name is None:
        return None
    if etm:
        name += "-etm@openssh.com"
    return name if name in MACS else None


def _is_zlib(obj, inbound):
    try:
        from paramiko import compress  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover
        return False
    return type(obj) is (compress.ZlibDecompressor if inbound else compress.ZlibCompressor)


_LIMIT_NAMES = frozenset(("REKEY_PACKETS", "REKEY_BYTES", "REKEY_PACKETS_OVERFLOW_MAX",
                          "REKEY_BYTES_OVERFLOW_MAX"))


class Packetizer(_sshbpp.PacketizerBase):
    """paramiko.packet.Packetizer, with the packet work done in C."""

    # Class constants, read through self (instances and subclasses may
    # override them, as paramiko's users and tests do).
    REKEY_PACKETS = pow(2, 29)
    REKEY_BYTES = pow(2, 29)
    REKEY_PACKETS_OVERFLOW_MAX = pow(2, 29)
    REKEY_BYTES_OVERFLOW_MAX = pow(2, 29)

    def __init__(self, socket):
        fd = -1
        if type(socket) is _socket.socket and socket.type == _socket.SOCK_STREAM:
            fd = socket.fileno()
        super().__init__(socket, fd)
        d = self.__dict__
        d["_Packetizer__socket"] = socket
        d["_Packetizer__init_count"] = 0
        d["_Packetizer__block_size_out"] = 8
        d["_Packetizer__block_size_in"] = 8
        d["_Packetizer__mac_size_out"] = 0
        d["_Packetizer__mac_size_in"] = 0
        d["_Packetizer__block_engine_out"] = None
        d["_Packetizer__block_engine_in"] = None
        d["_Packetizer__mac_engine_out"] = None
        d["_Packetizer__mac_engine_in"] = None
        d["_Packetizer__mac_key_out"] = b""
        d["_Packetizer__mac_key_in"] = b""
        d["_Packetizer__compress_engine_out"] = None
        d["_Packetizer__compress_engine_in"] = None
        d["_Packetizer__sdctr_out"] = False
        d["_Packetizer__etm_out"] = d["_Packetizer__etm_in"] = False
        d["_Packetizer__aead_out"] = d["_Packetizer__aead_in"] = False
        d["_Packetizer__iv_out"] = d["_Packetizer__iv_in"] = None
        d["_Packetizer__keepalive_interval"] = 0
        d["_Packetizer__fixed_pad"] = None
        d["_compat_in"] = None
        d["_compat_out"] = None
        d["_compat_lock"] = _threading.RLock()
        d["_initial_kex_done_flag"] = False
        self._apply_limits()

    # -- attributes paramiko's code and tests touch ---------------------

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in _LIMIT_NAMES:
            self._apply_limits()

    def _apply_limits(self):
        self._set_limits(int(self.REKEY_PACKETS), int(self.REKEY_BYTES),
                         int(self.REKEY_PACKETS_OVERFLOW_MAX), int(self.REKEY_BYTES_OVERFLOW_MAX))

    def _get_ikd(self):
        return self.__dict__["_initial_kex_done_flag"]

    def _set_ikd(self, value):
        self.__dict__["_initial_kex_done_flag"] = value
        self._set_initial_kex_done(bool(value))

    _initial_kex_done = property(_get_ikd, _set_ikd)

    def _stat(self, direction, index):
        comp = self.__dict__["_compat_out" if direction == DIR_OUT else "_compat_in"]
        if comp is not None and index in (1, 2):
            return comp.packets if index == 1 else comp.bytes
        return self._stats(direction)[index]

    __sent_bytes = property(lambda self: self._stat(DIR_OUT, 2))
    __sent_packets = property(lambda self: self._stat(DIR_OUT, 1))
    __received_bytes = property(lambda self: self._stat(DIR_IN, 2))
    __received_packets = property(lambda self: self._stat(DIR_IN, 1))
    __sequence_number_out = property(lambda self: self._stats(DIR_OUT)[0],
                                     lambda self, v: self._set_seqno(DIR_OUT, v))
    __sequence_number_in = property(lambda self: self._stats(DIR_IN)[0],
                                    lambda self, v: self._set_seqno(DIR_IN, v))
    __closed = property(lambda self: self.closed)
    __need_rekey = property(lambda self: self.need_rekey())

    @property
    def __received_bytes_overflow(self):
        comp = self.__dict__["_compat_in"]
        return comp.overflow_bytes if comp is not None else 0

    @property
    def __received_packets_overflow(self):
        comp = self.__dict__["_compat_in"]
        return comp.overflow_packets if comp is not None else 0

    # -- paramiko's public API (the rest is in C) -----------------------

    def set_log(self, log):
        self.__dict__["_Packetizer__logger"] = log
        super().set_log(log)

    def _log(self, level, msg):
        log = self.__dict__.get("_Packetizer__logger")
        if log is None:
            return
        if isinstance(msg, list):
            for m in msg:
                log.log(level, m)
        else:
            log.log(level, msg)

    def set_keepalive(self, interval, callback):
        self.__dict__["_Packetizer__keepalive_interval"] = interval
        super().set_keepalive(interval, callback)

    def get_mac_size_in(self):
        return self.__mac_size_in

    def get_mac_size_out(self):
        return self.__mac_size_out

    def read_timer(self):
        """paramiko's timer target; the C timer needs no thread."""

    def _trigger_rekey(self):
        self._set_compat_need_rekey(True)

    def _switched(self, bit):
        count = self.__dict__["_Packetizer__init_count"] | bit
        if count == 3:
            count = 0
            self._set_compat_need_rekey(False)
        self.__dict__["_Packetizer__init_count"] = count

    def set_outbound_cipher(self, block_engine, block_size, mac_engine, mac_size, mac_key,
                            sdctr=False, etm=False, aead=False, iv_out=None):
        """Switch outbound data cipher (paramiko's signature, 2.12 and 3.x)."""
        d = self.__dict__
        d["_Packetizer__block_engine_out"] = block_engine
        d["_Packetizer__block_size_out"] = block_size
        d["_Packetizer__mac_engine_out"] = mac_engine
        d["_Packetizer__mac_size_out"] = mac_size
        d["_Packetizer__mac_key_out"] = mac_key
        d["_Packetizer__sdctr_out"] = sdctr
        d["_Packetizer__etm_out"] = etm
        d["_Packetizer__aead_out"] = aead
        d["_Packetizer__iv_out"] = iv_out
        self._set_direction(DIR_OUT, block_engine, block_size, mac_engine, mac_size, mac_key,
                            sdctr, etm, aead, iv_out)
        self._switched(1)

    def set_inbound_cipher(self, block_engine, block_size, mac_engine, mac_size, mac_key,
                           etm=False, aead=False, iv_in=None):
        """Switch inbound data cipher (paramiko's signature, 2.12 and 3.x)."""
        d = self.__dict__
        d["_Packetizer__block_engine_in"] = block_engine
        d["_Packetizer__block_size_in"] = block_size
        d["_Packetizer__mac_engine_in"] = mac_engine
        d["_Packetizer__mac_size_in"] = mac_size
        d["_Packetizer__mac_key_in"] = mac_key
        d["_Packetizer__etm_in"] = etm
        d["_Packetizer__aead_in"] = aead
        d["_Packetizer__iv_in"] = iv_in
        self._set_direction(DIR_IN, block_engine, block_size, mac_engine, mac_size, mac_key,
                            False, etm, aead, iv_in)
        self._switched(2)

    def _fast_keys(self, block_engine, mac_engine, mac_size, mac_key, etm, aead, iv):
        """(cipher, key, iv, mac, mac_key) for C, or None for the compatible path."""
        if block_engine is None:
            if mac_engine is None or not mac_size:
                return ("none", None, None, None, None)
            return None
        if not isinstance(block_engine, RawCipher) or block_engine.name not in CIPHERS:
            return None
        if aead or block_engine.aead:
            nonce = iv if iv is not None else block_engine.iv
            return (block_engine.name, block_engine.key, nonce, None, None)
        if etm and "-etm@" in block_engine.name:
            return None
        mac = _mac_name(mac_engine, mac_size, etm) if mac_engine is not None else None
        if mac is None:
            return None
        return (block_engine.name, block_engine.key, block_engine.iv, mac, bytes(mac_key))

    def _set_direction(self, direction, block_engine, block_size, mac_engine, mac_size,
                       mac_key, sdctr, etm, aead, iv):
        fast = self._fast_keys(block_engine, mac_engine, mac_size, mac_key, etm, aead, iv)
        if fast is not None and self._set_keys(direction, *fast) != 0:
            fast = None
        key = "_compat_out" if direction == DIR_OUT else "_compat_in"
        if fast is not None:
            self._set_compat(direction, False)
            self.__dict__[key] = None
            if direction == DIR_OUT:
                self._update_padding()
            return
        # The compatible path: the engine carries no keys for this direction
        # (its sequence number stays the one true counter).
        if self._set_keys(direction, "none", None, None, None, None) != 0:
            raise SSHException("cannot reset keys")
        old = self.__dict__[key]
        comp = _compat.Direction(block_engine, block_size, mac_engine, mac_size, mac_key,
                                 sdctr, etm, aead, iv,
                                 old.compressor if old is not None else None)
        self.__dict__[key] = comp
        self._set_compat(direction, True)

    def _update_padding(self):
        fixed = self.__dict__["_Packetizer__fixed_pad"]
        if fixed is not None:
            self._set_padding(_PAD_FIXED, fixed)
        elif self.__sdctr_out or self.__block_engine_out is None:
            self._set_padding(_PAD_ZERO)
        else:
            self._set_padding(_PAD_RANDOM)

    def _set_fixed_padding(self, byte):
        """Tests only: padding bytes become `byte` (None: paramiko's rule)."""
        self.__dict__["_Packetizer__fixed_pad"] = byte
        self._update_padding()

    def set_outbound_compressor(self, compressor):
        self.__dict__["_Packetizer__compress_engine_out"] = compressor
        self._set_compressor(DIR_OUT, compressor, "_compat_out")

    def set_inbound_compressor(self, compressor):
        self.__dict__["_Packetizer__compress_engine_in"] = compressor
        self._set_compressor(DIR_IN, compressor, "_compat_in")

    def _set_compressor(self, direction, compressor, key):
        comp = self.__dict__[key]
        if comp is not None:
            comp.compressor = compressor
            return
        if compressor is None:
            self._set_compression(direction, None)
        elif _is_zlib(compressor, direction == DIR_IN):
            self._set_compression(direction, "zlib")
        else:
            raise TypeError("sshbpp.Packetizer: a custom compressor needs the compatible "
                            "cipher path (pass cryptography cipher objects)")

    def _compat_read_message(self):
        return _compat.read_message(self, self.__dict__["_compat_in"])

    def _compat_send_message(self, data):
        return _compat.send_message(self, self.__dict__["_compat_out"], data)

    # paramiko's protected helpers, for subclasses that call them
    def _check_keepalive(self):
        """Keepalives are checked in C while a read waits."""

    def _build_packet(self, payload):
        comp = self.__dict__["_compat_out"] or _compat.Direction(
            self.__block_engine_out, self.__block_size_out, None, 0, b"",
            self.__sdctr_out, self.__etm_out, self.__aead_out, self.__iv_out, None)
        return _compat.build_packet(comp, payload)

    def _read_timeout(self, timeout):
        start = _time.time()
        while True:
            try:
                x = self.__socket.recv(128)
                if len(x) == 0:
                    raise EOFError()
                return x
            except _socket.timeout:
                pass
            if self.closed:
                raise EOFError()
            if _time.time() - start >= timeout:
                raise _socket.timeout()

    @staticmethod
    def _inc_iv_counter(iv):
        return _compat.inc_iv_counter(iv)
