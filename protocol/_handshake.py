"""The rules of the HTTP/1.1 upgrade: what the request carries and what a 101 must say.

Request input is checked in the caller's thread, before anything is sent:
a path or a header that HTTP/1.1 does not allow raises `InvalidRequestTarget`
or `InvalidRequestHeader` (Gun's ``invalid_request_headers`` default, raise).
The 101 is checked as RFC 6455 4.1 asks: ``Sec-WebSocket-Accept`` for our
key, ``Upgrade: websocket``, ``Connection: upgrade``, no extension that was
not offered (``permessage-deflate`` by RFC 7692's rules when ``compress``
offered it), no subprotocol that was not offered (none chosen is fine).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from gunpy.protocol._deflate import Agreement, DeflateOptions, NegotiationError, negotiate
from gunpy.protocol._messages import Headers

HeadersIn = Mapping[Any, object] | Iterable[tuple[object, object]]

WS_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# RFC 9110 5.1 (token) and 5.5 (field value: visible characters, spaces and tabs
# inside, obs-text allowed), RFC 9112 3.2 (origin-form target: no controls, no spaces).
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VCHAR: Final = r"[\x21-\x7e\x80-\xff]"
_FIELD_VALUE: Final = re.compile(rf"({_VCHAR}([\t \x21-\x7e\x80-\xff]*{_VCHAR})?)?\Z")
_TARGET: Final = re.compile(r"[\x21-\x7e\x80-\xff]+\Z")


class InvalidRequest(ValueError):
    """Request input that HTTP/1.1 does not allow; nothing was sent. ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidRequestHeader(InvalidRequest):
    """A request header Gun refuses to send: a bad name, or CR, LF or NUL in its value."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(name, f"invalid request header {name!r}: {value!r} is not allowed")
        self.name = name
        self.value = value


class InvalidRequestTarget(InvalidRequest):
    """A path that cannot be a request target (spaces, CR, LF, controls, empty)."""

    def __init__(self, path: str) -> None:
        super().__init__("path", f"invalid request path {path!r}")
        self.path = path


def check_path(path: str) -> str:
    """Return ``path`` if it can be sent as a request target, else raise."""
    if not isinstance(path, str) or not _TARGET.match(path):
        raise InvalidRequestTarget(str(path))
    try:
        path.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidRequestTarget(path) from None
    return path


def normalize_headers(headers: HeadersIn | None) -> Headers:
    """Headers as ``[(name, value)]`` with lower-case str names; raise on anything bad.

    Accepts a dict or a list of pairs; names and values may be str, bytes or
    anything with a ``str()``, as Gun accepts binaries, strings and atoms.
    """
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: Headers = []
    for name, value in items:
        name_s = _text(name).lower()
        value_s = _text(value).strip(" \t")
        if not _TOKEN.match(name_s) or not _FIELD_VALUE.match(value_s):
            raise InvalidRequestHeader(name_s, value_s)
        try:
            value_s.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidRequestHeader(name_s, value_s) from None
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


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key`` ``key``."""
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


class HandshakeError(Exception):
    """The server's 101 answer breaks RFC 6455; the message says how."""


def check_upgrade_response(
    headers: Headers, key: str | None, offered: tuple[str, ...]
) -> str | None:
    """Check a 101 answer to an upgrade that offered no extension; return the subprotocol.

    ``key`` is the ``Sec-WebSocket-Key`` we sent (None skips the accept check,
    for unit tests of the other rules). Raises `HandshakeError`.
    """
    return check_upgrade(headers, key, offered, None)[0]


def check_upgrade(
    headers: Headers, key: str | None, offered: tuple[str, ...], deflate: DeflateOptions | None
) -> tuple[str | None, Agreement | None]:
    """Check a 101 answer; return the chosen subprotocol and the deflate `Agreement`.

    ``deflate`` is what the upgrade offered (None: no extension was offered);
    the agreement is None when the server accepted none. Raises `HandshakeError`.
    """
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value)
    upgrade = [v.strip().lower() for v in values.get("upgrade", [])]
    if upgrade != ["websocket"]:
        raise HandshakeError(f"the 101 has upgrade {upgrade or 'missing'}, not websocket")
    connection = {t.strip().lower() for v in values.get("connection", []) for t in v.split(",")}
    if "upgrade" not in connection:
        raise HandshakeError("the 101 has no 'connection: upgrade'")
    if key is not None:
        accept = values.get("sec-websocket-accept", [])
        if accept != [accept_for(key)]:
            raise HandshakeError(f"bad sec-websocket-accept {accept or 'missing'}")
    try:
        agreement = negotiate(values.get("sec-websocket-extensions", []), deflate)
    except NegotiationError as exc:
        raise HandshakeError(str(exc)) from None
    protocols = values.get("sec-websocket-protocol", [])
    if len(protocols) > 1:
        raise HandshakeError(f"server selected several subprotocols: {protocols}")
    if not protocols:
        return None, agreement  # none chosen: the upgrade succeeds without one (RFC 6455, Gun)
    chosen = protocols[0].strip()
    if chosen not in offered:
        raise HandshakeError(f"server selected subprotocol {chosen!r}, offered {list(offered)}")
    return chosen, agreement
