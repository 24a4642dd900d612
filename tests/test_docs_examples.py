"""The documentation's examples (``docs/examples``) run against real local servers.

``docs/examples/check.py`` runs each one in a Python of its own and compares
what it prints with its ``.out`` file; this keeps them from drifting from
the code the way the README's are kept by ``test_readme.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).resolve().parent.parent / "docs" / "examples" / "check.py"


def test_every_documentation_example_runs_and_prints_what_the_page_says() -> None:
    done = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok " in done.stdout
