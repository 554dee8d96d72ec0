"""Two paramiko Transports over a socketpair (or TCP), a small server
interface (auth "none"/publickey, exec, sftp on a temp folder, global
requests recorded), and SHA-256-checked bulk transfers."""

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
import threading

import paramiko
from paramiko.sftp_attr import SFTPAttributes
from paramiko.sftp_handle import SFTPHandle
from paramiko.sftp_server import SFTPServer
from paramiko.sftp_si import SFTPServerInterface
from paramiko.sftp import SFTP_OK

import sshbpp
import sshbpp.paramiko

_hostkey = None


def hostkey():
    global _hostkey  # pylint: disable=global-statement
    if _hostkey is None:
        _hostkey = paramiko.ECDSAKey.generate()
    return _hostkey


def data_size(default=4 << 20):
    """Bytes per direction for bulk transfers: $SSHBPP_PY_BYTES (ctest: 4 MiB;
    `make test-full`: 64 MiB)."""
    return int(os.environ.get("SSHBPP_PY_BYTES", default))


class Server(paramiko.ServerInterface):
    def __init__(self, authorized=None):
        self.global_requests = []
        self.exec_event = threading.Event()
        self.command = None
        self.authorized = authorized

    def get_allowed_auths(self, username):
        return "publickey" if self.authorized is not None else "none"

    def check_auth_none(self, username):
        return paramiko.AUTH_FAILED if self.authorized is not None else paramiko.AUTH_SUCCESSFUL

    def check_auth_publickey(self, username, key):
        if self.authorized is not None and key.asbytes() in self.authorized:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else \
            paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        self.command = command
        self.exec_event.set()
        return True

    def check_global_request(self, kind, msg):
        self.global_requests.append(kind)
        return False


# ---- SFTP on a temp folder -------------------------------------------

class _Handle(SFTPHandle):
    def stat(self):
        return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class FolderSFTP(SFTPServerInterface):
    ROOT = None

    def _path(self, path):
        return os.path.join(self.ROOT, path.lstrip("/"))

    def open(self, path, flags, attr):
        fd = os.open(self._path(path), flags, 0o600)
        mode = "rb" if (flags & (os.O_WRONLY | os.O_RDWR)) == 0 else "r+b"
        f = os.fdopen(fd, mode)
        h = _Handle(flags)
        h.readfile = f
        h.writefile = f
        h.filename = self._path(path)
        return h

    def stat(self, path):
        return SFTPAttributes.from_stat(os.stat(self._path(path)))

    lstat = stat

    def remove(self, path):
        os.remove(self._path(path))
        return SFTP_OK

    def chattr(self, path, attr):
        return SFTP_OK

    def list_folder(self, path):
        return [SFTPAttributes.from_stat(os.stat(os.path.join(self._path(path), n)), n)
                for n in os.listdir(self._path(path))]


@contextlib.contextmanager
def installed(on=True):
    """sshbpp.paramiko.install() for Transports created inside the block
    (uninstall() afterwards if it was not installed before)."""
    was = sshbpp.paramiko.installed()
    if on and not was:
        sshbpp.paramiko.install()
    if not on and was:
        sshbpp.paramiko.uninstall()
    try:
        yield
    finally:
        if was and not sshbpp.paramiko.installed():
            sshbpp.paramiko.install()
        if not was and sshbpp.paramiko.installed():
            sshbpp.paramiko.uninstall()


class Pair(object):
    """A connected client and server Transport."""

    def __init__(self, accel_client=True, accel_server=True, ciphers=None, macs=None,
                 compress=False, sftp_root=None, tcp=False, client_setup=None):
        if tcp:
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(1)
            b = socket.create_connection(ls.getsockname())
            a, _ = ls.accept()
            ls.close()
        else:
            a, b = socket.socketpair()
        self.server = Server()
        # install() stays on for the whole connection (the key factory must
        # see the keys); a plain side is only constructed without it.
        sshbpp.paramiko.install()
        with installed(accel_server):
            self.ts = paramiko.Transport(a)
        with installed(accel_client):
            self.tc = paramiko.Transport(b)
        self.ts.add_server_key(hostkey())
        if sftp_root is not None:
            FolderSFTP.ROOT = sftp_root
            self.ts.set_subsystem_handler("sftp", SFTPServer, FolderSFTP)
        opts = self.tc.get_security_options()
        if ciphers:
            opts.ciphers = ciphers
        if macs:
            opts.digests = macs
        if compress:
            self.tc.use_compression(True)
            self.ts.use_compression(True)
        if client_setup is not None:
            client_setup(self.tc)
        ev = threading.Event()
        self.ts.start_server(event=ev, server=self.server)
        self.tc.connect()
        self.tc.auth_none("user")
        assert self.tc.is_authenticated()

    def exec_channels(self):
        ch = self.tc.open_session()
        ch.exec_command("transfer")
        sch = self.ts.accept(10)
        assert sch is not None
        return ch, sch

    def close(self):
        self.tc.close()
        self.ts.close()


def pattern(size, seed):
    """Deterministic, partly compressible data (so zlib cases stay fast)."""
    block = hashlib.sha256(seed).digest() * 2 + os.urandom(64)
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(block + i.to_bytes(4, "big")).digest() + block
        i += 1
    return bytes(out[:size])


def _sender(chan, total, chunk_data, errors, digest_out):
    try:
        h = hashlib.sha256()
        sent = 0
        while sent < total:
            piece = chunk_data[:min(len(chunk_data), total - sent)]
            chan.sendall(piece)
            h.update(piece)
            sent += len(piece)
        digest_out.append(h.hexdigest())
    except Exception as e:  # pylint: disable=broad-except
        errors.append(e)


def _receiver(chan, total, errors, digest_out):
    try:
        h = hashlib.sha256()
        got = 0
        while got < total:
            d = chan.recv(min(65536, total - got))
            if not d:
                raise EOFError("channel closed after %d of %d bytes" % (got, total))
            h.update(d)
            got += len(d)
        digest_out.append(h.hexdigest())
    except Exception as e:  # pylint: disable=broad-except
        errors.append(e)


def bidirectional(ch, sch, total, during=None):
    """Sends `total` bytes each way at once; returns after both SHA-256
    digests matched. `during(bytes_so_far)` may be called by the client
    sender between chunks (to change REKEY_BYTES mid-transfer)."""
    up, down = pattern(1 << 20, b"up"), pattern(1 << 20, b"down")
    errors = []
    d_up_sent, d_up_got, d_down_sent, d_down_got = [], [], [], []
    threads = [threading.Thread(target=_sender, args=(ch, total, up, errors, d_up_sent)),
               threading.Thread(target=_receiver, args=(sch, total, errors, d_up_got)),
               threading.Thread(target=_sender, args=(sch, total, down, errors, d_down_sent)),
               threading.Thread(target=_receiver, args=(ch, total, errors, d_down_got))]
    for t in threads:
        t.daemon = True
        t.start()
    if during is not None:
        during()
    for t in threads:
        t.join(600)
        assert not t.is_alive(), "transfer hung"
    assert not errors, errors
    assert d_up_sent == d_up_got, "client->server SHA-256 differs"
    assert d_down_sent == d_down_got, "server->client SHA-256 differs"
    return d_up_sent[0], d_down_sent[0]


@contextlib.contextmanager
def temp_folder():
    d = tempfile.mkdtemp(prefix="sshbpp-py-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_file(path, size, seed=b"file"):
    h = hashlib.sha256()
    block = pattern(1 << 20, seed)
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            piece = block[:min(len(block), left)]
            piece = i.to_bytes(8, "big") + piece[8:] if len(piece) > 8 else piece
            f.write(piece)
            h.update(piece)
            left -= len(piece)
            i += 1
    return h.hexdigest()


def one_way(src, dst, total, during=None):
    """Sends `total` bytes from channel src to channel dst, SHA-256 checked.
    (paramiko itself deadlocks when both directions are saturated while a
    rekey starts: each transport thread waits for clear_to_send_lock, held
    by its own sender blocked on a full socket; so rekey tests go one way.)"""
    data = pattern(1 << 20, b"one-way")
    errors, sent, got = [], [], []
    threads = [threading.Thread(target=_sender, args=(src, total, data, errors, sent)),
               threading.Thread(target=_receiver, args=(dst, total, errors, got))]
    for t in threads:
        t.daemon = True
        t.start()
    if during is not None:
        during()
    for t in threads:
        t.join(600)
        assert not t.is_alive(), "transfer hung"
    assert not errors, errors
    assert sent == got, "SHA-256 differs"
