"""The steps of a connection attempt before it is up, as `SocketIO` takes them on the loop.

    LOOKUP -> CONNECTING -> TLS -> OPEN

`AttemptSteps` is a part of `SocketIO` (its base class), kept apart so each
module reads as one thing: this one how a socket comes up (a lookup's
answer, a non-blocking connect to each address in turn under
``connect_timeout``, a non-blocking TLS handshake under
``tls_handshake_timeout``), ``_io`` how a live one moves bytes.
"""

from __future__ import annotations

import enum
import errno
import socket
import ssl
import threading
from typing import TYPE_CHECKING, Any, cast

from gunpy.actors._io_loop import READ, WRITE, IOLoop, LoopTimer
from gunpy.actors.gun._commands import AttemptFailed, Connected, Phase
from gunpy.actors.gun._transport import apply_tcp_opts, attempt_reason, seconds, tls_context
from gunpy.protocol import ClientConnection, OpenOptions

if TYPE_CHECKING:
    from gunpy.actors.gun._io import SocketIO


class Stage(enum.Enum):
    """Where the attempt's socket is (the actor keeps Gun's state names)."""

    LOOKUP = "lookup"
    CONNECTING = "connecting"
    TLS = "tls"
    OPEN = "open"
    DRAINING = "draining"  # CLOSED, writing its last bytes
    DONE = "done"


def tls_recv(sock: ssl.SSLSocket, limit: int) -> tuple[bytes | None, OSError | None, bool]:
    """Up to ``limit`` decrypted bytes (b"" at EOF, None if none yet), an error, and
    whether more may wait in OpenSSL's buffer, which the socket will not signal."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        try:
            part = sock.recv(limit - size)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            break
        except ssl.SSLZeroReturnError:
            part = b""
        except OSError as exc:
            return (b"".join(parts), None, True) if parts else (b"", exc, False)
        if not part:
            # Deliver what came first; the next turn sees the EOF.
            return (b"".join(parts), None, True) if parts else (b"", None, False)
        parts.append(part)
        size += len(part)
    if parts:
        return b"".join(parts), None, size >= limit or sock.pending() > 0
    return None, None, False


class AttemptSteps:
    """Lookup, connect and TLS handshake of `SocketIO` (see the module doc)."""

    if TYPE_CHECKING:  # what SocketIO has, and these steps use
        stage: Stage
        sock: socket.socket | None
        opts: OpenOptions
        proto: ClientConnection
        host: str
        loop: IOLoop
        lock: threading.Lock
        _addresses: list[tuple[Any, ...]]
        _error: BaseException
        _abort_reason: object
        _phase_timer: LoopTimer | None
        _tls_interest: int

        @property
        def needs_lookup(self) -> bool: ...

        def _settle(self) -> None: ...
        def _finish(self, tell: bool = True) -> None: ...
        def _tell(self, event: object) -> None: ...
        def _release_socket(self, close: bool = True) -> None: ...
        def _cancel_phase_timer(self) -> None: ...
        def _write(self) -> None: ...

    @property
    def _me(self) -> SocketIO:
        """The SocketIO these steps are part of, as its events name it."""
        return cast("SocketIO", self)

    def _resolved(self, infos: object) -> None:
        if self.stage is not Stage.LOOKUP:
            return  # abandoned while the lookup ran
        if isinstance(infos, BaseException):
            self._fail(infos)
            return
        self._addresses = list(infos)  # type: ignore[call-overload]
        if self._abort_reason is not None:
            self._finish()
            return
        self.stage = Stage.CONNECTING
        if self.needs_lookup:  # else the actor started in connecting
            self._tell(Phase(self._me, "connecting"))
        timeout = seconds(self.opts.connect_timeout)
        if timeout is not None:
            self._phase_timer = self.loop.call_later(timeout, self._timed_out)
        self._connect_next()

    def _connect_next(self) -> None:
        while self._addresses:
            family, type_, proto, _, address = self._addresses.pop(0)
            try:
                sock = socket.socket(family, type_, proto)
            except OSError as exc:
                self._error = exc
                continue
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code in (0, errno.EINPROGRESS):
                self.sock = sock
                self._settle()  # watch for writable: the connect's outcome
                return
            sock.close()
            self._error = OSError(code, errno.errorcode.get(code, "connect failed"))
        self._fail(self._error)

    def _timed_out(self) -> None:
        if self.stage is Stage.CONNECTING or self.stage is Stage.TLS:
            self._fail(TimeoutError(f"{self.stage.value} timeout"))

    def _connect_done(self) -> None:
        sock = self.sock
        assert sock is not None
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._release_socket()
            self._error = OSError(code, errno.errorcode.get(code, "connect failed"))
            self._connect_next()
            return
        apply_tcp_opts(sock, self.opts.tcp_opts)
        if self.opts.transport != "tls":
            self._open()
            return
        self.stage = Stage.TLS
        self._tell(Phase(self._me, "initial_tls_handshake"))
        self._cancel_phase_timer()
        timeout = seconds(self.opts.tls_handshake_timeout)
        if timeout is not None:
            self._phase_timer = self.loop.call_later(timeout, self._timed_out)
        server_name = self.opts.tls_opts.get("server_name_indication", self.host)
        self._release_socket(close=False)  # the SSLSocket takes over the fd
        self.sock = tls_context(self.opts.tls_opts).wrap_socket(
            sock,
            server_hostname=None if server_name == "disable" else server_name,
            do_handshake_on_connect=False,
        )
        self._handshake()

    def _handshake(self) -> None:
        tls = self.sock
        assert isinstance(tls, ssl.SSLSocket)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._tls_interest = READ
        except ssl.SSLWantWriteError:
            self._tls_interest = WRITE
        except (ssl.SSLError, OSError) as exc:
            self._fail(exc)
        else:
            self._open()

    def _open(self) -> None:
        self._cancel_phase_timer()
        if self.opts.socks is not None:
            # The SOCKS5 handshake is part of connecting: connect_timeout bounds it too.
            timeout = seconds(self.opts.connect_timeout)
            if timeout is not None:
                self._phase_timer = self.loop.call_later(timeout, self._socks_timed_out)
        sock = self.sock
        assert sock is not None
        with self.lock:
            self.stage = Stage.OPEN
            self._write()  # the SOCKS5 greeting, if the connection goes through a proxy
        self._tell(Connected(self._me, sock.getsockname()))

    def _socks_timed_out(self) -> None:
        self._phase_timer = None
        with self.lock:
            tunnel = self.proto.tunnel
            if tunnel is not None and tunnel.socks is not None:
                self.proto.terminate("timeout")
        self._settle()

    def _fail(self, exc: BaseException) -> None:
        """The attempt failed before the connection was up."""
        aborted = self._abort_reason is not None
        self._finish(tell=False)
        if not aborted:
            self._tell(AttemptFailed(self._me, attempt_reason(exc)))
