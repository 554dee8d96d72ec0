"""Accelerated paramiko against OpenSSH: paramiko (with
sshbpp.paramiko.install()) as a client of Debian's sshd (exec data both
ways, SFTP through sshd's sftp-server, rekeys started by either side), and
as a server for OpenSSH's ssh client. sshd and ssh are started on free
loopback ports with keys in temp folders by tests/interop/ssh/peers.py; a
missing sshd/ssh is a failure, not a skip."""

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

import paramiko
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop", "ssh"))
import peers  # noqa: E402  pylint: disable=wrong-import-position

import sshbpp  # noqa: E402
import sshbpp.paramiko  # noqa: E402
import sshpair  # noqa: E402

SFTP_SERVER = "/usr/lib/openssh/sftp-server"


@pytest.fixture(autouse=True)
def _installed():
    sshbpp.paramiko.install()
    yield
    sshbpp.paramiko.uninstall()


@pytest.fixture(scope="module")
def sshd():
    peers.need_tool(SFTP_SERVER)
    ciphers = [c for c in paramiko.Transport._preferred_ciphers if c in peers.query_ssh("cipher")]
    macs = [m for m in paramiko.Transport._preferred_macs if m in peers.query_ssh("mac")]
    s = peers.Sshd(tag="pysshd", client_key=True, ciphers=ciphers, macs=macs,
                   extra_config="Subsystem sftp %s\nCompression yes\n" % SFTP_SERVER)
    s.start()
    yield s
    s.stop()


def _connect(sshd, cipher=None, mac=None, compress=False):
    sock = socket.create_connection(("127.0.0.1", sshd.port), timeout=10)
    t = paramiko.Transport(sock)
    assert isinstance(t.packetizer, sshbpp.Packetizer)
    opts = t.get_security_options()
    if cipher:
        opts.ciphers = [cipher]
    if mac:
        opts.digests = [mac]
    if compress:
        t.use_compression(True)
    t.connect()
    key = paramiko.ECDSAKey.from_private_key_file(sshd.client_key)
    t.auth_publickey("root", key)
    assert t.is_authenticated()
    p = t.packetizer
    assert p.__dict__["_compat_in"] is None and p.__dict__["_compat_out"] is None
    return t


def _exec(t, command, stdin_data=None, size=None):
    """Runs command; sends stdin_data (then EOF); returns (stdout bytes sha, count)."""
    ch = t.open_session()
    ch.exec_command(command)
    errors = []

    def feed():
        try:
            if stdin_data is not None:
                view = memoryview(stdin_data)
                for i in range(0, len(view), 32768):
                    ch.sendall(view[i:i + 32768])
            ch.shutdown_write()
        except Exception as e:  # pylint: disable=broad-except
            errors.append(e)
    th = threading.Thread(target=feed)
    th.start()
    h = hashlib.sha256()
    n = 0
    while True:
        d = ch.recv(65536)
        if not d:
            break
        h.update(d)
        n += len(d)
    th.join(60)
    assert not errors, errors
    rc = ch.recv_exit_status()
    ch.close()
    assert rc == 0, "remote command failed: %s" % command
    return h.hexdigest(), n


def _transfer_both_ways(t, sshd, size):
    data = sshpair.pattern(size, b"to-sshd")
    out, _ = _exec(t, "sha256sum", data)
    got = out  # hash of sha256sum's output line; compare text instead
    ch = t.open_session()
    ch.exec_command("sha256sum")
    ch.sendall(data)
    ch.shutdown_write()
    line = b""
    while True:
        d = ch.recv(4096)
        if not d:
            break
        line += d
    assert line.split()[0].decode() == hashlib.sha256(data).hexdigest(), "upload corrupted"
    del got
    path = os.path.join(sshd.dir, "down.bin")
    digest = sshpair.write_file(path, size, b"from-sshd")
    got, n = _exec(t, "cat %s" % path)
    assert (got, n) == (digest, size), "download corrupted"


def _pairs():
    ciphers = [c for c in paramiko.Transport._preferred_ciphers if c in peers.query_ssh("cipher")]
    macs = [m for m in paramiko.Transport._preferred_macs if m in peers.query_ssh("mac")]
    out = [(c, macs[0]) for c in ciphers] + [(ciphers[0], m) for m in macs[1:]]
    return out


@pytest.mark.parametrize("cipher,mac", _pairs())
def test_client_against_sshd(sshd, cipher, mac):
    t = _connect(sshd, cipher, mac)
    try:
        assert (t.local_cipher, t.local_mac) == (cipher, mac)
        _transfer_both_ways(t, sshd, min(sshpair.data_size(), 8 << 20))
    finally:
        t.close()


def test_client_against_sshd_zlib(sshd):
    t = _connect(sshd, compress=True)
    try:
        assert t.local_compression.startswith("zlib")
        _transfer_both_ways(t, sshd, min(sshpair.data_size(), 8 << 20))
    finally:
        t.close()


def test_sftp_against_sshd(sshd):
    size = sshpair.data_size()
    t = _connect(sshd)
    with sshpair.temp_folder() as local:
        try:
            src = os.path.join(local, "src.bin")
            digest = sshpair.write_file(src, size, b"sftp")
            sftp = paramiko.SFTPClient.from_transport(t)
            remote = os.path.join(sshd.dir, "sftp-up.bin")
            sftp.put(src, remote)
            assert sshpair.file_sha256(remote) == digest
            dst = os.path.join(local, "dst.bin")
            sftp.get(remote, dst)
            assert sshpair.file_sha256(dst) == digest
            sftp.close()
        finally:
            t.close()


def _settle(t):
    """Stops further client-started rekeys and waits for one in progress:
    paramiko deadlocks (its issue #822) when a CHANNEL_CLOSE arrives while
    its own KEXINIT is outstanding, with or without sshbpp (plain paramiko
    failed 5 of 8 runs of this test here), so the channel may only close
    once the key exchange is over."""
    t.packetizer.REKEY_BYTES = pow(2, 29)
    deadline = time.time() + 30
    while (t.in_kex or t.packetizer.need_rekey()) and time.time() < deadline:
        time.sleep(0.01)
    assert not t.in_kex


def test_rekey_started_by_paramiko_against_sshd(sshd):
    t = _connect(sshd)
    try:
        session = t.session_id
        size = 4 << 20
        rekeys = t.packetizer._stats(sshbpp.DIR_OUT)[5]
        # upload: sshd's sha256sum reads until EOF
        data = sshpair.pattern(size, b"rekey-up")
        t.packetizer.REKEY_BYTES = 256 * 1024
        ch = t.open_session()
        ch.exec_command("sha256sum")
        ch.sendall(data)
        _settle(t)
        ch.shutdown_write()
        line = b""
        while True:
            d = ch.recv(4096)
            if not d:
                break
            line += d
        assert line.split()[0].decode() == hashlib.sha256(data).hexdigest()
        assert t.H != session
        up_rekeys = t.packetizer._stats(sshbpp.DIR_OUT)[5] - rekeys
        assert up_rekeys >= 2, up_rekeys
        # download: the command lingers, so that its CHANNEL_CLOSE comes late
        path = os.path.join(sshd.dir, "rekey-down.bin")
        digest = sshpair.write_file(path, size, b"rekey-down")
        t.packetizer.REKEY_BYTES = 256 * 1024
        ch = t.open_session()
        ch.exec_command("cat %s; sleep 2" % path)
        h = hashlib.sha256()
        n = 0
        while n < size:
            d = ch.recv(65536)
            assert d, "EOF after %d bytes" % n
            h.update(d)
            n += len(d)
        _settle(t)
        assert ch.recv(1) == b""
        assert ch.recv_exit_status() == 0
        assert h.hexdigest() == digest
        # at least one more, started by what came in (the count varies with load)
        assert t.packetizer._stats(sshbpp.DIR_OUT)[5] - rekeys >= up_rekeys + 1
    finally:
        t.close()


def test_rekey_started_by_sshd():
    s = peers.Sshd(tag="pysshd-rekey", client_key=True, extra_config="RekeyLimit 512K\n")
    s.start()
    try:
        t = _connect(s)
        try:
            _transfer_both_ways(t, s, 4 << 20)
            assert t.packetizer._stats(sshbpp.DIR_IN)[5] >= 3, "sshd did not rekey"
        finally:
            t.close()
    finally:
        s.stop()


# ---- paramiko server, OpenSSH client -----------------------------------

class _ExecServer(sshpair.Server):
    def __init__(self, authorized):
        super().__init__(authorized=authorized)
        self.channel = None

    def check_channel_exec_request(self, channel, command):
        self.command = command
        self.channel = channel
        self.exec_event.set()
        return True


def _serve_once(listener, key, result):
    try:
        conn, _ = listener.accept()
        t = paramiko.Transport(conn)
        result["packetizer"] = type(t.packetizer)
        t.add_server_key(sshpair.hostkey())
        server = _ExecServer({key.asbytes()})
        t.start_server(server=server)
        ch = t.accept(30)
        assert server.exec_event.wait(30)
        cmd = server.command.decode()
        if cmd.startswith("upload"):
            h = hashlib.sha256()
            while True:
                d = ch.recv(65536)
                if not d:
                    break
                h.update(d)
            ch.sendall((h.hexdigest() + "\n").encode())
        else:
            size = int(cmd.split()[1])
            data = sshpair.pattern(1 << 20, b"paramiko-server")
            h = hashlib.sha256()
            sent = 0
            while sent < size:
                piece = data[:min(len(data), size - sent)]
                ch.sendall(piece)
                h.update(piece)
                sent += len(piece)
            result["digest"] = h.hexdigest()
        ch.send_exit_status(0)
        ch.close()
        result["cipher"] = (t.remote_cipher, t.remote_mac)
        time.sleep(0.2)
        t.close()
    except Exception as e:  # pylint: disable=broad-except
        result["error"] = e


def _ssh_client_key(d):
    key = paramiko.ECDSAKey.generate()
    path = os.path.join(d, "id_ecdsa")
    key.write_private_key_file(path)
    os.chmod(path, 0o600)
    return key, path


@pytest.mark.parametrize("cipher,mac", [("aes128-ctr", "hmac-sha2-256"),
                                        ("aes256-ctr", "hmac-sha2-512-etm@openssh.com"),
                                        ("aes128-cbc", "hmac-sha1"),
                                        ("aes192-ctr", "hmac-sha2-256-etm@openssh.com")])
@pytest.mark.parametrize("direction", ["upload", "download"])
def test_server_for_openssh_client(cipher, mac, direction):
    ssh = peers.need_tool("ssh")
    size = min(sshpair.data_size(), 8 << 20)
    with sshpair.temp_folder() as d:
        key, keyfile = _ssh_client_key(d)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        result = {}
        th = threading.Thread(target=_serve_once, args=(listener, key, result), daemon=True)
        th.start()
        argv = [ssh, "-F", "none", "-T", "-p", str(port), "-i", keyfile,
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                "-o", "Ciphers=" + cipher, "-o", "MACs=" + mac, "user@127.0.0.1"]
        if direction == "upload":
            data = sshpair.pattern(size, b"from-ssh")
            r = peers.run(argv + ["upload"], timeout=120, input_bytes=data)
            assert r.rc == 0, r.describe()
            assert r.out.strip() == hashlib.sha256(data).hexdigest()
        else:
            proc = subprocess.Popen(argv + ["download %d" % size], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert len(out) == size
            th.join(30)
            assert hashlib.sha256(out).hexdigest() == result.get("digest")
        th.join(30)
        listener.close()
        assert "error" not in result, result.get("error")
        assert result["packetizer"] is sshbpp.Packetizer
        assert result["cipher"] == (cipher, mac)
