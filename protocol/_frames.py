"""WebSocket frames, sans-I/O: bytes from the server in, Gun frames out.

`FrameParser` is the receive half of RFC 6455 for a client. It reassembles
fragmented messages, validates UTF-8 as the bytes arrive (so a bad sequence
is caught in the chunk that carries it, not at the end of the message), and
refuses what a client must refuse: masked frames, reserved bits and opcodes,
fragmented or oversized control frames, frames over ``max_frame_size``. With
an `Inflater` (permessage-deflate agreed) a message whose first frame has
RSV1 set is inflated frame by frame, bounded by ``max_frame_size`` as it
inflates, and validated as it inflates.

`encode_frame` is the send half: `masked_frame` writes the header and masks
the payload with websocket-client's XOR (the one behind ``ABNF.mask``); gunpy
adds the checks Gun forgets (control payloads of at most 125 bytes, sendable
close codes), and `compressed_frame` compresses messages when
permessage-deflate is agreed.
"""

from __future__ import annotations

import codecs
import os
import struct
from collections.abc import Callable
from typing import Final, NamedTuple, cast

from websocket import ABNF

from gunpy.protocol._close import (
    INVALID_PAYLOAD,
    MESSAGE_TOO_BIG,
    PROTOCOL_ERROR,
    CloseError,
    build_close_payload,
    parse_close_payload,
)
from gunpy.protocol._deflate import Deflater, InflateError, Inflater
from gunpy.protocol._messages import Frame

OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class ProtocolError(Exception):
    """The server broke RFC 6455; ``code`` is the close code the client answers with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ProtocolError({self.code}, {self.message!r})"


class FrameError(ValueError):
    """A frame the caller asked to send that RFC 6455 does not allow."""


class FrameParser:
    """Turn the bytes a server sends into Gun frames.

    `feed` returns every complete frame found, in order: text and binary
    messages (reassembled), pings, pongs and closes. When the server breaks
    the protocol, `feed` still returns the frames that came before the fault
    and sets `error`; from then on it returns nothing at all (RFC 6455 7.1.7:
    no further data is processed). A close frame the server sends after the
    fault only sets `closed_after_error`, so the caller can end the closing
    handshake without acting on anything the server said after its fault.
    """

    def __init__(
        self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, inflater: Inflater | None = None
    ) -> None:
        self.max_frame_size = max_frame_size
        self._inflater = inflater
        # Set to a list to have each complete frame noted (Gun's frame events).
        self.notes: list[tuple[int, int, int, int, bytes]] | None = None
        self.error: ProtocolError | None = None
        self.closed_after_error = False
        self._buf = bytearray()
        self._need = 0  # bytes _buf must hold before parsing can progress
        self._skip = 0  # payload bytes still to drop (after an error)
        # The message being reassembled from fragments.
        self._frag_opcode: int | None = None
        self._frag_parts: list[bytes] = []
        self._text_parts: list[str] = []
        self._frag_size = 0
        self._frag_compressed = False  # the message being reassembled is compressed
        self._decoder: codecs.IncrementalDecoder | None = None
        # Payload bytes of the incomplete text frame at the head of _buf
        # that were already checked, and the header length of that frame.
        self._checked = 0
        self._partial_hlen = 0
        self._head_checked = False  # the frame at the head of _buf passed _header_fault

    def feed(self, data: bytes) -> list[Frame]:
        """Parse ``data`` (the next bytes from the socket); return the frames it completes."""
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return []
            data = data[self._skip :]
            self._skip = 0
        frames: list[Frame] = []
        view: bytes | memoryview = data
        if self._buf:
            missing = self._need - len(self._buf)
            if self._head_checked and len(data) >= missing:
                # The frame at the head of _buf completes: parse it alone, then the
                # rest of `data` in place (large frames span reads; no re-copying).
                view = memoryview(data)
                self._buf += view[:missing]
                with memoryview(self._buf) as head:
                    self._parse(head, frames)
                self._buf.clear()
                view = view[missing:]
            else:
                self._buf += data
                if len(self._buf) < self._need:
                    if self._partial_hlen:
                        self._check_partial_text()
                    return frames
                view = bytes(self._buf)
                self._buf.clear()
        end = self._parse(view, frames)
        if end < len(view):
            self._buf += view[end:]
            if self._partial_hlen:
                self._check_partial_text()
        return frames

    def _parse(self, buf: bytes | memoryview, out: list[Frame]) -> int:
        """Parse complete frames from ``buf`` into ``out``; return where parsing stopped."""
        n = len(buf)
        pos = 0
        self._need = 0
        self._partial_hlen = 0
        head_checked, self._head_checked = self._head_checked, False
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            hlen = 2
            if length == 126:
                if n - pos < 4:
                    self._need = 4
                    return pos
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                hlen = 4
            elif length == 127:
                if n - pos < 10:
                    self._need = 10
                    return pos
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hlen = 10
            if b1 & 0x80:
                hlen += 4
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            faulty = False  # this very frame broke the rules: never returned, even a close
            if self.error is None and not (pos == 0 and head_checked):
                fault = self._header_fault(b0, b1, opcode, length)
                if fault is not None:
                    self._fail(fault.code, fault.message)
                    faulty = True
            if self.error is not None and (faulty or opcode != OP_CLOSE or length > 125):
                # Drop the payload without buffering it.
                if n - pos - hlen < length:
                    self._skip = length - (n - pos - hlen)
                    return n
                pos += hlen + length
                continue
            end = pos + hlen + length
            # RSV1 passed _header_fault: permessage-deflate is on and this starts a
            # compressed message; its continuations carry no RSV1 (RFC 7692 6.1).
            compressed = b0 & 0x40 or (opcode == OP_CONT and self._frag_compressed)
            if end > n:
                self._need = end - pos
                self._head_checked = True
                if self.error is None and not compressed and (
                    opcode == OP_TEXT or (opcode == OP_CONT and self._frag_opcode == OP_TEXT)
                ):
                    self._partial_hlen = hlen
                    if not self._checked and opcode == OP_TEXT:
                        self._decoder = _Utf8Decoder()
                return pos
            payload = buf[pos + hlen : end]
            if payload.__class__ is not bytes:
                payload = bytes(payload)
            pos = end
            if self.error is not None:
                self.closed_after_error = True  # a close after the fault: nothing else
                continue
            if self.notes is not None:
                self.notes.append((opcode, b0 & 0x70, fin, length, payload))
            if compressed:
                self._add_compressed(opcode, payload, fin, out)
            elif opcode == OP_TEXT:
                if fin and not self._checked:
                    try:
                        out.append(("text", payload.decode("utf-8")))
                    except UnicodeDecodeError:
                        self._fail(INVALID_PAYLOAD, "invalid UTF-8 in text message")
                    continue
                self._start_message(OP_TEXT)
                self._add_text(payload, fin, out)
            elif opcode == OP_BINARY:
                if fin:
                    out.append(("binary", payload))
                    continue
                self._start_message(OP_BINARY)
                self._add_fragment(payload, fin, out)
            elif opcode == OP_CONT:
                if self._frag_opcode == OP_TEXT:
                    self._add_text(payload, fin, out)
                else:
                    self._add_fragment(payload, fin, out)
            elif opcode == OP_PING:
                out.append(("ping", payload) if payload else "ping")
            elif opcode == OP_PONG:
                out.append(("pong", payload) if payload else "pong")
            else:  # OP_CLOSE
                try:
                    parsed = parse_close_payload(payload)
                except CloseError as exc:
                    self._fail(exc.code, str(exc))
                    continue
                out.append("close" if parsed is None else ("close", parsed[0], parsed[1]))
        self._need = 2 if n - pos == 1 else 0
        return pos

    def _header_fault(self, b0: int, b1: int, opcode: int, length: int) -> ProtocolError | None:
        """The reason a frame header is refused, or None if it is acceptable."""
        if b1 & 0x80:
            return ProtocolError(PROTOCOL_ERROR, "masked frame from the server")
        if b0 & 0x70:
            if self._inflater is None or b0 & 0x70 != 0x40:
                return ProtocolError(PROTOCOL_ERROR, "reserved bit set without an extension")
            if opcode not in (OP_TEXT, OP_BINARY):
                return ProtocolError(PROTOCOL_ERROR, "RSV1 set on a control or continuation frame")
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                return ProtocolError(PROTOCOL_ERROR, f"reserved opcode {opcode}")
            if not b0 & 0x80:
                return ProtocolError(PROTOCOL_ERROR, "fragmented control frame")
            if length > 125:
                return ProtocolError(PROTOCOL_ERROR, "control frame payload over 125 bytes")
            return None
        if opcode > OP_BINARY:
            return ProtocolError(PROTOCOL_ERROR, f"reserved opcode {opcode}")
        if opcode == OP_CONT:
            if self._frag_opcode is None:
                return ProtocolError(PROTOCOL_ERROR, "continuation frame with no message")
        elif self._frag_opcode is not None:
            return ProtocolError(PROTOCOL_ERROR, "new message inside a fragmented message")
        if length > self.max_frame_size or (
            opcode == OP_CONT and self._frag_size + length > self.max_frame_size
        ):
            return ProtocolError(
                MESSAGE_TOO_BIG, f"frame or message over max_frame_size ({self.max_frame_size})"
            )
        return None

    def _fail(self, code: int, message: str) -> None:
        self.error = ProtocolError(code, message)
        self._frag_opcode = None
        self._frag_compressed = False
        self._frag_parts = []
        self._text_parts = []
        self._decoder = None

    def _start_message(self, opcode: int) -> None:
        self._frag_opcode = opcode
        self._frag_size = 0
        if opcode == OP_TEXT and not self._checked:
            self._decoder = _Utf8Decoder()

    def _add_fragment(self, payload: bytes, fin: int, out: list[Frame]) -> None:
        self._frag_parts.append(payload)
        self._frag_size += len(payload)
        if fin:
            out.append(("binary", b"".join(self._frag_parts)))
            self._frag_parts = []
            self._frag_opcode = None

    def _add_text(self, payload: bytes, fin: int, out: list[Frame]) -> None:
        decoder = self._decoder
        assert decoder is not None
        try:
            self._text_parts.append(decoder.decode(payload[self._checked :], final=bool(fin)))
        except UnicodeDecodeError:
            self._checked = 0
            self._fail(INVALID_PAYLOAD, "invalid UTF-8 in text message")
            return
        self._checked = 0
        self._frag_size += len(payload)
        if fin:
            out.append(("text", "".join(self._text_parts)))
            self._text_parts = []
            self._frag_opcode = None
            self._decoder = None

    def _add_compressed(self, opcode: int, payload: bytes, fin: int, out: list[Frame]) -> None:
        """The next frame of a compressed message: inflate it, check it, maybe end it."""
        inflater = self._inflater
        assert inflater is not None
        if opcode != OP_CONT:
            self._frag_opcode, self._frag_compressed, self._frag_size = opcode, True, 0
            if opcode == OP_TEXT:
                self._decoder = _Utf8Decoder()
        self._frag_size += len(payload)
        try:
            data = inflater.inflate(payload, bool(fin))
        except InflateError as exc:
            self._fail(exc.code, exc.message)
            return
        if self._frag_opcode == OP_TEXT:
            decoder = self._decoder
            assert decoder is not None
            try:
                self._text_parts.append(decoder.decode(data, final=bool(fin)))
            except UnicodeDecodeError:
                self._fail(INVALID_PAYLOAD, "invalid UTF-8 in text message")
                return
            if fin:
                out.append(("text", "".join(self._text_parts)))
                self._text_parts, self._decoder = [], None
        else:
            self._frag_parts.append(data)
            if fin:
                out.append(("binary", b"".join(self._frag_parts)))
                self._frag_parts = []
        if fin:
            self._frag_opcode, self._frag_compressed = None, False

    def _check_partial_text(self) -> None:
        """Validate the payload bytes received so far of an incomplete text frame."""
        decoder = self._decoder
        assert decoder is not None
        start = self._partial_hlen + self._checked
        chunk = bytes(self._buf[start:])
        if not chunk:
            return
        try:
            self._text_parts.append(decoder.decode(chunk, final=False))
        except UnicodeDecodeError:
            # Fail now, and drop the rest of this frame without buffering it.
            self._checked = 0
            self._partial_hlen = 0
            self._skip = self._need - len(self._buf)
            self._buf.clear()
            self._need = 0
            self._head_checked = False
            self._fail(INVALID_PAYLOAD, "invalid UTF-8 in text message")
            return
        self._checked += len(chunk)



_OPCODES: Final = {"text": OP_TEXT, "binary": OP_BINARY, "ping": OP_PING, "pong": OP_PONG}


class EncodedFrame(NamedTuple):
    """A checked client frame: ``wire`` is it masked and uncompressed (b"" if not masked yet).

    The connection sends ``wire``, or compresses ``payload`` first when
    permessage-deflate is on and the frame is a message (`compressed_frame`).
    """

    wire: bytes
    is_close: bool
    opcode: int
    payload: bytes

    def unmasked(self) -> bool:
        """True if the connection must still mask (or compress) it."""
        return not self.wire


def encode_frame(frame: object, mask: bool = True) -> EncodedFrame:
    """Encode one client frame.

    Accepts every shape of `Frame`, plus ``("close", reason)`` (code 1000)
    and any bytes-like payload. Raises FrameError for anything RFC 6455 or
    Gun's frame shapes do not allow, before a byte is written. ``mask`` False
    leaves text and binary frames for the connection to mask (it compresses
    them first when permessage-deflate is on); control frames are masked.
    """
    if isinstance(frame, tuple) and len(frame) == 2:
        # The shapes of nearly every call (text of a str, binary of bytes) first,
        # without the general path's checks: this runs once per message sent.
        kind, data = frame
        if kind == "text" and data.__class__ is str:
            payload, opcode = data.encode("utf-8"), OP_TEXT
        elif kind == "binary" and data.__class__ is bytes:
            payload, opcode = data, OP_BINARY
        else:
            return _encode_any(frame, mask)
        return _encoded(payload, opcode, mask=mask)
    return _encode_any(frame, mask)


def _encode_any(frame: object, mask: bool) -> EncodedFrame:
    """`encode_frame` for every shape (and every fault)."""
    if isinstance(frame, str):
        if frame == "close":
            return _encoded(b"", OP_CLOSE, True)
        if frame == "ping" or frame == "pong":
            return _encoded(b"", _OPCODES[frame])
        raise FrameError(f"not a frame: {frame!r}")
    if not isinstance(frame, tuple) or not frame:
        raise FrameError(f"not a frame: {frame!r}")
    kind = frame[0]
    if kind == "text" and len(frame) == 2:
        text = frame[1]
        if isinstance(text, str):
            return _encoded(text.encode("utf-8"), OP_TEXT, mask=mask)
        payload = _payload(frame)
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("text frame payload is not valid UTF-8") from None
        return _encoded(payload, OP_TEXT, mask=mask)
    if kind == "binary" and len(frame) == 2:
        return _encoded(_payload(frame), OP_BINARY, mask=mask)
    if (kind == "ping" or kind == "pong") and len(frame) == 2:
        payload = _payload(frame)
        if len(payload) > 125:
            raise FrameError(f"{kind} payload of {len(payload)} bytes; control frames allow 125")
        return _encoded(payload, _OPCODES[kind])
    if kind == "close" and len(frame) in (2, 3):
        code, reason = (1000, frame[1]) if len(frame) == 2 else (frame[1], frame[2])
        if not isinstance(code, int) or not isinstance(reason, str | bytes):
            raise FrameError(f"not a close frame: {frame!r}")
        try:
            return _encoded(build_close_payload(code, reason), OP_CLOSE, True)
        except ValueError as exc:
            raise FrameError(str(exc)) from None
    raise FrameError(f"not a frame: {frame!r}")


def _encoded(
    payload: bytes, opcode: int, is_close: bool = False, mask: bool = True
) -> EncodedFrame:
    wire = masked_frame(payload, opcode) if mask else b""
    return EncodedFrame(wire, is_close, opcode, payload)


def compressed_frame(frame: EncodedFrame, deflater: Deflater | None) -> bytes:
    """The wire bytes of ``frame`` on a connection with (or without) a `Deflater`.

    Text and binary messages of at least the deflater's ``min_size`` bytes
    are compressed with RSV1 set; everything else goes as encoded.
    """
    opcode = frame.opcode
    payload = frame.payload
    if deflater is not None and opcode in (OP_TEXT, OP_BINARY) and (
        len(payload) >= deflater.min_size
    ):
        return masked_frame(deflater.compress(payload), opcode, rsv1=True)
    return frame.wire or masked_frame(frame.payload, opcode)


def _payload(frame: tuple[object, ...]) -> bytes:
    data = frame[1]
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise FrameError(f"{frame[0]} payload must be bytes or str, not {type(data).__name__}")


def masked_frame(payload: bytes, opcode: int, rsv1: bool = False) -> bytes:
    """One complete client frame (FIN set, masked; RSV1 for a compressed message).

    The header is written here (ABNF.format checks and rebuilds it in Python
    for every frame, a third of a small frame's cost); the payload is masked
    by websocket-client's XOR (`xor_mask`) with a key from ``os.urandom``, as
    ABNF's own frames are.
    """
    length = len(payload)
    b0 = (0xC0 if rsv1 else 0x80) | opcode
    if length < 126:
        head = _SHORT_HEAD.pack(b0, 0x80 | length)
    elif length < 65536:
        head = _MEDIUM_HEAD.pack(b0, 0xFE, length)
    else:
        head = _LONG_HEAD.pack(b0, 0xFF, length)
    key = os.urandom(4)
    return head + key + xor_mask(key, payload)


def _websocket_client_xor() -> Callable[[bytes, bytes], bytes]:
    """websocket-client's XOR of a payload with a 4-byte key, called with bytes.

    ``ABNF.mask`` first copies the key and the payload into ``array.array``
    objects and then calls its ``_mask``, which works on any buffer; on a
    frame of a few hundred bytes those copies cost as much as the XOR (1.2
    of 2.6 µs here). Where a websocket-client lacks ``_mask``, ``ABNF.mask``
    itself (tests check both give the same bytes).
    """
    try:
        from websocket._abnf import _mask
    except ImportError:  # pragma: no cover - websocket-client 1.9 has it
        return cast(Callable[[bytes, bytes], bytes], ABNF.mask)
    return cast(Callable[[bytes, bytes], bytes], _mask)


xor_mask: Final = _websocket_client_xor()
"""Mask (or unmask) ``payload`` with ``key``: ``xor_mask(key, payload) -> bytes``."""


_SHORT_HEAD: Final = struct.Struct("!BB")
_MEDIUM_HEAD: Final = struct.Struct("!BBH")
_LONG_HEAD: Final = struct.Struct("!BBQ")


def encode_frames(frames: object, mask: bool = True) -> list[EncodedFrame]:
    """Encode a frame or a list of frames; a close ends the list, as in Gun.

    Raises FrameError, before anything is sent, if any frame is not valid.
    ``mask`` as in `encode_frame`.
    """
    if frames.__class__ is tuple:  # one frame, the usual call
        return [encode_frame(frames, mask)]
    items = frames if isinstance(frames, list) else [frames]
    encoded = []
    for frame in items:
        one = encode_frame(frame, mask)
        encoded.append(one)
        if one.is_close:
            break
    return encoded
