"""How `WebsocketClient` reaches its server through a proxy (its ``proxy`` option).

``proxy`` is a URL (``http://user:pass@host:port`` or ``https://...``: a
CONNECT proxy, spoken to in clear or over TLS; ``socks5://`` or
``socks5h://``: a SOCKS5 proxy), ``"env"`` (``https_proxy`` / ``http_proxy``
/ ``all_proxy`` / ``no_proxy``, read as ``urllib.request`` reads them), or
None (direct). A SOCKS5 proxy is given the server's name to resolve, as Gun
does, for ``socks5://`` too. The connection goes to the proxy; the server's
``transport`` and ``tls_opts`` go to the tunnel, so TLS to the server runs
inside it and is verified against the server's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gunpy.protocol import OptionsError
from gunpy.protocol._proxy_url import ProxyURL, parse_proxy_url, proxy_for


def proxy_route(url: str, proxy: object) -> ProxyURL | None:
    """The proxy ``url`` is reached through (the ``proxy`` option), or None to go direct."""
    if proxy is None:
        return None
    try:
        if proxy == "env":
            return proxy_for(url)
        if isinstance(proxy, str):
            return parse_proxy_url(proxy)
    except ValueError as exc:
        raise OptionsError("proxy", proxy, str(exc)) from None
    raise OptionsError("proxy", proxy, 'must be a proxy URL, "env" or None')


def destination(host: str, port: int, transport: str, opts: Mapping[str, Any],
                proxy: ProxyURL) -> dict[str, Any]:
    """Gun's destination of the tunnel to the server (``gun.connect``'s map)."""
    dest: dict[str, Any] = {"host": host, "port": port, "transport": transport}
    if "tls_opts" in opts:
        dest["tls_opts"] = opts["tls_opts"]
    if proxy.kind == "connect" and proxy.username is not None:
        dest["username"], dest["password"] = proxy.username, proxy.password or ""
    return dest


def open_through(proxy: ProxyURL, host: str, port: int, transport: str,
                 opts: Mapping[str, Any], proxy_tls_opts: Mapping[str, Any] | None,
                 ) -> dict[str, Any]:
    """``gun.open`` options for the proxy: SOCKS5 as Gun's ``protocols``, else plain HTTP."""
    out = {k: v for k, v in opts.items() if k not in ("transport", "tls_opts")}
    out["transport"] = "tls" if proxy.tls else "tcp"
    if proxy_tls_opts is not None:
        out["tls_opts"] = proxy_tls_opts
    if proxy.kind == "socks5":
        socks = destination(host, port, transport, opts, proxy)
        socks["auth"] = proxy.socks_auth()
        out["protocols"] = [("socks", socks)]
    return out
