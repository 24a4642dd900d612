"""Close codes (RFC 6455 section 7.4) and close-frame payload rules."""

from __future__ import annotations

from typing import Final

NORMAL: Final = 1000
GOING_AWAY: Final = 1001
PROTOCOL_ERROR: Final = 1002
UNSUPPORTED_DATA: Final = 1003
NO_STATUS: Final = 1005
ABNORMAL: Final = 1006
INVALID_PAYLOAD: Final = 1007
POLICY_VIOLATION: Final = 1008
MESSAGE_TOO_BIG: Final = 1009
MANDATORY_EXTENSION: Final = 1010
INTERNAL_ERROR: Final = 1011


def is_sendable_close_code(code: int) -> bool:
    """True if ``code`` may appear on the wire in a close frame.

    1004-1006 and 1015 are reserved for local use, 1016-2999 are unassigned,
    3000-4999 belong to libraries and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class CloseError(ValueError):
    """A close frame payload that breaks RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_close_payload(payload: bytes) -> tuple[int, str] | None:
    """Return ``(code, reason)`` from a received close payload, or None if it is empty.

    Raises CloseError (1002 for a bad length or code, 1007 for a reason that
    is not UTF-8).
    """
    if not payload:
        return None
    if len(payload) == 1:
        raise CloseError(PROTOCOL_ERROR, "close frame payload of 1 byte")
    code = int.from_bytes(payload[:2], "big")
    if not is_sendable_close_code(code):
        raise CloseError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise CloseError(INVALID_PAYLOAD, "close reason is not valid UTF-8") from None
    return code, reason


def build_close_payload(code: int | None, reason: str | bytes = b"") -> bytes:
    """The payload of a close frame we send; raises ValueError if it breaks RFC 6455."""
    reason_bytes = reason.encode("utf-8") if isinstance(reason, str) else bytes(reason)
    try:
        reason_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("a close reason must be UTF-8 (RFC 6455 8.1)") from None
    if code is None:
        if reason_bytes:
            raise ValueError("a close reason needs a close code")
        return b""
    if not is_sendable_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    payload = code.to_bytes(2, "big") + reason_bytes
    if len(payload) > 125:
        raise ValueError("close reason longer than 123 bytes")
    return payload
