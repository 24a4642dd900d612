"""Run Autobahn|Testsuite sections 1-10 against gunpy; print and save the summary.

Usage: scripts/conformance [--cases "1.*,2.*"] [--exclude "9.*"]
Exits 0 with "skipped" when no CPython 2.7 is available.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.autobahn_driver import conformance, find_python2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default=",".join(f"{n}.*" for n in range(1, 11)))
    parser.add_argument("--exclude", default="12.*,13.*")
    args = parser.parse_args()
    if find_python2() is None:
        print("no CPython 2.7 found (pyenv or python2.7): Autobahn|Testsuite skipped")
        return 0
    started = time.monotonic()
    summary, bad, reports = conformance(args.cases.split(","), args.exclude.split(","))
    elapsed = time.monotonic() - started
    header = (
        f"Autobahn|Testsuite 25.10.1, gunpy client, {datetime.date.today()}, "
        f"{platform.platform()}, Python {platform.python_version()}, {elapsed:.0f} s"
    )
    lines = [header, "", summary, ""]
    lines += [f"{case}: {behavior} (close: {close})" for case, behavior, close in bad]
    text = "\n".join(lines)
    print(text)
    out = Path("conformance-results")
    out.mkdir(exist_ok=True)
    (out / f"summary-{datetime.date.today()}.txt").write_text(text + "\n")
    shutil.copy(reports / "index.json", out / "index.json")
    print(f"\nsummary and index.json in {out}/, failing case reports in {reports}/")
    failing = [case for case in bad if case[1] in ("FAILED", "NON-STRICT") or case[2] == "FAILED"]
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
