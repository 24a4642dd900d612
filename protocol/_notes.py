"""Gun's event maps for frames, built only when an event handler asks (`Notify` events).

`FrameParser` records, when its ``notes`` list is set, one ``(opcode, rsv,
fin, length, payload)`` per complete frame; `received` turns them into
Gun's ``ws_recv_frame_start`` / ``_header`` / ``_end``, and `sent` turns
the frames a ``ws_send`` wrote into ``ws_send_frame_start`` / ``_end``.
"""

from __future__ import annotations

from typing import Any, Final

from gunpy.protocol._close import parse_close_payload
from gunpy.protocol._events import Notify
from gunpy.protocol._frames import OP_CLOSE, EncodedFrame

FrameNote = tuple[int, int, int, int, bytes]  # opcode, rsv bits, fin, length, payload

_TYPES: Final = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def received(notes: list[FrameNote], ref: object, reply_to: object,
             extensions: dict[str, Any]) -> list[Notify]:
    """``ws_recv_frame_start``, ``_header`` and ``_end`` for each frame noted (and forget them)."""
    out: list[Notify] = []
    frag_state: object = None  # Gun's undefined, or {fin, type, rsv} inside a message
    for opcode, rsv, fin, length, payload in notes:
        base = {"stream_ref": ref, "reply_to": reply_to, "frag_state": frag_state,
                "extensions": extensions}
        out.append(Notify("ws_recv_frame_start", dict(base)))
        out.append(Notify("ws_recv_frame_header", {
            **base, "type": _TYPES.get(opcode, opcode), "rsv": rsv >> 4, "len": length,
            "mask_key": None}))
        close_code = None
        if opcode == OP_CLOSE and len(payload) >= 2:
            close_code = int.from_bytes(payload[:2], "big")
        out.append(Notify("ws_recv_frame_end", {
            "stream_ref": ref, "reply_to": reply_to, "extensions": extensions,
            "close_code": close_code, "payload": payload}))
        if opcode < OP_CLOSE:  # a data frame: the message's fragmentation state
            frag_state = None if fin else {"fin": "nofin", "type": _TYPES.get(opcode),
                                           "rsv": rsv >> 4}
    notes.clear()
    return out


def sent(frames: list[EncodedFrame], ref: object, reply_to: object,
         extensions: dict[str, Any]) -> list[Notify]:
    """``ws_send_frame_start`` and ``_end`` for each frame a ``ws_send`` wrote."""
    out: list[Notify] = []
    for frame in frames:
        event = {"stream_ref": ref, "reply_to": reply_to, "extensions": extensions,
                 "frame": _gun_frame(frame)}
        out.append(Notify("ws_send_frame_start", event))
        out.append(Notify("ws_send_frame_end", dict(event)))
        if frame.is_close:
            break
    return out


def _gun_frame(frame: EncodedFrame) -> object:
    """The frame as gunpy's shapes say it (text as str)."""
    kind = _TYPES.get(frame.opcode, "unknown")
    payload = frame.payload
    if kind == "text":
        return ("text", payload.decode("utf-8"))
    if kind == "close":
        parsed = parse_close_payload(payload)
        return "close" if parsed is None else ("close", parsed[0], parsed[1])
    if kind in ("ping", "pong") and not payload:
        return kind
    return (kind, payload)
