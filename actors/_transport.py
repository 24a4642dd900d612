"""The socket side of a connection attempt, as plain functions the SocketWorker calls.

TLS contexts from ``tls_opts``, ``tcp_opts``, an abortable connect, the idle
HTTP read, refusals of an upgrade, and Gun's reasons for failures.
"""

from __future__ import annotations

import contextlib
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

from websocket import _handshake as _ws_handshake
from websocket._cookiejar import SimpleCookieJar

from gunpy.actors._session import socket_error_reason
from gunpy.protocol import OpenOptions, Ref, Timeout, gun_data, gun_response


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


def idle_read(sock: socket.socket) -> object:
    """An idle HTTP connection became readable: the server closed it, or misbehaves."""
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except (BlockingIOError, ssl.SSLWantReadError):
        return None  # e.g. a TLS 1.3 session ticket: nothing for us
    except OSError as exc:
        return socket_error_reason(exc)
    finally:
        with contextlib.suppress(OSError):
            sock.setblocking(True)
    return "closed" if not data else ("error", "unexpected data on an idle HTTP connection")


def deliver_refusal(
    reply: Callable[[Any], None],
    conn: object,
    ref: Ref,
    status: int,
    headers: Any,
    body: bytes | None,
) -> None:
    """A non-101 answer to an upgrade: ``gun_response``, and ``gun_data`` if it has a body."""
    header_list = [(str(k).lower(), str(v)) for k, v in dict(headers or {}).items()]
    if body:
        reply(gun_response(conn, ref, "nofin", status, header_list))
        reply(gun_data(conn, ref, "fin", body))
    else:
        reply(gun_response(conn, ref, "fin", status, header_list))


class _JarOutsideGunpy(SimpleCookieJar):
    """websocket-client's process-wide cookie jar, minus gunpy's socket workers.

    websocket-client keeps every cookie set with a Domain attribute in one
    module-level jar and sends it on every later handshake to that domain,
    from any connection. Gun sends cookies only from its ``cookie_store``, so
    the jar must not see gunpy's handshakes; other websocket-client users in
    the process keep theirs.
    """

    def __init__(self, jar: SimpleCookieJar) -> None:
        self.__dict__ = jar.__dict__  # the same cookies, shared with the old object

    def add(self, set_cookie: str | None) -> None:
        if not threading.current_thread().name.startswith(WORKER_THREAD_PREFIX):
            super().add(set_cookie)

    def set(self, set_cookie: str) -> None:
        if not threading.current_thread().name.startswith(WORKER_THREAD_PREFIX):
            super().set(set_cookie)

    def get(self, host: str) -> str:
        if threading.current_thread().name.startswith(WORKER_THREAD_PREFIX):
            return ""
        value: str = super().get(host)
        return value


WORKER_THREAD_PREFIX = "gunpy-io-"


def isolate_from_websocket_client_cookie_jar() -> None:
    """Install `_JarOutsideGunpy` in websocket-client (once; private attribute)."""
    if not isinstance(_ws_handshake.CookieJar, _JarOutsideGunpy):
        _ws_handshake.CookieJar = _JarOutsideGunpy(_ws_handshake.CookieJar)
