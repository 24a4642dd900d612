"""The direct path (``actors/gun/_live.py``): commands applied in the caller's thread.

It must keep Gun's order: what one caller did first is applied first, whether
it went through the connection actor (while connecting, after ``set_owner``
or ``shutdown``) or straight to the socket.
"""

from __future__ import annotations

import socket
import threading

from gunpy.actors import Mailbox, gun
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT
from tests.peers import RawServer, read_http_request, wait_for

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def test_requests_before_and_after_gun_up_reach_the_server_in_order() -> None:
    """Requests made while connecting are postponed by the actor; later ones go direct."""
    lines: list[str] = []

    def script(sock: socket.socket) -> None:
        while True:
            try:
                line, _ = read_http_request(sock)
            except ConnectionError:
                return
            lines.append(line)
            sock.sendall(OK)

    server = RawServer(script)
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        early = [gun.get(conn, f"/early/{i}") for i in range(5)]  # before gun_up: via the actor
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        late = [gun.get(conn, f"/late/{i}") for i in range(5)]
        for ref in early + late:
            assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
            assert gun.await_body(conn, ref, WAIT) == ("ok", b"ok")
        expected = [f"GET /early/{i} HTTP/1.1" for i in range(5)]
        expected += [f"GET /late/{i} HTTP/1.1" for i in range(5)]
        assert lines == expected
        assert conn._channel.pending == 0  # every told command was applied
        gun.close(conn)
    finally:
        server.stop()


def test_a_request_right_after_set_owner_answers_the_new_owner(
    aiohttp_server: AiohttpServer,
) -> None:
    """set_owner goes through the actor; a request after it waits its turn, so its
    default reply_to is the new owner (a direct request would still see the old)."""
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    mine = Mailbox.current()
    boxes: list[Mailbox] = []
    ready = threading.Event()
    done = threading.Event()

    def other_owner() -> None:
        boxes.append(Mailbox.current())
        ready.set()
        done.wait(WAIT * 4)

    thread = threading.Thread(target=other_owner, name="other-owner")
    thread.start()
    assert ready.wait(WAIT)
    other = boxes[0]
    try:
        for i in range(20):
            owner = other if i % 2 == 0 else mine
            gun.set_owner(conn, owner)
            ref = gun.get(conn, "/hello")
            assert gun.await_(conn, ref, WAIT, owner)[:3] == ("response", "nofin", 200)
            assert gun.await_body(conn, ref, WAIT, owner) == ("ok", b"hello /hello")
        assert not [m for m in mine.messages() if type(m) is tuple and m[0] == "gun_response"]
        wait_for(lambda: conn._channel.pending == 0)
    finally:
        done.set()
        thread.join(WAIT)
        gun.close(conn)


def test_an_event_handler_keeps_every_command_on_the_actor(
    aiohttp_server: AiohttpServer,
) -> None:
    """With an event handler, ws_upgrade's event comes from the actor's thread, as before."""
    threads: list[str] = []

    class Handler:
        @staticmethod
        def ws_upgrade(event: dict[str, object], state: object) -> object:
            threads.append(threading.current_thread().name)
            return state

    conn = gun.open("127.0.0.1", aiohttp_server.port,
                    {"retry": 0, "event_handler": (Handler, None)})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/ws")
    assert gun.await_(conn, ref, WAIT)[0] == "upgrade"
    assert threads and threads[0] != threading.current_thread().name
    gun.close(conn)
