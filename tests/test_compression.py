"""permessage-deflate against real servers: websockets', aiohttp's and Node's ws.

``ws_opts`` ``compress`` offers it, the server decides; what it agreed is in
the ``gun_upgrade`` headers, messages go compressed both ways, and the
parameters a server may answer with (context takeover, window bits) are
honoured for many messages in a row, which only a real peer's codec checks.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import ServerConnection

from gunpy.actors import gun
from tests.aiohttp_peer import AiohttpServer
from tests.faultproxy import FaultProxy
from tests.helpers import WAIT, exit_reason, open_ws, receive
from tests.peers import EchoServer, RawServer, read_http_request, send_101, wait_for

JSON = json.dumps(
    [{"id": i, "symbol": "ABC", "price": 1000 + i % 7, "tags": ["x", "y"]} for i in range(3000)]
)
BINARY = bytes(range(256)) * 400  # 100 KiB, compressible


def _extension(headers: list[tuple[str, str]]) -> str | None:
    return next((v for n, v in headers if n == "sec-websocket-extensions"), None)


def _upgrade(port: int, ws_opts: dict[str, Any] | None = None, opts: Any = None) -> Any:
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/ws", None, {"compress": True, **(ws_opts or {})})
    return conn, ref, gun.await_(conn, ref, WAIT)


def _echo_round(conn: Any, ref: Any, messages: list[Any]) -> None:
    gun.ws_send(conn, ref, messages)
    for message in messages:
        assert gun.await_(conn, ref, WAIT) == ("ws", message)


def test_websockets_server_agrees_and_messages_are_compressed_both_ways() -> None:
    with EchoServer(compression="deflate") as server, FaultProxy(server.port) as proxy:
        conn, ref, answer = _upgrade(proxy.port)
        assert answer[:2] == ("upgrade", ["websocket"])
        agreed = _extension(answer[2])
        assert agreed is not None and agreed.startswith("permessage-deflate")
        request = server.requests[-1]
        assert request.headers["sec-websocket-extensions"] == (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=15"
        )
        before = list(proxy.forwarded)
        _echo_round(conn, ref, [("text", JSON), ("binary", BINARY), ("text", ""), ("text", "é")])
        up, down = (now - then for now, then in zip(proxy.forwarded, before, strict=True))
        payload = len(JSON.encode()) + len(BINARY) + 2
        assert up < payload / 5 and down < payload / 5, (up, down, payload)
        assert server.received[-1][:2] == [JSON, BINARY]
        gun.close(conn)


def test_without_compress_nothing_is_offered_and_nothing_compressed() -> None:
    with EchoServer(compression="deflate") as server:
        conn, ref, _ = open_ws(server.port)
        assert "sec-websocket-extensions" not in server.requests[-1].headers
        _echo_round(conn, ref, [("text", JSON)])
        gun.close(conn)


def test_a_server_without_deflate_answers_plainly_and_it_still_works() -> None:
    with EchoServer(compression=None) as server:
        conn, ref, answer = _upgrade(server.port)
        assert answer[0] == "upgrade" and _extension(answer[2]) is None
        _echo_round(conn, ref, [("text", JSON), ("binary", BINARY)])
        gun.close(conn)


def test_every_parameter_a_server_may_answer_with_holds_over_many_messages() -> None:
    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True,
        server_max_window_bits=10, client_max_window_bits=9,
    )
    with EchoServer(extensions=[factory]) as server:
        conn, ref, answer = _upgrade(server.port)
        agreed = _extension(answer[2]) or ""
        for param in ("server_no_context_takeover", "client_no_context_takeover",
                      "server_max_window_bits=10", "client_max_window_bits=9"):
            assert param in agreed, agreed
        _echo_round(conn, ref, [("text", f"{i} {JSON[: 50 * i]}") for i in range(40)])
        gun.close(conn)


def test_deflate_opts_ask_the_server_for_less_memory() -> None:
    with EchoServer(compression="deflate") as server:
        deflate_opts = {"server_max_window_bits": 9, "server_no_context_takeover": True,
                        "client_max_window_bits": 9, "level": 1, "mem_level": 1}
        conn, ref, answer = _upgrade(server.port, {"deflate_opts": deflate_opts})
        agreed = _extension(answer[2]) or ""
        assert "server_max_window_bits=9" in agreed and "server_no_context_takeover" in agreed
        _echo_round(conn, ref, [("text", JSON), ("binary", BINARY), ("text", JSON)])
        gun.close(conn)


def test_aiohttp_server_agrees_and_echoes_compressed(aiohttp_server: AiohttpServer) -> None:
    conn, ref, answer = _upgrade(aiohttp_server.port)
    assert answer[0] == "upgrade"
    assert (_extension(answer[2]) or "").startswith("permessage-deflate")
    _echo_round(conn, ref, [("text", JSON), ("binary", BINARY), ("text", "short")])
    gun.close(conn)


def test_a_message_that_inflates_past_max_frame_size_closes_with_1009() -> None:
    def bomb(connection: ServerConnection) -> None:
        connection.send(b"\x00" * (8 << 20))  # 8 MiB of zeros: about 8 KiB compressed
        connection.recv()  # until our close

    with EchoServer(bomb, compression="deflate") as server:
        conn, ref, _ = open_ws(server.port, ws_opts={"compress": True,
                                                        "max_frame_size": 1 << 20})
        error = receive("gun_error", conn)
        assert error[:3] == ("gun_error", conn, ref)
        assert error[3][:2] == ("protocol_error", 1009)
        assert exit_reason(conn) == "normal"
        wait_for(lambda: server.close_codes != [])
        assert server.close_codes[-1][0] == 1009


def _answering(extensions: str) -> RawServer:
    """A peer whose 101 carries ``extensions`` (what no library server would send)."""

    def handler(sock: socket.socket) -> None:
        _, headers = read_http_request(sock)
        send_101(sock, dict(headers)["sec-websocket-key"], [("sec-websocket-extensions",
                                                            extensions)])
        sock.recv(1)

    return RawServer(handler)


def test_an_answer_that_breaks_rfc_7692_fails_the_upgrade_with_a_clear_error() -> None:
    for answer, why in [
        ("permessage-deflate; server_max_window_bits=16", "8 to 15"),
        ("permessage-deflate; client_max_window_bits", "8 to 15"),
        ("permessage-deflate; bogus", "unknown parameter"),
        ("permessage-deflate, permessage-deflate", "2 times"),
        ("x-webkit-deflate-frame", "never offered"),
    ]:
        with _answering(answer) as server:
            conn, _, result = _upgrade(server.port)
            assert result[0] == "error", result
            kind, detail = result[1][1]
            assert kind == "handshake_error" and why in detail, result
            gun.close(conn)


def test_an_extension_answered_to_no_offer_still_fails() -> None:
    with _answering("permessage-deflate") as server:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        ref = gun.ws_upgrade(conn, "/")
        result = gun.await_(conn, ref, WAIT)
        assert result[0] == "error" and "never offered" in result[1][1][1], result
        gun.close(conn)


NODE_WS = Path(__file__).resolve().parent.parent / ".venv" / "node" / "node_modules" / "ws"
NODE_ECHO = """
const { WebSocketServer } = require(process.argv[1]);
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: true });
wss.on("listening", () => console.log("port", wss.address().port));
wss.on("connection", (ws, req) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
"""


@pytest.mark.skipif(shutil.which("node") is None or not NODE_WS.is_dir(),
                    reason="needs Node.js and its ws package (scripts/_bootstrap.sh installs it)")
def test_nodes_ws_server_agrees_and_echoes_compressed() -> None:
    node = subprocess.Popen(["node", "-e", NODE_ECHO, str(NODE_WS)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert node.stdout is not None
        port = int(node.stdout.readline().split()[1])
        with FaultProxy(port) as proxy:
            conn, ref, answer = _upgrade(proxy.port)
            assert (_extension(answer[2]) or "").startswith("permessage-deflate"), answer
            before = list(proxy.forwarded)
            _echo_round(conn, ref, [("text", JSON), ("binary", BINARY), ("text", "tiny")])
            down = proxy.forwarded[1] - before[1]
            assert down < (len(JSON) + len(BINARY)) / 5, down  # Node compressed its echoes
            gun.close(conn)
    finally:
        node.kill()
        node.wait(WAIT)
        if node.stdout is not None:
            node.stdout.close()
