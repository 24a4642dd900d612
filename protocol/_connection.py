"""`ClientConnection`: every rule of one Gun connection, sans-I/O.

One object per TCP (or TLS) connection, after it is established. Bytes from
the server go in (`receive_data`, `receive_eof`); what to send comes out of
`data_to_send`; what the owner and the connection actor must hear comes back
as events. It never blocks, reads a clock, or touches a socket or a thread:
the I/O layer only does recv -> feed -> write -> deliver, under one lock.

Its state is one `ConnState`, named as Gun's ``state_name``::

    CONNECTED          HTTP/1.1: upgrade requests, one at a time, answered in order
      -> CONNECTED_WS_ONLY   after a valid 101: frames both ways
      -> CLOSING             we sent a close (or failed the connection)
    -> CLOSED          the connection must end now; `close_reason` says why

A refused upgrade (any final non-101 answer) is an ordinary response on the
stream and the connection stays CONNECTED for the next request. A protocol
fault closes at once with its code (RFC 6455 7.1.7): the frames before it are
delivered, then ``gun_error``, and nothing the server sends after it is
processed except the close that ends the handshake.
"""

from __future__ import annotations

import base64
import os
from collections import deque
from http.cookiejar import CookieJar

from gunpy.protocol._cookies import cookie_header, request_url, store_cookies
from gunpy.protocol._events import (
    CloseSent,
    ConnState,
    Deliver,
    Event,
    SendOutcome,
    Upgraded,
    UpgradeRequest,
)
from gunpy.protocol._frames import OP_CLOSE, OP_PING, OP_PONG, FrameParser, masked_frame
from gunpy.protocol._handshake import HandshakeError, check_upgrade_response
from gunpy.protocol._http1 import Http1, HttpFault, Switched
from gunpy.protocol._messages import (
    BADSTATE_WS_ONLY,
    Headers,
    Message,
    gun_conn_error,
    gun_stream_error,
    gun_upgrade,
)
from gunpy.protocol._refs import Ref


class ClientConnection:
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
    ) -> None:
        self.conn = conn
        self.state = ConnState.CONNECTED
        self.close_reason: object = None
        self._host = host_header
        self._origin = cookie_origin
        self._jar = cookie_store
        self._http = Http1()
        self._queue: deque[UpgradeRequest] = deque()
        self._current: UpgradeRequest | None = None
        self._key = ""
        self._out: list[bytes] = []
        # The WebSocket, once upgraded.
        self.ws_ref: Ref | None = None
        self._ws_to: object = None
        self._parser: FrameParser | None = None
        self._silence_pings = True
        self._closing_timeout: object = None
        self.credit: int | None = None  # ws_opts.flow: messages the owner may still get
        self._failed = False  # we failed the connection: ignore all but the peer's close

    # -- what the I/O layer asks ----------------------------------------------------

    @property
    def protocol(self) -> str:
        """``"ws"`` once upgraded, else ``"http"`` (Gun's ``gun_down`` protocol)."""
        return "ws" if self.ws_ref is not None else "http"

    def data_to_send(self) -> bytes:
        """The bytes to write now, in order (and forget them)."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

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
        return self.credit is not None and self.credit <= 0 and self.state is not ConnState.CLOSED

    def killed_streams(self) -> list[Ref]:
        """The streams a loss now would leave unfinished (``gun_down``'s last element)."""
        if self.ws_ref is not None:
            return [self.ws_ref]
        killed = [self._current.ref] if self._current is not None else []
        return killed + [request.ref for request in self._queue]

    # -- HTTP: the upgrade ------------------------------------------------------------

    def ws_upgrade(self, request: UpgradeRequest) -> list[Event]:
        """Queue an upgrade; it is sent once the requests before it are answered."""
        if self.state is not ConnState.CONNECTED:
            error = gun_conn_error(self.conn, ("badstate", BADSTATE_WS_ONLY))  # Gun: 3-tuple
            return [Deliver(request.reply_to, [error])]
        self._queue.append(request)
        if self._current is None:
            self._send_next_request()
        return []

    def _send_next_request(self) -> None:
        if not self._queue:
            return
        request = self._current = self._queue.popleft()
        self._key = base64.b64encode(os.urandom(16)).decode("ascii")
        headers = [
            ("host", self._host),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", self._key),
        ]
        if request.ws_opts.protocols:
            headers.append(("sec-websocket-protocol", ", ".join(request.ws_opts.protocols)))
        headers.extend(request.headers)
        if self._jar is not None:
            cookie = cookie_header(self._jar, request_url(*self._origin, request.path))
            if cookie:
                headers.append(("cookie", cookie))
        self._out.append(self._http.request("GET", request.path, headers))

    def _receive_http(self, data: bytes) -> list[Event]:
        request = self._current
        ref = request.ref if request is not None else None
        messages: list[Message] = []
        try:
            outcome = self._http.receive(data, self.conn, ref, messages)
        except HttpFault as fault:
            if request is None or fault.reason == "closed":
                self._end(fault.reason)  # the stream in flight, if any, is killed
                return [Deliver(request.reply_to, messages)] if request and messages else []
            # Not HTTP/1.1 in answer to our upgrade: a failed handshake, as a bad 101.
            why = ("handshake_error", f"bad HTTP response: {fault}")
            messages.append(gun_stream_error(self.conn, request.ref, why))
            self._end("normal")
            return [Deliver(request.reply_to, messages)]
        if request is None:
            return []
        events: list[Event] = [Deliver(request.reply_to, messages)] if messages else []
        self._store_cookies(request, messages)
        if isinstance(outcome, Switched):
            events.extend(self._switch(request, outcome))
        elif outcome:
            self._current = None
            if self._http.must_close:
                self._end("normal")  # connection: close completed: Gun says normal, no streams
            else:
                self._send_next_request()
        return events

    def _store_cookies(self, request: UpgradeRequest, messages: list[Message]) -> None:
        if self._jar is None:
            return
        for message in messages:
            if message[0] in ("gun_response", "gun_inform"):
                self._save_cookies(request, message[-1])

    def _save_cookies(self, request: UpgradeRequest, headers: Headers) -> None:
        if self._jar is not None:
            values = [value for name, value in headers if name == "set-cookie"]
            if values:
                store_cookies(self._jar, request_url(*self._origin, request.path), values)

    def _switch(self, request: UpgradeRequest, switched: Switched) -> list[Event]:
        """A 101: check it, then become a WebSocket and parse what followed it."""
        self._current = None
        self._save_cookies(request, switched.headers)
        try:
            check_upgrade_response(switched.headers, self._key, request.ws_opts.protocols)
        except HandshakeError as exc:
            error = gun_stream_error(self.conn, request.ref, ("handshake_error", str(exc)))
            self._queue.appendleft(request)  # killed: it never became a stream
            self._end("normal")
            return [Deliver(request.reply_to, [error])]
        ws_opts = request.ws_opts
        self.state = ConnState.CONNECTED_WS_ONLY
        self.ws_ref = request.ref
        self._ws_to = request.reply_to
        self._parser = FrameParser(ws_opts.max_frame_size)
        self._silence_pings = ws_opts.silence_pings
        self._closing_timeout = ws_opts.closing_timeout
        self.credit = ws_opts.flow
        events: list[Event] = [
            Deliver(request.reply_to, [gun_upgrade(self.conn, request.ref, switched.headers)]),
            Upgraded(request.ref),
        ]
        for queued in self._queue:  # upgrades behind this one can no longer be sent
            error = gun_conn_error(self.conn, ("badstate", BADSTATE_WS_ONLY))
            events.append(Deliver(queued.reply_to, [error]))
        self._queue.clear()
        if switched.trailing:
            events.extend(self._receive_frames(switched.trailing))
        return events

    # -- bytes in ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed the next bytes from the server; return the events they cause."""
        if self.ws_ref is not None:
            return self._receive_frames(data) if self.state is not ConnState.CLOSED else []
        if self.state is ConnState.CONNECTED:
            return self._receive_http(data)
        return []

    def receive_eof(self) -> list[Event]:
        """The server closed its side (or the socket broke): the connection ends."""
        if self.state is ConnState.CLOSED:
            return []
        if self.ws_ref is None:
            events = self._receive_http(b"")
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

    def send_frames(self, encoded: list[tuple[bytes, bool]]) -> SendOutcome:
        """Queue frames encoded by ``encode_frames``; a close ends the list."""
        state = self.state
        if state is not ConnState.CONNECTED_WS_ONLY:
            if state is ConnState.CONNECTED:
                return SendOutcome.NOT_WEBSOCKET
            return SendOutcome.NOT_OPEN
        for wire, is_close in encoded:
            self._out.append(wire)
            if is_close:
                self.state = ConnState.CLOSING
                return SendOutcome.CLOSE_SENT
        return SendOutcome.SENT

    def close(self, code: int | None) -> list[Event]:
        """Start the closing handshake with ``code`` (shutdown, owner down: 1001).

        Returns `CloseSent` if a close went out; none if one already had. On
        a plain HTTP connection the connection simply ends (``normal``).
        """
        if self.state is ConnState.CONNECTED_WS_ONLY:
            return self._send_close(b"" if code is None else code.to_bytes(2, "big"))
        if self.state is ConnState.CONNECTED:
            self._end("normal")
        return []

    def _send_close(self, payload: bytes) -> list[Event]:
        self._out.append(masked_frame(payload, OP_CLOSE))
        self.state = ConnState.CLOSING
        return [CloseSent(self._closing_timeout)]

    def ping(self) -> None:
        """Queue an empty ping (``ws_opts.keepalive``) if the WebSocket is open."""
        if self.state is ConnState.CONNECTED_WS_ONLY:
            self._out.append(masked_frame(b"", OP_PING))

    def update_flow(self, increment: int) -> bool:
        """Add flow credit; True if reading may resume (a no-op without ``flow``)."""
        if self.credit is None:
            return False
        self.credit += increment
        return self.credit > 0
