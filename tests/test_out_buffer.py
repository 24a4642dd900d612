"""gunpy.actors.gun._out_buffer over real non-blocking sockets, plain and TLS, with small
kernel buffers so writes are partial and would block. No test asserts a duration."""

from __future__ import annotations

import contextlib
import itertools
import random
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gunpy.actors.gun._out_buffer import OUT_BUFFER_LIMIT, SEND_CHUNK, OutBuffer
from tests.peers import WAIT, make_tls_pair

SMALL = 4096


def small_pair() -> tuple[socket.socket, socket.socket]:
    """(sender, receiver), both non-blocking, with small kernel buffers."""
    w, r = socket.socketpair()
    w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    w.setblocking(False)
    r.setblocking(False)
    return w, r


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    w, r = small_pair()
    yield w, r
    w.close()
    r.close()


def drain(r: socket.socket) -> bytes:
    """All the receiver has now (non-blocking)."""
    parts = []
    with contextlib.suppress(BlockingIOError):
        while part := r.recv(1 << 20):
            parts.append(part)
    return b"".join(parts)


def payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    ends = list(itertools.accumulate(sizes, initial=0))
    return [data[i:j] for i, j in itertools.pairwise(ends)]


def deliver(buf: OutBuffer, w: Any, r: socket.socket, budget: int = SEND_CHUNK * 4) -> bytes:
    """Write until the buffer is empty, draining the receiver between calls; what came.

    Checks on every call that ``size`` is what was appended less what was written,
    and that the budget bounds the call."""
    got, size = [], buf.size
    deadline = time.monotonic() + WAIT * 6
    while buf:
        assert time.monotonic() < deadline, "the buffer does not drain"
        written = buf.write(w, budget)
        assert 0 <= written <= budget + SEND_CHUNK
        size -= written
        assert buf.size == size
        got.append(drain(r))
    got.append(drain(r))
    return b"".join(got)


class CountingSocket:
    """Not a socket: a ``send`` that counts its calls and delegates to the real one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends = 0

    def send(self, data: Any) -> int:
        self.sends += 1
        return self.sock.send(data)


def test_append_size_bool_and_clear(pair: Any) -> None:
    w, r = pair
    assert 0 < SEND_CHUNK <= OUT_BUFFER_LIMIT
    buf = OutBuffer()
    assert not buf and buf.size == 0
    buf.append(b"")
    assert not buf and buf.write(w) == 0
    buf.append(b"abc")
    buf.append(b"x" * 100000)
    assert buf and buf.size == 100003
    assert 0 < buf.write(w) < 100003  # stopped inside the big chunk
    buf.clear()
    assert not buf and buf.size == 0 and buf.write(w) == 0
    drain(r)
    buf.append(b"after")
    assert deliver(buf, w, r) == b"after"


def test_bytes_come_out_in_order_exactly_once(pair: Any) -> None:
    w, r = pair
    data = payload(1 << 20)
    buf = OutBuffer()
    for chunk in split(data, [1, 2, 3, 5000, 300000, 17, 65536, 1] * 3):
        buf.append(chunk)
    buf.append(data[buf.size :])
    assert deliver(buf, w, r) == data


def test_write_stops_on_would_block_and_keeps_the_rest(pair: Any) -> None:
    w, r = pair
    data = payload(500000)
    buf = OutBuffer()
    buf.append(data)
    written = buf.write(w, budget=len(data) * 2)  # the socket, not the budget, stops it
    assert 0 < written < len(data)
    assert buf.size == len(data) - written
    assert buf.write(w) == 0  # still full: nothing, and no exception
    assert buf.size == len(data) - written
    assert deliver(buf, w, r) == data


def test_budget_bounds_one_call() -> None:
    w, r = socket.socketpair()  # large buffers: the budget, not the socket, stops a call
    with w, r:
        w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        w.setblocking(False)
        r.setblocking(False)
        data = payload(1 << 20)
        for budget in (1, 1000, 50000, SEND_CHUNK + 1):
            buf = OutBuffer()
            for chunk in split(data, [1000] * 1048 + [576]):
                buf.append(chunk)
            counting = CountingSocket(w)
            written = buf.write(counting, budget)
            assert 0 < written <= budget + SEND_CHUNK
            assert buf.size == len(data) - written
            if budget <= SEND_CHUNK:
                assert counting.sends == 1  # the first send reached the budget
            assert deliver(buf, w, r, budget) == data


def test_many_small_appends_are_joined_into_few_sends(pair: Any) -> None:
    w, r = pair
    chunks = split(payload(100000), [100] * 1000)
    buf = OutBuffer()
    for chunk in chunks:
        buf.append(chunk)
    counting = CountingSocket(w)
    assert deliver(buf, counting, r) == b"".join(chunks)
    assert counting.sends < len(chunks)


def test_a_socket_error_is_raised(pair: Any) -> None:
    w, r = pair
    r.close()
    buf = OutBuffer()
    buf.append(b"lost")
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        buf.write(w)


def test_a_reset_tcp_connection_raises() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        w = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    with w:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        peer.close()
        w.setblocking(False)
        buf = OutBuffer()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(1000):  # the first send may go before the RST is seen
                buf.append(b"x" * 1000)
                buf.write(w)
                select.select([], [w], [], 0.01)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 70000), max_size=30),
    st.one_of(st.integers(1, 3), st.integers(1, 4 * SEND_CHUNK)),
)
def test_any_chunks_and_budget_deliver_the_concatenation(sizes: list[int], budget: int) -> None:
    data = payload(sum(sizes), seed=len(sizes))
    w, r = small_pair()
    with w, r:
        buf = OutBuffer()
        for chunk in split(data, sizes):
            buf.append(chunk)
        assert buf.size == len(data)
        assert deliver(buf, w, r, budget) == data


# -- TLS: after SSLWantWriteError the same length is sent again ---------------------------------


class RecordingSSLSocket(ssl.SSLSocket):
    """A real SSLSocket recording each send's length and whether it wanted to write."""

    log: list[tuple[int, bool]]

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            sent = super().send(data, flags)
        except ssl.SSLWantWriteError:
            self.log.append((len(data), True))
            raise
        self.log.append((len(data), False))
        return sent


def retries_repeat_the_length(log: list[tuple[int, bool]]) -> bool:
    return all(log[i + 1][0] == length for i, (length, want) in enumerate(log[:-1]) if want)


def test_tls_partial_writes_are_retried_with_the_same_length() -> None:
    _, server_ctx, client_ctx = make_tls_pair()
    client_ctx.sslsocket_class = RecordingSSLSocket  # type: ignore[assignment]
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    b.settimeout(WAIT)
    data = payload(4 << 20)
    received: list[bytes] = []
    errors: list[BaseException] = []

    def serve() -> None:  # handshake, then read slowly (small reads) until all came
        try:
            with server_ctx.wrap_socket(b, server_side=True) as srv:
                total = 0
                while total < len(data):
                    part = srv.recv(SMALL)
                    if not part:
                        break
                    received.append(part)
                    total += len(part)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=serve, name="peer-tls-reader", daemon=True)
    reader.start()
    a.settimeout(WAIT)
    with client_ctx.wrap_socket(a, server_hostname="localhost") as client:
        assert isinstance(client, RecordingSSLSocket)
        client.log = []
        client.setblocking(False)
        buf = OutBuffer()
        for chunk in split(data, [1, 300, 70000, 5, 1 << 20, 16384, 262145, 99] * 3):
            buf.append(chunk)
        buf.append(data[buf.size :])
        deadline = time.monotonic() + WAIT * 6
        while buf and not errors:
            assert time.monotonic() < deadline, "the TLS buffer does not drain"
            size = buf.size
            written = buf.write(client)
            assert buf.size == size - written
            if buf:
                select.select([client], [client], [], 0.05)  # either may unblock OpenSSL
        reader.join(WAIT)
        log = client.log
    assert not errors
    assert b"".join(received) == data
    assert any(want for _, want in log), "no SSLWantWriteError: the retry path was not tested"
    assert retries_repeat_the_length(log)


class ScriptedSSLSocket(ssl.SSLSocket):
    """An SSLSocket by type only (never connected): ``send`` fails with SSLWantWriteError
    while ``blocked``, else takes everything; it records the lengths asked for."""

    asked: list[int]
    blocked: bool

    def send(self, data: Any, flags: int = 0) -> int:
        self.asked.append(len(data))
        if self.blocked:
            raise ssl.SSLWantWriteError()
        return len(data)


def test_a_refused_tls_send_is_retried_with_the_same_length() -> None:
    sock = ScriptedSSLSocket.__new__(ScriptedSSLSocket)  # no fd: only send is used
    sock.asked, sock.blocked = [], True
    buf = OutBuffer()
    for _ in range(3):
        buf.append(b"a" * 10)
    assert buf.write(sock) == 0
    assert sock.asked == [30]  # joined, then refused
    buf.append(b"b" * 10)  # the retry asks for the refused 30 bytes, not a new 40-byte join
    assert buf.write(sock) == 0
    sock.blocked = False
    assert buf.write(sock) == 40
    assert sock.asked == [30, 30, 30, 10]
    assert not buf


# -- copies ---------------------------------------------------------------------------
# A slow peer takes a few KiB per send: what is left of a joined head must not be joined
# (copied) again at every send, or 1 MB of 100-byte frames through an 8 KiB socket buffer
# would cost ~47 MB of copying.


class CopyCountingBuffer(OutBuffer):
    def __init__(self) -> None:
        super().__init__()
        self.copied = 0

    def _join_head(self) -> None:
        super()._join_head()
        self.copied += len(self._chunks[0])


def test_small_chunks_are_copied_about_once(pair: Any) -> None:
    w, r = pair
    data = payload(1_000_000)
    buf = CopyCountingBuffer()
    for chunk in split(data, [100] * 10000):
        buf.append(chunk)
    assert deliver(buf, w, r) == data
    assert buf.copied <= 2 * len(data)
