"""The ``gunpy`` command's settings, checked, and its exit statuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gunpy.actors.gun._client_proxy import destination, open_through
from gunpy.protocol import Headers
from gunpy.protocol._proxy_url import ProxyURL

OK: Final = 0
FAILED: Final = 1
USAGE: Final = 2
CLEAN_CLOSE_CODES: Final = (None, 1000, 1001)
"""A server close with one of these codes ends the command with status 0."""


@dataclass(frozen=True)
class Settings:
    """What the command line asked for, checked."""

    url: str
    host: str
    port: int
    path: str
    transport: str
    headers: Headers = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    ping_ms: int | None = None
    cacert: str | None = None
    insecure: bool = False
    compress: bool = False
    retry: int = 0
    tuples: bool = False
    quiet: bool = False
    timeout: float = 10.0
    eof_wait: float = 0.0
    proxy: ProxyURL | None = None

    def target(self) -> tuple[str, int, dict[str, Any]]:
        """Where ``gun.open`` connects (the server, or the proxy) and with what options."""
        opts = self.open_opts()
        if self.proxy is None:
            return self.host, self.port, opts
        through = open_through(self.proxy, self.host, self.port, self.transport, opts, None)
        return self.proxy.host, self.proxy.port, through

    def tunnel(self) -> dict[str, Any] | None:
        """``gun.connect``'s destination through a CONNECT proxy, else None."""
        if self.proxy is None or self.proxy.kind != "connect":
            return None
        return destination(self.host, self.port, self.transport, self.open_opts(), self.proxy)

    def open_opts(self) -> dict[str, Any]:
        """``gun.open``'s options (Gun's keys; times in milliseconds)."""
        ms = max(1, round(self.timeout * 1000))
        ws_opts: dict[str, Any] = {"closing_timeout": ms}
        if self.protocols:
            ws_opts["protocols"] = list(self.protocols)
        if self.ping_ms is not None:
            ws_opts["keepalive"] = self.ping_ms
        if self.compress:
            ws_opts["compress"] = True
        opts: dict[str, Any] = {
            "transport": self.transport,
            "retry": self.retry,
            "connect_timeout": ms,
            "domain_lookup_timeout": ms,
            "tls_handshake_timeout": ms,
            "ws_opts": ws_opts,
        }
        if self.transport == "tls":
            tls_opts: dict[str, Any] = {}
            if self.cacert is not None:
                tls_opts["cacertfile"] = self.cacert
            if self.insecure:
                tls_opts["verify"] = "verify_none"
            opts["tls_opts"] = tls_opts
        return opts
