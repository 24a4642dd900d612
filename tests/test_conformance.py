"""Autobahn|Testsuite 1-7, 10 and a permessage-deflate subset of 12 and 13 (needs CPython 2.7).

The suite has no section 8. Same driver as ``scripts/conformance``
(``tests/autobahn_driver.py``), which adds section 9 (performance: about 20 s
more, bound by the Python 2 server) and all of 12 and 13 (about 15 minutes,
bound by the Python 2 server's deflate). The client offers permessage-deflate
in every case, as in Gun's own run; `DEFLATE_SUBSET` takes one case of each
kind of negotiation 12 and 13 try (the server's defaults, context takeover
off either side, window bits 8 and 15, their mixes).
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
    SECTIONS_1_TO_10,
    AutobahnUnavailable,
    autobahn_python,
    run_suite,
)

DEFLATE_SUBSET = ("12.1.3", "12.2.3", "13.1.3", "13.2.3", "13.3.3", "13.5.3", "13.7.3")


@pytest.mark.timeout(900)  # a cold install, then about 250 cases
def test_autobahn_sections_1_to_8_and_10_and_deflate() -> None:
    try:
        python = autobahn_python()
    except AutobahnUnavailable as exc:
        pytest.skip(str(exc))
    cases = [pattern for pattern in SECTIONS_1_TO_10 if pattern != "9.*"]
    cases += DEFLATE_SUBSET
    with tempfile.TemporaryDirectory(prefix="gunpy-autobahn-reports-") as tmp:
        outcome = run_suite(python, cases, ["9.*"], Path(tmp), compress=True)
        failures = outcome.failures
        kept = ""
        if failures:
            keep = Path(tempfile.mkdtemp(prefix="gunpy-autobahn-failed-"))
            for result in outcome.non_ok:
                if result.report is not None:
                    shutil.copy(result.report, keep / result.report.name)
            kept = f"\nreports of the non-OK cases in {keep}"
    assert len(outcome.results) >= 240, outcome.table()
    deflate = [r for r in outcome.results if r.case.startswith(("12.", "13."))]
    assert len(deflate) == len(DEFLATE_SUBSET) and all(r.ok for r in deflate), outcome.table()
    assert not failures, "\n".join([*failures, "", outcome.table()]) + kept
