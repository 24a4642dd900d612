"""Autobahn|Testsuite driver: a gunpy echo client against the fuzzingserver, on 127.0.0.1.

Shared by ``scripts/conformance`` (sections 1-10, through ``scripts/conformance.py``)
and ``tests/test_conformance.py`` (1-8 and 10). The suite runs on CPython 2.7
only: `autobahn_python` asks ``scripts/_autobahn.sh`` for one, which installs
the suite once into ``.venv/autobahn``.

The echo client uses nothing but gunpy's public API: ``gun.open`` with retry
0, ``gun.ws_upgrade``, this thread's `Mailbox`, ``gun.ws_send`` of every text
and binary message with the same type, and a monitor whose ``DOWN`` ends the
case. A case that does not end within `CASE_TIMEOUT` is cut (``gun.close``)
and reported, so a stuck case cannot hang the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gunpy.actors import Mailbox, demonitor, gun, monitor

ROOT: Final = Path(__file__).resolve().parent.parent
HELPER: Final = ROOT / "scripts" / "_autobahn.sh"
AGENT: Final = "gunpy"
CASE_TIMEOUT: Final = 60.0
# 12.* and 13.* echo up to 1000 messages of up to 256 KiB that the Python 2
# fuzzingserver deflates itself: some take a minute when the machine is busy.
DEFLATE_CASE_TIMEOUT: Final = 300.0
# Section 9 sends messages of up to 16 MiB (9.1.6, 9.2.6): well above them.
MAX_FRAME_SIZE: Final = 64 * 1024 * 1024
BEHAVIORS: Final = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
# What fails a run: a FAILED or NON-STRICT behaviour, or a close handling that is
# neither OK nor INFORMATIONAL ("FAILED", "WRONG CODE", "UNCLEAN", "NON-STRICT").
STRICT_FAILURES: Final = frozenset({"FAILED", "NON-STRICT"})
GOOD_CLOSE: Final = frozenset({"OK", "INFORMATIONAL"})
# Sections 3 and 4 and case 5.15 send valid frames, then a fault at once. gunpy
# fails the connection the moment it parses the fault (its close goes out
# whatever the owner is doing), so the echoes of the frames before it may be
# refused: NON-STRICT, as for the websockets library. The close must still be OK.
PROMPT_FAULT_CLOSE: Final = ("3.", "4.", "5.15")
SECTIONS_1_TO_10: Final = tuple(f"{n}.*" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10))
DEFLATE: Final = ("12.*", "13.*")  # permessage-deflate: run with ws_opts compress on

# Stock listenWS binds every interface whatever the spec's url says: this pins
# it to loopback. The server also exits when its parent (the driver) is gone,
# so not even a SIGKILLed driver leaves it behind. Python 2 code.
LAUNCHER: Final = """\
import os, sys
from twisted.internet import task
from autobahntestsuite import fuzzing, wstest
_listen = fuzzing.listenWS
def listenWS(factory, contextFactory=None, backlog=50, interface=''):
    return _listen(factory, contextFactory, backlog, interface='127.0.0.1')
fuzzing.listenWS = listenWS
_parent = int(os.environ['GUNPY_AUTOBAHN_PARENT'])
def _orphaned():
    if os.getppid() != _parent:
        os._exit(0)
_watch = task.LoopingCall(_orphaned)
_watch.start(0.5)
sys.argv = ['wstest'] + sys.argv[1:]
wstest.run()
"""


class AutobahnUnavailable(Exception):
    """No CPython 2.7 on this machine: the suite cannot run."""


def autobahn_python() -> Path:
    """The Python of the installed suite (installing it the first time).

    Raises `AutobahnUnavailable` when there is no CPython 2.7, RuntimeError
    when the installation fails.
    """
    proc = subprocess.run(["bash", str(HELPER)], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode == 3:
        raise AutobahnUnavailable(
            "no CPython 2.7 (pyenv versions/2.7* or python2.7 on PATH): "
            "Autobahn|Testsuite needs one"
        )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"installing Autobahn|Testsuite failed ({HELPER}: {proc.returncode})")
    return Path(proc.stdout.strip().splitlines()[-1])


# -- results ------------------------------------------------------------------


def case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split("."))


@dataclass(frozen=True)
class CaseResult:
    """One case as index.json and its report judge it."""

    case: str
    behavior: str
    behavior_close: str
    duration_ms: int
    description: str = ""
    result: str = ""
    result_close: str = ""
    report: Path | None = None

    @property
    def section(self) -> str:
        return self.case.split(".")[0]

    @property
    def ok(self) -> bool:
        return self.behavior == "OK" and self.behavior_close in GOOD_CLOSE

    @property
    def fails_run(self) -> bool:
        if self.behavior == "NON-STRICT" and self.case.startswith(PROMPT_FAULT_CLOSE):
            return self.behavior_close not in GOOD_CLOSE
        return self.behavior in STRICT_FAILURES or self.behavior_close not in GOOD_CLOSE

    def describe(self) -> str:
        text = f"{self.case}: {self.behavior} (close: {self.behavior_close})"
        details = [part for part in (self.result, self.result_close) if part]
        return text + "".join(f"\n    {part}" for part in details)


@dataclass
class Outcome:
    """A run: per-case results, client-side timings and the cases the client had to cut."""

    results: list[CaseResult]
    wall: dict[str, float] = field(default_factory=dict)  # case id -> client seconds
    timed_out: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    reports: Path | None = None
    listening: str = ""

    @property
    def non_ok(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]

    @property
    def failures(self) -> list[str]:
        """Why the run fails: bad cases and cut cases (empty if it passes)."""
        bad = [r.describe() for r in self.results if r.fails_run]
        bad += [
            f"{case}: cut by the client (no end within the case timeout)" for case in self.timed_out
        ]
        return bad

    def table(self) -> str:
        """Per section: how many cases got each behaviour, and the client's wall time."""
        sections: dict[str, Counter[str]] = {}
        seconds: dict[str, float] = {}
        for r in self.results:
            sections.setdefault(r.section, Counter())[r.behavior] += 1
            seconds[r.section] = seconds.get(r.section, 0.0) + self.wall.get(r.case, 0.0)
        head = f"{'section':<8}" + "".join(f"{name:>15}" for name in BEHAVIORS) + f"{'time':>10}"
        lines = [head, "-" * len(head)]
        for section in sorted(sections, key=int):
            counts = sections[section]
            lines.append(
                f"{section:<8}"
                + "".join(f"{counts[name]:>15}" for name in BEHAVIORS)
                + f"{seconds[section]:>9.1f}s"
            )
        total: Counter[str] = Counter()
        for counts in sections.values():
            total.update(counts)
        lines.append("-" * len(head))
        lines.append(
            f"{'all':<8}"
            + "".join(f"{total[name]:>15}" for name in BEHAVIORS)
            + f"{sum(seconds.values()):>9.1f}s"
        )
        return "\n".join(lines)


def read_results(reports: Path) -> list[CaseResult]:
    """The results in ``reports/index.json`` (with each non-OK case's report read)."""
    index = json.loads((reports / "index.json").read_text())[AGENT]
    results = []
    for case in sorted(index, key=case_key):
        entry = index[case]
        result = CaseResult(case, entry["behavior"], entry["behaviorClose"], entry["duration"])
        if not result.ok:
            path = reports / entry["reportfile"]
            report = json.loads(path.read_text())
            result = CaseResult(
                case,
                result.behavior,
                result.behavior_close,
                result.duration_ms,
                report.get("description", ""),
                report.get("result", ""),
                report.get("resultClose", ""),
                path,
            )
        results.append(result)
    return results


# -- the fuzzingserver ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening_sockets(pid: int) -> list[str]:
    """The TCP addresses process ``pid`` listens on (from ``ss -ltnp``)."""
    out = subprocess.run(["ss", "-ltnpH"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]


def check_loopback_only(pid: int, port: int) -> str:
    """Make sure the server listens on 127.0.0.1:port and nowhere else; describe it."""
    if shutil.which("ss") is None:
        return f"127.0.0.1:{port} (not verified: no ss)"
    addresses = listening_sockets(pid)
    if addresses != [f"127.0.0.1:{port}"]:
        raise RuntimeError(f"the fuzzingserver listens on {addresses}, not only 127.0.0.1:{port}")
    return f"only 127.0.0.1:{port} (ss -ltnp)"


@dataclass
class Server:
    port: int
    pid: int
    listening: str


@contextlib.contextmanager
def fuzzingserver(
    python: Path,
    cases: list[str],
    exclude: list[str],
    outdir: Path,
    pidfile: Path | None = None,
) -> Iterator[Server]:
    """Run the fuzzingserver on 127.0.0.1 with reports in ``outdir``; always stop it."""
    with tempfile.TemporaryDirectory(prefix="gunpy-autobahn-") as tmp:
        work = Path(tmp)
        port = _free_port()
        spec = {
            "url": f"ws://127.0.0.1:{port}",
            "options": {"failByDrop": False},
            "outdir": str(outdir),
            "cases": cases,
            "exclude-cases": exclude,
            "exclude-agent-cases": {},
        }
        (work / "spec.json").write_text(json.dumps(spec))
        (work / "launcher.py").write_text(LAUNCHER)
        with (work / "server.log").open("w") as log:
            process = subprocess.Popen(
                [
                    str(python),
                    str(work / "launcher.py"),
                    "-m",
                    "fuzzingserver",
                    "-s",
                    str(work / "spec.json"),
                    "-u",
                    "0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=work,
                env={**os.environ, "GUNPY_AUTOBAHN_PARENT": str(os.getpid())},
            )
            try:
                if pidfile is not None:
                    pidfile.write_text(f"{process.pid}\n")
                deadline = time.monotonic() + 60
                while True:
                    with socket.socket() as probe:
                        if probe.connect_ex(("127.0.0.1", port)) == 0:
                            break
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        text = (work / "server.log").read_text()
                        raise RuntimeError(f"the fuzzingserver did not start:\n{text}")
                    time.sleep(0.05)
                yield Server(port, process.pid, check_loopback_only(process.pid, port))
            finally:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                if pidfile is not None:
                    with contextlib.suppress(OSError):
                        pidfile.write_text("")


# -- the echo client -------------------------------------------------------------


def session(
    port: int, path: str, echo: bool, timeout: float = CASE_TIMEOUT, compress: bool = False
) -> list[Any] | None:
    """One connection to ``path``, echoing (or collecting) messages until it is down.

    Returns the text and binary messages received (none are kept when
    echoing), or None if the connection was not down within ``timeout``
    seconds (it is then closed). ``compress`` offers permessage-deflate.
    """
    box = Mailbox.current()
    opts = {"retry": 0, "ws_opts": {"max_frame_size": MAX_FRAME_SIZE, "compress": compress}}
    conn = gun.open("127.0.0.1", port, opts)
    mref = monitor(conn)
    ref = gun.ws_upgrade(conn, path)
    received: list[Any] = []
    receive, send = box.receive, gun.ws_send
    deadline = time.monotonic() + timeout
    try:
        while True:
            message = receive(timeout=max(deadline - time.monotonic(), 0))
            tag = message[0]
            if tag == "gun_ws":
                frame = message[3]
                if frame.__class__ is tuple and frame[0] in ("text", "binary"):
                    if echo:
                        send(conn, ref, frame)
                    else:
                        received.append(frame)
            elif tag == "DOWN" and message[1] is mref:
                return received
    except TimeoutError:
        gun.close(conn)
        demonitor(mref, flush=True)
        return None
    finally:
        gun.flush(conn)


def run_suite(
    python: Path,
    cases: list[str],
    exclude: list[str],
    outdir: Path,
    pidfile: Path | None = None,
    progress: Callable[[str], None] | None = None,
    compress: bool = False,
) -> Outcome:
    """Run every case the spec selects with the echo client; read the results.

    ``compress``: the client offers permessage-deflate in every case (as
    Gun's own Autobahn run does), which sections 12 and 13 need.
    """
    started = time.monotonic()
    wall: dict[str, float] = {}
    timed_out: list[str] = []
    with fuzzingserver(python, cases, exclude, outdir, pidfile) as server:
        if progress:
            progress(f"fuzzingserver (pid {server.pid}) listening on {server.listening}")
        answer = session(server.port, "/getCaseCount", echo=False, timeout=30)
        if not answer:
            raise RuntimeError("the fuzzingserver did not answer /getCaseCount")
        count = int(answer[0][1])
        if progress:
            progress(f"{count} cases")
        times: list[tuple[int, float]] = []
        for number in range(1, count + 1):
            begin = time.monotonic()
            path = f"/runCase?case={number}&agent={AGENT}"
            timeout = DEFLATE_CASE_TIMEOUT if compress else CASE_TIMEOUT
            echoed = session(server.port, path, echo=True, timeout=timeout, compress=compress)
            times.append((number, time.monotonic() - begin))
            if echoed is None:
                timed_out.append(f"#{number}")
        if session(server.port, f"/updateReports?agent={AGENT}", echo=False, timeout=120) is None:
            raise RuntimeError("the fuzzingserver did not write its reports")
    results = read_results(outdir)
    if len(results) != count:
        raise RuntimeError(f"index.json has {len(results)} cases, the server ran {count}")
    # /runCase?case=N counts through the spec's cases sorted by id, as index.json is here.
    for (number, seconds), result in zip(times, results, strict=True):
        wall[result.case] = seconds
        if f"#{number}" in timed_out:
            timed_out[timed_out.index(f"#{number}")] = result.case
    return Outcome(results, wall, timed_out, time.monotonic() - started, outdir, server.listening)
