"""The socket side of a connection attempt, as plain functions `SocketIO` calls.

TLS contexts from ``tls_opts``, ``tcp_opts``, an abortable connect, and
Gun's reasons for failures.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from gunpy.protocol import OpenOptions, Timeout


def socket_error_reason(exc: BaseException) -> object:
    """Gun's reason for a socket failure: ``("error", "econnreset")`` and the like."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return ("error", "timeout")
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        if number in (errno.EAGAIN, errno.EWOULDBLOCK):
            return ("error", "timeout")  # SO_SNDTIMEO expired: Gun's send_timeout
        return ("error", errno.errorcode[number].lower())
    return ("error", str(exc) or type(exc).__name__)


def seconds(timeout: Timeout) -> float | None:
    """A Gun timeout (ms or "infinity") as seconds for Python (None: no limit)."""
    return None if timeout == "infinity" else timeout / 1000


def tls_context(opts: OpenOptions) -> ssl.SSLContext:
    """An SSLContext from Gun-style ``tls_opts`` (or the one given as ``context``)."""
    tls = opts.tls_opts
    if "context" in tls:
        ctx: ssl.SSLContext = tls["context"]
        return ctx
    ctx = ssl.create_default_context(cafile=tls.get("cacertfile"), cadata=tls.get("cacerts"))
    if tls.get("verify") == "verify_none":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if "certfile" in tls:
        ctx.load_cert_chain(tls["certfile"], tls.get("keyfile"), tls.get("password"))
    if "ciphers" in tls:
        ctx.set_ciphers(tls["ciphers"])
    if "alpn_advertised_protocols" in tls:
        ctx.set_alpn_protocols(list(tls["alpn_advertised_protocols"]))
    return ctx


def apply_tcp_opts(sock: socket.socket, tcp_opts: tuple[tuple[Any, ...], ...]) -> None:
    nodelay = True  # websocket frames are small writes: Nagle would delay them
    for item in tcp_opts:
        if len(item) == 3:
            sock.setsockopt(*item)
            continue
        name, value = item
        if name == "send_timeout" and value != "infinity":
            seconds, ms = divmod(int(value), 1000)
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, ms * 1000)
            )
        elif name == "nodelay":
            nodelay = bool(value)
        elif name == "keepalive":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(bool(value)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))


def traced(reply: Callable[[Any], None]) -> Callable[[Any], None]:
    """``trace`` option: log every message the worker delivers (logger ``gunpy.trace``)."""
    log = logging.getLogger("gunpy.trace")

    def traced(message: Any) -> None:
        log.info("-> %r", message)
        reply(message)

    return traced


def traced_batch(reply: Callable[[Any], None]) -> Callable[[list[Any]], None]:
    """Batch delivery through a traced single-message `reply`."""

    def deliver(messages: list[Any]) -> None:
        for message in messages:
            reply(message)

    return deliver


def attempt_reason(exc: BaseException) -> object:
    """Gun's reason for a failed attempt: ``econnrefused``, ``timeout``, ``nxdomain``..."""
    if isinstance(exc, socket.gaierror):
        return "nxdomain"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        return ("tls_error", exc.reason or str(exc))
    reason = socket_error_reason(exc)
    return reason[1] if isinstance(reason, tuple) else reason


class Aborted(Exception):
    """The connection actor asked the worker to stop."""


def connect_abortably(
    sock: socket.socket,
    address: Any,
    deadline: float | None,
    wake: socket.socket,
    aborted: Callable[[], bool],
) -> None:
    """A non-blocking connect that a byte on ``wake`` interrupts, even with no timeout."""
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code not in (0, errno.EINPROGRESS):
        raise OSError(code, errno.errorcode.get(code, "connect failed"))
    if code == errno.EINPROGRESS:
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        poller.register(wake, select.POLLIN)
        while True:
            wait = None if deadline is None else max(deadline - time.monotonic(), 0)
            ready = dict(poller.poll(None if wait is None else wait * 1000))
            if aborted():
                raise Aborted
            if sock.fileno() in ready:
                break
            if not ready or (deadline is not None and time.monotonic() >= deadline):
                raise TimeoutError("connect_timeout")
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, errno.errorcode.get(code, "connect failed"))
    sock.setblocking(True)


class TlsStream:
    """recv and sendall on one TLS socket from two threads, one SSL call at a time.

    An OpenSSL connection must not be read and written at once (TLS 1.3
    reads may write, for session tickets and key updates), yet the I/O thread
    reads while callers of ``ws_send`` write. So the socket is non-blocking,
    every SSL call holds `lock`, and each side waits for readiness with
    ``poll`` without it. ``send_timeout`` (seconds, None for none) bounds a
    writer waiting on a peer that does not read.
    """

    def __init__(self, sock: ssl.SSLSocket, send_timeout: float | None) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.send_timeout = send_timeout
        sock.setblocking(False)

    def recv(self, size: int) -> bytes:
        """Block until data, EOF (b"") or an error, like ``socket.recv``."""
        sock = self.sock
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        while True:
            with self.lock:
                try:
                    return sock.recv(size)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
            poller.poll()  # a shutdown() by abort wakes it with POLLHUP

    def sendall(self, data: bytes) -> None:
        """Write all of ``data``; TimeoutError once ``send_timeout`` passes without progress."""
        sock = self.sock
        view = memoryview(data)
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        wait_ms = None if self.send_timeout is None else int(self.send_timeout * 1000)
        while view:
            with self.lock:
                try:
                    sent = sock.send(view)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    sent = 0
            if sent:
                view = view[sent:]
            elif not poller.poll(wait_ms):
                raise TimeoutError("send_timeout")


def send_timeout_of(tcp_opts: tuple[tuple[Any, ...], ...]) -> float | None:
    """``tcp_opts``' send_timeout in seconds (None: infinity or not given)."""
    for item in tcp_opts:
        if len(item) == 2 and item[0] == "send_timeout":
            return None if item[1] == "infinity" else int(item[1]) / 1000
    return None
