"""Proxy URLs, the environment's proxy for a destination, and the CONNECT request."""

from __future__ import annotations

import ipaddress
import socket
import urllib.request
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gunpy.protocol._connect import (
    basic_proxy_authorization,
    connect_authority,
    encode_connect,
)
from gunpy.protocol._handshake import InvalidRequestHeader
from gunpy.protocol._proxy_url import (
    ProxyURL,
    environment_proxies,
    parse_proxy_url,
    proxy_for,
)
from tests.peers import WAIT, RawServer, recv_exact
from tests.proxy_peers import PproxyServer, echo_server

# -- parse_proxy_url --------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("http://proxy:3128", ProxyURL("http", "proxy", 3128)),
    ("http://proxy", ProxyURL("http", "proxy", 80)),
    ("https://proxy", ProxyURL("https", "proxy", 443)),
    ("socks5://proxy", ProxyURL("socks5", "proxy", 1080)),
    ("socks5h://proxy:9050", ProxyURL("socks5h", "proxy", 9050)),
    ("HTTP://Proxy.Example:8080/", ProxyURL("http", "proxy.example", 8080)),
    ("proxy.example:3128", ProxyURL("http", "proxy.example", 3128)),
    ("  http://proxy:1\n", ProxyURL("http", "proxy", 1)),
    ("http://[::1]:8080", ProxyURL("http", "::1", 8080)),
    ("socks5://10.0.0.1", ProxyURL("socks5", "10.0.0.1", 1080)),
    ("http://user:pass@proxy", ProxyURL("http", "proxy", 80, "user", "pass")),
    ("http://us%40er:p%3As%20s@[::1]:8080", ProxyURL("http", "::1", 8080, "us@er", "p:s s")),
    ("http://user@proxy", ProxyURL("http", "proxy", 80, "user", None)),
    ("http://user:@proxy", ProxyURL("http", "proxy", 80, "user", "")),
    ("user:pass@proxy:3128", ProxyURL("http", "proxy", 3128, "user", "pass")),
    ("http://us%C3%A9r:p%E2%82%AC@proxy", ProxyURL("http", "proxy", 80, "usér", "p€")),
])
def test_parse(url: str, expected: ProxyURL) -> None:
    assert parse_proxy_url(url) == expected


def test_kinds() -> None:
    assert [(p.kind, p.tls, p.remote_dns) for p in map(parse_proxy_url, [
        "http://p", "https://p", "socks5://p", "socks5h://p"])] == [
        ("connect", False, True), ("connect", True, True),
        ("socks5", False, False), ("socks5", False, True)]


def test_socks_auth_and_str() -> None:
    proxy = parse_proxy_url("socks5h://me:secret@[2001:db8::1]:1081")
    assert proxy.socks_auth() == [("username_password", "me", "secret")]
    assert str(proxy) == "socks5h://[2001:db8::1]:1081"  # no credentials in logs
    assert parse_proxy_url("socks5://p").socks_auth() == ["none"]
    assert parse_proxy_url("socks5://me@p").socks_auth() == [("username_password", "me", "")]


@pytest.mark.parametrize(("url", "message"), [
    ("", "empty"),
    ("   ", "empty"),
    ("ftp://proxy", "scheme 'ftp' is not http, https, socks5 or socks5h"),
    ("socks4://proxy", "scheme 'socks4'"),
    ("http://", "no host"),
    ("http://user:pass@", "no host"),
    ("http://proxy:abc", "invalid proxy URL .*Port could not be cast"),
    ("http://proxy:70000", "invalid proxy URL .*out of range"),
    ("http://proxy:0", "port 0"),
    ("http://proxy/path", "no path, query or fragment"),
    ("http://proxy/?q=1", "no path, query or fragment"),
    ("http://proxy#frag", "no path, query or fragment"),
    ("http://[::1", "invalid proxy URL .*IPv6"),
])
def test_parse_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_proxy_url(url)


hosts = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: a.compressed),
)


@given(st.sampled_from(["http", "https", "socks5", "socks5h"]), hosts,
       st.integers(1, 65535), st.text(min_size=1), st.text())
def test_parse_round_trip(scheme: str, host: str, port: int, user: str, password: str) -> None:
    netloc = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{netloc}:{port}"
    assert parse_proxy_url(url) == ProxyURL(scheme, host, port, user, password)  # type: ignore[arg-type]


# -- environment_proxies and proxy_for --------------------------------------------------


def test_environment_like_urllib() -> None:
    env = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2",
           "HTTPS_PROXY": "http://upper:3", "ALL_PROXY": "socks5://all:4",
           "no_proxy": "", "NO_PROXY": "example.com", "PATH": "/bin"}
    assert environment_proxies(env) == {
        "http": "http://lower:2", "https": "http://upper:3", "all": "socks5://all:4"}


def test_environment_cgi_ignores_upper_http_proxy() -> None:
    env = {"HTTP_PROXY": "http://from-a-header:1", "REQUEST_METHOD": "GET"}
    assert environment_proxies(env) == {}
    env["http_proxy"] = "http://mine:2"
    assert environment_proxies(env) == {"http": "http://mine:2"}


def test_environment_default_is_urllibs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy:3128")
    monkeypatch.setenv("no_proxy", "localhost")
    assert environment_proxies() == urllib.request.getproxies()
    assert proxy_for("wss://example.com/chat") == ProxyURL("http", "proxy", 3128)
    assert proxy_for("wss://localhost/chat") is None


ENV = {"http_proxy": "http://plain:3128", "https_proxy": "https://u:p@secure:8443",
       "all_proxy": "socks5h://any:1080"}


@pytest.mark.parametrize(("target", "scheme", "env", "expected"), [
    ("ws://example.com/", None, ENV, "http://plain:3128"),
    ("http://example.com/", None, ENV, "http://plain:3128"),
    ("wss://example.com/", None, ENV, "https://secure:8443"),
    ("https://example.com/", None, ENV, "https://secure:8443"),
    ("example.com", "wss", ENV, "https://secure:8443"),
    ("example.com:8080", "WS", ENV, "http://plain:3128"),
    ("wss://example.com/", "ws", ENV, "http://plain:3128"),  # an explicit scheme wins
    ("ws://example.com/", None, {"all_proxy": "socks5h://any:1080"}, "socks5h://any:1080"),
    ("wss://example.com/", None, {"ALL_PROXY": "socks5://any"}, "socks5://any:1080"),
    ("wss://example.com/", None, {"http_proxy": "http://plain:3128"}, None),
    ("ws://example.com/", None, {"HTTP_PROXY": "plain:3128"}, "http://plain:3128"),
    ("ws://example.com/", None, {}, None),
])
def test_proxy_for(target: str, scheme: str | None, env: dict[str, str],
                   expected: str | None) -> None:
    proxy = proxy_for(target, scheme, env)
    assert (str(proxy) if proxy else None) == expected


def test_proxy_for_keeps_credentials() -> None:
    assert proxy_for("wss://example.com", environ=ENV) == ProxyURL(
        "https", "secure", 8443, "u", "p")


@pytest.mark.parametrize(("target", "no_proxy", "bypassed"), [
    ("ws://example.com", "example.com", True),
    ("ws://api.example.com", "example.com", True),
    ("ws://api.example.com", ".example.com", True),
    ("ws://notexample.com", "example.com", False),
    ("ws://EXAMPLE.com", "Example.COM", True),
    ("ws://example.com", "other.org, example.com ", True),
    ("ws://example.com", "*", True),
    ("wss://example.com:8443/x", "example.com:8443", True),
    ("wss://example.com/x", "example.com:8443", False),
    ("ws://127.0.0.1:9000", "127.0.0.1", True),
    ("ws://[::1]:9000", "::1", True),
    ("ws://[::1]:9000", "[::1]:9000", True),
    ("ws://example.com", "", False),
])
def test_no_proxy(target: str, no_proxy: str, bypassed: bool) -> None:
    for name in ("no_proxy", "NO_PROXY"):
        proxy = proxy_for(target, environ={**ENV, name: no_proxy})
        assert (proxy is None) == bypassed, name


@pytest.mark.parametrize(("target", "scheme", "env", "message"), [
    ("example.com", None, ENV, "no scheme for 'example.com'"),
    ("ftp://example.com", None, ENV, "unsupported scheme 'ftp'"),
    ("ws://", None, ENV, "no host"),
    ("ws://example.com:99999", None, ENV, "out of range"),
    ("wss://example.com", None, {"https_proxy": "ftp://p"}, "https_proxy in the environment"),
    ("wss://example.com", None, {"all_proxy": "http://p:x"}, "all_proxy in the environment"),
])
def test_proxy_for_errors(target: str, scheme: str | None, env: dict[str, str],
                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proxy_for(target, scheme, env)


# -- the CONNECT request ----------------------------------------------------------------


def test_connect_request() -> None:
    assert encode_connect("example.com", 443) == (
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n")


def test_connect_request_with_credentials_and_headers() -> None:
    request = encode_connect("example.com", 8443, [("User-Agent", "gunpy"),
                             ("content-length", "3"), ("transfer-encoding", "chunked")],
                             username="user", password="pass")
    assert request == (b"CONNECT example.com:8443 HTTP/1.1\r\n"
                       b"proxy-authorization: Basic dXNlcjpwYXNz\r\n"
                       b"host: example.com:8443\r\nuser-agent: gunpy\r\n\r\n")


def test_connect_caller_headers_win() -> None:
    request = encode_connect("example.com", 443, {"host": "other", "proxy-authorization": "X"},
                             username="user", password="pass")
    assert request == (b"CONNECT example.com:443 HTTP/1.1\r\nhost: other\r\n"
                       b"proxy-authorization: X\r\n\r\n")


def test_connect_credentials_need_both() -> None:
    assert b"proxy-authorization" not in encode_connect("h", 1, username="user")
    assert b"proxy-authorization" not in encode_connect("h", 1, password="pass")
    assert b"Basic Og==" in encode_connect("h", 1, username="", password="")


def test_connect_header_name_transform() -> None:
    request = encode_connect("h", 1, username="u", password="p", transform_header_name=str.title)
    assert request == (
        b"CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\nHost: h:1\r\n\r\n")


@pytest.mark.parametrize(("host", "authority"), [
    ("example.com", "example.com:443"),
    ("192.0.2.1", "192.0.2.1:443"),
    ("::1", "[::1]:443"),
    ("[2001:DB8:0::1]", "[2001:db8::1]:443"),
    (ipaddress.IPv6Address("::1"), "[::1]:443"),
    (ipaddress.IPv4Address("10.0.0.1"), "10.0.0.1:443"),
])
def test_connect_authority(host: str, authority: str) -> None:
    assert connect_authority(host, 443) == authority
    assert encode_connect(host, 443).startswith(f"CONNECT {authority} HTTP/1.1\r\n".encode())


@pytest.mark.parametrize(("host", "port"), [
    ("exa mple.com", 443), ("a/b", 443), ("a\r\nx: y", 443), ("", 443), ("u@h", 443),
    ("1:2:3", 443), ("example.com", 0), ("example.com", 65536),
])
def test_connect_authority_errors(host: str, port: int) -> None:
    with pytest.raises(ValueError, match="CONNECT"):
        connect_authority(host, port)


def test_basic_proxy_authorization() -> None:
    assert basic_proxy_authorization("Aladdin", "open sesame") == (
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")  # RFC 7617 section 2
    assert basic_proxy_authorization("test", "123£") == "Basic dGVzdDoxMjPCow=="  # 2.1, UTF-8
    assert basic_proxy_authorization(b"u", b"p:q") == "Basic dTpwOnE="
    with pytest.raises(ValueError, match="cannot contain ':'"):
        basic_proxy_authorization("a:b", "c")


def test_connect_bad_header() -> None:
    with pytest.raises(InvalidRequestHeader):
        encode_connect("h", 1, {"x-evil": "a\r\nb: c"})


# -- a real CONNECT proxy: pproxy over a raw socket --------------------------------------


@pytest.fixture(scope="module")
def echo() -> Iterator[RawServer]:
    with echo_server() as server:
        yield server


def connect_through(proxy: PproxyServer, request: bytes) -> tuple[bytes, bytes]:
    """Send ``request``; the response head, and what the tunnel echoes of b"ping" (if up)."""
    with socket.create_connection((proxy.host, proxy.port), timeout=WAIT) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return data, b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            return head, b""
        sock.sendall(b"ping")
        return head, rest + recv_exact(sock, 4 - len(rest))


def test_pproxy_connect_without_auth(echo: RawServer) -> None:
    with PproxyServer("http") as proxy:
        head, echoed = connect_through(proxy, encode_connect("127.0.0.1", echo.port))
    assert head.startswith(b"HTTP/1.1 200 Connection established")
    assert echoed == b"ping"


def test_pproxy_connect_with_basic_auth(echo: RawServer) -> None:
    with PproxyServer("http", auth=("user", "s3cret")) as proxy:
        def attempt(username: str | None = None, password: str | None = None,
                    transform: Callable[[str], str] | None = None) -> bytes:
            request = encode_connect("127.0.0.1", echo.port, username=username,
                                     password=password, transform_header_name=transform)
            return connect_through(proxy, request)[0]

        ok = connect_through(proxy, encode_connect(
            "127.0.0.1", echo.port, username="user", password="s3cret",
            transform_header_name=str.title))
        assert ok == (b"HTTP/1.1 200 Connection established\r\nConnection: close", b"ping")
        assert attempt().startswith(b"HTTP/1.1 407 ")
        assert attempt("user", "wrong", str.title).startswith(b"HTTP/1.1 407 ")
        # pproxy reads only "Proxy-Authorization", by case: Gun's lower-case name is not seen.
        assert attempt("user", "s3cret").startswith(b"HTTP/1.1 407 ")
