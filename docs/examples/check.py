"""Run every example of the documentation against a local server; compare what it prints.

    .venv/bin/python docs/examples/check.py [NAME...]

Each example's first line names the server it needs (``# docs-check: echo``,
``aiohttp``, ``drop-once``, ``closed`` or ``none``); the server comes from the
test suite's peers (``tests/peers.py``, ``tests/aiohttp_peer.py``), started
here, and "8080" in the example becomes its port. The example runs in a
Python of its own; what it prints must equal ``NAME.out`` when that file exists.
The documentation shows the files without their first line.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.aiohttp_peer import AiohttpServer  # noqa: E402
from tests.peers import ClosedPort, EchoServer  # noqa: E402


def _drop_first_connection() -> Any:
    """An echo server that drops its first connection (no close frame) after one echo."""
    connections = [0]

    def handler(ws: Any) -> None:
        connections[0] += 1
        for message in ws:
            ws.send(message)
            if connections[0] == 1:
                ws.socket.shutdown(socket.SHUT_RDWR)
                return

    return EchoServer(handler=handler)


@contextlib.contextmanager
def server(kind: str) -> Iterator[int | None]:
    if kind == "none":
        yield None
        return
    if kind == "closed":
        yield ClosedPort().port
        return
    peer: Any = {"echo": EchoServer, "aiohttp": AiohttpServer,
                 "drop-once": _drop_first_connection}[kind]()
    try:
        yield peer.port
    finally:
        peer.stop()


def check(path: Path) -> bool:
    source = path.read_text()
    first = source.splitlines()[0]
    if not first.startswith("# docs-check: "):
        print(f"{path.name}: its first line must be '# docs-check: KIND'")
        return False
    with server(first.removeprefix("# docs-check: ").strip()) as port:
        code = source if port is None else source.replace("8080", str(port))
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, cwd=HERE)
    expected = path.with_suffix(".out")
    ok = run.returncode == 0 and (
        not expected.exists() or run.stdout == expected.read_text())
    print(f"{'ok  ' if ok else 'FAIL'} {path.name}")
    if not ok:
        print(run.stdout + run.stderr)
    return ok


def main(names: list[str]) -> int:
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # the servers' own logs
    paths = [HERE / f"{name.removesuffix('.py')}.py" for name in names] or sorted(
        p for p in HERE.glob("*.py") if p.name != "check.py")
    results = [check(path) for path in paths]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
