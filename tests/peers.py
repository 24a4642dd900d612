"""Real peers for the tests, all on 127.0.0.1: a websockets echo server and a raw socket server.

`EchoServer` is the `websockets` library's threading server: an independent
RFC 6455 implementation. `RawServer` is for byte-level misbehaviour (bad
frames, silence, FIN and RST at chosen moments), with the few helpers a
hand-written WebSocket peer needs.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import trustme
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.wire import (  # re-exported: the tests import them from here too
    accept_key,
    encode_server_frame,
    read_client_frame,
    read_http_request,
    recv_exact,
    send_101,
)

WAIT = 10.0


def wait_for(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    """Wait until ``predicate()`` is true (an event on the server side); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(0.005)


class EchoServer:
    """A websockets threading server; by default it echoes every message back."""

    def __init__(
        self,
        handler: Callable[[ServerConnection], None] | None = None,
        subprotocols: list[str] | None = None,
        process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
        process_response: Callable[[ServerConnection, Request, Response], Response | None]
        | None = None,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 0,
        compression: str | None = None,
        extensions: list[Any] | None = None,
    ) -> None:
        self.handler = handler or self._echo
        self._process_request = process_request
        self.connections: list[ServerConnection] = []
        self.requests: list[Request] = []
        self.received: list[list[str | bytes]] = []
        self.close_codes: list[tuple[int | None, str | None]] = []
        self._lock = threading.Lock()
        self.server: Server = serve(
            self._run,
            "127.0.0.1",
            port,
            ping_interval=None,
            compression=compression,  # "deflate": websockets' permessage-deflate
            extensions=extensions,
            max_size=None,
            open_timeout=WAIT,
            close_timeout=WAIT,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            process_request=self._record_request,
            process_response=process_response,
            ssl=ssl_context,
        )
        self.host = "127.0.0.1"
        self.port: int = self.server.socket.getsockname()[1]
        scheme = "wss" if ssl_context else "ws"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="peer-echo-server", daemon=True
        )
        self._thread.start()

    def _record_request(self, ws: ServerConnection, request: Request) -> Response | None:
        # Recorded before the 101 goes out, so a client that saw gun_upgrade finds it here.
        with self._lock:
            self.requests.append(request)
        if self._process_request is not None:
            return self._process_request(ws, request)
        return None

    def _echo(self, ws: ServerConnection) -> None:
        received = self.received[-1]
        with contextlib.suppress(Exception):
            for message in ws:
                received.append(message)
                ws.send(message)

    def _run(self, ws: ServerConnection) -> None:
        with self._lock:
            self.connections.append(ws)
            self.received.append([])
        try:
            self.handler(ws)
        finally:
            # Wait for the closing handshake (or the TCP loss) to learn the client's close.
            ws.protocol_mutex.acquire()
            ws.protocol_mutex.release()
            with contextlib.suppress(Exception):
                ws.recv_events_thread.join(WAIT)
            rcvd = ws.protocol.close_rcvd
            with self._lock:
                self.close_codes.append(
                    (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)
                )

    def stop(self) -> None:
        """Shut the server down (open connections get 1001) and join its thread."""
        self.server.shutdown()
        self._thread.join(WAIT)

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RawServer:
    """A TCP server running ``handler(sock)`` in a thread per accepted connection."""

    def __init__(self, handler: Callable[[socket.socket], None], port: int = 0) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", port))
        self.host = "127.0.0.1"
        self.port: int = self.listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="peer-raw-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._sockets.append(sock)
                thread = threading.Thread(
                    target=self._serve, args=(sock,), name="peer-raw-conn", daemon=True
                )
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError, AssertionError), sock:
            self.handler(sock)

    def stop(self) -> None:
        """Close the listener and every connection; join the threads."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(WAIT)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(WAIT)
        for sock in sockets:
            sock.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def upgraded_server(script: Callable[[socket.socket], None]) -> RawServer:
    """A byte-level WebSocket peer: accepts the upgrade, then runs ``script(sock)``."""

    def handler(sock: socket.socket) -> None:
        _, headers = read_http_request(sock)
        send_101(sock, dict(headers)["sec-websocket-key"])
        script(sock)

    return RawServer(handler)


class ClosedPort:
    """A port on 127.0.0.1 where nothing listens: a connect is refused."""

    def __init__(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()

    def __enter__(self) -> ClosedPort:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def make_tls_pair() -> tuple[trustme.CA, ssl.SSLContext, ssl.SSLContext]:
    """A test CA, a server context with a cert for 127.0.0.1, a client context trusting it."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return ca, server_ctx, client_ctx


class LeakCheck:
    """Snapshot of threads and file descriptors; `assert_clean` waits until they are back.

    Long-lived runtime threads (names starting with ``gunpy-runtime``) and the
    test peers' threads (``peer-``) are not leaks. Call `assert_clean` after
    stopping what the test started, peers included, so their sockets are gone.
    """

    ALLOWED = ("gunpy-runtime", "peer-")

    def __init__(self) -> None:
        self.threads = {t.ident for t in threading.enumerate()}
        self.fds = set(os.listdir("/proc/self/fd"))

    def _leaked_threads(self) -> list[str]:
        return [
            t.name
            for t in threading.enumerate()
            if t.ident not in self.threads
            and t.is_alive()
            and not t.name.startswith(self.ALLOWED)
            and "serve_forever" not in t.name
        ]

    def _leaked_fds(self) -> list[str]:
        gc.collect()  # a stopped peer's selector may wait for the collector to close its fd
        leaked = []
        for fd in set(os.listdir("/proc/self/fd")) - self.fds:
            with contextlib.suppress(OSError):
                leaked.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        return leaked

    def assert_clean(self, timeout: float = WAIT) -> None:
        """Wait (bounded) until no new thread or fd is left; fail listing them."""
        deadline = time.monotonic() + timeout
        while self._leaked_threads() or self._leaked_fds():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"leaked threads {self._leaked_threads()}, fds {self._leaked_fds()}"
                )
            time.sleep(0.01)


__all__ = [
    "ClosedPort",
    "EchoServer",
    "LeakCheck",
    "RawServer",
    "accept_key",
    "encode_server_frame",
    "make_tls_pair",
    "read_client_frame",
    "read_http_request",
    "recv_exact",
    "send_101",
    "upgraded_server",
    "wait_for",
]
