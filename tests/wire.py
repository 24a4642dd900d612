"""The one server-side wire kit: what a hand-written WebSocket peer needs.

Tests, the conformance driver and the benchmark server build and read bytes
with these functions, and none of them uses gunpy's own framing code, so a
bug there cannot hide itself. Pure functions on bytes, plus the few that
read a socket because that is their job.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
from typing import Final

WS_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` for ``key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + WS_GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def response_101(
    key: str, extra_headers: list[tuple[str, str]] | None = None, accept: str | None = None
) -> bytes:
    """A 101 answer to an upgrade with ``key`` (a wrong ``accept`` makes a bad handshake)."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key) if accept is None else accept}",
    ]
    lines += [f"{name}: {value}" for name, value in extra_headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send_101(
    sock: socket.socket,
    key: str,
    extra_headers: list[tuple[str, str]] | None = None,
    accept: str | None = None,
) -> None:
    """Answer an upgrade on ``sock`` with `response_101`."""
    sock.sendall(response_101(key, extra_headers, accept))


def xor_mask(key: bytes, payload: bytes) -> bytes:
    """Mask or unmask ``payload`` with the 4-byte ``key`` (the same operation)."""
    n = len(payload)
    if not n:
        return b""
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")


def encode_server_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """One frame as a server sends it (or, with ``mask``, as a client does).

    ``rsv`` is the 3-bit RSV field: 4 is RSV1, 2 RSV2, 1 RSV3. The length takes
    its shortest form (7, 16 or 64 bits).
    """
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode])
    bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask is not None:
        assert len(mask) == 4
        return head + mask + xor_mask(mask, payload)
    return head + payload


def decode_client_frame(wire: bytes, rsv: int = 0) -> tuple[int, bytes, bytes]:
    """Take exactly one client frame apart: ``(opcode, key, unmasked payload)``.

    Asserts what RFC 6455 asks of a client frame sent whole: FIN set, the RSV
    bits ``rsv`` (4: RSV1, a compressed message), masked, the shortest length form.
    """
    assert len(wire) >= 6
    b0, b1 = wire[0], wire[1]
    assert b0 & 0x80, "FIN must be set"
    assert (b0 & 0x70) >> 4 == rsv, f"RSV bits {(b0 & 0x70) >> 4}, expected {rsv}"
    assert b1 & 0x80, "client frames must be masked"
    length, pos = b1 & 0x7F, 2
    if length == 126:
        length, pos = struct.unpack("!H", wire[2:4])[0], 4
        assert length >= 126, "minimal length encoding"
    elif length == 127:
        length, pos = struct.unpack("!Q", wire[2:10])[0], 10
        assert length >= 1 << 16, "minimal length encoding"
    key = wire[pos : pos + 4]
    assert len(key) == 4
    masked = wire[pos + 4 :]
    assert len(masked) == length, "exactly one frame"
    return b0 & 0x0F, key, xor_mask(key, masked)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes; ConnectionError if the peer closes first."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def read_http_request(sock: socket.socket) -> tuple[str, list[tuple[str, str]]]:
    """Read an HTTP request head: (request line, [(lower-case name, value)])."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    lines = data.decode("latin-1").split("\r\n")
    headers = [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    ]
    return lines[0], headers


def read_client_frame(sock: socket.socket) -> tuple[int, bool, bytes]:
    """Read one client frame from ``sock``: (opcode, fin, unmasked payload)."""
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    key = recv_exact(sock, 4) if b1 & 0x80 else b"\0\0\0\0"
    return b0 & 0x0F, bool(b0 & 0x80), xor_mask(key, recv_exact(sock, n))
