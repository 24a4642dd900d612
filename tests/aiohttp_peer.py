"""aiohttp's server as a second independent peer (HTTP and WebSocket) on 127.0.0.1.

Routes: ``/ws`` echoes WebSocket messages; ``/flood`` sends 16 KiB binary
messages as fast as the client takes them, until it closes; ``/deny`` refuses
an upgrade with 401, two ``set-cookie`` headers and a chunked body;
``/needs-cookie`` upgrades only a request carrying the cookie ``/deny`` set.

Plain HTTP: ``/hello`` answers ``hello <path>``; ``/delayed`` the same after
``?ms=`` (default 500) milliseconds; ``/close`` answers with ``connection:
close`` (after ``?ms=``, default 0); ``/chunked`` sends ``?parts=`` (default 3) chunks ``part<i> ``
``?gap=`` ms apart; ``/echo`` answers any method with the request body and
``x-method``, ``x-length``, ``x-headers`` (the request's header names as sent,
comma-separated); ``/large`` sends ``?size=`` bytes (default 1 MiB) in
64 KiB chunks; ``/login`` (any method) sets the cookie ``session=s1``, which
``/chat`` (as ``/needs-cookie``) requires; ``/whoami`` answers
the ``session`` cookie it got; ``/die`` sends a head promising 100 bytes,
10 of them, then drops the connection.

`AiohttpServer` runs it in a thread of the test process; `AiohttpProcess`
(``python -m tests.aiohttp_peer``) in a process of its own, for tests that
count the client's threads and file descriptors.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from types import TracebackType

from aiohttp import WSMsgType, web

WAIT = 10.0


async def _echo(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


async def _flood(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    payload = bytes(16384)
    while not ws.closed:
        try:
            await ws.send_bytes(payload)  # waits while the client does not read
        except (ConnectionError, RuntimeError):
            break
        # A client that reads as fast as this writes never fills the socket, so the
        # send above never waits: give the loop's other connections their turn.
        await asyncio.sleep(0)
    return ws


async def _deny(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=401, headers={"www-authenticate": "Bearer"})
    response.set_cookie("session", "s1")
    response.set_cookie("theme", "dark")
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"log in ")
    await response.write(b"first")
    await response.write_eof()
    return response


async def _needs_cookie(request: web.Request) -> web.StreamResponse:
    if request.cookies.get("session") != "s1":
        return web.Response(status=403, text="no session")
    return await _echo(request)


async def _hello(request: web.Request) -> web.StreamResponse:
    return web.Response(text=f"hello {request.path}")


async def _delayed(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(int(request.query.get("ms", "500")) / 1000)
    return web.Response(text=f"hello {request.path}")


async def _close(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(int(request.query.get("ms", "0")) / 1000)
    return web.Response(text="bye", headers={"connection": "close"})


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    gap = int(request.query.get("gap", "0")) / 1000
    for index in range(int(request.query.get("parts", "3"))):
        await response.write(b"part%d " % index)
        await asyncio.sleep(gap)
    await response.write_eof()
    return response


async def _echo_body(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    names = ",".join(request.raw_headers[i][0].decode("latin-1")
                     for i in range(len(request.raw_headers)))
    headers = {"x-method": request.method, "x-length": str(len(body)), "x-headers": names}
    return web.Response(body=body, headers=headers)


async def _large(request: web.Request) -> web.StreamResponse:
    size = int(request.query.get("size", str(1 << 20)))
    response = web.StreamResponse(headers={"content-length": str(size)})
    await response.prepare(request)
    chunk = bytes(65536)
    while size > 0:
        await response.write(chunk[:size])
        size -= len(chunk)
    await response.write_eof()
    return response


async def _login(request: web.Request) -> web.StreamResponse:
    response = web.Response(text="welcome")
    response.set_cookie("session", "s1")
    return response


async def _whoami(request: web.Request) -> web.StreamResponse:
    return web.Response(text=request.cookies.get("session", "nobody"))


async def _die(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-length": "100"})
    await response.prepare(request)
    await response.write(b"0123456789")
    transport = request.transport
    assert transport is not None
    transport.abort()
    return response


class AiohttpServer:
    """aiohttp's server in a thread of its own; ``stop`` ends it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/ws", _echo)
        app.router.add_get("/flood", _flood)
        app.router.add_get("/deny", _deny)
        app.router.add_get("/needs-cookie", _needs_cookie)
        app.router.add_get("/hello", _hello)
        app.router.add_get("/delayed", _delayed)
        app.router.add_get("/close", _close)
        app.router.add_get("/chunked", _chunked)
        app.router.add_route("*", "/echo", _echo_body)
        app.router.add_get("/large", _large)
        app.router.add_route("*", "/login", _login)
        app.router.add_get("/chat", _needs_cookie)
        app.router.add_get("/whoami", _whoami)
        app.router.add_get("/die", _die)
        self._runner = web.AppRunner(app)
        ready = threading.Event()
        self.port = 0

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            server = site._server
            assert server is not None and server.sockets
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

        self._thread = threading.Thread(target=run, name="peer-aiohttp", daemon=True)
        self._thread.start()
        if not ready.wait(WAIT):
            raise RuntimeError("aiohttp's server did not start")

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)

    def __enter__(self) -> AiohttpServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class AiohttpProcess:
    """The same server in a child process (its port read from its first line)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.aiohttp_peer"],
            stdin=subprocess.PIPE,  # closed when this process ends, however it ends
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.process.kill()
            raise RuntimeError(f"aiohttp's server process did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(WAIT)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> AiohttpProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    server = AiohttpServer()
    print(f"port {server.port}", flush=True)
    sys.stdin.read()  # until the test process closes the pipe or dies
