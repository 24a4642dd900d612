"""The origin's TLS inside a proxy tunnel, as a part of `SocketIO` (its base class).

A CONNECT's 2xx or a SOCKS5 success with ``transport: "tls"`` leaves the
connection waiting (``proto.tunnel.tls``): here a `TlsLayer` is put between
the socket and the connection, its handshake runs under the destination's
``tls_handshake_timeout``, and from then on every byte read is decrypted
before the connection sees it and every byte written encrypted after (see
`SocketIO._write`). The socket itself may be TLS to the proxy: TLS over TLS.
"""

from __future__ import annotations

import ssl
import threading
from typing import TYPE_CHECKING

from gunpy.actors._io_loop import IOLoop, LoopTimer
from gunpy.actors.gun._transport import attempt_reason, seconds, tls_context
from gunpy.protocol import ClientConnection, Event
from gunpy.protocol._tls_layer import TlsLayer


class TunnelIO:
    """Feeding the connection through the tunnel's TLS (see the module doc)."""

    if TYPE_CHECKING:  # what SocketIO has, and these steps use
        proto: ClientConnection
        loop: IOLoop
        lock: threading.Lock
        tunnel_tls: TlsLayer | None
        _tunnel_timer: LoopTimer | None

        def _settle(self) -> None: ...

    def _receive(self, data: bytes) -> list[Event]:
        """Feed bytes read from the socket to the connection (under `lock`)."""
        proto = self.proto
        layer = self.tunnel_tls
        if layer is None:
            return proto.receive_data(data) + self._start_tunnel_tls()
        try:
            plain = layer.receive(data)
        except (ssl.SSLError, ValueError) as exc:
            proto.terminate(attempt_reason(exc))  # the origin's certificate, a bad record
            return []
        events: list[Event] = []
        tunnel = proto.tunnel
        if not layer.handshaking and tunnel is not None and tunnel.tls is not None:
            self._cancel_tunnel_timer()
            events = proto.tunnel_ready()
        if plain:
            events += proto.receive_data(plain)
        return events

    def _start_tunnel_tls(self) -> list[Event]:
        """A tunnel asks for TLS to its origin: start the handshake (under `lock`)."""
        tunnel = self.proto.tunnel
        if tunnel is None or tunnel.tls is None:
            return []
        dest = tunnel.tls
        if self.tunnel_tls is not None:
            self.proto.terminate(("error", "TLS inside a TLS tunnel is not supported"))
            return []
        name = dest.tls_opts.get("server_name_indication", dest.host)
        try:
            layer = TlsLayer(tls_context(dest.tls_opts), None if name == "disable" else name)
            layer.start()
        except (ssl.SSLError, OSError, ValueError) as exc:
            self.proto.terminate(attempt_reason(exc))
            return []
        self.tunnel_tls = layer
        timeout = seconds(dest.tls_handshake_timeout)
        if timeout is not None:
            self._tunnel_timer = self.loop.call_later(timeout, self._tunnel_timed_out)
        return self._receive(tunnel.trailing) if tunnel.trailing else []

    def _tunnel_timed_out(self) -> None:
        self._tunnel_timer = None
        with self.lock:
            layer = self.tunnel_tls
            if layer is not None and layer.handshaking:
                self.proto.terminate(("tls_error", "timeout"))
        self._settle()

    def _cancel_tunnel_timer(self) -> None:
        if self._tunnel_timer is not None:
            self._tunnel_timer.cancel()
            self._tunnel_timer = None
