"""Through real proxies: Gun's CONNECT tunnels and SOCKS5, via PyPI's pproxy on 127.0.0.1.

Each case starts a pproxy (``tests/proxy_peers.py``: an HTTP CONNECT proxy
or a SOCKS5 one, with or without credentials, plain or TLS) and an origin
nobody here wrote (websockets' server, aiohttp's), and goes through: the
proxy's answer, ``gun_tunnel_up``, then requests and WebSocket frames to the
origin. Then the faults: a proxy that refuses, one that drops mid-handshake,
one that stalls (bounded by ``connect_timeout``), a bad origin certificate.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from gunpy.actors import Mailbox, WebsocketClient, gun, monitor
from gunpy.actors.gun._client import UpgradeRefused
from gunpy.protocol import OptionsError
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, receive
from tests.peers import EchoServer, LeakCheck, RawServer
from tests.proxy_peers import PproxyServer

USER = ("proxyuser", "s3cret")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pem(ca: trustme.CA) -> Iterator[str]:
    """Key and certificate for 127.0.0.1 and localhost, for a TLS proxy."""
    with tempfile.TemporaryDirectory(prefix="gunpy-proxy-") as tmp:
        path = Path(tmp) / "proxy.pem"
        ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            str(path))
        yield str(path)


def _trusting(ca: trustme.CA) -> dict[str, Any]:
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return {"context": client}


@pytest.fixture
def tls_origin(ca: trustme.CA) -> Iterator[EchoServer]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    with EchoServer(ssl_context=server) as origin:
        yield origin


def _echo(conn: Any, path: str = "/chat") -> None:
    """Upgrade through the tunnel and echo one frame."""
    ref = gun.ws_upgrade(conn, path)
    answer = gun.await_(conn, ref, WAIT)
    assert answer[:2] == ("upgrade", ["websocket"]), answer
    gun.ws_send(conn, ref, ("text", "through the tunnel"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "through the tunnel"))


def _connect_tunnel(proxy: PproxyServer, destination: dict[str, Any]) -> tuple[Any, Any]:
    conn = gun.open("127.0.0.1", proxy.port, {"retry": 0})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    return conn, gun.connect(conn, destination)


# -- HTTP CONNECT -----------------------------------------------------------------------


def test_connect_then_websocket_to_the_origin(echo_server: EchoServer) -> None:
    with PproxyServer("http") as proxy:
        conn, ref = _connect_tunnel(proxy, {"host": "127.0.0.1", "port": echo_server.port})
        answer = gun.await_(conn, ref, WAIT)
        assert answer[:3] == ("response", "fin", 200)
        assert gun.await_(conn, ref, WAIT) == ("up", "http")
        _echo(conn)
        # The upgrade was the origin's: its host header names the origin, not the proxy.
        assert echo_server.requests[-1].headers["host"] == f"127.0.0.1:{echo_server.port}"
        gun.close(conn)


def test_requests_made_before_the_tunnel_is_up_wait_and_go_through_it(
    aiohttp_server: AiohttpServer,
) -> None:
    with PproxyServer("http") as proxy:
        conn, ref = _connect_tunnel(proxy, {"host": "localhost", "port": aiohttp_server.port})
        early = gun.get(conn, "/hello")  # made at once: it waits behind the CONNECT
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "fin", 200)
        assert gun.await_(conn, early, WAIT)[:3] == ("response", "nofin", 200)
        assert gun.await_body(conn, early, WAIT) == ("ok", b"hello /hello")
        later = gun.get(conn, "/whoami")
        assert gun.await_(conn, later, WAIT)[:3] == ("response", "nofin", 200)
        gun.close(conn)


def test_connect_with_basic_auth(echo_server: EchoServer) -> None:
    with PproxyServer("http", USER) as proxy:
        destination = {"host": "127.0.0.1", "port": echo_server.port,
                       "username": USER[0], "password": USER[1]}
        conn, ref = _connect_tunnel(proxy, destination)
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "fin", 200)
        _echo(conn)
        gun.close(conn)


def test_a_refused_connect_is_an_ordinary_response(echo_server: EchoServer) -> None:
    with PproxyServer("http", USER) as proxy:
        for extra in ({}, {"username": USER[0], "password": "wrong"}):
            conn, ref = _connect_tunnel(proxy, {"host": "127.0.0.1", "port": echo_server.port,
                                                **extra})
            answer = gun.await_(conn, ref, WAIT)
            assert answer[0] == "response" and answer[2] == 407, answer
            gun.close(conn)


def test_connect_with_tls_to_the_origin_inside_the_tunnel(
    tls_origin: EchoServer, ca: trustme.CA
) -> None:
    with PproxyServer("http") as proxy:
        destination = {"host": "localhost", "port": tls_origin.port, "transport": "tls",
                       "tls_opts": _trusting(ca)}
        conn, ref = _connect_tunnel(proxy, destination)
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "fin", 200)
        assert gun.await_(conn, ref, WAIT) == ("up", "http")
        _echo(conn)
        gun.close(conn)


def test_the_origin_certificate_is_checked_against_the_destination_host(
    tls_origin: EchoServer, ca: trustme.CA
) -> None:
    with PproxyServer("http") as proxy:
        destination = {"host": "127.0.0.1", "port": tls_origin.port, "transport": "tls",
                       "tls_opts": _trusting(ca)}  # the certificate is for localhost only
        conn, ref = _connect_tunnel(proxy, destination)
        monitor(conn)
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "fin", 200)
        down = receive("gun_down", conn)
        assert down[2] == "http" and down[3][0] == "tls_error", down
        assert "certificate verify failed" in down[3][1] and "127.0.0.1" in down[3][1], down
        exit_reason(conn)


def test_tls_to_the_proxy_and_tls_to_the_origin_inside(
    tls_origin: EchoServer, ca: trustme.CA, pem: str
) -> None:
    with PproxyServer("http", tls_pem=pem) as proxy:
        conn = gun.open("127.0.0.1", proxy.port, {"retry": 0, "transport": "tls",
                                                  "tls_opts": _trusting(ca)})
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        ref = gun.connect(conn, {"host": "localhost", "port": tls_origin.port,
                                 "transport": "tls", "tls_opts": _trusting(ca)})
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "fin", 200)
        _echo(conn)
        gun.close(conn)


def test_connect_needs_an_idle_connection(aiohttp_server: AiohttpServer) -> None:
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    busy = gun.get(conn, "/delayed?ms=300")
    ref = gun.connect(conn, {"host": "example.org", "port": 443})
    result = gun.await_(conn, ref, WAIT)
    assert result[0] == "error" and result[1][1][0] == "badstate", result
    assert gun.await_(conn, busy, WAIT)[:3] == ("response", "nofin", 200)
    gun.close(conn)


def test_a_bad_destination_raises_before_anything_is_sent(aiohttp_server: AiohttpServer) -> None:
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0})
    for destination, key in [({"port": 80}, "destination.host"),
                             ({"host": "h", "port": 0}, "destination.port"),
                             ({"host": "h", "transport": "udp"}, "destination.transport"),
                             ({"host": "h", "bogus": 1}, "destination.bogus")]:
        with pytest.raises(OptionsError) as info:
            gun.connect(conn, destination)
        assert info.value.key == key
    gun.close(conn)


def test_a_proxy_that_drops_the_connect_ends_it_closed(leak_check: LeakCheck) -> None:
    def drop(sock: socket.socket) -> None:
        sock.recv(65536)  # the CONNECT request, then nothing but a close

    with RawServer(drop) as proxy:
        conn = gun.open("127.0.0.1", proxy.port, {"retry": 0})
        monitor(conn)
        ref = gun.connect(conn, {"host": "example.org", "port": 443})
        assert gun.await_(conn, ref, WAIT) == ("error", ("stream_error", "closed"))
        assert receive("gun_down", conn)[3:] == ("closed", [ref])
        exit_reason(conn)
    leak_check.assert_clean()


# -- SOCKS5 -------------------------------------------------------------------------------


def _socks(proxy_port: int, socks_opts: dict[str, Any], **opts: Any) -> Any:
    return gun.open("127.0.0.1", proxy_port, {"retry": 0, "protocols": [("socks", socks_opts)],
                                              **opts})


def test_socks5_without_auth(echo_server: EchoServer) -> None:
    with PproxyServer("socks5") as proxy:
        conn = _socks(proxy.port, {"host": "127.0.0.1", "port": echo_server.port})
        assert gun.await_up(conn, WAIT) == ("ok", "socks")
        assert gun.await_(conn, None, WAIT) == ("up", "http")
        _echo(conn)
        assert echo_server.requests[-1].headers["host"] == f"127.0.0.1:{echo_server.port}"
        gun.close(conn)


def test_socks5_with_username_password_and_tls_to_the_origin(
    tls_origin: EchoServer, ca: trustme.CA
) -> None:
    with PproxyServer("socks5", USER) as proxy:
        conn = _socks(proxy.port, {"host": "localhost", "port": tls_origin.port,
                                   "auth": [("username_password", *USER)],
                                   "transport": "tls", "tls_opts": _trusting(ca)})
        assert gun.await_up(conn, WAIT) == ("ok", "socks")
        assert gun.await_(conn, None, WAIT) == ("up", "http")
        _echo(conn)
        gun.close(conn)


def test_socks5_over_tls_to_a_tls_origin(tls_origin: EchoServer, ca: trustme.CA,
                                         pem: str) -> None:
    with PproxyServer("socks5", tls_pem=pem) as proxy:
        conn = _socks(proxy.port, {"host": "localhost", "port": tls_origin.port,
                                   "transport": "tls", "tls_opts": _trusting(ca)},
                      transport="tls", tls_opts=_trusting(ca))
        assert gun.await_(conn, None, WAIT) == ("up", "http")
        _echo(conn)
        gun.close(conn)


def test_socks5_refusing_the_credentials_names_it(echo_server: EchoServer,
                                                  leak_check: LeakCheck) -> None:
    with PproxyServer("socks5", USER) as proxy:
        conn = _socks(proxy.port, {"host": "127.0.0.1", "port": echo_server.port,
                                   "auth": [("username_password", USER[0], "wrong")]})
        monitor(conn)
        assert gun.await_up(conn, WAIT) == ("ok", "socks")
        reason = ("socks5", "username_password_auth_failure")
        assert receive("gun_down", conn)[2:4] == ("socks", reason)
        assert exit_reason(conn) == ("shutdown", reason)
    leak_check.assert_clean()


def test_socks5_is_redone_on_every_reconnect(echo_server: EchoServer) -> None:
    with PproxyServer("socks5") as proxy:
        conn = _socks(proxy.port, {"host": "127.0.0.1", "port": echo_server.port},
                      retry=1, retry_timeout=10)
        assert gun.await_(conn, None, WAIT) == ("up", "http")
        _echo(conn)
        for connection in list(echo_server.connections):
            connection.close()  # the origin closes: the tunnel and our socket with it
        assert receive("gun_down", conn)[0] == "gun_down"
        assert receive("gun_up", conn)[2] == "socks"
        assert gun.await_(conn, None, WAIT) == ("up", "http")
        _echo(conn)
        gun.close(conn)


def test_a_socks_proxy_that_stalls_is_bounded_by_connect_timeout(leak_check: LeakCheck) -> None:
    def stall(sock: socket.socket) -> None:
        sock.recv(64)  # the greeting: never answered
        sock.recv(64)

    with RawServer(stall) as proxy:
        conn = _socks(proxy.port, {"host": "example.org", "port": 80}, connect_timeout=300)
        monitor(conn)
        assert gun.await_up(conn, WAIT) == ("ok", "socks")
        assert receive("gun_down", conn)[2:4] == ("socks", "timeout")
        exit_reason(conn)
    leak_check.assert_clean()


def test_a_socks_proxy_that_drops_mid_handshake(leak_check: LeakCheck) -> None:
    def drop(sock: socket.socket) -> None:
        sock.recv(64)
        sock.sendall(b"\x05")  # half an answer, then the close

    with RawServer(drop) as proxy:
        conn = _socks(proxy.port, {"host": "example.org", "port": 80})
        monitor(conn)
        assert receive("gun_down", conn)[2:4] == ("socks", ("socks5", "closed"))
        exit_reason(conn)
    leak_check.assert_clean()


def test_nothing_listening_where_the_proxy_should_be() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    conn = _socks(port, {"host": "example.org", "port": 80})
    assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))


def test_socks_options_are_checked() -> None:
    for socks_opts, key in [({"port": 1}, "protocols.socks.host"),
                            ({"host": "h", "version": 4}, "protocols.socks.version"),
                            ({"host": "h", "auth": ["kerberos"]}, "protocols.socks.auth"),
                            ({"host": "h", "auth": []}, "protocols.socks.auth")]:
        with pytest.raises(OptionsError) as info:
            _socks(1080, socks_opts)
        assert info.value.key == key


# -- the callback client through a proxy ---------------------------------------------------


class Echoes(WebsocketClient):
    """Says hello on every connect; reports connects, messages and errors to its Mailbox."""

    def on_connect(self, headers: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("connect",))
        return ("reply", ("text", "hello"), state)

    def on_message(self, message: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("message", message))
        return state

    def on_error(self, reason: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("error", reason))
        return state


def _client(url: str, **opts: Any) -> tuple[Any, Mailbox]:
    box = Mailbox()
    return Echoes.start(url, state=box, retry=0, **opts), box


def _hello(box: Mailbox) -> None:
    assert box.receive(lambda m: m[0] in ("connect", "error"), WAIT) == ("connect",)
    assert box.receive(lambda m: m[0] == "message", WAIT) == ("message", ("text", "hello"))


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_the_client_takes_a_proxy_url(kind: str, echo_server: EchoServer) -> None:
    with PproxyServer(kind, USER) as proxy:  # type: ignore[arg-type]
        client, box = _client(echo_server.url + "/chat", proxy=proxy.url)
        _hello(box)
        client.stop()


def test_the_client_sets_the_tunnel_up_again_after_a_reconnect(echo_server: EchoServer) -> None:
    with PproxyServer("http") as proxy:
        box = Mailbox()
        client = Echoes.start(echo_server.url + "/chat", state=box, proxy=proxy.url,
                              retry=3, retry_timeout=10, backoff_min=10, backoff_reset=1)
        _hello(box)
        for connection in list(echo_server.connections):
            connection.close()
        _hello(box)  # a new CONNECT, then the upgrade, through the proxy again
        client.stop()


def test_a_proxy_refusing_the_client_is_an_upgrade_refused(echo_server: EchoServer) -> None:
    with PproxyServer("http", USER) as proxy:
        client, box = _client(echo_server.url + "/chat",
                              proxy=f"http://{USER[0]}:wrong@127.0.0.1:{proxy.port}")
        error = box.receive(lambda m: m[0] == "error", WAIT)[1]
        assert isinstance(error, UpgradeRefused) and error.status == 407
        client.stop()


def test_the_client_honours_the_environment(echo_server: EchoServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with PproxyServer("socks5") as proxy:
        monkeypatch.setenv("http_proxy", f"socks5h://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        client, box = _client(echo_server.url + "/chat", proxy="env")
        _hello(box)
        client.stop()
    # no_proxy: straight to the server, though http_proxy names a port nobody listens on.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    client, box = _client(echo_server.url + "/chat", proxy="env")
    _hello(box)
    client.stop()


def test_a_bad_proxy_option_is_an_options_error() -> None:
    for proxy in ("ftp://proxy:21", "http://", 42):
        with pytest.raises(OptionsError) as info:
            Echoes.start("ws://127.0.0.1:1/", state=Mailbox(), proxy=proxy)
        assert info.value.key == "proxy"
