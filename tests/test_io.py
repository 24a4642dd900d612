"""The I/O of connections on the one loop thread: scale, fairness, stalled peers, TLS causes.

Every peer here is a real server (aiohttp's, websockets', or a byte-level
one that misbehaves on purpose) on 127.0.0.1; nothing waits on a clock
except the generous WAIT bounds.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import ssl
import threading
from collections import Counter
from typing import Any

import pykka
import pytest

from gunpy.actors import Mailbox, gun
from gunpy.actors.gun._out_buffer import OUT_BUFFER_LIMIT
from tests.aiohttp_peer import AiohttpProcess, AiohttpServer
from tests.helpers import WAIT, open_ws, receive
from tests.peers import (
    EchoServer,
    LeakCheck,
    RawServer,
    read_http_request,
    upgraded_server,
    wait_for,
)

MANY = 300


def _fd_kinds() -> Counter[str]:
    """This process's descriptors by kind: ``socket``, or what the link names."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own, gone by now
            link = os.readlink(f"/proc/self/fd/{fd}")
            kinds["socket" if link.startswith("socket:") else link] += 1
    return kinds


def _connection_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ConnectionActor")]


def test_hundreds_of_connections_cost_one_thread_and_one_fd_each(leak_check: LeakCheck) -> None:
    """Opened all at once, upgraded, each echoing: MANY threads and MANY fds more, no other."""
    server = AiohttpProcess()  # its sockets are not ours to count
    box = Mailbox.current()
    try:
        warm_up, ref, _ = open_ws(server.port, "/ws")  # the runtime's own threads start once
        gun.close(warm_up)
        box.flush()
        gc.collect()  # earlier tests' selectors that wait for the collector to close
        threads, fds = threading.active_count(), _fd_kinds()
        conns = {gun.open("127.0.0.1", server.port, {"retry": 0}): None for _ in range(MANY)}
        echoed = 0
        while echoed < MANY:
            match box.receive(timeout=WAIT):
                case ("gun_up", conn, "http"):
                    gun.ws_upgrade(conn, "/ws")
                case ("gun_upgrade", conn, ref, ["websocket"], _):
                    gun.ws_send(conn, ref, ("text", f"hello {conn.number}"))
                case ("gun_ws", conn, _, ("text", text)):
                    assert text == f"hello {conn.number}"
                    echoed += 1
                case other:
                    raise AssertionError(f"unexpected {other!r}")
        assert threading.active_count() - threads == MANY
        assert len(_connection_threads()) == MANY
        grown = _fd_kinds() - fds
        assert grown.pop("socket") == MANY
        # Besides: at most the eventfd of the owner's mailbox (made if its thread
        # waited while it owned one connection; see Mailbox.attach).
        assert grown.pop("anon_inode:[eventfd]", 0) <= 1 and not grown
        for conn in conns:
            gun.close(conn)
        assert _connection_threads() == []
    finally:
        server.stop()
    leak_check.assert_clean()


def test_a_flooding_connection_does_not_starve_a_quiet_one(leak_check: LeakCheck) -> None:
    """aiohttp floods one connection; the other's echoes are answered meanwhile."""
    server = AiohttpServer()
    flooded = threading.Event()
    stop = threading.Event()
    counts = [0]

    def drink() -> None:  # the flood's owner: takes and drops every message
        box = Mailbox.current()
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        ref = gun.ws_upgrade(conn, "/flood")
        assert gun.await_(conn, ref, WAIT)[0] == "upgrade"
        while not stop.is_set():
            box.receive(timeout=WAIT)  # one, waiting; then all that queued meanwhile
            counts[0] += 1 + len(box.flush())
            if counts[0] > 100:
                flooded.set()
        gun.close(conn)
        box.flush()

    drinker = threading.Thread(target=drink, name="peer-flood-owner")
    drinker.start()
    try:
        assert flooded.wait(WAIT)
        conn, ref, _ = open_ws(server.port, "/ws")
        for i in range(20):
            before = counts[0]
            gun.ws_send(conn, ref, ("text", str(i)))
            assert gun.await_(conn, ref, WAIT) == ("ws", ("text", str(i)))
            wait_for(lambda before=before: counts[0] > before)  # the flood went on meanwhile
        gun.close(conn)
    finally:
        stop.set()
        drinker.join(WAIT)
        server.stop()
    leak_check.assert_clean()


def _never_reads(release: threading.Event) -> RawServer:
    def script(sock: socket.socket) -> None:
        release.wait(WAIT * 3)  # accepts the upgrade, then reads nothing

    return upgraded_server(script)


def test_a_peer_that_never_reads_ends_at_send_timeout_and_spares_the_others(
    leak_check: LeakCheck,
) -> None:
    """The writer waits at the out-buffer bound, the loop serves the others, then
    send_timeout ends the stuck connection with Gun's ``{error, timeout}``."""
    release = threading.Event()
    stuck_server = _never_reads(release)
    echo = AiohttpServer()
    writer_done = threading.Event()
    try:
        opts = {"tcp_opts": [("send_timeout", 2000)]}
        stuck, stuck_ref, _ = open_ws(stuck_server.port, opts=opts)
        payload = bytes(65536)

        def write() -> None:
            try:
                while gun.info(stuck)["state_name"] == "connected_ws_only":
                    gun.ws_send(stuck, stuck_ref, ("binary", payload))
            except pykka.ActorDeadError:
                pass  # gone after its gun_down (retry 0): what the test waits for
            finally:
                writer_done.set()

        writer = threading.Thread(target=write, name="peer-writer")
        writer.start()
        wait_for(lambda: (io := stuck._channel.io) is None or io.out.size >= OUT_BUFFER_LIMIT)
        other, other_ref, _ = open_ws(echo.port, "/ws")
        for i in range(5):  # the loop is not blocked by the stuck socket
            gun.ws_send(other, other_ref, ("text", str(i)))
            assert gun.await_(other, other_ref, WAIT) == ("ws", ("text", str(i)))
        down = receive("gun_down", stuck)
        assert down[2:4] == ("ws", ("error", "timeout"))
        assert writer_done.wait(WAIT)  # the waiting writer was let go
        writer.join(WAIT)
        gun.ws_send(other, other_ref, ("text", "still here"))
        assert gun.await_(other, other_ref, WAIT) == ("ws", ("text", "still here"))
        gun.close(other)
        gun.close(stuck)
    finally:
        release.set()
        stuck_server.stop()
        echo.stop()
    leak_check.assert_clean()


def test_a_server_that_never_answers_the_upgrade_delays_nobody(echo_server: EchoServer) -> None:
    answered = threading.Event()

    def silent(sock: socket.socket) -> None:
        read_http_request(sock)
        answered.wait(WAIT)  # says nothing

    silent_server = RawServer(silent)
    try:
        mute = gun.open("127.0.0.1", silent_server.port, {"retry": 0})
        assert gun.await_up(mute, WAIT) == ("ok", "http")
        mute_ref = gun.ws_upgrade(mute, "/")
        conn, ref, _ = open_ws(echo_server.port)
        gun.ws_send(conn, ref, ("text", "meanwhile"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "meanwhile"))
        assert gun.info(mute)["state_name"] == "connected"
        assert not Mailbox.current().flush(lambda m: m[2:3] == (mute_ref,))
        gun.close(conn)
        gun.close(mute)
    finally:
        answered.set()
        silent_server.stop()


def test_lookups_that_hang_do_not_hold_up_numeric_hosts(
    monkeypatch: pytest.MonkeyPatch, echo_server: EchoServer
) -> None:
    """getaddrinfo blocks: it runs in the loop's pool, so a stuck one (even
    enough to fill the pool) does not delay a connection to an IP address."""
    release = threading.Event()
    real = socket.getaddrinfo

    def stuck(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "stuck.test":
            release.wait(WAIT)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        hung = [gun.open("stuck.test", 1, {"retry": 0}) for _ in range(10)]
        conn, ref, _ = open_ws(echo_server.port)
        gun.ws_send(conn, ref, ("text", "not waiting"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "not waiting"))
        assert all(gun.info(c)["state_name"] == "domain_lookup" for c in hung)
        gun.close(conn)
    finally:
        release.set()
    for c in hung:
        gun.close(c)


# -- TLS failures name their cause ---------------------------------------------


def _tls_reason(port: int, tls_opts: dict[str, Any], host: str = "127.0.0.1") -> Any:
    conn = gun.open(host, port, {"retry": 0, "transport": "tls", "tls_opts": tls_opts})
    result = gun.await_up(conn, WAIT)
    assert result[0] == "error", result
    return result[1][1][1]  # ("down", ("shutdown", reason))


def _serving(ctx: ssl.SSLContext) -> EchoServer:
    return EchoServer(ssl_context=ctx)


def test_tls_verify_failures_keep_pythons_cause(tls: Any, tmp_path: Any) -> None:
    """OpenSSL's reason is CERTIFICATE_VERIFY_FAILED for all of these; Python's says which."""
    server_ctx, client_ctx, ca = tls
    name_only = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(name_only)  # no IP address in it
    self_signed = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.cert_pem.write_to_path(tmp_path / "cert.pem")
    ca.private_key_pem.write_to_path(tmp_path / "key.pem")
    self_signed.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    servers = [_serving(ctx) for ctx in (server_ctx, name_only, self_signed)]
    good, by_name, by_itself = (server.port for server in servers)
    trusted = {"context": client_ctx}
    try:
        reasons = {
            "untrusted": _tls_reason(good, {}),
            "hostname": _tls_reason(good, {**trusted, "server_name_indication": "other.test"}),
            "ip": _tls_reason(by_name, trusted),
            "self-signed": _tls_reason(by_itself, {}),
        }
    finally:
        for server in servers:
            server.stop()
    prefix = "certificate verify failed: "
    assert reasons["untrusted"] == ("tls_error", prefix + "unable to get local issuer certificate")
    assert reasons["hostname"][1].startswith(prefix + "Hostname mismatch")
    assert "'other.test'" in reasons["hostname"][1]
    assert reasons["ip"][1].startswith(prefix + "IP address mismatch")
    assert "'127.0.0.1'" in reasons["ip"][1]
    assert reasons["self-signed"] == ("tls_error", prefix + "self-signed certificate")


def test_server_name_indication_default(tls: Any) -> None:
    """gun_SUITE's server_name_indication_default: the server sees the host as SNI,
    and none for an IP address (RFC 6066 forbids IP literals in SNI)."""
    _, client_ctx, ca = tls
    seen: list[str | None] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)

    def record(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen.append(name)

    server_ctx.sni_callback = record  # type: ignore[assignment]
    server = _serving(server_ctx)
    try:
        for host in ("localhost", "127.0.0.1"):
            conn = gun.open(host, server.port, {"retry": 0, "transport": "tls",
                                                "tls_opts": {"context": client_ctx}})
            assert gun.await_up(conn, WAIT) == ("ok", "http")
            gun.close(conn)
    finally:
        server.stop()
    assert seen == ["localhost", None]
