"""The clients: one function per (measurement, client), nothing wrapping the calls measured."""

from __future__ import annotations

import contextlib
import queue
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websockets_connect

from benchkit.common import TEXT32, BenchError
from benchkit.process import HttpServerProcess, ServerProcess, Watchdog
from gunpy.actors import ConnectionRef, Mailbox, gun
from gunpy.protocol import Frame, Ref

# ======================================================================================
# The clients. One function per (measurement, client): nothing wraps the calls a
# user would make, so no client pays for an abstraction the others do not.
# ======================================================================================


@dataclass
class Ctx:
    server: ServerProcess
    limit: float  # seconds a run may take before its watchdog cuts it
    http: HttpServerProcess | None = None  # aiohttp's server, for the HTTP measure

    def server_cpu_seconds(self) -> float:
        """CPU seconds of every server process (an idle one costs nothing)."""
        return self.server.cpu_seconds() + (self.http.cpu_seconds() if self.http else 0.0)


@dataclass
class Result:
    value: float  # the figure: µs, msg/s, MB/s or ms
    wall: float  # seconds of the timed part
    cpu: float  # client CPU seconds (all threads) in the timed part
    messages: int
    extra: dict[str, float] = field(default_factory=dict)


def gunpy_open(port: int, opts: dict[str, Any] | None = None) -> ConnectionRef:
    """A gunpy connection to 127.0.0.1, once up (HTTP/1.1)."""
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    up = gun.await_up(conn, 10)
    if up != ("ok", "http"):
        gun.close(conn)
        raise BenchError(f"gunpy: not up: {up!r}")
    return conn


def gunpy_upgrade(
    port: int, path: str, opts: dict[str, Any] | None = None
) -> tuple[ConnectionRef, Ref]:
    conn = gunpy_open(port, opts)
    ref = gun.ws_upgrade(conn, path)
    answer = gun.await_(conn, ref, 10)
    if answer[0] != "upgrade":
        gun.close(conn)
        raise BenchError(f"gunpy: not upgraded: {answer!r}")
    return conn, ref


def gunpy_close(conn: ConnectionRef) -> None:
    gun.close(conn)
    Mailbox.current().flush()  # nothing of this run may leak into the next


def expect_gun_ws(message: Any) -> Any:
    if message[0] != "gun_ws":
        raise BenchError(f"gunpy: unexpected message {message!r}")
    return message[3]


def raw_abort(ws: websocket.WebSocket) -> None:
    if ws.sock is not None:
        ws.sock.shutdown(socket.SHUT_RDWR)


def websockets_connect_plain(url: str) -> ClientConnection:
    # legacy=True: the direct (non-context-manager) use, without websockets 17's warning.
    return websockets_connect(
        url, compression=None, open_timeout=10, close_timeout=2, legacy=True
    )


def websockets_abort(ws: ClientConnection) -> None:
    ws.socket.shutdown(socket.SHUT_RDWR)


# -- (a) round trip -------------------------------------------------------------------

WARMUP = 200


def rt_stats(samples: list[int], wall: float, cpu: float) -> Result:
    n = len(samples)
    ordered = sorted(samples)
    return Result(
        value=statistics.median(ordered) / 1000,
        wall=wall,
        cpu=cpu,
        messages=n,
        extra={"mean_us": wall / n * 1e6, "p99_us": ordered[int(n * 0.99)] / 1000},
    )


def rt_gunpy(ctx: Ctx, n: int) -> Result:
    conn, ref = gunpy_upgrade(ctx.server.port, "/echo")
    receive, send = Mailbox.current().receive, gun.ws_send
    frame: Frame = ("text", TEXT32)
    samples = [0] * n
    clock = time.perf_counter_ns
    try:
        with Watchdog(ctx.limit, lambda: gun.close(conn)):
            for _ in range(WARMUP):
                send(conn, ref, frame)
                expect_gun_ws(receive(None, 10.0))
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                start = clock()
                send(conn, ref, frame)
                message = receive(None, 10.0)
                samples[i] = clock() - start
                if message[0] != "gun_ws":
                    expect_gun_ws(message)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if message[3] != frame:
                raise BenchError(f"gunpy: echo {message!r}")
    finally:
        gunpy_close(conn)
    return rt_stats(samples, wall, cpu)


def rt_raw(ctx: Ctx, n: int, skip_utf8: bool = False) -> Result:
    ws = websocket.create_connection(ctx.server.url + "/echo", skip_utf8_validation=skip_utf8)
    return rt_blocking(ctx, n, ws, lambda: raw_abort(ws), "websocket-client")


def rt_blocking(ctx: Ctx, n: int, ws: Any, abort: Callable[[], None], name: str) -> Result:
    """Round trips with a client whose send and recv block in this thread; closes ``ws``."""
    samples = [0] * n
    clock = time.perf_counter_ns
    try:
        with Watchdog(ctx.limit, abort):
            for _ in range(WARMUP):
                ws.send(TEXT32)
                ws.recv()
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                start = clock()
                ws.send(TEXT32)
                echo = ws.recv()
                samples[i] = clock() - start
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if echo != TEXT32:
                raise BenchError(f"{name}: echo {echo!r}")
    finally:
        ws.close()
    return rt_stats(samples, wall, cpu)


def rt_raw_reader_thread(ctx: Ctx, n: int) -> Result:
    """websocket-client with its recv() in a second thread, handing each message to the
    sender through a SimpleQueue: the floor of any design that reads in a thread."""
    ws = websocket.create_connection(ctx.server.url + "/echo")
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def reader() -> None:
        try:
            while True:
                inbox.put(ws.recv())
        except Exception as exc:  # the socket was shut down: the run is over
            inbox.put(exc)

    thread = threading.Thread(target=reader, name="bench-reader", daemon=True)
    thread.start()
    samples = [0] * n
    clock = time.perf_counter_ns
    get = inbox.get
    try:
        with Watchdog(ctx.limit, lambda: raw_abort(ws)):
            for _ in range(WARMUP):
                ws.send(TEXT32)
                get(True, 10.0)
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                start = clock()
                ws.send(TEXT32)
                echo = get(True, 10.0)
                samples[i] = clock() - start
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if echo != TEXT32:
                raise BenchError(f"websocket-client: echo {echo!r}")
    finally:
        raw_abort(ws)
        thread.join(5)
        ws.shutdown()  # type: ignore[no-untyped-call]
    return rt_stats(samples, wall, cpu)


def rt_websockets(ctx: Ctx, n: int) -> Result:
    ws = websockets_connect_plain(ctx.server.url + "/echo")
    return rt_blocking(ctx, n, ws, lambda: websockets_abort(ws), "websockets")


def throughput(n: int, size: int, wall: float, cpu: float, unit: str) -> Result:
    value = n / wall if unit == "msg/s" else n * size / wall / 1e6
    return Result(value, wall, cpu, n, {"msg_per_s": n / wall, "mb_per_s": n * size / wall / 1e6})


def recv_gunpy(ctx: Ctx, n: int, size: int, unit: str, query: str = "",
               opts: dict[str, Any] | None = None) -> Result:
    """One blast of ``n`` messages of ``size`` bytes (``query``: more of the blast's
    parameters, such as ``deflate=1``; ``opts``: ``gun.open``'s)."""
    conn, ref = gunpy_upgrade(ctx.server.port, f"/blast?size={size}&n={n}{query}", opts)
    receive = Mailbox.current().receive
    try:
        with Watchdog(ctx.limit, lambda: gun.close(conn)):
            cpu, wall = time.process_time(), time.perf_counter()
            gun.ws_send(conn, ref, ("text", "go"))
            for _ in range(n):
                message = receive(None, 10.0)
                if message[0] != "gun_ws":
                    expect_gun_ws(message)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if len(message[3][1]) != size:
                raise BenchError(f"gunpy: got {message!r}")
    finally:
        gunpy_close(conn)
    return throughput(n, size, wall, cpu, unit)


def recv_raw(ctx: Ctx, n: int, size: int, unit: str, skip_utf8: bool = False) -> Result:
    url = ctx.server.url + f"/blast?size={size}&n={n}"
    ws = websocket.create_connection(url, skip_utf8_validation=skip_utf8)
    return recv_blocking(ctx, n, size, unit, ws, lambda: raw_abort(ws), "websocket-client")


def recv_websockets(ctx: Ctx, n: int, size: int, unit: str) -> Result:
    ws = websockets_connect_plain(ctx.server.url + f"/blast?size={size}&n={n}")
    return recv_blocking(ctx, n, size, unit, ws, lambda: websockets_abort(ws), "websockets")


def recv_blocking(
    ctx: Ctx, n: int, size: int, unit: str, ws: Any, abort: Callable[[], None], name: str
) -> Result:
    """One blast received by a blocking client (``send``/``recv``/``close``), then closed."""
    try:
        with Watchdog(ctx.limit, abort):
            cpu, wall = time.process_time(), time.perf_counter()
            ws.send("go")
            for _ in range(n):
                data = ws.recv()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if len(data) != size:
                raise BenchError(f"{name}: got {len(data)} bytes")
    finally:
        ws.close()
    return throughput(n, size, wall, cpu, unit)


# -- (c) send ---------------------------------------------------------------------------


def send_gunpy(ctx: Ctx, n: int) -> Result:
    conn, ref = gunpy_upgrade(ctx.server.port, f"/sink?n={n}")
    send = gun.ws_send
    frame: Frame = ("text", TEXT32)
    try:
        with Watchdog(ctx.limit, lambda: gun.close(conn)):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                send(conn, ref, frame)
            done = expect_gun_ws(Mailbox.current().receive(None, ctx.limit))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if done != ("text", "done"):
                raise BenchError(f"gunpy: sink said {done!r}")
    finally:
        gunpy_close(conn)
    return throughput(n, 32, wall, cpu, "msg/s")


def send_raw(ctx: Ctx, n: int) -> Result:
    ws = websocket.create_connection(ctx.server.url + f"/sink?n={n}")
    try:
        with Watchdog(ctx.limit, lambda: raw_abort(ws)):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                ws.send(TEXT32)
            done = ws.recv()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if done != "done":
                raise BenchError(f"websocket-client: sink said {done!r}")
    finally:
        ws.close()
    return throughput(n, 32, wall, cpu, "msg/s")


def send_websockets(ctx: Ctx, n: int) -> Result:
    ws = websockets_connect_plain(ctx.server.url + f"/sink?n={n}")
    try:
        with Watchdog(ctx.limit, lambda: websockets_abort(ws)):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                ws.send(TEXT32)
            done = ws.recv()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if done != "done":
                raise BenchError(f"websockets: sink said {done!r}")
    finally:
        ws.close()
    return throughput(n, 32, wall, cpu, "msg/s")


# -- (e) reconnect ------------------------------------------------------------------------

RETRY_EVERY = 0.010  # seconds between attempts, for every client (gunpy: retry_timeout 10)


def reconnect_gunpy(ctx: Ctx, downtime_ms: float) -> Result:
    """Gun's retry reconnects; the owner upgrades again on ``gun_up``."""
    opts = {"retry": 1000, "retry_timeout": int(RETRY_EVERY * 1000)}
    conn, _ = gunpy_upgrade(ctx.server.port, "/echo", opts)
    receive = Mailbox.current().receive
    new_ref: Ref | None = None
    try:
        ctx.server.restart(downtime_ms)
        deadline = time.monotonic() + ctx.limit
        while True:
            message = receive(None, max(0.0, deadline - time.monotonic()))
            tag = message[0]
            if tag == "gun_up":
                new_ref = gun.ws_upgrade(conn, "/echo")
            elif tag == "gun_upgrade" and message[2] is new_ref:
                upgraded = time.monotonic()
                break
            elif tag not in ("gun_down", "gun_ws"):
                raise BenchError(f"gunpy: unexpected {message!r}")
    finally:
        gunpy_close(conn)
    return Result((upgraded - ctx.server.closed_at()) * 1000, 0.0, 0.0, 1)


def reconnect_loop(
    ctx: Ctx, attempt: Callable[[], Any], errors: tuple[type[BaseException], ...]
) -> Any:
    """Attempt now, then every RETRY_EVERY seconds, until connected (bounded)."""
    deadline = time.monotonic() + ctx.limit
    while True:
        try:
            return attempt()
        except errors:
            if time.monotonic() > deadline:
                raise BenchError("no reconnection within the limit") from None
            time.sleep(RETRY_EVERY)


def reconnect_raw(ctx: Ctx, downtime_ms: float) -> Result:
    url = ctx.server.url + "/echo"
    ws = websocket.create_connection(url)
    ctx.server.restart(downtime_ms)
    with Watchdog(ctx.limit, lambda: raw_abort(ws)), contextlib.suppress(
        websocket.WebSocketException, OSError
    ):
        ws.recv()  # ends when the server closes
    ws.shutdown()  # type: ignore[no-untyped-call]
    errors = (OSError, websocket.WebSocketException)
    ws = reconnect_loop(ctx, lambda: websocket.create_connection(url), errors)
    upgraded = time.monotonic()
    ws.close()
    return Result((upgraded - ctx.server.closed_at()) * 1000, 0.0, 0.0, 1)


def reconnect_websockets(ctx: Ctx, downtime_ms: float) -> Result:
    url = ctx.server.url + "/echo"
    ws = websockets_connect_plain(url)
    ctx.server.restart(downtime_ms)
    with Watchdog(ctx.limit, lambda: websockets_abort(ws)), contextlib.suppress(
        WebSocketException, OSError
    ):
        ws.recv()  # ends when the server closes
    ws.close()
    errors = (OSError, WebSocketException, TimeoutError)
    ws = reconnect_loop(ctx, lambda: websockets_connect_plain(url), errors)
    upgraded = time.monotonic()
    ws.close()
    return Result((upgraded - ctx.server.closed_at()) * 1000, 0.0, 0.0, 1)


# -- (d) concurrent connections: ``--hold CLIENT``, one child process per run -------------


