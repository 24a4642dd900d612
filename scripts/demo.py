"""gunpy demo: a whole WebSocket exchange against an echo server on 127.0.0.1.

Run it with ``scripts/demo``. It starts a local echo server (the ``websockets``
library's threading server), opens a Gun connection owned by this thread's
Mailbox, upgrades, sends text, binary, a ping and a close, and prints every
tuple the owner receives. Then it shows what a server drop looks like.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

from websockets.sync.server import ServerConnection, serve

from gunpy.actors import Mailbox, gun, monitor


def echo(ws: ServerConnection) -> None:
    for message in ws:
        if message == "drop, please":
            ws.socket.shutdown(socket.SHUT_RDWR)  # abrupt: no close frame
            return
        ws.send(message)


def show(message: Any) -> None:
    print("  owner got:", message)


def main() -> int:
    server = serve(echo, "127.0.0.1", 0, ping_interval=None, compression=None)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, name="demo-server", daemon=True)
    thread.start()
    mailbox = Mailbox.current()
    try:
        print(f"echo server on 127.0.0.1:{port}")
        conn = gun.open("127.0.0.1", port, {"retry": 0, "ws_opts": {"silence_pings": False}})
        monitor(conn)
        show(mailbox.receive(timeout=5))  # ("gun_up", conn, "http")

        ref = gun.ws_upgrade(conn, "/echo", [("x-demo", "gunpy")])
        show(mailbox.receive(timeout=5))  # ("gun_upgrade", conn, ref, ["websocket"], headers)

        frames = [("text", "Hello, Gun!"), ("binary", b"\x00\x01\x02"), ("ping", b"hi")]
        gun.ws_send(conn, ref, frames)
        for _ in range(3):
            show(mailbox.receive(timeout=5))  # text and binary echoed, then the pong
        print("info:", {k: v for k, v in gun.info(conn).items() if k in ("state_name", "protocol")})

        gun.ws_send(conn, ref, ("close", 1000, "demo done"))
        show(mailbox.receive(timeout=5))  # the server's close, echoed
        show(mailbox.receive(timeout=5))  # ("gun_down", conn, "ws", "normal", [ref])
        show(mailbox.receive(timeout=5))  # ("DOWN", watch, "process", conn, "normal"): retry 0

        print("\nthe server drops the TCP connection; Gun's retry reconnects at once:")
        conn = gun.open("127.0.0.1", port, {"retry": 5, "retry_timeout": 1000})
        show(mailbox.receive(timeout=5))  # gun_up
        ref = gun.ws_upgrade(conn, "/")
        show(mailbox.receive(timeout=5))  # gun_upgrade
        gun.ws_send(conn, ref, ("text", "drop, please"))
        show(mailbox.receive(timeout=5))  # ("gun_down", conn, "ws", "closed", [ref])
        show(mailbox.receive(timeout=5))  # ("gun_up", conn, "http"): reconnected
        print("  as in Gun, the connection is plain HTTP again: the owner upgrades again")
        ref = gun.ws_upgrade(conn, "/")
        show(mailbox.receive(timeout=5))  # gun_upgrade
        gun.ws_send(conn, ref, ("text", "back again"))
        show(mailbox.receive(timeout=5))
        gun.shutdown(conn)  # close 1001, no gun_down
        show(mailbox.receive(timeout=5))  # the server's close reply
    finally:
        server.shutdown()
        thread.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
