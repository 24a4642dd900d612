"""Soak: many connection lifetimes and reconnects in one process leave nothing behind.

GUNPY_SOAK_SCALE=10 (or more) runs a longer soak; the default takes seconds.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from websockets.sync.server import ServerConnection

from gunpy.actors import Mailbox, gun, monitor
from tests.helpers import WAIT, exit_reason, open_ws
from tests.peers import EchoServer, LeakCheck

SCALE = int(os.environ.get("GUNPY_SOAK_SCALE", "1"))


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _cycle(port: int, index: int) -> None:
    conn, ref, _ = open_ws(port)
    gun.ws_send(conn, ref, ("text", f"cycle {index}"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", f"cycle {index}"))
    gun.ws_send(conn, ref, "close")
    assert exit_reason(conn) == "normal"
    gun.flush(conn)


ECHO_SERVER = """
import sys
from websockets.sync.server import serve
def echo(ws):
    for message in ws:
        ws.send(message)
with serve(echo, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"""


@pytest.fixture
def echo_process() -> Iterator[int]:
    """An echo server in its own process, so the peer's memory is not counted as ours."""
    process = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(WAIT)
        if process.stdout is not None:
            process.stdout.close()


def test_open_upgrade_echo_close_cycles(echo_process: int) -> None:
    for i in range(50):  # warm-up: imports, caches, allocator arenas
        _cycle(echo_process, i)
    gc.collect()
    leak_check = LeakCheck()
    rss_before = _rss_kib()
    for i in range(1000 * SCALE):
        _cycle(echo_process, i)
    leak_check.assert_clean()
    gc.collect()
    growth = _rss_kib() - rss_before
    assert growth < 8 * 1024, f"RSS grew by {growth} KiB over {1000 * SCALE} cycles"
    assert Mailbox.current().messages() == []


def test_server_drops_with_reconnect() -> None:
    drops = 200 * SCALE

    def echo_once_then_drop(ws: ServerConnection) -> None:
        ws.send(ws.recv())
        ws.socket.shutdown(socket.SHUT_RDWR)

    server = EchoServer(handler=echo_once_then_drop)
    box = Mailbox.current()
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 3, "retry_timeout": 10})
        mref = monitor(conn)
        seen = 0
        while seen < drops:
            message = box.receive(timeout=WAIT)
            match message:
                case ("gun_up", _, "http"):
                    ref = gun.ws_upgrade(conn, "/")
                case ("gun_upgrade", _, ref, _, _):
                    gun.ws_send(conn, ref, ("text", f"drop {seen}"))
                case ("gun_ws", _, _, ("text", text)):
                    assert text == f"drop {seen}"
                case ("gun_down", _, "ws", "closed", [_]):
                    seen += 1
                case _:
                    raise AssertionError(f"unexpected {message!r}")
        # One connection, one thread (its actor), whatever the number of reconnects:
        # every socket is served by the process-wide I/O loop.
        ours = [t.name for t in threading.enumerate() if t.name.startswith("ConnectionActor")]
        assert len(ours) == 1, ours
        gun.close(conn)
        assert box.receive(lambda m: m[:2] == ("DOWN", mref), WAIT)[4] == "shutdown"
    finally:
        server.stop()
