"""Autobahn|Testsuite driver: a gunpy echo client against the fuzzingserver, on 127.0.0.1.

Used by ``scripts/conformance`` (sections 1-10) and by ``tests/test_conformance.py``
(1-8 and 10). Autobahn|Testsuite runs on CPython 2.7 only; `find_python2`
looks for one (pyenv's, or ``python2.7`` on PATH) and `install` puts the
suite in a cached virtualenv under ``.venv/autobahn``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gunpy.actors import Mailbox, gun, monitor

ROOT = Path(__file__).resolve().parent.parent
AUTOBAHN = ROOT / ".venv" / "autobahn"
AGENT = "gunpy"
CASE_TIMEOUT = 60.0

# Stock listenWS binds every interface: the launcher pins it to loopback.
LAUNCHER = """
import sys
from autobahntestsuite import fuzzing, wstest
_listen = fuzzing.listenWS
def listenWS(factory, contextFactory=None, backlog=50, interface=''):
    return _listen(factory, contextFactory, backlog, interface='127.0.0.1')
fuzzing.listenWS = listenWS
sys.argv = ['wstest'] + sys.argv[1:]
wstest.run()
"""


def find_python2() -> str | None:
    """A CPython 2.7 interpreter, or None."""
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for candidate in sorted(glob.glob(f"{pyenv_root}/versions/2.7*/bin/python"), reverse=True):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("python2.7")


def install(python2: str) -> Path:
    """Autobahn|Testsuite 25.10.1 in a cached virtualenv; returns its python."""
    python = AUTOBAHN / "bin" / "python"
    if python.exists() and (AUTOBAHN / "bin" / "wstest").exists():
        return python
    tools = AUTOBAHN.parent / "autobahn-tools"
    quiet = ["-q", "--disable-pip-version-check"]
    subprocess.run([python2, "-m", "pip", "install", *quiet, "--target", str(tools),
                    "virtualenv<20.22"], check=True)
    env = {**os.environ, "PYTHONPATH": str(tools)}
    subprocess.run([python2, "-m", "virtualenv", "-q", str(AUTOBAHN)], check=True, env=env)
    subprocess.run([str(AUTOBAHN / "bin" / "pip"), "install", *quiet,
                    "autobahntestsuite==25.10.1"], check=True)
    return python


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def fuzzingserver(python: Path, cases: list[str], exclude: list[str]) -> Iterator[tuple[int, Path]]:
    """Run the fuzzingserver on 127.0.0.1; yield (port, report directory)."""
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="gunpy-autobahn-"))
    spec = {
        "url": f"ws://127.0.0.1:{port}",
        "options": {"failByDrop": False},
        "outdir": str(work / "reports"),
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    (work / "spec.json").write_text(json.dumps(spec))
    (work / "launcher.py").write_text(LAUNCHER)
    log = (work / "server.log").open("w")
    process = subprocess.Popen(
        [str(python), str(work / "launcher.py"), "-m", "fuzzingserver",
         "-s", str(work / "spec.json"), "-u", "0"],
        stdout=log, stderr=subprocess.STDOUT, cwd=work,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (work / "server.log").read_text()
                raise RuntimeError(f"fuzzingserver did not start: {log_text}")
            time.sleep(0.1)
        yield port, work / "reports"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _session(port: int, path: str, echo: bool) -> list[Any]:
    """One connection to ``path``: echo (or collect) messages until the connection is gone."""
    box = Mailbox.current()
    opts = {"retry": 0, "ws_opts": {"max_frame_size": 64 * 1024 * 1024, "closing_timeout": 2000}}
    conn = gun.open("127.0.0.1", port, opts)
    mref = monitor(conn)
    ref = gun.ws_upgrade(conn, path)
    received: list[Any] = []
    deadline = time.monotonic() + CASE_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            gun.close(conn)
            raise TimeoutError(f"{path}: no end within {CASE_TIMEOUT} s")
        message = box.receive(timeout=remaining)
        if message[0] == "DOWN" and message[1] is mref:
            break
        if message[0] == "gun_ws" and message[1] is conn:
            frame = message[3]
            if isinstance(frame, tuple) and frame[0] in ("text", "binary"):
                received.append(frame)
                if echo:
                    gun.ws_send(conn, ref, frame)
    gun.flush(conn)
    return received


def run_cases(port: int) -> None:
    """Run every case the server's spec selects, echoing."""
    count = int(_session(port, "/getCaseCount", echo=False)[0][1])
    for case in range(1, count + 1):
        _session(port, f"/runCase?case={case}&agent={AGENT}", echo=True)
    _session(port, f"/updateReports?agent={AGENT}", echo=False)


def summarize(reports: Path) -> tuple[dict[str, Counter[str]], list[tuple[str, str, str]]]:
    """Per-section behaviour counts, and the cases that are not OK."""
    index = json.loads((reports / "index.json").read_text())[AGENT]
    sections: dict[str, Counter[str]] = {}
    bad: list[tuple[str, str, str]] = []

    def key(case: str) -> list[int]:
        return [int(part) for part in case.split(".")]

    for case in sorted(index, key=key):
        result = index[case]
        sections.setdefault(case.split(".")[0], Counter())[result["behavior"]] += 1
        if result["behavior"] != "OK" or result["behaviorClose"] not in ("OK", "INFORMATIONAL"):
            bad.append((case, result["behavior"], result["behaviorClose"]))
    return sections, bad


def table(sections: dict[str, Counter[str]]) -> str:
    """The summary table, one row per section."""
    columns = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
    lines = [f"{'section':<8}" + "".join(f"{c:>15}" for c in columns)]
    for section in sorted(sections, key=int):
        lines.append(f"{section:<8}" + "".join(f"{sections[section][c]:>15}" for c in columns))
    total: Counter[str] = sum(sections.values(), Counter())
    lines.append(f"{'all':<8}" + "".join(f"{total[c]:>15}" for c in columns))
    return "\n".join(lines)


def conformance(
    cases: list[str], exclude: list[str]
) -> tuple[str, list[tuple[str, str, str]], Path]:
    """Install if needed, run, summarize: (table, bad cases, reports directory)."""
    python2 = find_python2()
    if python2 is None:
        raise FileNotFoundError("no CPython 2.7 for Autobahn|Testsuite")
    python = install(python2)
    with fuzzingserver(python, cases, exclude) as (port, reports):
        run_cases(port)
        sections, bad = summarize(reports)
        keep = Path(tempfile.mkdtemp(prefix="gunpy-autobahn-reports-"))
        shutil.copy(reports / "index.json", keep / "index.json")
        for case, _, _ in bad:
            for report in reports.glob(f"{AGENT}_case_{case.replace('.', '_')}.json"):
                shutil.copy(report, keep / report.name)
    return table(sections), bad, keep


if __name__ == "__main__":  # pragma: no cover - scripts/conformance is the entry point
    print(conformance(sys.argv[1:] or ["*"], ["12.*", "13.*"])[0])
