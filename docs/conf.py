"""Sphinx configuration of gunpy's documentation site (built by ``scripts/docs``)."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from docutils.parsers.rst import Directive

project = "gunpy"
author = "gunpy contributors"
copyright = "gunpy contributors"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

# Docstrings are reStructuredText (no Google or NumPy sections: no napoleon). A
# name between single backquotes is a cross-reference, as the docstrings mean
# it (`Mailbox`, `await_`); with nitpicky off, a name that has no page (a
# private module such as gunpy.supervision._supervisor) stays plain code.
default_role = "py:obj"
nitpicky = False

autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
autodoc_default_options: dict[str, Any] = {}
# The aliases the signatures use, shown by name rather than expanded.
autodoc_type_aliases = {
    "HeadersIn": "HeadersIn",
    "Headers": "gunpy.protocol.Headers",
    "Frame": "gunpy.protocol.Frame",
    "Fin": "gunpy.protocol.Fin",
    "Message": "gunpy.protocol.Message",
    "Timeout": "gunpy.protocol.Timeout",
    "Body": "Body",
    "Match": "Match",
    "RetryFun": "RetryFun",
}
# Not "Destination": gunpy.actors.Destination (where messages go) and
# gunpy.protocol.Destination (a proxy's target) are two different aliases.


def _name_type_aliases() -> None:
    """Show an alias of ``autodoc_type_aliases`` by its name inside ``X | None`` too.

    Sphinx 8.2 and 9 print ``TypeAliasForwardRef('Frame') | None`` there (the
    regression of sphinx-doc/sphinx#14003, which #10353 had fixed once): give the
    forward reference back the ``repr`` it had then.
    """
    from sphinx.util import inspect as sphinx_inspect

    forward = getattr(sphinx_inspect, "TypeAliasForwardRef", None)
    if forward is not None:
        forward.__repr__ = lambda self: self.name


_name_type_aliases()

templates_path: list[str] = []
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "gunpy"
html_static_path: list[str] = []
pygments_style = "sphinx"
pygments_dark_style = "monokai"

# The four public faces; every name in their __all__ must be documented (see below).
FACES = ("gunpy.actors", "gunpy.actors.gun", "gunpy.protocol", "gunpy.supervision")

# One clear line when gunpy itself does not import, rather than a traceback for
# each of the hundred objects autodoc would then fail to import.
try:
    for _face in FACES:
        importlib.import_module(_face)
except Exception as _exc:
    from sphinx.errors import ConfigError

    raise ConfigError(f"gunpy does not import, so neither can its API reference: "
                      f"{type(_exc).__name__}: {_exc}") from None


def _attribute_doc(face: str, name: str, value: object) -> list[str] | None:
    """The docstring written under ``name = ...`` in the private module that defines it.

    A type alias or a constant re-exported by a face has no docstring of its own
    (its ``__doc__`` is that of str or of typing's classes): autodoc would look for
    the comment in the face's source, where it is not.
    """
    from sphinx.pycode import ModuleAnalyzer

    # Only modules the face has imported already: importing others could run code
    # (gunpy.actors.__main__ is the command line).
    for module_name, module in sorted(sys.modules.items()):
        last = module_name.rsplit(".", 1)[-1]
        if not module_name.startswith(face + ".") or not last.startswith("_"):
            continue
        if last.startswith("__") or getattr(module, name, _MISSING) is not value:
            continue
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        if ("", name) in docs:
            return list(docs[("", name)])
    return None


_MISSING = object()


def _data_docstring(app: Any, what: str, name: str, obj: object, options: Any,
                    lines: list[str]) -> None:
    if what not in ("data", "attribute"):
        return
    face, _, short = name.rpartition(".")
    if face not in FACES:
        return
    # Its own docstring, or none: never the docstring of its type (str's, tuple's,
    # typing's), which autodoc would show for a constant or an alias without one.
    lines[:] = _attribute_doc(face, short, obj) or []


def _check_every_public_name(app: Any, env: Any) -> None:
    """Fail the build (a warning, which -W makes an error) for an undocumented export.

    A name counts as documented when some documented object is that very object,
    so a re-export (``gun.OptionsError`` is ``gunpy.protocol.OptionsError``) is
    documented once, where it lives in the reference.
    """
    from sphinx.util import logging

    log = logging.getLogger("gunpy-docs")
    documented: list[object] = []
    for fullname in env.get_domain("py").objects:
        target = _resolve(fullname)
        if target is not _MISSING:
            documented.append(target)
    for face in FACES:
        module = importlib.import_module(face)
        for name in module.__all__:
            value = getattr(module, name)
            if not any(value is other for other in documented):
                log.warning("%s.%s is exported but not in the API reference (docs/api/)",
                            face, name)


def _resolve(fullname: str) -> object:
    parts = fullname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            target = inspect.getattr_static(target, attr, _MISSING)
            if target is _MISSING:
                return _MISSING
            if isinstance(target, classmethod | staticmethod):
                target = target.__func__
        return target
    return _MISSING


README = Path(__file__).resolve().parent.parent / "README.rst"


def readme_section(title: str) -> list[str]:
    """The body of the README's section ``title``, up to the next title (of any level).

    The README is the project's front page and is tested (tests/test_readme.py);
    the pages that show its measurements quote it rather than copy it.
    """
    lines = README.read_text().splitlines()

    def title_at(i: int) -> str | None:
        """The underline character if line ``i`` is a section title."""
        if i + 1 >= len(lines) or not lines[i].strip():
            return None
        under = lines[i + 1]
        if len(under) < len(lines[i].rstrip()) or len(set(under)) != 1 or under[0].isalnum():
            return None
        return under[0]

    start = None
    for i in range(len(lines)):
        if title_at(i) is None:
            continue
        if start is not None:
            # A subsection ends the quote too: the README nests some sections
            # under others only by where they happen to follow.
            return lines[start:i]
        if lines[i].strip() == title:
            start = i + 2
    if start is None:
        raise ValueError(f"README.rst has no section {title!r}")
    return lines[start:]


class ReadmeSection(Directive):
    """``.. readme-section:: TITLE``: that section of README.rst, parsed here."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[Any]:
        try:
            body = readme_section(self.arguments[0])
        except ValueError as exc:
            raise self.error(str(exc)) from None
        self.state.document.settings.record_dependencies.add(str(README))
        self.state_machine.insert_input(body, str(README))
        return []


class CommandHelp(Directive):
    """``.. command-help:: MODULE``: what ``python -m MODULE --help`` prints, run now."""

    required_arguments = 1

    def run(self) -> list[Any]:
        from docutils import nodes

        env = {**os.environ, "COLUMNS": "79"}
        run = subprocess.run([sys.executable, "-m", self.arguments[0], "--help"],
                             capture_output=True, text=True, timeout=60, env=env)
        if run.returncode != 0:
            raise self.error(f"python -m {self.arguments[0]} --help failed: {run.stderr}")
        return [nodes.literal_block(run.stdout, run.stdout)]


# The page of the `gunpy` command exists while the command does.
if not (Path(__file__).resolve().parent.parent / "actors" / "__main__.py").exists():
    exclude_patterns.append("command.rst")


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("readme-section", ReadmeSection)
    app.add_directive("command-help", CommandHelp)
    app.connect("autodoc-process-docstring", _data_docstring)
    app.connect("env-check-consistency", _check_every_public_name)
    return {"parallel_read_safe": True}
