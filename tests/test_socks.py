"""The SOCKS5 client handshake: RFC 1928/1929 bytes, chunking, faults; and a real pproxy."""

from __future__ import annotations

import ipaddress
import itertools
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gunpy.protocol._socks import (
    REPLY_REASONS,
    AuthMethod,
    Socks5Handshake,
    SocksError,
    SocksEvent,
    SocksFailed,
    SocksSend,
    SocksUp,
)
from tests.peers import WAIT, ClosedPort, RawServer, recv_exact
from tests.proxy_peers import PproxyServer, echo_server

USERPASS: list[AuthMethod] = [("username_password", "user", "pass")]
# RFC 1928 section 4: VER 5, CMD 1 CONNECT, RSV 0, ATYP 3, "example.com", port 443.
CONNECT_EXAMPLE = b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
REPLY_IPV4 = b"\x05\x00\x00\x01\xc0\x00\x02\x01\x04\x38"  # bound 192.0.2.1:1080


def started(host: str = "example.com", port: int = 443,
            auth: list[AuthMethod] | None = None) -> Socks5Handshake:
    hs = Socks5Handshake(host, port, auth if auth is not None else ["none"])
    hs.start()
    return hs


# -- requests, from RFC 1928 sections 3 and 4 and RFC 1929 section 2 ----------------------


@pytest.mark.parametrize(("auth", "greeting"), [
    (["none"], b"\x05\x01\x00"),
    (USERPASS, b"\x05\x01\x02"),
    (["none", *USERPASS], b"\x05\x02\x00\x02"),
    ([*USERPASS, "none"], b"\x05\x02\x02\x00"),
])
def test_greeting_offers_methods_in_order(auth: list[AuthMethod], greeting: bytes) -> None:
    assert Socks5Handshake("example.com", 443, auth).start() == greeting


def test_default_auth_is_none() -> None:
    assert Socks5Handshake("example.com", 443).start() == b"\x05\x01\x00"


@pytest.mark.parametrize(("host", "encoded"), [
    ("example.com", b"\x03\x0bexample.com"),
    ("192.0.2.1", b"\x01\xc0\x00\x02\x01"),
    (ipaddress.IPv4Address("192.0.2.1"), b"\x01\xc0\x00\x02\x01"),
    ("2001:db8::1", b"\x04\x20\x01\x0d\xb8" + bytes(11) + b"\x01"),
    ("[2001:db8::1]", b"\x04\x20\x01\x0d\xb8" + bytes(11) + b"\x01"),
    (ipaddress.IPv6Address("::1"), b"\x04" + bytes(15) + b"\x01"),
    ("bücher.example", b"\x03\x0fb\xc3\xbccher.example"),  # UTF-8, as Gun sends it
])
def test_connect_request_address_types(host: str, encoded: bytes) -> None:
    hs = started(host, 8080)
    assert hs.receive_data(b"\x05\x00") == [SocksSend(b"\x05\x01\x00" + encoded + b"\x1f\x90")]
    assert hs.state == "connect"


def test_no_auth_then_connect_then_up() -> None:
    assert Socks5Handshake("example.com", 443).state == "idle"
    hs = Socks5Handshake("example.com", 443)
    states: list[str] = []
    assert hs.start() == b"\x05\x01\x00"
    states.append(hs.state)
    assert hs.receive_data(b"\x05\x00") == [SocksSend(CONNECT_EXAMPLE)]
    states.append(hs.state)
    assert hs.receive_data(REPLY_IPV4) == [
        SocksUp(ipaddress.IPv4Address("192.0.2.1"), 1080, b"")]
    states.append(hs.state)
    assert states == ["auth_method_select", "connect", "up"]


def test_username_password_subnegotiation() -> None:
    hs = started(auth=USERPASS)
    assert hs.receive_data(b"\x05\x02") == [SocksSend(b"\x01\x04user\x04pass")]
    assert hs.state == "auth_username_password"
    assert hs.receive_data(b"\x01\x00") == [SocksSend(CONNECT_EXAMPLE)]
    assert hs.receive_data(REPLY_IPV4)[0].port == 1080  # type: ignore[union-attr]


def test_credentials_are_utf8_and_may_be_bytes() -> None:
    hs = started(auth=[("username_password", "é", b"\x00\xff")])
    assert hs.receive_data(b"\x05\x02") == [SocksSend(b"\x01\x02\xc3\xa9\x02\x00\xff")]


def test_proxy_may_pick_no_auth_when_only_password_was_offered() -> None:
    """Gun accepts it, and pproxy without users answers so."""
    hs = started(auth=USERPASS)
    assert hs.receive_data(b"\x05\x00") == [SocksSend(CONNECT_EXAMPLE)]


# -- replies ----------------------------------------------------------------------------


@pytest.mark.parametrize(("reply", "host", "port"), [
    (REPLY_IPV4, ipaddress.IPv4Address("192.0.2.1"), 1080),
    (b"\x05\x00\x00\x04" + bytes(15) + b"\x01\x00\x50", ipaddress.IPv6Address("::1"), 80),
    (b"\x05\x00\x00\x03\x09proxy.lan\xff\xff", "proxy.lan", 65535),
    (b"\x05\x00\x00\x03\x00\x00\x00", "", 0),
    (b"\x05\x00\x07\x01\x00\x00\x00\x00\x00\x00", ipaddress.IPv4Address("0.0.0.0"), 0),  # RSV
])
def test_bound_address(reply: bytes, host: object, port: int) -> None:
    hs = started()
    hs.receive_data(b"\x05\x00")
    assert hs.receive_data(reply) == [SocksUp(host, port, b"")]  # type: ignore[arg-type]


@pytest.mark.parametrize("code", sorted(REPLY_REASONS))
def test_reply_codes_named_as_gun_names_them(code: int) -> None:
    hs = started()
    hs.receive_data(b"\x05\x00")
    [event] = hs.receive_data(bytes([5, code]))  # known from REP, before the address
    assert isinstance(event, SocksFailed)
    assert event.reason == REPLY_REASONS[code][0]
    assert event.stage == "connect"
    assert hs.state == "failed"


def test_reply_reason_names() -> None:
    assert [REPLY_REASONS[c][0] for c in range(1, 9)] == [
        "general_socks_server_failure", "connection_not_allowed_by_ruleset",
        "network_unreachable", "host_unreachable", "connection_refused", "ttl_expired",
        "command_not_supported", "address_type_not_supported"]


def test_unknown_reply_code() -> None:
    hs = started()
    hs.receive_data(b"\x05\x00")
    [event] = hs.receive_data(b"\x05\x09\x00\x01")
    assert event == SocksFailed(("unknown_error", 9), "SOCKS5 unknown reply code 9", "connect")


@pytest.mark.parametrize(("auth", "script", "reason", "stage"), [
    (["none"], [b"\x05\xff"], "no_acceptable_methods", "auth_method_select"),
    (["none"], [b"\x05\x02"], "auth_method_not_offered", "auth_method_select"),
    (USERPASS, [b"\x05\x01"], "auth_method_not_offered", "auth_method_select"),
    (["none"], [b"\x04\x00"], "malformed_reply", "auth_method_select"),
    (USERPASS, [b"\x05\x02", b"\x01\x01"], "username_password_auth_failure",
     "auth_username_password"),
    (USERPASS, [b"\x05\x02", b"\x05\x00"], "malformed_reply", "auth_username_password"),
    (USERPASS, [b"\x05\x02", b""], "username_password_auth_failure", "auth_username_password"),
    (USERPASS, [b"\x05\x02", b"\x01", b""], "closed", "auth_username_password"),
    (["none"], [b""], "closed", "auth_method_select"),
    (["none"], [b"\x05"], None, None),
    (["none"], [b"\x05\x00", b"\x04\x00\x00\x01"], "malformed_reply", "connect"),
    (["none"], [b"\x05\x00", b"\x05\x00\x00\x02"], "malformed_reply", "connect"),
    (["none"], [b"\x05\x00", b"\x05\x00\x00\x01\x7f", b""], "closed", "connect"),
])
def test_faults(auth: list[AuthMethod], script: list[bytes], reason: object,
                stage: object) -> None:
    hs = started(auth=auth)
    events: list[SocksEvent] = []
    for chunk in script:
        events += hs.receive_data(chunk)
    failures = [e for e in events if isinstance(e, SocksFailed)]
    if reason is None:
        assert failures == []
        return
    assert [(f.reason, f.stage) for f in failures] == [(reason, stage)]
    assert events[-1] is failures[0]
    assert failures[0].message.startswith("SOCKS5 ")
    error = failures[0].error()
    assert isinstance(error, SocksError)
    assert (error.reason, error.stage) == (reason, stage)


def test_after_a_fault_nothing_is_read() -> None:
    hs = started()
    assert isinstance(hs.receive_data(b"\x05\xff\x05\x00")[0], SocksFailed)
    assert hs.receive_data(b"\x05\x00") == []
    assert hs.receive_data(b"") == []
    assert hs.state == "failed"


def test_bytes_after_the_reply_are_the_tunnels() -> None:
    hs = started()
    hs.receive_data(b"\x05\x00")
    [up] = hs.receive_data(REPLY_IPV4 + b"HTTP/1.1 200 OK\r\n")
    assert up == SocksUp(ipaddress.IPv4Address("192.0.2.1"), 1080, b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(RuntimeError, match="tunnel is up"):
        hs.receive_data(b"more")


def test_everything_at_once() -> None:
    hs = started(auth=USERPASS)
    events = hs.receive_data(b"\x05\x02\x01\x00" + REPLY_IPV4 + b"x")
    assert events == [SocksSend(b"\x01\x04user\x04pass"), SocksSend(CONNECT_EXAMPLE),
                      SocksUp(ipaddress.IPv4Address("192.0.2.1"), 1080, b"x")]


def test_misuse() -> None:
    hs = Socks5Handshake("example.com", 443)
    with pytest.raises(RuntimeError, match="before start"):
        hs.receive_data(b"\x05\x00")
    hs.start()
    with pytest.raises(RuntimeError, match="already started"):
        hs.start()


@pytest.mark.parametrize(("host", "port", "auth", "message"), [
    ("example.com", 443, [], "at least one"),
    ("example.com", 443, ["none", "none"], "twice"),
    ("example.com", 443, [*USERPASS, *USERPASS], "twice"),
    ("example.com", 443, ["gssapi"], "unknown"),
    ("example.com", 443, [("username_password", "u" * 256, "p")], "username"),
    ("example.com", 443, [("username_password", "u", "p" * 256)], "password"),
    ("x" * 256, 443, ["none"], "1-255 bytes"),
    ("", 443, ["none"], "1-255 bytes"),
    ("example.com", 65536, ["none"], "port"),
    ("example.com", -1, ["none"], "port"),
])
def test_bad_options(host: str, port: int, auth: list[AuthMethod], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Socks5Handshake(host, port, auth)


# -- properties -------------------------------------------------------------------------


def feed(hs: Socks5Handshake, chunks: list[bytes]) -> tuple[bytes, SocksEvent | None, bytes]:
    """Feed chunks until a final event: (bytes sent, the final event, chunks left unfed)."""
    sent = b""
    for i, chunk in enumerate(chunks):
        for event in hs.receive_data(chunk):
            if isinstance(event, SocksSend):
                sent += event.data
            else:
                return sent, event, b"".join(chunks[i + 1:])
    return sent, None, b""


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


bound_addresses = st.one_of(
    st.binary(min_size=4, max_size=4).map(lambda b: b"\x01" + b),
    st.binary(min_size=16, max_size=16).map(lambda b: b"\x04" + b),
    st.text(max_size=40).map(lambda t: t.encode()[:255]).map(lambda b: bytes([3, len(b)]) + b),
).map(lambda addr: addr + b"\x12\x34")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[AuthMethod], bytes, bool]:
    """(auth, the proxy's whole answer, whether it ends in success)."""
    with_password = draw(st.booleans())
    auth: list[AuthMethod] = USERPASS if with_password else ["none"]
    answer = b"\x05\x02\x01\x00" if with_password else b"\x05\x00"
    code = draw(st.sampled_from([0, 0, 0, *range(1, 10)]))
    answer += bytes([5, code, 0]) + draw(bound_addresses)
    return auth, answer, code == 0


@given(scenarios(), st.binary(max_size=64), st.lists(st.integers(0, 400), max_size=12))
def test_any_chunking_gives_the_same_result(
    scenario: tuple[list[AuthMethod], bytes, bool], after: bytes, cuts: list[int]
) -> None:
    auth, answer, success = scenario
    whole = feed(started(auth=auth), [answer + after])
    sent, final, left = feed(started(auth=auth), chunked(answer + after, cuts))
    assert isinstance(final, SocksUp if success else SocksFailed)
    if isinstance(final, SocksUp) and isinstance(whole[1], SocksUp):
        assert final.trailing + left == after == whole[1].trailing
        assert final[:2] == whole[1][:2]
    else:
        assert final == whole[1]
    assert sent == whole[0]


@given(st.sampled_from([b"\x05\xff", b"\x04\x00", b"\x05\x00\x05\x01", b"\x05\x00\x05\x00\x00\x09",
                        b"\x05\x00\x06\x00"]), st.binary(max_size=64),
       st.lists(st.integers(0, 100), max_size=8))
def test_nothing_after_a_fault_is_processed(fault: bytes, after: bytes, cuts: list[int]) -> None:
    alone = feed(started(), [fault])
    hs = started()
    sent, final, _ = feed(hs, chunked(fault + after, cuts))
    assert isinstance(final, SocksFailed)
    assert (sent, final) == alone[:2]
    assert hs.receive_data(after + b"\x05\x00") == []
    assert hs.state == "failed"


@given(bound_addresses, st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=10))
def test_trailing_bytes_are_returned_exactly(
    address: bytes, trailing: bytes, cuts: list[int]
) -> None:
    reply = b"\x05\x00\x05\x00\x00" + address
    _, final, left = feed(started(), chunked(reply + trailing, cuts))
    assert isinstance(final, SocksUp)
    assert final.trailing + left == trailing


@given(st.lists(st.binary(min_size=1, max_size=20), max_size=10), st.booleans())
def test_arbitrary_bytes_never_raise(chunks: list[bytes], with_password: bool) -> None:
    hs = started(auth=USERPASS if with_password else ["none"])
    finals = 0
    for chunk in [*chunks, b""]:
        if hs.state == "up":
            break
        events = hs.receive_data(chunk)
        finals += sum(not isinstance(e, SocksSend) for e in events)
        assert all(isinstance(e, SocksSend) for e in events[:-1])
    assert finals == 1


# -- a real SOCKS5 server: pproxy, over blocking sockets ---------------------------------


def handshake_over(sock: socket.socket, hs: Socks5Handshake) -> SocksUp | SocksFailed:
    """Drive ``hs`` over a blocking socket until its final event."""
    sock.sendall(hs.start())
    while True:
        for event in hs.receive_data(sock.recv(4096)):
            if isinstance(event, SocksSend):
                sock.sendall(event.data)
            else:
                return event


@pytest.fixture(scope="module")
def echo() -> Iterator[RawServer]:
    with echo_server() as server:
        yield server


@pytest.fixture(scope="module")
def socks_open() -> Iterator[PproxyServer]:
    with PproxyServer("socks5") as proxy:
        yield proxy


@pytest.fixture(scope="module")
def socks_auth() -> Iterator[PproxyServer]:
    with PproxyServer("socks5", auth=("user", "s3cret")) as proxy:
        yield proxy


def tunnel(proxy: PproxyServer, hs: Socks5Handshake) -> tuple[socket.socket, SocksEvent]:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=WAIT)
    return sock, handshake_over(sock, hs)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_pproxy_tunnel_to_echo(socks_open: PproxyServer, echo: RawServer, host: str) -> None:
    sock, up = tunnel(socks_open, Socks5Handshake(host, echo.port))
    with sock:
        assert isinstance(up, SocksUp)
        assert up.port == echo.port  # pproxy reports the requested address as the bound one
        sock.sendall(b"through the tunnel")
        got = up.trailing + recv_exact(sock, len(b"through the tunnel") - len(up.trailing))
        assert got == b"through the tunnel"


def test_pproxy_with_password(socks_auth: PproxyServer, echo: RawServer) -> None:
    sock, up = tunnel(socks_auth, Socks5Handshake(
        "127.0.0.1", echo.port, [("username_password", "user", "s3cret")]))
    with sock:
        assert up == SocksUp(ipaddress.IPv4Address("127.0.0.1"), echo.port, b"")
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"


@pytest.mark.parametrize(("auth", "reason", "stage"), [
    ([("username_password", "user", "wrong")], "username_password_auth_failure",
     "auth_username_password"),
    ([("username_password", "nobody", "s3cret")], "username_password_auth_failure",
     "auth_username_password"),
    (["none"], "closed", "auth_method_select"),  # pproxy closes instead of sending X'FF'
])
def test_pproxy_refuses(socks_auth: PproxyServer, echo: RawServer, auth: list[AuthMethod],
                        reason: str, stage: str) -> None:
    sock, failed = tunnel(socks_auth, Socks5Handshake("127.0.0.1", echo.port, auth))
    with sock:
        assert isinstance(failed, SocksFailed)
        assert (failed.reason, failed.stage) == (reason, stage)


def test_pproxy_unreachable_target_is_a_close_after_success(socks_open: PproxyServer) -> None:
    """pproxy answers success before it connects: an unreachable target is an EOF after."""
    with ClosedPort() as closed:
        sock, up = tunnel(socks_open, Socks5Handshake("127.0.0.1", closed.port))
    with sock:
        assert isinstance(up, SocksUp)
        assert up.trailing + sock.recv(100) == b""
