#!/usr/bin/python3
"""Plain paramiko against paramiko with sshbpp.paramiko.install(), in one run.

  PYTHONPATH=build/python:tests/python /usr/bin/python3 bench/python_paramiko_bench.py \
      [--quick] [--sftp-mib 256] [--profile] [--json out.json]

1. Packetizer level: one sender thread, one reader thread over a socketpair
   (timeout 0.1 s, as Transport sets), aes128-ctr + hmac-sha2-256, 256 B
   and 32 KiB payloads (paramiko Message objects), MB/s and packets/s.
2. Channel: two Transports over a socketpair, an exec channel, writes of
   256 B and 32 KiB from the client, the server reading.
3. SFTP: paramiko's SFTPClient put and get of a file against Debian's sshd
   (its sftp-server), so that only our side changes.
4. --profile: cProfile (every thread) of a plain-paramiko channel run at
   32 KiB: the share of the time spent inside the Packetizer.

Not a test: nothing is asserted beyond data integrity (SHA-256).
"""

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop", "ssh"))

import paramiko  # noqa: E402
import paramiko.packet  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from paramiko.message import Message  # noqa: E402

import sshbpp  # noqa: E402
import sshbpp.paramiko  # noqa: E402
import sshpair  # noqa: E402

MiB = 1 << 20


def packetizer_run(accel, payload, total):
    a, b = socket.socketpair()
    a.settimeout(0.1)
    b.settimeout(0.1)
    key, iv, mkey = os.urandom(16), os.urandom(16), os.urandom(32)
    if accel:
        w, r = sshbpp.Packetizer(a), sshbpp.Packetizer(b)
        enc = sshbpp.RawCipher("aes128-ctr", key, iv, True)
        dec = sshbpp.RawCipher("aes128-ctr", key, iv, False)
    else:
        w, r = paramiko.packet.Packetizer(a), paramiko.packet.Packetizer(b)
        c = Cipher(algorithms.AES(key), modes.CTR(iv))
        enc, dec = c.encryptor(), c.decryptor()
    w.set_outbound_cipher(enc, 16, hashlib.sha256, 32, mkey, True)
    r.set_inbound_cipher(dec, 16, hashlib.sha256, 32, mkey)
    m = Message()
    m.add_byte(b"\x5e")
    m.add_bytes(os.urandom(payload - 1))
    count = max(1, total // payload)
    got = [0]

    def reader():
        for _ in range(count):
            r.read_message()
            got[0] += 1
    t = threading.Thread(target=reader)
    t0 = time.perf_counter()
    t.start()
    for _ in range(count):
        w.send_message(m)
    t.join()
    dt = time.perf_counter() - t0
    a.close()
    b.close()
    assert got[0] == count
    return {"MB/s": count * payload / dt / 1e6, "packets/s": count / dt, "seconds": dt}


def channel_run(accel, write, total):
    with sshpair.installed(accel):
        return _channel_run(accel, write, total)


def _channel_run(accel, write, total):
    pair = sshpair.Pair(accel_client=accel, accel_server=accel)
    if accel:
        for t in (pair.tc, pair.ts):
            assert t.packetizer.__dict__["_compat_out"] is None
    try:
        ch, sch = pair.exec_channels()
        data = sshpair.pattern(write, b"bench")
        count = max(1, total // write)
        h_out = hashlib.sha256()
        res = {}

        def reader():
            h = hashlib.sha256()
            n = 0
            while n < count * write:
                d = sch.recv(65536)
                if not d:
                    break
                h.update(d)
                n += len(d)
            res["digest"] = h.hexdigest()
        t = threading.Thread(target=reader)
        t0 = time.perf_counter()
        t.start()
        for _ in range(count):
            ch.sendall(data)
            h_out.update(data)
        t.join()
        dt = time.perf_counter() - t0
        assert res["digest"] == h_out.hexdigest()
        return {"MB/s": count * write / dt / 1e6, "seconds": dt}
    finally:
        pair.close()


def sftp_run(accel, sshd, path_local, size):
    with sshpair.installed(accel):  # for the whole connection: kex needs it
        return _sftp_run(accel, sshd, path_local, size)


def _sftp_run(accel, sshd, path_local, size):
    sock = socket.create_connection(("127.0.0.1", sshd.port))
    t = paramiko.Transport(sock)
    assert isinstance(t.packetizer, sshbpp.Packetizer) == accel
    t.connect()
    t.auth_publickey("root", paramiko.ECDSAKey.from_private_key_file(sshd.client_key))
    if accel:  # the keys reached C
        assert t.packetizer.__dict__["_compat_out"] is None
        assert t.packetizer.__dict__["_compat_in"] is None
    sftp = paramiko.SFTPClient.from_transport(t)
    remote = os.path.join(sshd.dir, "bench.bin")
    t0 = time.perf_counter()
    sftp.put(path_local, remote)
    put = time.perf_counter() - t0
    back = path_local + ".back"
    t0 = time.perf_counter()
    sftp.get(remote, back)
    get = time.perf_counter() - t0
    ok = sshpair.file_sha256(back) == sshpair.file_sha256(path_local)
    os.remove(back)
    os.remove(remote)
    sftp.close()
    t.close()
    assert ok, "SFTP data corrupted"
    return {"put MB/s": size / put / 1e6, "get MB/s": size / get / 1e6}


def profile_plain_channel(total):
    profs = []
    lock = threading.Lock()

    def starter(frame, event, arg):  # runs once in each new thread
        sys.setprofile(None)
        p = cProfile.Profile()
        with lock:
            profs.append(p)
        p.enable()
    main = cProfile.Profile()
    threading.setprofile(starter)
    main.enable()
    try:
        channel_run(False, 32768, total)
    finally:
        main.disable()
        threading.setprofile(None)
    time.sleep(0.5)  # transport threads finish after close()
    st = pstats.Stats(main)
    for p in profs:
        try:
            p.disable()
        except Exception:  # pylint: disable=broad-except
            pass
        try:
            st.add(p)
        except TypeError:
            pass
    total_t = sum(v[2] for v in st.stats.values())  # tottime
    def cum(pred):
        return sum(v[3] for k, v in st.stats.items() if pred(k))
    pz = cum(lambda k: k[0].endswith("paramiko/packet.py") and k[2] in ("send_message",
                                                                           "read_message"))
    wait = sum(v[2] for k, v in st.stats.items()
               if k[2] in ("<method 'acquire' of '_thread.lock' objects>",
                           "<method 'recv' of '_socket.socket' objects>",
                           "<method 'acquire' of '_thread.RLock' objects>"))
    top = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:12]
    return {"total_s": total_t, "packetizer_s": pz, "blocked_s": wait,
            "packetizer_share": pz / max(1e-9, total_t),
            "top_tottime": [("%s:%d(%s)" % (os.path.basename(k[0]), k[1], k[2]), round(v[2], 3))
                            for k, v in top]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--sftp-mib", type=int, default=256)
    ap.add_argument("--no-sftp", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    q = 8 if args.quick else 1
    out = {"paramiko": paramiko.__version__, "python": sys.version.split()[0]}
    print("paramiko %s, python %s, sshbpp %s" % (paramiko.__version__, out["python"],
                                                 sshbpp.version))
    for payload, total in ((256, 16 * MiB // q), (32768, 256 * MiB // q)):
        plain = packetizer_run(False, payload, total)
        accel = packetizer_run(True, payload, total)
        out["packetizer_%d" % payload] = {"plain": plain, "sshbpp": accel}
        print("Packetizer %6d B: plain %8.1f MB/s %9.0f pkt/s | sshbpp %8.1f MB/s %9.0f pkt/s"
              " | x%.2f" % (payload, plain["MB/s"], plain["packets/s"], accel["MB/s"],
                           accel["packets/s"], accel["packets/s"] / plain["packets/s"]))
    for write, total in ((256, 8 * MiB // q), (32768, 256 * MiB // q)):
        plain = channel_run(False, write, total)
        accel = channel_run(True, write, total)
        out["channel_%d" % write] = {"plain": plain, "sshbpp": accel}
        print("Channel    %6d B: plain %8.1f MB/s | sshbpp %8.1f MB/s | x%.2f" % (
            write, plain["MB/s"], accel["MB/s"], accel["MB/s"] / plain["MB/s"]))
    if not args.no_sftp:
        import peers  # pylint: disable=import-outside-toplevel
        size = (args.sftp_mib * MiB) // q
        sshd = peers.Sshd(tag="bench-sshd", client_key=True,
                          extra_config="Subsystem sftp /usr/lib/openssh/sftp-server\n",
                          ciphers=["aes128-ctr"], macs=["hmac-sha2-256"])
        sshd.start()
        try:
            with sshpair.temp_folder() as d:
                src = os.path.join(d, "src.bin")
                sshpair.write_file(src, size, b"bench-sftp")
                plain = sftp_run(False, sshd, src, size)
                accel = sftp_run(True, sshd, src, size)
        finally:
            sshd.stop()
        out["sftp"] = {"bytes": size, "plain": plain, "sshbpp": accel}
        for k in ("put MB/s", "get MB/s"):
            print("SFTP %d MiB %s: plain %8.1f | sshbpp %8.1f | x%.2f" % (
                size // MiB, k.split()[0], plain[k], accel[k], accel[k] / plain[k]))
    if args.profile:
        prof = profile_plain_channel(64 * MiB // q)
        out["profile_plain_channel_32k"] = prof
        print("cProfile plain channel 32 KiB: %.2f s in all threads (%.2f s of it blocked in "
              "lock/recv waits); Packetizer send/read_message (incl. their socket waits) "
              "%.2f s = %.0f%%" % (prof["total_s"], prof["blocked_s"], prof["packetizer_s"],
                                  100 * prof["packetizer_share"]))
        for name, t in prof["top_tottime"]:
            print("   %7.3f s  %s" % (t, name))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
