"""Autobahn|Testsuite sections 1-10, 12 and 13 against gunpy (``scripts/conformance``).

The client offers permessage-deflate (``ws_opts`` ``compress``) in every case,
as Gun's own Autobahn run does; ``--no-compress`` runs without it and leaves
out sections 12 and 13, which need it.

Prints a per-section summary and every case that is not OK, writes them to
``conformance-results/summary-<date>.txt`` with ``index.json`` and the
reports of the non-OK cases, and exits 1 if a case is FAILED or NON-STRICT
(or its close handling is neither OK nor INFORMATIONAL, or the client had to
cut it). The echo client and the server handling are in
``tests/autobahn_driver.py``, shared with ``tests/test_conformance.py``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.autobahn_driver import (  # noqa: E402
    AGENT,
    DEFLATE,
    SECTIONS_1_TO_10,
    AutobahnUnavailable,
    autobahn_python,
    run_suite,
)


def patterns(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run Autobahn|Testsuite (sections 1-10, 12, 13) against gunpy."
    )
    parser.add_argument(
        "--cases",
        default=",".join(SECTIONS_1_TO_10 + DEFLATE),
        help='case patterns, e.g. "1.*,2.*" (default: 1.* to 10.*, 12.*, 13.*)',
    )
    parser.add_argument(
        "--exclude",
        default="",
        help='more case patterns to leave out, e.g. "9.*"',
    )
    parser.add_argument(
        "--no-compress",
        dest="compress",
        action="store_false",
        help="do not offer permessage-deflate (12.* and 13.* are then left out)",
    )
    parser.add_argument(
        "--autobahn-python",
        type=Path,
        help="the suite's Python (default: ask scripts/_autobahn.sh)",
    )
    parser.add_argument("--pidfile", type=Path, help="where to write the fuzzingserver's pid")
    parser.add_argument("--out", type=Path, default=ROOT / "conformance-results")
    args = parser.parse_args()

    def terminated(signum: int, frame: object) -> NoReturn:
        raise SystemExit(128 + signum)  # unwinds through the server's cleanup

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)

    try:
        python = args.autobahn_python or autobahn_python()
    except AutobahnUnavailable as exc:
        print(f"conformance: {exc}: skipped")
        return 0
    exclude = patterns(args.exclude)
    if not args.compress:
        exclude += [p for p in DEFLATE if p not in exclude]
    cases = [p for p in patterns(args.cases) if p not in exclude]
    print(f"== Autobahn|Testsuite: cases {cases}, excluding {exclude}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gunpy-autobahn-reports-") as tmp:
        outcome = run_suite(
            python,
            cases,
            exclude,
            Path(tmp),
            args.pidfile,
            progress=lambda text: print(f"== {text}", flush=True),
            compress=args.compress,
        )
        today = datetime.date.today().isoformat()
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp) / "index.json", out / "index.json")
        kept = out / f"cases-{today}"
        shutil.rmtree(kept, ignore_errors=True)
        for result in outcome.non_ok:
            if result.report is not None:
                kept.mkdir(exist_ok=True)
                shutil.copy(result.report, kept / result.report.name)

    lines = [
        f"Autobahn|Testsuite 25.10.1, agent {AGENT!r}, {today}, cases {','.join(cases)} "
        f"excluding {','.join(exclude) or 'none'}, "
        f"permessage-deflate {'offered' if args.compress else 'not offered'}",
        f"gunpy on Python {platform.python_version()}, {platform.platform()}; "
        f"fuzzingserver on {outcome.listening}; {outcome.elapsed:.1f} s in all "
        "(time: the client's wall time per section)",
        "",
        outcome.table(),
        "",
    ]
    if outcome.non_ok or outcome.timed_out:
        lines.append("Cases that are not OK:")
        lines += [result.describe() for result in outcome.non_ok]
        lines += [
            f"{case}: cut by the client (no end within the case timeout)"
            for case in outcome.timed_out
        ]
    else:
        lines.append("Every case is OK.")
    failures = outcome.failures
    lines += [
        "",
        f"RESULT: {'FAIL' if failures else 'PASS'} "
        f"({len(failures)} case(s) FAILED, NON-STRICT, with a bad close, or cut)",
    ]
    text = "\n".join(lines)
    print(text)
    summary = out / f"summary-{today}.txt"
    summary.write_text(text + "\n")
    where = f"{summary}, {out / 'index.json'}"
    if kept.exists():
        where += f", non-OK case reports in {kept}/"
    print(f"\nwritten: {where}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
