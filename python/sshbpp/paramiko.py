"""Put sshbpp under paramiko: ``install()`` / ``uninstall()``.

After ``sshbpp.paramiko.install()`` every ``paramiko.Transport`` created
uses ``sshbpp.Packetizer``, and Transport's cipher factory hands raw keys
(:class:`sshbpp.RawCipher`) to it, so that framing, encryption, MAC and zlib
run in C for every cipher and MAC sshbpp implements. Anything sshbpp does
not implement falls back to paramiko's own cipher objects (the compatible
path), so nothing the installed paramiko offers stops working.

Features are detected, not versions: paramiko 2.12 builds ciphers in
``Transport._get_cipher(name, key, iv, operation)``, 3.x in
``Transport._get_engine(name, key, iv=None, operation=None, aead=False)``;
both look the Packetizer class up as ``paramiko.transport.Packetizer``.
``uninstall()`` puts back exactly the objects it replaced.
"""

import threading as _threading

import sshbpp as _sshbpp

_lock = _threading.Lock()
_saved = None  # list of (owner, attribute name, original value or _MISSING)
_MISSING = object()


def _wrap_factory(orig, new_style):
    """A Transport method returning RawCipher when the packetizer is ours."""
    if new_style:
        def _get_engine(self, name, key, iv=None, operation=None, aead=False):
            if not isinstance(getattr(self, "packetizer", None), _sshbpp.Packetizer) or \
                    name not in _sshbpp.CIPHERS:
                return orig(self, name, key, iv=iv, operation=operation, aead=aead)
            return _sshbpp.RawCipher(
                name, key, iv, operation is self._ENCRYPT, aead,
                lambda: orig(self, name, key, iv=iv, operation=operation, aead=aead))
        _get_engine.__wrapped__ = orig
        return _get_engine

    def _get_cipher(self, name, key, iv, operation):
        if not isinstance(getattr(self, "packetizer", None), _sshbpp.Packetizer) or \
                name not in _sshbpp.CIPHERS:
            return orig(self, name, key, iv, operation)
        return _sshbpp.RawCipher(name, key, iv, operation is self._ENCRYPT, False,
                                 lambda: orig(self, name, key, iv, operation))
    _get_cipher.__wrapped__ = orig
    return _get_cipher


def installed():
    """True between install() and uninstall()."""
    return _saved is not None


def install():
    """Make paramiko Transports created from now on use sshbpp.Packetizer.

    Idempotent. Returns the names of the paramiko attributes replaced.
    """
    global _saved  # pylint: disable=global-statement
    import paramiko  # pylint: disable=import-outside-toplevel
    import paramiko.transport as pt  # pylint: disable=import-outside-toplevel
    import paramiko.packet as pp  # pylint: disable=import-outside-toplevel

    with _lock:
        if _saved is not None:
            return [name for _, name, _ in _saved]
        saved = []

        def replace(owner, name, value):
            saved.append((owner, name, owner.__dict__.get(name, _MISSING)))
            setattr(owner, name, value)

        T = pt.Transport
        if "_get_engine" in T.__dict__:
            replace(T, "_get_engine", _wrap_factory(T.__dict__["_get_engine"], True))
        elif "_get_cipher" in T.__dict__:
            replace(T, "_get_cipher", _wrap_factory(T.__dict__["_get_cipher"], False))
        else:
            raise RuntimeError("sshbpp.paramiko: this paramiko has neither "
                               "Transport._get_engine nor Transport._get_cipher")
        # The class Transport instantiates (both versions look up the module
        # global; 3.x's packetizer_class= still wins when a caller passes it).
        replace(pt, "Packetizer", _sshbpp.Packetizer)
        _saved = saved
        del pp, paramiko
        return [name for _, name, _ in saved]


def uninstall():
    """Undo install(): paramiko is exactly as before. Transports created in
    between keep their sshbpp.Packetizer."""
    global _saved  # pylint: disable=global-statement
    with _lock:
        if _saved is None:
            return
        for owner, name, value in reversed(_saved):
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        _saved = None
