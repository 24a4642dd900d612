"""`OutBuffer`: the bytes a connection has yet to write to its non-blocking socket.

Bytes are written in order, as much as the socket takes now; the rest waits
for the loop to see the socket writable. The buffer never copies a large
frame (it keeps memoryviews) but joins many small ones into one send once a
backlog forms, so a slow peer costs few system calls per turn. Only a small
head is joined, so the rest of a partly sent join is not copied again: each
byte is copied about once.

TLS adds a rule: after ``SSLWantWriteError`` OpenSSL must be called again
with the same length, so the slice that failed is remembered and retried
exactly, and no joining happens while one is pending.
"""

from __future__ import annotations

import ssl
from collections import deque
from typing import Final

OUT_BUFFER_LIMIT: Final = 1 << 20
"""Bytes a connection may hold unwritten before ``ws_send`` waits (see `SocketIO.send_frames`)."""

SEND_CHUNK: Final = 262144  # at most this per send: bounded work per turn, and TLS records
JOIN_BELOW: Final = 16384  # a head this small is joined with what follows it
_WOULD_BLOCK: Final = (BlockingIOError, InterruptedError, ssl.SSLWantWriteError,
                       ssl.SSLWantReadError)


class OutBuffer:
    """Unwritten bytes, oldest first, with their total `size`."""

    __slots__ = ("_chunks", "_retry", "size")

    def __init__(self) -> None:
        self._chunks: deque[memoryview] = deque()
        self._retry = 0  # length of a TLS send to repeat as is, 0 if none
        self.size = 0

    def __bool__(self) -> bool:
        return self.size > 0

    def append(self, data: bytes) -> None:
        """Queue ``data`` behind what is already here."""
        if data:
            self._chunks.append(memoryview(data))
            self.size += len(data)

    def clear(self) -> None:
        """Drop everything (the connection is cut)."""
        self._chunks.clear()
        self._retry = 0
        self.size = 0

    def write(self, sock: object, budget: int = SEND_CHUNK * 4) -> int:
        """Send from the head until the socket would block or ``budget`` bytes went out.

        Returns the bytes written. Raises the socket's OSError (not the
        would-block ones, which only stop the writing).
        """
        send = sock.send  # type: ignore[attr-defined]
        written = 0
        chunks = self._chunks
        while chunks and written < budget:
            if not self._retry and len(chunks) > 1 and len(chunks[0]) < JOIN_BELOW:
                self._join_head()
            head = chunks[0]
            length = self._retry or min(len(head), SEND_CHUNK)
            try:
                sent = send(head[:length])
            except _WOULD_BLOCK:
                self._retry = length if isinstance(sock, ssl.SSLSocket) else 0
                break
            self._retry = 0
            if not sent:
                break
            written += sent
            self.size -= sent
            if sent == len(head):
                chunks.popleft()
            else:
                chunks[0] = head[sent:]
        return written

    def _join_head(self) -> None:
        """Join small chunks at the head into one of up to `SEND_CHUNK` bytes."""
        chunks = self._chunks
        parts = [chunks.popleft()]
        total = len(parts[0])
        while chunks and total + len(chunks[0]) <= SEND_CHUNK:
            part = chunks.popleft()
            parts.append(part)
            total += len(part)
        chunks.appendleft(memoryview(b"".join(parts)))
