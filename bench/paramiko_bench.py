#!/usr/bin/python3
"""Throughput of Debian's paramiko Packetizer, measured the way
bench_throughput.c measures sshbpp in socket mode: a socketpair, one writer
thread calling send_message, this thread calling read_message, fixed-size
payloads, median of N runs. Only the cases paramiko 2.12 supports.

    /usr/bin/python3 bench/paramiko_bench.py [--size N] [--mib M] [--runs R]
"""
import argparse
import hashlib
import socket
import statistics
import threading
import time

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import paramiko
from paramiko.message import Message
from paramiko.packet import Packetizer

CASES = [
    ("none", None, None),
    ("aes128-ctr", "hmac-sha2-256", False),
    ("aes128-ctr", "hmac-sha2-256-etm@openssh.com", True),
    ("aes128-ctr", "hmac-sha1", False),
    ("aes256-cbc", "hmac-sha2-512", False),
]
MACS = {
    "hmac-sha2-256": (hashlib.sha256, 32),
    "hmac-sha2-256-etm@openssh.com": (hashlib.sha256, 32),
    "hmac-sha1": (hashlib.sha1, 20),
    "hmac-sha2-512": (hashlib.sha512, 64),
}


def engines(cipher):
    keylen = {"aes128-ctr": 16, "aes256-cbc": 32}[cipher]
    key, iv = b"\x42" * keylen, b"\x24" * 16
    mode = modes.CTR(iv) if cipher.endswith("ctr") else modes.CBC(iv)
    c = Cipher(algorithms.AES(key), mode, backend=default_backend())
    return c.encryptor(), c.decryptor()


def one_run(cipher, mac, etm, size, count):
    a, b = socket.socketpair()
    pw, pr = Packetizer(a), Packetizer(b)
    if cipher != "none":
        enc, dec = engines(cipher)
        md, mlen = MACS[mac]
        mkey = b"\x17" * mlen
        sdctr = cipher.endswith("ctr")
        pw.set_outbound_cipher(enc, 16, md, mlen, mkey, sdctr, etm=etm)
        pr.set_inbound_cipher(dec, 16, md, mlen, mkey, etm=etm)
    m = Message()
    m.add_byte(bytes([94]))
    m.add_bytes(b"\x00" * (size - 1))

    def writer():
        for _ in range(count):
            pw.send_message(m)

    t0 = time.monotonic()
    th = threading.Thread(target=writer)
    th.start()
    for _ in range(count):
        cmd, msg = pr.read_message()
        assert cmd == 94 and len(msg.asbytes()) == size - 1
    th.join()
    t = time.monotonic() - t0
    a.close()
    b.close()
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=32768)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    count = max(1, (args.mib << 20) // args.size)
    print("paramiko %s, payload %d B, %d MiB per run, median of %d runs"
          % (paramiko.__version__, args.size, args.mib, args.runs))
    for cipher, mac, etm in CASES:
        secs = sorted(one_run(cipher, mac, etm, args.size, count) for _ in range(args.runs))
        med = statistics.median(secs)
        name = cipher if mac is None else cipher + "+" + mac
        print("%-44s %9.1f MB/s %10.0f packets/s"
              % (name, count * args.size / med / 1e6, count / med), flush=True)


if __name__ == "__main__":
    main()
