"""``gunpy``: a WebSocket client for the terminal, on Gun's connection.

Like websocket-client's ``wsdump``, ``python -m websockets`` or Node's
``wscat``::

    gunpy ws://127.0.0.1:8080/chat           # type lines; frames print as they come
    printf 'a\\nb\\n' | gunpy --eof-wait 1 wss://example.com/echo
    python -m gunpy.actors --tuples ws://...  # Gun's messages, as Erlang shows them

Each line of standard input goes out as a text frame; each frame from the
server is printed on stdout (text as is, binary as its length and a hex
preview). Status lines go to stderr (``--quiet`` drops them). When standard
input ends the command sends close 1000 and waits for the server's answer;
Ctrl-C sends close 1001. Exit status: 0 after a clean close, 1 for a refused
upgrade, a failed connection or a timeout, 2 for a bad command line, 128 +
the signal's number (130 for Ctrl-C) when interrupted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from gunpy.actors._mailbox import Mailbox
from gunpy.actors.gun._cli_session import Session
from gunpy.actors.gun._cli_settings import FAILED, USAGE, Settings
from gunpy.actors.gun._cli_term import Console, SignalCatcher, TerminalState
from gunpy.actors.gun._client import parse_ws_url
from gunpy.actors.gun._client_proxy import proxy_route
from gunpy.protocol import Headers, InvalidRequest, OptionsError
from gunpy.protocol._handshake import check_path, normalize_headers

__all__ = ["build_parser", "main", "parse_settings"]

INSECURE_WARNING = (
    "WARNING: --insecure: the server's TLS certificate is NOT verified; "
    "anyone on the network path can read and change this connection"
)


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or name != name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not 'name: value'")
    return name, value.strip()


def _positive_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of ms") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 ms")
    return value


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _seconds(text: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= minimum or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= {minimum:g}")
    return value


def _timeout(text: str) -> float:
    return _seconds(text, 0.001)


def _eof_wait(text: str) -> float:
    return _seconds(text, 0.0)


def _ca_file(path: str) -> str:
    """A readable PEM file of CA certificates (loaded once here to say what is wrong)."""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise argparse.ArgumentTypeError(
            f"cannot load CA certificates from {path!r}: {exc}"
        ) from None
    return path


def build_parser() -> argparse.ArgumentParser:
    """The ``gunpy`` command's arguments."""
    parser = argparse.ArgumentParser(
        prog="gunpy",
        description="Talk WebSocket from the terminal: each line of standard input is sent "
        "as a text frame, each frame from the server is printed. Ends with a close (1000) "
        "when standard input ends; Ctrl-C closes with 1001 and exits 130.",
        epilog="Exit status: 0 after a clean close, 1 when the upgrade is refused or the "
        "connection fails, 2 for a bad command line, 128+N after signal N.",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"gunpy {_version()}")
    add("url", help="ws://host[:port]/path[?query] or wss://... (ports 80 and 443 by default)")
    add("-H", "--header", dest="headers", action="append", type=_header, default=[],
        metavar="'NAME: VALUE'", help="a header for the upgrade request (repeatable)")
    add("-s", "--subprotocol", dest="protocols", action="append", default=[],
        metavar="NAME", help="offer this subprotocol (repeatable, in order of preference)")
    add("--ping", type=_positive_ms, metavar="MS",
        help="send a ping every MS milliseconds (Gun's ws_opts keepalive)")
    add("--cacert", type=_ca_file, metavar="FILE",
        help="trust the CA certificates in this PEM file (wss://)")
    add("--insecure", action="store_true",
        help="do NOT verify the server's TLS certificate (wss://; prints a warning)")
    add("--compress", action="store_true",
        help="offer permessage-deflate (Gun's ws_opts compress)")
    add("--proxy", metavar="URL",
        help="go through a proxy: http://[user:pass@]host:port or https://... (CONNECT), "
        "socks5://... or socks5h://... (SOCKS5), or 'env' (https_proxy, http_proxy, "
        "all_proxy, no_proxy)")
    add("--retry", type=_retries, default=0, metavar="N",
        help="reconnect and upgrade again up to N times in a row when the connection fails "
        "or is lost (Gun's retry, with the callback client's backoff; default 0)")
    add("--timeout", type=_timeout, default=10.0, metavar="SECONDS",
        help="how long to wait for the connection, the upgrade's answer and the close "
        "handshake (default 10)")
    add("--eof-wait", type=_eof_wait, default=0.0, metavar="SECONDS",
        help="when standard input ends, wait this long for the server's replies before "
        "closing (default 0: an echo server drops what it has not sent when the close comes)")
    add("--tuples", action="store_true",
        help="print every message Gun delivers, as Python tuples (the Erlang view)")
    add("-q", "--quiet", action="store_true",
        help="print only the server's messages: no status lines (errors still go to stderr)")
    return parser


def parse_settings(
    argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None
) -> Settings:
    """Parse and check the command line; a bad one exits 2 with argparse's message."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    url: str = args.url
    try:
        host, port, path, transport = parse_ws_url(url)
    except (OptionsError, ValueError) as exc:  # ValueError: a port out of range
        parser.error(f"bad URL {url!r}: {_why(exc)}")
    if urlsplit(url).username is not None:
        parser.error("credentials in the URL are not sent; use -H 'authorization: ...'")
    headers: Headers = args.headers
    try:
        check_path(path)
        normalize_headers(headers)
    except InvalidRequest as exc:
        parser.error(str(exc))
    if transport == "tcp" and (args.cacert or args.insecure):
        parser.error("--cacert and --insecure are for wss:// URLs")
    if args.cacert and args.insecure:
        parser.error("--cacert and --insecure contradict each other")
    try:
        proxy = proxy_route(url, args.proxy)
    except OptionsError as exc:
        parser.error(f"bad --proxy {args.proxy!r}: {_why(exc)}")
    return Settings(
        url=url, host=host, port=port, path=path, transport=transport, headers=headers,
        protocols=args.protocols, ping_ms=args.ping, cacert=args.cacert,
        insecure=args.insecure, compress=args.compress, retry=args.retry,
        tuples=args.tuples, quiet=args.quiet, timeout=args.timeout, eof_wait=args.eof_wait,
        proxy=proxy,
    )


def _version() -> str:
    try:
        return importlib.metadata.version("gunpy")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "(not installed)"


def _why(exc: Exception) -> str:
    return str(exc).rsplit(": ", 1)[-1] if isinstance(exc, OptionsError) else str(exc)


def _is_terminal(stream: object) -> bool:
    """``stream.isatty()``, False for a missing or closed stream (``<&-``)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gunpy`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 after a clean close, 1 when the upgrade is
    refused or the connection fails (one line on stderr says why), 2 for a
    bad command line or an option the library refuses, 128 + N after
    signal N (130 for Ctrl-C, which closes with 1001 first).
    """
    settings = parse_settings(argv)
    interactive = _is_terminal(sys.stdin) and _is_terminal(sys.stdout)
    console = Console(quiet=settings.quiet, interactive=interactive)
    if settings.insecure:
        console.error(INSECURE_WARNING)
    box = Mailbox.current()
    terminal = TerminalState() if interactive else None
    catcher = SignalCatcher(box, (signal.SIGINT, signal.SIGTERM))
    try:
        return Session(settings, console, box).run()
    except OptionsError as exc:
        console.error(f"the library refused an option: {exc}")
        return USAGE
    except BrokenPipeError:
        # stdout went away (| head): no more output, and none at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return FAILED
    finally:
        console.end_prompt()
        catcher.restore()
        if terminal is not None:
            terminal.restore()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
