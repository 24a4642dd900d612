"""Autobahn|Testsuite sections 1-8 and 10 (about 10 s), when a CPython 2.7 is there to run it.

Section 9 (performance, ~15 s) runs in ``scripts/conformance``. The bar: no
FAILED and no NON-STRICT case.
"""

from __future__ import annotations

import pytest

from tests.autobahn_driver import conformance, find_python2


@pytest.mark.timeout(600)
def test_autobahn_sections_1_to_8_and_10() -> None:
    if find_python2() is None:
        pytest.skip("no CPython 2.7 on this machine: Autobahn|Testsuite needs one")
    sections = [f"{n}.*" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10)]
    summary, bad, reports = conformance(sections, ["9.*", "12.*", "13.*"])
    strict_failures = [case for case in bad if {"FAILED", "NON-STRICT"} & set(case[1:])]
    assert not strict_failures, f"{strict_failures}; reports in {reports}\n{summary}"
