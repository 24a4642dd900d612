"""Cookies for requests, kept in a standard ``http.cookiejar.CookieJar``.

Gun's ``cookie_store`` sends matching cookies with each request and stores the
ones the server sets; gunpy does the same with the jar given as the
``cookie_store`` option. Every ``set-cookie`` header of a response is stored
as the server sent it (h11 keeps repeated headers apart).
"""

from __future__ import annotations

import email.message
import urllib.request
from http.cookiejar import CookieJar


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


class _Response:
    """The shape ``CookieJar.extract_cookies`` reads: an ``info()`` with the headers."""

    def __init__(self, set_cookies: list[str]) -> None:
        self._message = email.message.Message()
        for value in set_cookies:
            self._message["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._message


def store_cookies(jar: CookieJar, url: str, set_cookies: list[str]) -> None:
    """Store the cookies of the ``set-cookie`` header values of a response from ``url``."""
    if set_cookies:
        jar.extract_cookies(
            _Response(set_cookies),  # type: ignore[arg-type]
            urllib.request.Request(url),
        )
