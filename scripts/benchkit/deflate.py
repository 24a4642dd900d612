"""(g) permessage-deflate: gunpy against the websockets sync client, same payload, same server.

Both clients offer permessage-deflate with their defaults (gunpy: Gun's offer,
zlib level 6, 15 window bits, mem_level 5; websockets: the same window and
mem_level 5) to the bench server, which agrees with
``server_no_context_takeover``. Receive: the server blasts one ~1 KiB JSON
message compressed (the same frame again and again). Send: each client sends
the 64 `JSON_MESSAGES` in turn, compressed with context takeover; the sink
counts the frame bytes it got, so the table shows bytes on the wire per
message for each client.

`send_floor` is no client: after websockets' handshake it writes the frames
itself, with zlib at the same settings, websockets' C mask and one
``sendall`` each. It is the floor any client's compressed send stands on
(zlib and the socket), shown for reference.
"""

from __future__ import annotations

import os
import struct
import time
import zlib

from websockets.speedups import apply_mask
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websockets_connect

from benchkit import clients
from benchkit.clients import (
    Ctx,
    Result,
    expect_gun_ws,
    gunpy_close,
    gunpy_upgrade,
    throughput,
    websockets_abort,
)
from benchkit.common import JSON_MESSAGES, BenchError
from benchkit.process import Watchdog
from gunpy.actors import Mailbox, gun
from gunpy.protocol import Frame

COMPRESS = {"ws_opts": {"compress": True}}
SIZE = len(JSON_MESSAGES[0].encode())


def _agreed(headers: list[tuple[str, str]], name: str) -> None:
    if not any(n.lower() == "sec-websocket-extensions" for n, _ in headers):
        raise BenchError(f"{name}: permessage-deflate was not agreed")


def _websockets(url: str) -> ClientConnection:
    ws = websockets_connect(url, compression="deflate", open_timeout=10, close_timeout=2,
                            max_size=None, legacy=True)
    _agreed(list(ws.response.headers.raw_items()), "websockets")
    return ws


def recv_gunpy(ctx: Ctx, n: int) -> Result:
    return clients.recv_gunpy(ctx, n, SIZE, "msg/s", "&deflate=1", COMPRESS)


def recv_websockets(ctx: Ctx, n: int) -> Result:
    ws = _websockets(ctx.server.url + f"/blast?deflate=1&n={n}")
    return clients.recv_blocking(ctx, n, SIZE, "msg/s", ws, lambda: websockets_abort(ws),
                                 "websockets")


def _sent(n: int, done: object, wall: float, cpu: float, name: str) -> Result:
    if not (isinstance(done, str) and done.startswith("done ")):
        raise BenchError(f"{name}: sink said {done!r}")
    result = throughput(n, SIZE, wall, cpu, "msg/s")
    payload = sum(len(JSON_MESSAGES[i % 64].encode()) for i in range(n)) / n
    result.extra["wire_bytes_per_msg"] = int(done.split()[1]) / n
    result.extra["payload_bytes_per_msg"] = payload
    return result


def send_gunpy(ctx: Ctx, n: int) -> Result:
    conn, ref = gunpy_upgrade(ctx.server.port, f"/sink?deflate=1&n={n}", COMPRESS)
    send = gun.ws_send
    frames: list[Frame] = [("text", message) for message in JSON_MESSAGES]
    try:
        with Watchdog(ctx.limit, lambda: gun.close(conn)):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                send(conn, ref, frames[i & 63])
            done = expect_gun_ws(Mailbox.current().receive(None, ctx.limit))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        gunpy_close(conn)
    return _sent(n, done[1], wall, cpu, "gunpy")


def send_websockets(ctx: Ctx, n: int) -> Result:
    ws = _websockets(ctx.server.url + f"/sink?deflate=1&n={n}")
    try:
        with Watchdog(ctx.limit, lambda: websockets_abort(ws)):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                ws.send(JSON_MESSAGES[i & 63])
            done = ws.recv()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ws.close()
    return _sent(n, done, wall, cpu, "websockets")


_HEAD_16 = struct.Struct("!BBH")


def send_floor(ctx: Ctx, n: int) -> Result:
    ws = _websockets(ctx.server.url + f"/sink?deflate=1&n={n}")
    sock = ws.socket
    # The compressor websockets (and gunpy, by default) makes: level 6, mem_level 5.
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15, 5)
    payloads = [message.encode() for message in JSON_MESSAGES]
    try:
        with Watchdog(ctx.limit, lambda: websockets_abort(ws)):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                data = compressor.compress(payloads[i & 63])
                data = (data + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
                if not 126 <= len(data) < 65536:
                    raise BenchError(f"floor: a compressed message of {len(data)} bytes")
                key = os.urandom(4)
                sock.sendall(_HEAD_16.pack(0xC1, 0xFE, len(data)) + key + apply_mask(data, key))
            done = ws.recv()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ws.close()
    return _sent(n, done, wall, cpu, "floor")
