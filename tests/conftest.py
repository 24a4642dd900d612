"""Fixtures: real peers on 127.0.0.1, TLS material, leak checks, and a clean slate per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from gunpy.actors import Mailbox
from gunpy.actors._io_loop import io_loop
from gunpy.supervision import gun_conns_sup
from tests.aiohttp_peer import AiohttpServer
from tests.peers import EchoServer, LeakCheck, RawServer, make_tls_pair

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _clean_slate(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxies (websocket-client honours them even for 127.0.0.1), an empty mailbox,
    and no actor left running after the test, whatever it did."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    Mailbox.current().flush()
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
    Mailbox.current().flush()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aiohttp_server() -> Iterator[AiohttpServer]:
    """One aiohttp server (HTTP routes and WebSocket) for the whole run: see its routes."""
    server = AiohttpServer()
    yield server
    server.stop()


@pytest.fixture
def raw_server_factory() -> Iterator[Callable[[Any], RawServer]]:
    servers: list[RawServer] = []

    def make(handler: Any) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def tls() -> tuple[Any, Any, Any]:
    """(server SSLContext, client SSLContext trusting the test CA, the CA)."""
    ca, server_ctx, client_ctx = make_tls_pair()
    return server_ctx, client_ctx, ca


@pytest.fixture
def leak_check() -> LeakCheck:
    """Started before the test's own peers; call ``assert_clean()`` once they are stopped.

    Gun's supervision tree and the I/O loop (its thread, selector and wake-up
    socketpair) live as long as the process: they are started first.
    """
    gun_conns_sup()
    io_loop.start()
    return LeakCheck()
