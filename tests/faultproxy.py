"""A TCP fault proxy for tests: 127.0.0.1:port -> upstream, with switches for network faults.

No Debian or PyPI tool does this here (Toxiproxy's server cannot be
installed), so this is the small in-repo one: two pump threads per
connection, and switches that act on every live connection at once.

- `latency` (seconds added to every chunk, both ways), `drip` (server bytes
  go one at a time), `stall` (stop forwarding, keep TCP open), `fin` and
  `rst` (close every connection, cleanly or with a reset), `truncate_after`
  (forward n more server bytes, then FIN), `inject` (bytes to the client as if
  from the server), `refuse_new` (close the listener: new connects are refused).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

WAIT = 10.0


class _Link:
    """One proxied connection: the client side, the upstream side, two pumps."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = socket.create_connection(proxy.upstream, timeout=WAIT)
        self.upstream.settimeout(None)
        self.lock = threading.Lock()
        self.resetting = False
        self.threads = [
            threading.Thread(target=self._pump, args=(client, self.upstream, False), daemon=True,
                             name="peer-proxy-up"),
            threading.Thread(target=self._pump, args=(self.upstream, client, True), daemon=True,
                             name="peer-proxy-down"),
        ]

    def start(self) -> None:
        """Start pumping (once the proxy lists the link: a fault then reaches it)."""
        for thread in self.threads:
            thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        proxy = self.proxy
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with proxy.lock:
                    proxy.forwarded[to_client] += len(data)
                proxy.resumed.wait()  # stall: hold the bytes, keep the connection
                if proxy.latency:
                    time.sleep(proxy.latency)
                if to_client:
                    with proxy.lock:
                        budget = proxy.budget
                        if budget is not None:
                            data, proxy.budget = data[:budget], budget - len(data[:budget])
                    if proxy.drip:
                        for i in range(len(data)):
                            dst.sendall(data[i : i + 1])
                    else:
                        dst.sendall(data)
                    if proxy.budget == 0:
                        self.close_both()
                        return
                else:
                    dst.sendall(data)
        except OSError:
            pass
        if not self.resetting:  # pass the EOF on, unless an RST is to replace it
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close_both(self) -> None:
        with self.lock:
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Stop both pumps without a FIN, then close the client side with an RST."""
        self.resetting = True
        with contextlib.suppress(OSError):
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.client.shutdown(socket.SHUT_RD)  # wakes the pump reading the client
        with contextlib.suppress(OSError):
            self.upstream.shutdown(socket.SHUT_RDWR)  # wakes the other one
        for thread in self.threads:
            thread.join(WAIT)
        self.client.close()  # linger 0: the client sees an RST

    def join(self) -> None:
        for thread in self.threads:
            thread.join(WAIT)
        self.client.close()
        self.upstream.close()


class FaultProxy:
    """Listens on 127.0.0.1; forwards to ``upstream_port``; see the module doc for faults."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.links: list[_Link] = []
        self.latency = 0.0
        self.drip = False
        self.budget: int | None = None
        self.forwarded = [0, 0]  # bytes read from the client, from the server (all links)
        self.resumed = threading.Event()
        self.resumed.set()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="peer-proxy")
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                link = _Link(self, client)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.links.append(link)
            link.start()  # listed first: no byte flows through a link `fin`/`rst` miss

    def stall(self) -> None:
        """Stop forwarding in both directions; TCP stays open."""
        self.resumed.clear()

    def resume(self) -> None:
        self.resumed.set()

    def fin(self) -> None:
        """Close every connection cleanly (the client sees a FIN)."""
        for link in self._live():
            link.close_both()

    def rst(self) -> None:
        """Reset every connection (the client sees an RST)."""
        for link in self._live():
            link.reset()

    def truncate_after(self, n: int) -> None:
        """Forward n more bytes from the server, then FIN."""
        with self.lock:
            self.budget = n

    def inject(self, data: bytes) -> None:
        """Send ``data`` to every client as if the server had sent it."""
        for link in self._live():
            link.client.sendall(data)

    def refuse_new(self) -> None:
        """Stop listening: new connections are refused."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _live(self) -> list[_Link]:
        with self.lock:
            return list(self.links)

    def stop(self) -> None:
        """Close everything and join every thread."""
        self.resumed.set()
        self.refuse_new()
        self._thread.join(WAIT)
        for link in self._live():
            link.close_both()
            link.join()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
