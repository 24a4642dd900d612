"""Autobahn|Testsuite sections 1-7 and 10 (the suite has no section 8) when CPython 2.7 can run it.

Same driver as ``scripts/conformance`` (``tests/autobahn_driver.py``), which
adds section 9 (performance: about 20 s more, bound by the Python 2 server).
The bar: no FAILED case, no NON-STRICT case but where a fault follows valid
frames at once (sections 3 and 4, case 5.15: gunpy closes promptly on a fault,
see ``PROMPT_FAULT_CLOSE``), no bad close, no case the client had to cut.
The first run installs the suite into ``.venv/autobahn`` (about
40 s to a minute, once); after that this test takes about 10 s. The
fuzzingserver is stopped whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.autobahn_driver import (
    NO_DEFLATE,
    SECTIONS_1_TO_10,
    AutobahnUnavailable,
    autobahn_python,
    run_suite,
)


@pytest.mark.timeout(900)  # a cold install, then about 250 cases
def test_autobahn_sections_1_to_8_and_10() -> None:
    try:
        python = autobahn_python()
    except AutobahnUnavailable as exc:
        pytest.skip(str(exc))
    cases = [pattern for pattern in SECTIONS_1_TO_10 if pattern != "9.*"]
    with tempfile.TemporaryDirectory(prefix="gunpy-autobahn-reports-") as tmp:
        outcome = run_suite(python, cases, ["9.*", *NO_DEFLATE], Path(tmp))
        failures = outcome.failures
        kept = ""
        if failures:
            keep = Path(tempfile.mkdtemp(prefix="gunpy-autobahn-failed-"))
            for result in outcome.non_ok:
                if result.report is not None:
                    shutil.copy(result.report, keep / result.report.name)
            kept = f"\nreports of the non-OK cases in {keep}"
    assert len(outcome.results) >= 240, outcome.table()
    assert not failures, "\n".join([*failures, "", outcome.table()]) + kept
