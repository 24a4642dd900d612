"""The socket side of a connection attempt, as plain functions `SocketIO` calls.

TLS contexts from ``tls_opts``, ``tcp_opts``, and Gun's reasons for failures.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any

from gunpy.protocol import Timeout


def socket_error_reason(exc: BaseException) -> object:
    """Gun's reason for a socket failure: ``("error", "econnreset")`` and the like."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return ("error", "timeout")
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        return ("error", errno.errorcode[number].lower())
    return ("error", str(exc) or type(exc).__name__)


def plain_recv(
    sock: socket.socket, buffer: memoryview, bulk: bool
) -> tuple[bytes | None, OSError | None]:
    """One read of at most ``len(buffer)`` bytes from a non-blocking plain socket:
    ``(data, None)``, ``(b"", None)`` at EOF, ``(b"", error)``, or ``(None, None)``
    when nothing has come yet.

    A ``bulk`` read (the one before filled half the buffer or more) goes into a
    new bytes object, which saves copying a large read out of the buffer; a
    small read goes through ``buffer``, which saves allocating (and mapping)
    a large object for a few bytes.
    """
    try:
        if bulk:
            return sock.recv(len(buffer)), None
        size = sock.recv_into(buffer)
    except (BlockingIOError, InterruptedError):
        return None, None
    except OSError as exc:
        return b"", exc
    return buffer[:size].tobytes(), None


def seconds(timeout: Timeout) -> float | None:
    """A Gun timeout (ms or "infinity") as seconds for Python (None: no limit)."""
    return None if timeout == "infinity" else timeout / 1000


def tls_context(tls: Mapping[str, Any]) -> ssl.SSLContext:
    """An SSLContext from Gun-style ``tls_opts`` (or the one given as ``context``)."""
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
    """Set ``tcp_opts`` on a connected socket (send_timeout is the I/O loop's timer)."""
    nodelay = True  # websocket frames are small writes: Nagle would delay them
    for item in tcp_opts:
        if len(item) == 3:
            sock.setsockopt(*item)
            continue
        name, value = item
        if name == "nodelay":
            nodelay = bool(value)
        elif name == "keepalive":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(bool(value)))
    if sock.family != socket.AF_UNIX:
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
    if isinstance(exc, ssl.SSLCertVerificationError):
        # OpenSSL's reason is CERTIFICATE_VERIFY_FAILED whatever the cause; Python
        # keeps the cause (self-signed, hostname mismatch, IP mismatch, expired).
        return ("tls_error", f"certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return ("tls_error", exc.reason or str(exc))
    reason = socket_error_reason(exc)
    return reason[1] if isinstance(reason, tuple) else reason


def send_timeout_of(tcp_opts: tuple[tuple[Any, ...], ...]) -> float | None:
    """``tcp_opts``' send_timeout in seconds (None: infinity or not given)."""
    for item in tcp_opts:
        if len(item) == 2 and item[0] == "send_timeout":
            return None if item[1] == "infinity" else int(item[1]) / 1000
    return None
