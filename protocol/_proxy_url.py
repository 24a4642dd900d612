"""Proxy URLs, and which proxy the environment names for a destination.

`parse_proxy_url` reads ``http://user:pass@host:port`` (a CONNECT proxy
spoken to in clear), ``https://...`` (a CONNECT proxy spoken to over TLS),
``socks5://...`` (names resolved here, then sent as addresses) and
``socks5h://...`` (names sent to the proxy, which resolves them: Gun's
way). The port defaults to 80, 443, 1080, 1080; user and password are
percent-decoded. A value with no scheme (``proxy:3128``, common in
``http_proxy``) is read as ``http://``, as urllib and curl read it.

`proxy_for` picks the proxy for a destination from the environment, read
as `urllib.request.getproxies` reads it, and honours ``no_proxy`` as
`urllib.request.proxy_bypass_environment` does (suffixes, ``*``, an
optional ``:port``; no CIDR ranges). The variable for each scheme:

=========== =============== ===========
destination variable        fallback
=========== =============== ===========
ws, http    ``http_proxy``  ``all_proxy``
wss, https  ``https_proxy`` ``all_proxy``
=========== =============== ===========

Either case is read; lower case wins, and ``HTTP_PROXY`` is ignored when
``REQUEST_METHOD`` is set (a CGI script, CVE-2016-1000110), as in urllib.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Mapping
from typing import Final, Literal, NamedTuple, cast
from urllib.parse import SplitResult, unquote, urlsplit

ProxyScheme = Literal["http", "https", "socks5", "socks5h"]

DEFAULT_PORTS: Final[dict[str, int]] = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}

# Destination scheme: the proxies key it is looked up under, and its default port.
_DESTINATIONS: Final[dict[str, tuple[str, int]]] = {
    "ws": ("http", 80), "http": ("http", 80), "wss": ("https", 443), "https": ("https", 443)}

# The stdlib's no_proxy rules (typeshed leaves this public function out).
_bypass: Final[Callable[[str, Mapping[str, str]], bool]] = (
    urllib.request.proxy_bypass_environment)  # type: ignore[attr-defined]


class ProxyURL(NamedTuple):
    """A parsed proxy URL; ``host`` has no IPv6 brackets, credentials are decoded."""

    scheme: ProxyScheme
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def kind(self) -> Literal["connect", "socks5"]:
        """``connect``: an HTTP proxy that tunnels with CONNECT; ``socks5``."""
        return "socks5" if self.scheme.startswith("socks5") else "connect"

    @property
    def tls(self) -> bool:
        """The connection to the proxy itself is TLS (``https://``)."""
        return self.scheme == "https"

    @property
    def remote_dns(self) -> bool:
        """The proxy resolves destination names (``socks5h``, and CONNECT proxies)."""
        return self.scheme != "socks5"

    def socks_auth(
        self,
    ) -> list[Literal["none"] | tuple[Literal["username_password"], str, str]]:
        """Gun's SOCKS ``auth`` option for these credentials (a missing password is "")."""
        if self.username is None:
            return ["none"]
        return [("username_password", self.username, self.password or "")]

    def __str__(self) -> str:
        """The URL without its credentials, fit for a log line."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _split(url: str, what: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # urlsplit checks the port only when asked
    except ValueError as exc:
        raise ValueError(f"invalid {what} {url!r}: {exc}") from None
    return parts


def parse_proxy_url(url: str) -> ProxyURL:
    """Parse a proxy URL (see the module doc); raise `ValueError` saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"invalid proxy URL {url!r}: empty")
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = _split(url, "proxy URL")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"invalid proxy URL {url!r}: scheme {scheme!r} is not "
                         "http, https, socks5 or socks5h")
    if not parts.hostname:
        raise ValueError(f"invalid proxy URL {url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"invalid proxy URL {url!r}: a proxy URL has no path, query or fragment")
    if parts.port == 0:
        raise ValueError(f"invalid proxy URL {url!r}: port 0")
    username = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    port = parts.port or DEFAULT_PORTS[scheme]
    return ProxyURL(cast(ProxyScheme, scheme), parts.hostname, port, username, password)


def environment_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{"http": url, "https": url, "all": url, "no": hosts, ...}`` from the environment.

    Without ``environ`` this is `urllib.request.getproxies` (the process
    environment, and the system settings on macOS and Windows). With one,
    it is read by `urllib.request.getproxies_environment`'s rules.
    """
    if environ is None:
        return urllib.request.getproxies()
    proxies: dict[str, str] = {}
    for name, value in environ.items():  # any case first, then lower case wins
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in environ:
        proxies.pop("http", None)
    for name, value in environ.items():
        if name.endswith("_proxy"):
            if value:
                proxies[name.lower()[:-6]] = value
            else:
                proxies.pop(name.lower()[:-6], None)
    return proxies


def proxy_for(
    url_or_host: str, scheme: str | None = None, environ: Mapping[str, str] | None = None
) -> ProxyURL | None:
    """The proxy to reach ``url_or_host`` through, or None to go direct.

    ``url_or_host``: a URL (``wss://example.com/chat``; its scheme is used
    unless ``scheme`` is given) or a host, ``host:port`` or ``[v6]:port``
    with ``scheme`` one of ws, wss, http, https. ``environ`` defaults to the
    process environment. Raises `ValueError` for a bad destination or a bad
    proxy URL in the environment.
    """
    if "://" in url_or_host:
        parts = _split(url_or_host, "URL")
        scheme = scheme or parts.scheme
    else:
        parts = _split("//" + url_or_host, "host")
    if scheme is None:
        raise ValueError(f"no scheme for {url_or_host!r}: pass one of ws, wss, http, https")
    scheme = scheme.lower()
    if scheme not in _DESTINATIONS:
        raise ValueError(f"unsupported scheme {scheme!r}: expected ws, wss, http or https")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url_or_host!r}")
    key, default_port = _DESTINATIONS[scheme]
    port = parts.port or default_port
    proxies = environment_proxies(environ)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if any(_bypass(name, proxies) for name in (host, authority)):
        return None
    setting = proxies.get(key) or proxies.get("all")
    if not setting:
        return None
    try:
        return parse_proxy_url(setting)
    except ValueError as exc:
        variable = f"{key}_proxy" if proxies.get(key) else "all_proxy"
        raise ValueError(f"{variable} in the environment: {exc}") from None
