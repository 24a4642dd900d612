"""The scripts a user runs first: the demo, and the README's daemon example."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.peers import WAIT, EchoServer

EXAMPLE = Path(__file__).parent.parent / "scripts" / "daemon_example.py"


def test_sigterm_stops_the_tree_in_order(echo_server: EchoServer) -> None:
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), echo_server.url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while len([line for line in lines if line.endswith("connected")]) < 2:
            line = process.stdout.readline().strip()
            assert line, f"the example ended early: {lines}"
            lines.append(line)
        assert "ready" in lines
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=WAIT * 3)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stops = [line.split()[1] for line in out.splitlines() if line.startswith("stopped")]
    assert stops == ["feed-b", "feed-a", "aggregator"]
    assert "threads left: []" in out
    assert process.returncode == 0


def test_demo_runs_the_whole_exchange() -> None:
    demo = EXAMPLE.parent / "demo.py"
    result = subprocess.run(
        [sys.executable, str(demo)], capture_output=True, text=True, timeout=WAIT * 6
    )
    assert result.returncode == 0, result.stderr
    for expected in ("'gun_up'", "'gun_upgrade'", "('text', 'Hello, Gun!')", "'closed'",
                     "('text', 'back again')"):
        assert expected in result.stdout
