"""A tunnel being set up on a connection: SOCKS5 first, or a CONNECT's 2xx, then TLS.

`ClientConnection` holds one `TunnelSetup` from the moment a tunnel is on the
way until the origin can be spoken to: while it exists, requests, upgrades
and body parts wait in it (in order) and go through the tunnel once it is up.
`TunnelSteps` is the part of `ClientConnection` that sets tunnels up (its
base class, kept apart so each module reads as one thing).
"""

from __future__ import annotations

from http.cookiejar import CookieJar
from typing import TYPE_CHECKING

from gunpy.protocol._events import (
    ConnectRequest,
    ConnState,
    DataPart,
    Deliver,
    Event,
    HttpRequest,
    Notify,
    TunnelUp,
    UpgradeRequest,
)
from gunpy.protocol._handshake import host_header
from gunpy.protocol._http1 import Switched
from gunpy.protocol._http_client import Http1Client
from gunpy.protocol._http_streams import Stream
from gunpy.protocol._options import HttpOptions
from gunpy.protocol._refs import Ref
from gunpy.protocol._socks import Socks5Handshake, SocksFailed, SocksSend, SocksUp
from gunpy.protocol._tunnel_options import SocksOptions, TunnelDestination

Command = HttpRequest | ConnectRequest | UpgradeRequest | DataPart


class TunnelSetup:
    """Where a tunnel's setup is (see the module doc).

    ``ref`` and ``reply_to`` are the CONNECT's (None for SOCKS: the owner
    hears of it); ``socks`` is the SOCKS5 handshake while it runs; ``tls`` is
    set once TLS to the origin must start (the I/O layer runs it, with
    ``trailing``, the bytes that followed the tunnel's opening, fed first).
    """

    def __init__(self, ref: Ref | None, reply_to: object, destination: TunnelDestination,
                 socks: Socks5Handshake | None = None) -> None:
        self.ref = ref
        self.reply_to = reply_to
        self.destination = destination
        self.socks = socks
        self.tls: TunnelDestination | None = None
        self.trailing = b""
        self.waiting: list[Command] = []

    @classmethod
    def for_socks(cls, opts: SocksOptions) -> TunnelSetup:
        """The setup of ``protocols=[("socks", opts)]``: the handshake to run first."""
        dest = opts.destination
        return cls(None, None, dest, Socks5Handshake(dest.host, dest.port, opts.auth))

    def killed(self) -> list[Ref]:
        """The refs of the requests and upgrades waiting for the tunnel."""
        return [item.ref for item in self.waiting if not isinstance(item, DataPart)]


class TunnelSteps:
    """Setting a tunnel up, as a part of `ClientConnection` (see the module doc)."""

    if TYPE_CHECKING:  # what ClientConnection has, and these steps use
        conn: object
        notify: bool
        state: ConnState
        tunnel: TunnelSetup | None
        _http: Http1Client
        _http_opts: HttpOptions
        _jar: CookieJar | None
        _out: list[bytes]

        def _end(self, reason: object) -> None: ...
        def request(self, request: HttpRequest | ConnectRequest) -> list[Event]: ...
        def ws_upgrade(self, request: UpgradeRequest) -> list[Event]: ...
        def data(self, part: DataPart) -> list[Event]: ...
        def receive_data(self, data: bytes) -> list[Event]: ...

    def _tunnel_opened(self, events: list[Event], stream: Stream,
                       switched: Switched) -> list[Event]:
        """A CONNECT's 2xx: the proxy's answer, then the origin is who we speak to."""
        dest = stream.connect
        assert dest is not None
        message = ("gun_response", self.conn, stream.ref, "fin", switched.status,
                   switched.headers)
        events.append(Deliver(stream.reply_to, [message]))
        tunnel = TunnelSetup(stream.ref, stream.reply_to, dest)
        tunnel.waiting = list(self._http.waiting)  # what waited behind the CONNECT
        self.tunnel = tunnel
        self._origin(dest.host, dest.port, dest.transport)
        return events + self._tunnel_transport(switched.trailing)

    def _origin(self, host: str, port: int, transport: str) -> None:
        """Requests go to the origin from now on: its host header, its cookies."""
        self._http = Http1Client(
            self.conn, self._http_opts, host_header(host, port, transport),
            (transport, host, port), self._jar, self._out.append, self.notify,
        )

    def _tunnel_transport(self, trailing: bytes) -> list[Event]:
        """The tunnel carries bytes now: TLS to the origin first if asked, else it is up."""
        tunnel = self.tunnel
        assert tunnel is not None
        if tunnel.destination.transport == "tls":
            tunnel.tls, tunnel.trailing = tunnel.destination, trailing
            return []  # the I/O layer runs the handshake, then calls tunnel_ready
        events = self.tunnel_ready()
        if trailing:
            events += self.receive_data(trailing)
        return events

    def tunnel_ready(self) -> list[Event]:
        """The tunnel is up (its TLS done): Gun's ``gun_tunnel_up``, then what waited."""
        tunnel = self.tunnel
        if tunnel is None or self.state is not ConnState.CONNECTED:
            return []
        self.tunnel = None
        events: list[Event] = []
        if self.notify:
            dest = tunnel.destination
            events.append(Notify("origin_changed", {
                "type": "socks5" if tunnel.ref is None else "connect",
                "origin_scheme": "https" if dest.transport == "tls" else "http",
                "origin_host": dest.host, "origin_port": dest.port}))
        events.append(TunnelUp(tunnel.ref, tunnel.reply_to, "http"))
        for item in tunnel.waiting:
            if isinstance(item, UpgradeRequest):
                events += self.ws_upgrade(item)
            elif isinstance(item, DataPart):
                events += self.data(item)
            else:
                events += self.request(item)
        return events

    def _socks_data(self, data: bytes) -> list[Event]:
        """The SOCKS5 proxy's answers, until the tunnel is up or the proxy refused it."""
        tunnel = self.tunnel
        assert tunnel is not None and tunnel.socks is not None
        for event in tunnel.socks.receive_data(data):
            if isinstance(event, SocksSend):
                self._out.append(event.data)
            elif isinstance(event, SocksFailed):
                self._end(("socks5", event.reason))
                return []
            elif isinstance(event, SocksUp):
                tunnel.socks = None
                return self._tunnel_transport(event.trailing)
        return []

