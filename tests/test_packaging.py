"""A package people can install: ``python -m build`` makes a wheel and an sdist, and
the wheel, installed into a fresh venv, gives a working ``gunpy`` command and tour.

The fresh venv takes gunpy's dependencies from the package index, as a user's
would; the build itself uses this venv's setuptools (``--no-isolation``).
"""

from __future__ import annotations

import email
import importlib.metadata
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from tests.peers import EchoServer
from tests.test_readme import echo_then_close, tour_code

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.timeout(900)
def test_the_wheel_installs_into_a_fresh_venv_and_works(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", dist, ROOT)
    wheel = next(dist.glob("gunpy-*.whl"))
    sdist = next(dist.glob("gunpy-*.tar.gz"))
    names = zipfile.ZipFile(wheel).namelist()
    for typed in ("gunpy/actors/py.typed", "gunpy/protocol/py.typed",
                  "gunpy/supervision/py.typed"):
        assert typed in names
    # Installed under the gunpy namespace only: the bare names belong to other projects.
    assert not any(n.split("/")[0] in ("actors", "protocol", "supervision") for n in names)
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(meta_name))
    assert meta["Version"] == importlib.metadata.version("gunpy")
    assert "Typing :: Typed" in meta.get_all("Classifier", [])
    assert meta.get_all("Project-URL") and "gunpy" in (meta.get_payload() or "")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("/README.rst") for m in members)
    assert any(m.endswith("/protocol/_connection.py") for m in members)

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    python, gunpy = fresh / "bin" / "python", fresh / "bin" / "gunpy"
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)
    assert _run(gunpy, "--help").stdout.startswith("usage: gunpy")
    assert meta["Version"] in _run(gunpy, "--version").stdout
    with EchoServer(handler=echo_then_close) as server:
        printed = _run(python, "-c", tour_code(server.port), timeout=60).stdout
    assert "hello" in printed and "server closed 1000" in printed
