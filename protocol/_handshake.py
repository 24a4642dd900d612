"""The rules of the HTTP/1.1 upgrade that websocket-client leaves to its caller.

websocket-client sends the request and checks ``Sec-WebSocket-Accept``; these
functions prepare what it sends (Gun's header normalisation, Gun's ``host``)
and add the checks it skips: an extension the client never offered, a
subprotocol chosen though none was offered (both must fail the connection,
RFC 6455 section 4.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gunpy.protocol._messages import Headers

HeadersIn = Mapping[Any, object] | Iterable[tuple[object, object]]


class InvalidRequestHeader(ValueError):
    """A request header Gun refuses to send (a CR or LF in its name or value)."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"invalid request header {name!r}: CR and LF are not allowed")
        self.name = name
        self.value = value


def normalize_headers(headers: HeadersIn | None) -> Headers:
    """Headers as ``[(name, value)]`` with lower-case str names; raise on CR/LF.

    Accepts a dict or a list of pairs; names and values may be str, bytes or
    anything with a ``str()``, as Gun accepts binaries, strings and atoms.
    """
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: Headers = []
    for name, value in items:
        name_s = _text(name).lower()
        value_s = _text(value)
        if any(c in name_s or c in value_s for c in "\r\n") or not name_s:
            raise InvalidRequestHeader(name_s, value_s)
        out.append((name_s, value_s))
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def host_header(host: str, port: int, transport: str) -> str:
    """Gun's ``host``: the port is left out when it is the transport's default."""
    name = f"[{host}]" if ":" in host else host
    if (transport == "tcp" and port == 80) or (transport == "tls" and port == 443):
        return name
    return f"{name}:{port}"


class HandshakeError(Exception):
    """The server's 101 answer breaks RFC 6455; the message says how."""


def check_upgrade_response(headers: Headers, offered: tuple[str, ...]) -> str | None:
    """Check what websocket-client does not; return the chosen subprotocol, if any."""
    chosen: str | None = None
    for name, value in headers:
        if name == "sec-websocket-extensions" and value.strip():
            raise HandshakeError(f"server selected extension(s) never offered: {value}")
        if name == "sec-websocket-protocol":
            chosen = value.strip()
    if chosen is not None and chosen not in offered:
        raise HandshakeError(f"server selected subprotocol {chosen!r}, offered {list(offered)}")
    return chosen
