"""README.rst is part of the product: it renders cleanly, and its tour runs."""

from __future__ import annotations

import re
from pathlib import Path

import docutils.core
import pytest
from websockets.sync.server import ServerConnection

from tests.aiohttp_peer import AiohttpServer
from tests.peers import EchoServer

README = (Path(__file__).parent.parent / "README.rst").read_text()


def test_readme_renders_without_warnings() -> None:
    docutils.core.publish_string(
        README, writer="html", settings_overrides={"halt_level": 2, "report_level": 2}
    )


def tour_code(port: int) -> str:
    """The README's tour, pointed at 127.0.0.1:``port``."""
    tour = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", README)
    assert tour is not None
    return "\n".join(line[3:] for line in tour.group(1).splitlines()).replace("8080", str(port))


def echo_then_close(ws: ServerConnection) -> None:
    """The tour's server: echo the text and the binary message, then close."""
    for _ in range(2):  # the ping is answered by the library
        ws.send(ws.recv())
    ws.close(1000, "tour over")


def test_the_tour_runs_against_a_real_server(capsys: pytest.CaptureFixture[str]) -> None:
    server = EchoServer(handler=echo_then_close)
    try:
        exec(tour_code(server.port), {})
    finally:
        server.stop()
    printed = capsys.readouterr().out
    assert "hello" in printed and "server closed 1000" in printed


def test_the_http_example_runs_against_aiohttp(
    aiohttp_server: AiohttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    section = README[README.index("HTTP on the connection"):]
    example = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", section)
    assert example is not None
    code = "\n".join(line[3:] for line in example.group(1).splitlines())
    exec("from gunpy.actors import gun\n" + code.replace("8080", str(aiohttp_server.port)), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["('ok', b'welcome')", "('ws', ('text', 'hi'))"]
