"""Cookies for the upgrade request, kept in a standard ``http.cookiejar.CookieJar``.

Gun's ``cookie_store`` sends matching cookies with each request and stores the
ones the server sets; gunpy does the same with the jar given as the
``cookie_store`` option. websocket-client hands back response headers as a
dict that joins several ``Set-Cookie`` values with "; ", so each value is
split again at the start of every ``name=`` that is not a known attribute.
"""

from __future__ import annotations

import email.message
import re
import urllib.request
from http.cookiejar import CookieJar

_ATTRIBUTES = {"expires", "max-age", "domain", "path", "secure", "httponly", "samesite"}


def request_url(transport: str, host: str, port: int, path: str) -> str:
    """The http(s) URL a cookie jar matches cookies against (Secure needs https)."""
    scheme = "https" if transport == "tls" else "http"
    name = f"[{host}]" if ":" in host else host
    return f"{scheme}://{name}:{port}{path}"


def cookie_header(jar: CookieJar, url: str) -> str | None:
    """The ``cookie`` header value for a request to ``url``, or None."""
    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    value: str | None = request.get_header("Cookie")
    return value


def split_set_cookie(joined: str) -> list[str]:
    """Undo websocket-client's "; " join of several Set-Cookie headers."""
    cookies: list[str] = []
    for part in re.split(r";\s*", joined):
        name = part.split("=", 1)[0].strip().lower()
        if cookies and (name in _ATTRIBUTES or "=" not in part):
            cookies[-1] += "; " + part
        elif part:
            cookies.append(part)
    return cookies


class _Response:
    """The shape ``CookieJar.extract_cookies`` reads: an ``info()`` with the headers."""

    def __init__(self, set_cookies: list[str]) -> None:
        self._message = email.message.Message()
        for value in set_cookies:
            self._message["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._message


def store_cookies(jar: CookieJar, url: str, set_cookie: str | None) -> None:
    """Store the cookies of a (possibly joined) ``Set-Cookie`` value set by ``url``."""
    if set_cookie:
        jar.extract_cookies(
            _Response(split_set_cookie(set_cookie)),  # type: ignore[arg-type]
            urllib.request.Request(url),
        )
