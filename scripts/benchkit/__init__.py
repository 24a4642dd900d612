"""The parts of ``scripts/bench.py``: server, server processes, clients, HTTP GET, scale.

Importing the package puts the repository root on ``sys.path``: the bench
server builds its frames with the one wire kit, ``tests/wire.py``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench.py"  # the entry point: server and hold children run it too
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
