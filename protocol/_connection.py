"""`ClientConnection`: every rule of one Gun connection, sans-I/O.

One object per TCP (or TLS) connection, after it is established. Bytes from
the server go in (`receive_data`, `receive_eof`); what to send comes out of
`data_to_send`; what the owner and the connection actor must hear comes back
as events. It never blocks, reads a clock, or touches a socket or a thread:
the I/O layer only does recv -> feed -> write -> deliver, under one lock.

Its state is one `ConnState`, named as Gun's ``state_name``::

    CONNECTED          HTTP/1.1: requests pipelined, answered in order (`Http1Client`)
      -> CLOSING             connection: close or shutdown: the answer being read
                             completes, nothing new is taken
      -> CONNECTED_WS_ONLY   after a valid 101: frames both ways
           -> CLOSING        we sent a close (or failed the connection)
    -> CLOSED          the connection must end now; `close_reason` says why

A refused upgrade (any final non-101 answer) is an ordinary response on the
stream and the connection stays CONNECTED for the next request. A protocol
fault closes at once with its code (RFC 6455 7.1.7): the frames before it are
delivered, then ``gun_error``, and nothing the server sends after it is
processed except the close that ends the handshake.
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any

from gunpy.protocol._deflate import Agreement, Deflater, Inflater
from gunpy.protocol._events import (
    CloseSent,
    ConnectRequest,
    ConnState,
    DataPart,
    Deliver,
    Event,
    HttpRequest,
    Refused,
    SendOutcome,
    Upgraded,
    UpgradeRequest,
)
from gunpy.protocol._frames import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    EncodedFrame,
    FrameParser,
    compressed_frame,
    masked_frame,
)
from gunpy.protocol._handshake import HandshakeError, check_upgrade
from gunpy.protocol._http1 import Switched
from gunpy.protocol._http_client import Http1Client
from gunpy.protocol._messages import (
    BADSTATE_WS_ONLY,
    Frame,
    Message,
    gun_conn_error,
    gun_stream_error,
    gun_upgrade,
)
from gunpy.protocol._notes import received, sent
from gunpy.protocol._options import HttpOptions
from gunpy.protocol._refs import Ref
from gunpy.protocol._tunnel import Command, TunnelSetup, TunnelSteps
from gunpy.protocol._tunnel_options import SocksOptions


class ClientConnection(TunnelSteps):
    """The sans-I/O Gun connection (see the module doc).

    ``conn`` is the handle that appears in messages; ``host_header`` and
    ``cookie_origin`` (``(transport, host, port)``) go into requests.
    """

    def __init__(
        self,
        conn: object,
        host_header: str,
        cookie_origin: tuple[str, str, int],
        cookie_store: CookieJar | None = None,
        http_opts: HttpOptions | None = None,
        socks: SocksOptions | None = None,
        notify: bool = False,
    ) -> None:
        self.conn = conn
        self.notify = notify  # make Notify events (an event_handler is set)
        self.state = ConnState.CONNECTED
        self.close_reason: object = None
        self._out: list[bytes] = []
        self._http_opts = http_opts or HttpOptions()
        self._jar = cookie_store
        self._http = Http1Client(
            conn, self._http_opts, host_header, cookie_origin, cookie_store, self._out.append,
            notify,
        )
        # A tunnel on the way (SOCKS5 from the start, or after a CONNECT's 2xx).
        self.tunnel: TunnelSetup | None = None
        if socks is not None:
            self.tunnel = TunnelSetup.for_socks(socks)
            assert self.tunnel.socks is not None
            self._out.append(self.tunnel.socks.start())
        self._failed_upgrade: Ref | None = None  # a 101 that broke RFC 6455
        # The WebSocket, once upgraded.
        self.ws_ref: Ref | None = None
        self._ws_to: object = None
        self._parser: FrameParser | None = None
        self.deflate: Agreement | None = None  # permessage-deflate, if the 101 agreed it
        self._deflater: Deflater | None = None
        self._silence_pings = True
        self._closing_timeout: object = None
        self.credit: int | None = None  # ws_opts.flow: messages the owner may still get
        self._failed = False  # we failed the connection: ignore all but the peer's close

    # -- what the I/O layer asks ----------------------------------------------------

    @property
    def protocol(self) -> str:
        """``"ws"`` once upgraded, ``"socks"`` during the SOCKS5 handshake, else ``"http"``
        (Gun's ``gun_down`` protocol)."""
        if self.ws_ref is not None:
            return "ws"
        tunnel = self.tunnel
        return "socks" if tunnel is not None and tunnel.socks is not None else "http"

    def data_to_send(self) -> bytes:
        """The bytes to write now, in order (and forget them)."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()  # the same list: the HTTP side appends to it
        return data

    @property
    def has_data_to_send(self) -> bool:
        """True while `data_to_send` would return bytes."""
        return bool(self._out)

    @property
    def closing_timeout(self) -> object:
        """The upgrade's ``ws_opts.closing_timeout`` (ms or "infinity"); None before it."""
        return self._closing_timeout

    @property
    def reading_paused(self) -> bool:
        """Flow control: the owner has no credit left, so stop reading the socket."""
        if self.state is ConnState.CLOSED:
            return False
        if self.ws_ref is None:
            return self._http.paused
        return self.credit is not None and self.credit <= 0

    def killed_streams(self) -> list[Ref]:
        """The streams a loss now would leave unfinished (``gun_down``'s last element)."""
        if self.ws_ref is not None:
            return [self.ws_ref]
        failed = [self._failed_upgrade] if self._failed_upgrade is not None else []
        waiting = self.tunnel.killed() if self.tunnel is not None else []
        return failed + self._http.killed() + waiting

    # -- HTTP ---------------------------------------------------------------------------

    def request(self, request: HttpRequest | ConnectRequest) -> list[Event]:
        """A request (``gun.get``..., or ``gun.connect``): pipelined by `Http1Client`'s rules."""
        return self._take(request, self._http.request)

    def ws_upgrade(self, request: UpgradeRequest) -> list[Event]:
        """An upgrade: written once the answers before it are in."""
        return self._take(request, self._http.ws_upgrade)

    def data(self, part: DataPart) -> list[Event]:
        """The next part of a request body (also while closing: the body must end)."""
        if self.ws_ref is None and self.state is ConnState.CLOSING:
            return self._http_done(self._http.data(part))
        return self._take(part, self._http.data)

    def _take(self, command: Any, send: Callable[[Any], list[Event]]) -> list[Event]:
        """Refuse ``command``, keep it for the tunnel being set up, or ``send`` it now."""
        refused = self._not_http(command)
        if refused is not None:
            return refused
        if self.tunnel is not None:  # it goes through the tunnel once that is up
            self.tunnel.waiting.append(command)
            return []
        return self._http_done(send(command))

    def cancel(self, ref: Ref, reply_to: object) -> list[Event]:
        """Stop delivering stream ``ref`` (Gun's ``cancel``)."""
        if self.ws_ref is not None or self.state is ConnState.CLOSED:
            return []
        return self._http_done(self._http.cancel(ref, reply_to))

    def stream_info(self, ref: Ref) -> dict[str, Any] | None:
        """Gun's ``stream_info`` of ``ref``: its reply_to and state, or None."""
        if ref is self.ws_ref:
            return {"ref": ref, "reply_to": self._ws_to, "state": "running"}
        return self._http.stream_info(ref) if self.ws_ref is None else None

    def http_keepalive(self) -> None:
        """``http_opts.keepalive``: an empty line while no body is being sent."""
        if self.state is ConnState.CONNECTED and self.tunnel is None:
            self._http.keepalive()

    def _not_http(self, command: Command) -> list[Event] | None:
        """Refusals that do not depend on the pipeline: upgraded, closing, closed."""
        if self.state is ConnState.CONNECTED:
            return None
        if self.state is ConnState.CONNECTED_WS_ONLY:
            error = gun_conn_error(self.conn, ("badstate", BADSTATE_WS_ONLY))  # Gun: 3-tuple
            return [Deliver(command.reply_to, [error])]
        return [Refused(command)]

    def _http_done(self, events: list[Event]) -> list[Event]:
        """After the pipeline acted: end, or become a WebSocket, as it says."""
        http = self._http
        if http.switched is not None:
            stream, switched = http.switched
            if stream.connect is not None:
                return self._tunnel_opened(events, stream, switched)
            assert stream.upgrade is not None
            events.extend(self._switch(stream.upgrade, stream.key, switched))
        elif http.end_reason is not None and self.state is not ConnState.CLOSED:
            self._end(http.end_reason)
        elif http.closing and self.state is ConnState.CONNECTED:
            self.state = ConnState.CLOSING
        return events

    def _switch(self, request: UpgradeRequest, key: str, switched: Switched) -> list[Event]:
        """A 101: check it, then become a WebSocket and parse what followed it."""
        ws_opts = request.ws_opts
        try:
            offered = ws_opts.deflate_opts if ws_opts.compress else None
            _, agreement = check_upgrade(switched.headers, key, ws_opts.protocols, offered)
        except HandshakeError as exc:
            error = gun_stream_error(self.conn, request.ref, ("handshake_error", str(exc)))
            self._failed_upgrade = request.ref  # killed: it never became a stream
            self._end("normal")
            return [Deliver(request.reply_to, [error])]
        self.state = ConnState.CONNECTED_WS_ONLY
        self.ws_ref = request.ref
        self._ws_to = request.reply_to
        inflater = None
        if agreement is not None:
            self.deflate = agreement
            self._deflater = Deflater(agreement, ws_opts.deflate_opts)
            inflater = Inflater(agreement, ws_opts.max_frame_size)
        self._parser = FrameParser(ws_opts.max_frame_size, inflater)
        if self.notify:
            self._parser.notes = []
        self._silence_pings = ws_opts.silence_pings
        self._closing_timeout = ws_opts.closing_timeout
        self.credit = ws_opts.flow
        events: list[Event] = [
            Deliver(request.reply_to, [gun_upgrade(self.conn, request.ref, switched.headers)]),
            Upgraded(request.ref),
        ]
        for queued in self._http.waiting:  # what waited behind it can no longer be sent
            if not isinstance(queued, DataPart):
                error = gun_conn_error(self.conn, ("badstate", BADSTATE_WS_ONLY))
                events.append(Deliver(queued.reply_to, [error]))
        self._http.waiting.clear()
        if switched.trailing:
            events.extend(self._receive_frames(switched.trailing))
        return events

    def close_streams(self) -> list[Event]:
        """Once ended: Gun's ``closed`` errors for the HTTP streams left unanswered."""
        if self.ws_ref is not None:
            return []  # a WebSocket stream hears of it in gun_down only, as in Gun
        events = self._http.close_streams(self.close_reason)
        if self.tunnel is not None:
            reason = self.close_reason
            why = "closed" if reason == "closed" else ("closed", reason)
            events += [Deliver(item.reply_to, [gun_stream_error(self.conn, item.ref, why)])
                       for item in self.tunnel.waiting if not isinstance(item, DataPart)]
        return events

    # -- bytes in ---------------------------------------------------------------------

    def prepare_reading(self) -> None:
        """Get ready for the answers expected (h11's part of it), if not done yet.

        Optional: reading does it anyway. An I/O layer calls it after writing a
        request, so the work is done while the server works on the answer.
        """
        if self.state is ConnState.CONNECTED:
            self._http.prepare_reading()

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed the next bytes from the server; return the events they cause."""
        tunnel = self.tunnel
        if tunnel is not None and tunnel.socks is not None and self.state is ConnState.CONNECTED:
            return self._socks_data(data)
        if self.ws_ref is not None:
            return self._receive_frames(data) if self.state is not ConnState.CLOSED else []
        if self.state is ConnState.CONNECTED or self.state is ConnState.CLOSING:
            return self._http_done(self._http.receive(data))
        return []

    def receive_eof(self) -> list[Event]:
        """The server closed its side (or the socket broke): the connection ends."""
        if self.state is ConnState.CLOSED:
            return []
        tunnel = self.tunnel
        if tunnel is not None and tunnel.socks is not None:
            return self._socks_data(b"")
        if self.ws_ref is None:
            events = self._http_done(self._http.receive(b""))
            if self.close_reason is None:
                self._end("closed")
            return events
        self._end("normal" if self.state is ConnState.CLOSING else "closed")
        return []

    def terminate(self, reason: object) -> None:
        """End the connection now with ``reason`` (a timeout, a socket error, an abort)."""
        if self.state is not ConnState.CLOSED:
            self._end(reason)

    def _end(self, reason: object) -> None:
        self.state = ConnState.CLOSED
        self.close_reason = reason

    # -- WebSocket --------------------------------------------------------------------

    def _receive_frames(self, data: bytes) -> list[Event]:
        parser = self._parser
        assert parser is not None
        frames = parser.feed(data)
        if parser.notes:  # an event handler is set: Gun's ws_recv_frame_* first
            notes: list[Event] = list(received(parser.notes, self.ws_ref, self._ws_to,
                                               self._extensions()))
            return notes + self._frames_received(parser, frames)
        return self._frames_received(parser, frames)

    def _extensions(self) -> dict[str, Any]:
        """Gun's ``extensions`` map of the events: the deflate agreement, if any."""
        return {} if self.deflate is None else {"permessage-deflate": self.deflate.header()}

    def sent_frame_events(self, frames: list[EncodedFrame]) -> list[Event]:
        """Gun's ``ws_send_frame_start`` / ``_end`` for frames `send_frames` took."""
        return list(sent(frames, self.ws_ref, self._ws_to, self._extensions()))

    def _frames_received(self, parser: FrameParser, frames: list[Frame]) -> list[Event]:
        conn, ref = self.conn, self.ws_ref
        messages: list[Message] = []
        append = messages.append
        for frame in frames:
            kind = frame if frame.__class__ is str else frame[0]
            if kind == "text" or kind == "binary":
                append(("gun_ws", conn, ref, frame))
            elif kind == "close":
                append(("gun_ws", conn, ref, frame))
                self._peer_closed(None if frame == "close" else frame[1])  # type: ignore[arg-type]
                return self._deliver(messages, [])
            else:
                if kind == "ping" and self.state is ConnState.CONNECTED_WS_ONLY:
                    payload = b"" if frame == "ping" else frame[1]
                    self._out.append(masked_frame(payload, OP_PONG))  # type: ignore[arg-type]
                if not self._silence_pings:
                    append(("gun_ws", conn, ref, frame))
        events: list[Event] = []
        error = parser.error
        if error is not None and not self._failed:
            self._failed = True
            fault = ("gun_error", conn, ref, ("protocol_error", error.code, error.message))
            events = self._deliver(messages, [fault])
            messages = []
            if self.state is ConnState.CONNECTED_WS_ONLY:
                events.extend(self._send_close(error.code.to_bytes(2, "big")))
        if self._failed and parser.closed_after_error:
            self._end("normal")  # the server's close ends the handshake we started
        return self._deliver(messages, []) if messages else events

    def _deliver(self, messages: list[Message], extra: list[Message]) -> list[Event]:
        if self.credit is not None:
            self.credit -= len(messages)
        if not messages and not extra:
            return []
        return [Deliver(self._ws_to, messages + extra if extra else messages)]

    def _peer_closed(self, code: int | None) -> None:
        if self.state is ConnState.CONNECTED_WS_ONLY:
            # RFC 6455 5.5.1: the reply echoes the peer's code (Gun answers 1000).
            payload = b"" if code is None else code.to_bytes(2, "big")
            self._out.append(masked_frame(payload, OP_CLOSE))
        self._end("normal")

    @property
    def compresses(self) -> bool:
        """True once permessage-deflate is agreed: messages are compressed as they are queued."""
        return self._deflater is not None

    def send_frames(self, encoded: list[EncodedFrame]) -> SendOutcome:
        """Queue frames encoded by ``encode_frames``; a close ends the list.

        With permessage-deflate agreed, messages are compressed here, in the
        order they are queued (the compression context is the connection's).
        """
        state = self.state
        if state is not ConnState.CONNECTED_WS_ONLY:
            if state is ConnState.CONNECTED:
                return SendOutcome.NOT_WEBSOCKET
            return SendOutcome.NOT_OPEN
        deflater = self._deflater
        for frame in encoded:
            wire = frame.wire
            if deflater is not None or not wire:
                wire = compressed_frame(frame, deflater)
            self._out.append(wire)
            if frame.is_close:
                self.state = ConnState.CLOSING
                return SendOutcome.CLOSE_SENT
        return SendOutcome.SENT

    def close(self, code: int | None, reason: object = "shutdown") -> list[Event]:
        """Close gracefully: shutdown or the owner's death (``reason``), WebSocket ``code``.

        A WebSocket sends its close (`CloseSent` if one went out). HTTP does
        Gun's closing: the answer being read completes (`CloseSent` with
        ``http_opts.closing_timeout``), the streams behind it get
        ``("closing", reason)``; with nothing in flight it ends now.
        """
        if self.state is ConnState.CONNECTED_WS_ONLY:
            return self._send_close(b"" if code is None else code.to_bytes(2, "big"))
        if self.state is ConnState.CONNECTED:
            return self._http_done(self._http.closing_down(reason))
        return []

    def _send_close(self, payload: bytes) -> list[Event]:
        self._out.append(masked_frame(payload, OP_CLOSE))
        self.state = ConnState.CLOSING
        return [CloseSent(self._closing_timeout)]

    def ping(self) -> None:
        """Queue an empty ping (``ws_opts.keepalive``) if the WebSocket is open."""
        if self.state is ConnState.CONNECTED_WS_ONLY:
            self._out.append(masked_frame(b"", OP_PING))

    def update_flow(self, ref: Ref, increment: int) -> list[Event]:
        """Add flow credit to stream ``ref``; `reading_paused` then says whether to read.

        For HTTP, what was read but held back for lack of credit goes on now.
        A no-op for a stream without ``flow``.
        """
        if self.ws_ref is not None:
            if self.credit is not None and ref is self.ws_ref:
                self.credit += increment
            return []
        if self.state is ConnState.CLOSED:
            return []
        return self._http_done(self._http.update_flow(ref, increment))
