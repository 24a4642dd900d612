"""(f) HTTP/1.1 GET round trips on one keep-alive connection, against aiohttp's server.

gunpy (``gun.get``, then ``gun.await_`` for the response and ``gun.await_body``
for its body, as Gun's users write it) against the standard library's
``http.client.HTTPConnection`` (``request``, ``getresponse``, ``read``), both
on one connection to the same `HttpServerProcess`, many times in a row.
"""

from __future__ import annotations

import http.client
import socket
import time

from benchkit.clients import WARMUP, Ctx, Result, gunpy_close, gunpy_open, rt_stats
from benchkit.common import BenchError
from benchkit.process import HttpServerProcess, Watchdog
from gunpy.actors import gun

HTTP_RAW = "http.client"
PATH = "/hello"  # aiohttp_peer answers 200 "hello /hello", content-length 12
BODY = b"hello " + PATH.encode()
WAIT = 10.0  # seconds any one answer may take


def http_server(ctx: Ctx) -> HttpServerProcess:
    if ctx.http is None:
        raise BenchError("no HTTP server: the bench did not start aiohttp's")
    return ctx.http


def get_gunpy(ctx: Ctx, n: int) -> Result:
    conn = gunpy_open(http_server(ctx).port)
    get, await_, await_body = gun.get, gun.await_, gun.await_body
    samples = [0] * n
    clock = time.perf_counter_ns
    body: object = None
    try:
        with Watchdog(ctx.limit, lambda: gun.close(conn)):
            for _ in range(WARMUP):
                ref = get(conn, PATH)
                if await_(conn, ref, WAIT)[1] == "nofin":
                    await_body(conn, ref, WAIT)
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                start = clock()
                ref = get(conn, PATH)
                response = await_(conn, ref, WAIT)
                if response[1] == "nofin":
                    body = await_body(conn, ref, WAIT)
                samples[i] = clock() - start
                if response[0] != "response" or response[2] != 200:
                    raise BenchError(f"gunpy: answer {response!r}")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if body != ("ok", BODY):
                raise BenchError(f"gunpy: body {body!r}")
    finally:
        gunpy_close(conn)
    return rt_stats(samples, wall, cpu)


def get_raw(ctx: Ctx, n: int) -> Result:
    conn = http.client.HTTPConnection("127.0.0.1", http_server(ctx).port, timeout=WAIT)
    conn.connect()  # sets TCP_NODELAY, as gunpy does

    def abort() -> None:
        if conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)

    samples = [0] * n
    clock = time.perf_counter_ns
    try:
        with Watchdog(ctx.limit, abort):
            for _ in range(WARMUP):
                conn.request("GET", PATH)
                conn.getresponse().read()
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                start = clock()
                conn.request("GET", PATH)
                response = conn.getresponse()
                body = response.read()
                samples[i] = clock() - start
                if response.status != 200:
                    raise BenchError(f"{HTTP_RAW}: status {response.status}")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if body != BODY:
                raise BenchError(f"{HTTP_RAW}: body {body!r}")
    finally:
        conn.close()
    return rt_stats(samples, wall, cpu)
