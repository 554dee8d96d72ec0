"""An in-memory socket pair with paramiko's LoopSocket behaviour (recv waits
up to a timeout and raises socket.timeout; send appends to the peer), so the
Packetizer is exercised on its callback path, not the fd path."""

import socket
import threading


class LoopSocket(object):
    def __init__(self):
        self._buf = bytearray()
        self._cv = threading.Condition()
        self._peer = None
        self._closed = False
        self.timeout = None

    def settimeout(self, n):
        self.timeout = n

    def send(self, data):
        peer = self._peer
        if peer is None:
            raise EOFError()
        with peer._cv:
            peer._buf += data
            peer._cv.notify_all()
        return len(data)

    def recv(self, n):
        with self._cv:
            if not self._buf and self._peer is not None:
                self._cv.wait(self.timeout)
            if not self._buf:
                if self._peer is None:
                    return b""
                raise socket.timeout()
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out

    def close(self):
        self._closed = True
        peer = self._peer
        self._peer = None
        if peer is not None:
            peer._peer = None
            with peer._cv:
                peer._cv.notify_all()


def pair():
    a, b = LoopSocket(), LoopSocket()
    a._peer, b._peer = b, a
    return a, b
