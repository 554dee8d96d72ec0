#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_channel.c into fuzz/corpus/channel/.

Run from the repository root: /usr/bin/python3 fuzz/gen_channel_seeds.py
Record format: see fuzz/fuzz_channel.c.
"""
import hashlib
import os
import struct


def u32(v):
    return struct.pack(">I", v)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def msg(payload, code=10):
    # op 10: a message (10 % 5 == 0); the harness accepts opens (10 % 3 == 1)
    # and answers requests (even)
    return bytes([code]) + struct.pack(">H", len(payload)) + payload


def op(code, payload=b""):
    return bytes([code]) + struct.pack(">H", len(payload)) + payload


def peer_open(remote, win=2 * 1024 * 1024, maxp=32768, kind="session"):
    return msg(bytes([90]) + s(kind) + u32(remote) + u32(win) + u32(maxp))


def req(ch, name, want, rest=b""):
    return msg(bytes([98]) + u32(ch) + s(name) + bytes([want]) + rest)


SEEDS = {
    # the peer opens a session and runs a command on us
    "peer_session": bytes([0]) + peer_open(5) + req(0, "exec", 1, s("echo hi"))
    + req(0, "env", 0, s("LANG") + s("C"))
    + req(0, "pty-req", 1, s("xterm") + u32(80) + u32(24) + u32(0) + u32(0) + s(b"\0"))
    + msg(bytes([94]) + u32(0) + s("hello")) + msg(bytes([96]) + u32(0))
    + msg(bytes([97]) + u32(0)),
    # our open, confirmed, then the session's life
    "local_session": bytes([1]) + op(1) + msg(bytes([91]) + u32(0) + u32(9) + u32(4096) + u32(1024))
    + msg(bytes([99]) + u32(0)) + op(2, b"\0data to send")
    + msg(bytes([93]) + u32(0) + u32(100000))
    + msg(bytes([94]) + u32(0) + s("out")) + msg(bytes([95]) + u32(0) + u32(1) + s("err"))
    + req(0, "exit-status", 0, u32(7))
    + req(0, "exit-signal", 0, s("KILL") + b"\1" + s("killed") + s(""))
    + op(3, b"\0") + msg(bytes([96]) + u32(0)) + op(4, b"\0") + msg(bytes([97]) + u32(0)),
    # our open refused
    "open_failure": bytes([4]) + op(1) + op(1)
    + msg(bytes([92]) + u32(0) + u32(2) + s("connect failed") + s(""))
    + msg(bytes([91]) + u32(1) + u32(3) + u32(0) + u32(0)) + op(2, b"\1blocked"),
    # global requests
    "global": bytes([0]) + msg(bytes([80]) + s("keepalive@openssh.com") + b"\1")
    + msg(bytes([80]) + s("tcpip-forward") + b"\1" + s("127.0.0.1") + u32(0))
    + op(0x0a, b"") + msg(bytes([80]) + s("no-more-sessions@openssh.com") + b"\0"),
    # a peer beyond our window (small window, manual)
    "window_violation": bytes([3]) + peer_open(1) + b"".join(
        msg(bytes([94]) + u32(0) + s(b"w" * 1024), 15) for _ in range(5)),  # 15: not consumed
    # a peer beyond our max packet
    "packet_violation": bytes([2]) + peer_open(1) + msg(bytes([94]) + u32(0) + s(b"p" * 1025)),
    # too many channels, unknown ids, a stray reply
    "limits": bytes([4]) + b"".join(peer_open(i) for i in range(6))
    + msg(bytes([96]) + u32(77)) + msg(bytes([100]) + u32(0)),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "channel")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        print(name, len(data), hashlib.sha256(data).hexdigest()[:12])


if __name__ == "__main__":
    main()
