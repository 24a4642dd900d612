"""The bench server (``--serve``): selectors, one thread, nothing per message it can avoid."""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import time
import zlib
from collections import deque

from benchkit.common import JSON_MESSAGES
from tests.wire import encode_server_frame, response_101, xor_mask

# ======================================================================================
# The server (``--serve``): selectors, one thread, nothing per message it can avoid.
# ======================================================================================

BLAST_CHUNK = 262144  # bytes per sendall-sized piece of a blast, frames encoded once
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class Peer:
    """One client connection of the server."""

    __slots__ = (
        "blast_chunk",
        "blast_left",
        "blast_n",
        "blast_size",
        "blast_tail",
        "closing",
        "count",
        "deflate",
        "events",
        "inbuf",
        "mode",
        "out",
        "sock",
        "target",
        "upgraded",
        "wire_bytes",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.out: deque[bytes | memoryview] = deque()
        self.mode = "echo"
        self.target = 0
        self.count = 0
        self.wire_bytes = 0  # frame bytes a sink got
        self.deflate = False
        self.upgraded = False
        self.closing = False
        self.events = READ
        self.blast_size = 0
        self.blast_n = 0
        self.blast_chunk = b""
        self.blast_left = 0
        self.blast_tail = b""


class BenchServer:
    """Modes by path: ``/echo``, ``/sink?n=N`` (then one text "done"),
    ``/blast?size=S&n=N`` (after the client's first frame, N frames of S bytes).
    With ``&deflate=1`` and a client offering permessage-deflate, the server
    agrees to it (``server_no_context_takeover``, so one compressed frame can
    be sent again and again); a blast sends ``JSON_MESSAGES[0]`` compressed,
    and a sink answers ``done <frame bytes it got>``.

    Commands on stdin, one a line: ``restart <downtime_ms>`` closes the listener
    and every connection, answers ``closed <monotonic time>``, and listens
    again on the same port after the downtime. EOF on stdin (the parent is
    gone) or ``max_seconds`` ends the process.
    """

    LISTENER = "listener"
    STDIN = "stdin"

    def __init__(self, max_seconds: float) -> None:
        self.deadline = time.monotonic() + max_seconds
        self.selector = selectors.DefaultSelector()
        self.listener = self._listen(0)
        self.port: int = self.listener.getsockname()[1]
        self.peers: set[Peer] = set()
        self.relisten_at: float | None = None
        self.blasts: dict[int, tuple[bytes, int]] = {}  # size -> (frame, frames per chunk)
        self.commands = b""
        os.set_blocking(0, False)
        self.selector.register(0, READ, self.STDIN)

    def _listen(self, port: int) -> socket.socket:
        listener = socket.create_server(("127.0.0.1", port), backlog=4096)  # SO_REUSEADDR
        listener.setblocking(False)
        self.selector.register(listener, READ, self.LISTENER)
        return listener

    def say(self, line: str) -> None:
        os.write(1, (line + "\n").encode())

    def run(self) -> None:
        self.say(f"port {self.port}")
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                return
            timeout = min(1.0, self.deadline - now)
            if self.relisten_at is not None:
                timeout = max(0.0, min(timeout, self.relisten_at - now))
            for key, events in self.selector.select(timeout):
                data = key.data
                if data is self.LISTENER:
                    self._accept()
                elif data is self.STDIN:
                    if not self._command():
                        return
                else:
                    if events & READ:
                        self._read(data)
                    if events & WRITE and data in self.peers:
                        self._flush(data)
            if self.relisten_at is not None and time.monotonic() >= self.relisten_at:
                self._relisten()

    # -- control ------------------------------------------------------------------

    def _command(self) -> bool:
        try:
            chunk = os.read(0, 4096)
        except BlockingIOError:
            return True
        if not chunk:
            return False  # the parent is gone
        self.commands += chunk
        while b"\n" in self.commands:
            line, self.commands = self.commands.split(b"\n", 1)
            words = line.decode().split()
            if words and words[0] == "restart":
                self._restart(float(words[1]) / 1000)
            elif words and words[0] == "quit":
                return False
        return True

    def _restart(self, downtime: float) -> None:
        closed_at = time.monotonic()
        self.selector.unregister(self.listener)
        self.listener.close()
        for peer in list(self.peers):
            self._drop(peer)
        self.relisten_at = closed_at + downtime
        self.say(f"closed {closed_at!r}")

    def _relisten(self) -> None:
        for _ in range(1000):  # bounded: 1 s of retries
            try:
                self.listener = self._listen(self.port)
                break
            except OSError:
                time.sleep(0.001)
        self.relisten_at = None

    # -- connections ----------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(512):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = Peer(sock)
            self.peers.add(peer)
            self.selector.register(sock, READ, peer)

    def _drop(self, peer: Peer) -> None:
        if peer in self.peers:
            self.peers.discard(peer)
            self.selector.unregister(peer.sock)
            peer.sock.close()

    def _read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            self._drop(peer)
            return
        if not data:
            self._drop(peer)
            return
        peer.inbuf += data
        if not peer.upgraded and not self._handshake(peer):
            return
        self._frames(peer)
        self._flush(peer)

    def _handshake(self, peer: Peer) -> bool:
        buf = peer.inbuf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > 65536:
                self._drop(peer)
            return False
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        target = lines[0].split()[1]
        key = ""
        offered = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
            elif name.strip().lower() == "sec-websocket-extensions":
                offered = offered or "permessage-deflate" in value
        if not key:
            self._drop(peer)
            return False
        path, _, query = target.partition("?")
        params = dict(item.split("=", 1) for item in query.split("&") if "=" in item)
        peer.deflate = offered and params.get("deflate") == "1"
        agreed = "permessage-deflate; server_no_context_takeover"
        peer.out.append(response_101(key, [("Sec-WebSocket-Extensions", agreed)]
                                     if peer.deflate else None))
        peer.mode = path.strip("/") or "echo"
        peer.target = int(params.get("n", "0"))
        if peer.mode == "blast":
            peer.blast_size = int(params.get("size", "0"))
            peer.blast_n = peer.target
        peer.upgraded = True
        return True

    def _start_blast(self, peer: Peer) -> None:
        """Queue the blast: whole chunks of pre-encoded frames, then the rest."""
        size = -1 if peer.deflate else peer.blast_size
        if size not in self.blasts:
            if peer.deflate:
                compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
                data = compressor.compress(JSON_MESSAGES[0].encode())
                data += compressor.flush(zlib.Z_SYNC_FLUSH)
                one = encode_server_frame(1, data[:-4], rsv=4)  # RSV1: compressed
            else:
                opcode = 1 if size <= 125 else 2  # 32 B as text, 64 KiB as binary
                one = encode_server_frame(opcode, (b"x" if opcode == 1 else b"\xa5") * size)
            per_chunk = max(1, BLAST_CHUNK // len(one))
            self.blasts[size] = (one * per_chunk, per_chunk)
        chunk, per_chunk = self.blasts[size]
        whole, rest = divmod(peer.blast_n, per_chunk)
        peer.blast_chunk = chunk
        peer.blast_left = whole
        peer.blast_tail = chunk[: len(chunk) // per_chunk * rest]
        peer.blast_n = 0

    def _frames(self, peer: Peer) -> None:
        buf = peer.inbuf
        size = len(buf)
        pos = 0
        replies: list[bytes] = []
        mode = peer.mode
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            masked = b1 & 0x80
            end = pos + head + (4 if masked else 0) + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 0 or opcode > 2 or mode == "echo":
                start = end - n
                payload = bytes(buf[start:end])
                if masked:
                    payload = xor_mask(bytes(buf[start - 4 : start]), payload)
                if opcode == 8:  # close: answer it, then end the connection
                    replies.append(encode_server_frame(8, payload[:2]))
                    peer.closing = True
                    pos = end
                    break
                if opcode == 9:
                    replies.append(encode_server_frame(10, payload))
                elif mode == "echo" and opcode in (0, 1, 2):
                    replies.append(encode_server_frame(opcode, payload))
            elif mode == "sink":
                peer.count += 1
                peer.wire_bytes += end - pos
                if peer.count == peer.target:
                    done = f"done {peer.wire_bytes}" if peer.deflate else "done"
                    replies.append(encode_server_frame(1, done.encode()))
            elif mode == "blast" and peer.blast_n:
                self._start_blast(peer)  # the client's first frame says "go"
            pos = end
        del buf[:pos]
        if replies:
            peer.out.append(b"".join(replies))

    def _flush(self, peer: Peer) -> None:
        out = peer.out
        sock = peer.sock
        while True:
            if not out:
                if peer.blast_left:
                    peer.blast_left -= 1
                    out.append(peer.blast_chunk)
                elif peer.blast_tail:
                    out.append(peer.blast_tail)
                    peer.blast_tail = b""
                else:
                    break
            piece = out[0]
            try:
                sent = sock.send(piece)
            except BlockingIOError:
                break
            except OSError:
                self._drop(peer)
                return
            if sent < len(piece):
                out[0] = memoryview(piece)[sent:]
                break
            out.popleft()
        pending = bool(out or peer.blast_left or peer.blast_tail)
        if peer.closing and not pending:
            self._drop(peer)
            return
        events = READ | WRITE if pending else READ
        if events != peer.events:
            peer.events = events
            self.selector.modify(sock, events, peer)


def die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def serve_main(max_seconds: float) -> int:
    die_with_parent()  # and EOF on stdin, for when prctl is not there
    BenchServer(max_seconds).run()
    return 0


