"""permessage-deflate (RFC 7692), sans-I/O: the offer, the answer's rules, the codec.

`offer` is the ``sec-websocket-extensions`` value of an upgrade with ``compress``
on; `negotiate` checks the server's answer against it as RFC 7692 section 7.1
asks and returns the `Agreement` (or raises `HandshakeError`); `Deflater` and
`Inflater` compress what we send and inflate what we receive, per message,
keeping or resetting the LZ77 context as agreed.

Memory is the cost of compression: a zlib compressor takes about
``2 ** (window_bits + 2) + 2 ** (mem_level + 9)`` bytes (144 KiB at 15 bits and
the default mem_level 5, 256 KiB at zlib's 8) and an inflater
``2 ** window_bits`` plus about 7 KiB. With
``client_no_context_takeover`` the compressor exists only while a message is
compressed, and with ``server_no_context_takeover`` the inflater only while a
message is inflated, so an idle connection holds neither.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Final

from gunpy.protocol._close import INVALID_PAYLOAD, MESSAGE_TOO_BIG

EXTENSION: Final = "permessage-deflate"
_TAIL: Final = b"\x00\x00\xff\xff"  # RFC 7692 7.2.1: removed after each message, added back


@dataclass(frozen=True)
class DeflateOptions:
    """``ws_opts["deflate_opts"]``: how gunpy's side compresses, and what it asks of the server.

    ``level`` (0-9) and ``mem_level`` (1-9) are zlib's; ``client_max_window_bits``
    (8-15) bounds our compressor's window and is offered as a hint;
    ``server_max_window_bits`` (8-15) is asked of the server (15 asks nothing,
    as Gun's offer); the ``*_no_context_takeover`` flags offer those
    parameters (ours is honoured whatever the server answers); messages
    shorter than ``min_size`` bytes are sent uncompressed (RSV1 clear).
    """

    level: int = 6
    mem_level: int = 5  # websockets' choice: less memory than zlib's 8, as fast here
    client_max_window_bits: int = 15
    server_max_window_bits: int = 15
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    min_size: int = 0


@dataclass(frozen=True)
class Agreement:
    """What the server's answer settled: the parameters both sides now follow."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def header(self) -> str:
        """The agreement written as an extension element (for logs and tests)."""
        params = [EXTENSION]
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_max_window_bits != 15:
            params.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits != 15:
            params.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(params)


class NegotiationError(ValueError):
    """The server's ``sec-websocket-extensions`` breaks RFC 7692 or our offer."""


def offer(opts: DeflateOptions) -> str:
    """Our offer: Gun's (``permessage-deflate; client_max_window_bits;
    server_max_window_bits=15``) with the parameters ``opts`` asks for."""
    params = [EXTENSION]
    if opts.client_no_context_takeover:
        params.append("client_no_context_takeover")
    if opts.server_no_context_takeover:
        params.append("server_no_context_takeover")
    bits = opts.client_max_window_bits
    params.append("client_max_window_bits" if bits == 15 else f"client_max_window_bits={bits}")
    params.append(f"server_max_window_bits={opts.server_max_window_bits}")
    return "; ".join(params)


# RFC 6455 9.1: extension = token *( ";" param ), param = token [ "=" (token | quoted-string) ].
_TOKEN: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED: Final = r'"(?:[^"\\]|\\.)*"'
_PARAM: Final = re.compile(rf"\s*({_TOKEN})\s*(?:=\s*({_TOKEN}|{_QUOTED})\s*)?\Z")
_BITS: Final = re.compile(r"(?:8|9|1[0-5])\Z")  # 8-15, no leading zero (RFC 7692 7.1.2.1)


def parse_extensions(values: list[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``sec-websocket-extensions`` header values as ``[(name, [(param, value)])]``."""
    elements: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        for element in _split(value, ","):
            if not element.strip():
                continue
            name, *raw_params = _split(element, ";")
            if not re.fullmatch(rf"\s*{_TOKEN}\s*", name):
                raise NegotiationError(f"malformed extension {element.strip()!r}")
            params: list[tuple[str, str | None]] = []
            for raw in raw_params:
                match = _PARAM.match(raw)
                if match is None:
                    raise NegotiationError(f"malformed extension parameter {raw.strip()!r}")
                param, param_value = match.group(1), match.group(2)
                if param_value is not None and param_value.startswith('"'):
                    param_value = re.sub(r"\\(.)", r"\1", param_value[1:-1])
                params.append((param.lower(), param_value))
            elements.append((name.strip().lower(), params))
    return elements


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def negotiate(values: list[str], opts: DeflateOptions | None) -> Agreement | None:
    """Check the 101's ``sec-websocket-extensions`` values against our offer.

    None when the server accepted no extension (the connection is then
    uncompressed); raises `NegotiationError` for an extension that was not
    offered, a second ``permessage-deflate``, or parameters RFC 7692 7.1 or
    our offer do not allow.
    """
    elements = parse_extensions(values)
    if not elements:
        return None
    names = [name for name, _ in elements]
    if opts is None or any(name != EXTENSION for name in names):
        raise NegotiationError(f"server selected extension(s) never offered: {', '.join(names)}")
    if len(elements) > 1:
        raise NegotiationError(f"server selected {EXTENSION} {len(elements)} times")
    seen: dict[str, str | None] = {}
    for param, value in elements[0][1]:
        if param in seen:
            raise NegotiationError(f"duplicate parameter {param}")
        seen[param] = value
    return _agreement(seen, opts)


def _agreement(params: dict[str, str | None], opts: DeflateOptions) -> Agreement:
    for flag in ("server_no_context_takeover", "client_no_context_takeover"):
        if flag in params and params[flag] is not None:
            raise NegotiationError(f"{flag} takes no value, got {params[flag]!r}")
    server_bits = opts.server_max_window_bits
    if "server_max_window_bits" in params:
        server_bits = _bits("server_max_window_bits", params["server_max_window_bits"])
        if server_bits > opts.server_max_window_bits:
            raise NegotiationError(
                f"server_max_window_bits={server_bits} over the {opts.server_max_window_bits} asked"
            )
    elif opts.server_max_window_bits < 15:
        # 15 asks nothing (Gun's offer), so an answer without it is fine then only.
        raise NegotiationError("server_max_window_bits was asked for and not answered")
    client_bits = opts.client_max_window_bits
    if "client_max_window_bits" in params:
        answered = _bits("client_max_window_bits", params["client_max_window_bits"])
        client_bits = min(client_bits, answered)
    if opts.server_no_context_takeover and "server_no_context_takeover" not in params:
        raise NegotiationError("server_no_context_takeover was asked for and not answered")
    unknown = set(params) - {
        "server_no_context_takeover", "client_no_context_takeover",
        "server_max_window_bits", "client_max_window_bits",
    }
    if unknown:
        raise NegotiationError(f"unknown parameter(s) {', '.join(sorted(unknown))}")
    return Agreement(
        server_no_context_takeover="server_no_context_takeover" in params,
        client_no_context_takeover=(
            opts.client_no_context_takeover or "client_no_context_takeover" in params
        ),
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )


def _bits(param: str, value: str | None) -> int:
    if value is None or not _BITS.match(value):
        raise NegotiationError(f"{param} must be 8 to 15, got {value!r}")
    return int(value)


class Deflater:
    """Compress the messages we send (RFC 7692 7.2.1), one context or one per message."""

    def __init__(self, agreement: Agreement, opts: DeflateOptions) -> None:
        # zlib cannot make raw streams with an 8-bit window; its 9-bit ones never
        # reach back further than 250 bytes, so an 8-bit inflater reads them.
        self._wbits = -max(9, agreement.client_max_window_bits)
        self._level = opts.level
        self._mem_level = opts.mem_level
        self._reset = agreement.client_no_context_takeover
        self.min_size = opts.min_size
        self._compressor: zlib._Compress | None = None

    def compress(self, payload: bytes) -> bytes:
        """One whole message's payload, compressed, the final empty block removed."""
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(self._level, zlib.DEFLATED, self._wbits, self._mem_level)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        self._compressor = None if self._reset else compressor
        return data[:-4] if data.endswith(_TAIL) else data


class InflateError(Exception):
    """A compressed message that cannot be accepted; ``code`` is the close code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Inflater:
    """Inflate the compressed messages we receive, bounded while inflating.

    `inflate` is called with each frame of a compressed message in turn; the
    message's inflated size never passes ``limit`` bytes in memory: one byte
    more and it raises `InflateError` 1009 without inflating the rest. Data
    zlib cannot read raises `InflateError` 1007 (the payload is not what the
    message's header says it is; websockets answers 1002, wsproto 1007).
    """

    def __init__(self, agreement: Agreement, limit: int) -> None:
        self._wbits = -max(9, agreement.server_max_window_bits)
        self._reset = agreement.server_no_context_takeover
        self.limit = limit
        self._inflater: zlib._Decompress | None = None
        self._size = 0  # inflated bytes of the message so far

    def inflate(self, payload: bytes, fin: bool) -> bytes:
        """The inflated bytes of the next frame of a message (``fin``: its last)."""
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = zlib.decompressobj(self._wbits)
        room = self.limit - self._size
        try:
            data = inflater.decompress(payload, room + 1)
            if fin and len(data) <= room and not inflater.unconsumed_tail:
                data += inflater.decompress(_TAIL, room + 1 - len(data))
        except zlib.error as exc:
            self._inflater = None
            raise InflateError(INVALID_PAYLOAD, f"bad compressed data: {exc}") from None
        if len(data) > room or inflater.unconsumed_tail:
            self._inflater = None
            raise InflateError(
                MESSAGE_TOO_BIG, f"message inflates over max_frame_size ({self.limit})"
            )
        self._size += len(data)
        if fin:
            self._size = 0
            if self._reset or inflater.eof:
                self._inflater = None  # a final deflate block also ends the context
        return data
