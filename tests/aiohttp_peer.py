"""aiohttp's server as a second independent peer (HTTP and WebSocket) on 127.0.0.1.

Routes: ``/ws`` echoes WebSocket messages; ``/deny`` refuses an upgrade with
401, two ``set-cookie`` headers and a chunked body; ``/needs-cookie``
upgrades only a request carrying the cookie ``/deny`` set.
"""

from __future__ import annotations

import asyncio
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


class AiohttpServer:
    """aiohttp's server in a thread of its own; ``stop`` ends it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/ws", _echo)
        app.router.add_get("/deny", _deny)
        app.router.add_get("/needs-cookie", _needs_cookie)
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
