"""A small TCP proxy on a loopback port that a test can kill and restart.

It stands between a store and a real server (PostgreSQL, Redis): killing it
resets every connection through it (RST, as a crashed middlebox or a dropped
network path would), and refuses new ones until :meth:`TCPProxy.start` binds
the same port again. A write whose request went through but whose reply did
not is exactly the ambiguous outcome the store must resolve.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

__all__ = ["TCPProxy"]


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a RST (linger 0), waking any thread blocked on it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TCPProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream``; killable and restartable.

    Args:
        upstream_host: The real server's host.
        upstream_port: The real server's port.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.port = 0
        self.kills = 0
        self.cut_replies = 0
        self._cut_armed = False

    # ----------------------------------------------------------------- control
    def start(self) -> None:
        """Listen (on the same port as before, after a kill)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def kill(self) -> None:
        """Stop listening and reset every open connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._sockets = self._sockets, set()
            self.kills += 1
        if listener is not None:
            _reset(listener)
        for sock in doomed:
            _reset(sock)

    def cut_next_reply(self) -> None:
        """Drop the next reply the server sends, and reset that connection.

        The request it answers was delivered: a write is executed (and
        committed) by the server while its client sees only a broken
        connection, the lost acknowledgement a store must resolve.
        """
        with self._lock:
            self._cut_armed = True

    def close(self) -> None:
        """Kill and wait for the proxy's threads."""
        self.kill()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()

    # ------------------------------------------------------------------ relay
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # killed
            try:
                server = socket.create_connection(self._upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._listener is not listener:  # killed meanwhile
                    _reset(client)
                    _reset(server)
                    return
                self._sockets.update((client, server))
            for src, dst, to_client in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, to_client), daemon=True).start()

    def _take_cut(self) -> bool:
        with self._lock:
            armed, self._cut_armed = self._cut_armed, False
            if armed:
                self.cut_replies += 1
            return armed

    def _pump(self, src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if to_client and self._take_cut():
                    break  # the reply is dropped; the finally resets both sides
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # One direction ended: end the connection both ways.
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)
            _reset(src)
            _reset(dst)
