"""OTP's supervisor module functions: asks to a `Supervisor`, answered in its thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import pykka

from gunpy.actors._process import process_of
from gunpy.supervision import _child_spec as one
from gunpy.supervision._child_spec import Modules

ChildRef = pykka.ActorRef[Any] | Literal["restarting"] | None
"""A child as `which_children` shows it: its ref, ``"restarting"``, or None (not running)."""


class _Call(NamedTuple):
    """A module function's request, answered in the supervisor's thread."""

    name: str
    args: tuple[Any, ...]


class _Rejected(NamedTuple):
    """A child spec the supervisor refused (its flags forbid it): raised in the caller."""

    error: ValueError


def _ask(sup: pykka.ActorRef[Any], name: str, *args: Any, timeout: float) -> Any:
    process = process_of(sup)
    if getattr(process, "_thread", None) is threading.current_thread():
        raise RuntimeError("a supervisor cannot call itself: the ask would never be answered")
    return sup.ask(_Call(name, args), block=True, timeout=timeout)


def start_child(
    sup: pykka.ActorRef[Any], spec_or_args: Any, *, timeout: float = 5.0
) -> tuple[Any, ...]:
    """Start a child from a spec dict or, under simple_one_for_one, from extra start args
    (a tuple or list, appended to the template's args).

    ``("ok", ref)``; ``("error", ("already_started", ref))``, ``("error",
    "already_present")`` (a stopped child has that id) or ``("error",
    why_the_start_failed)``. A bad spec dict raises ValueError here, in the caller,
    also when the supervisor's flags forbid it (``significant`` under
    ``auto_shutdown`` never).
    """
    if isinstance(spec_or_args, Mapping):
        arg: Any = one.check_child_spec(spec_or_args)
    elif isinstance(spec_or_args, list | tuple):
        arg = tuple(spec_or_args)
    else:
        raise TypeError(f"start_child: a child spec dict or extra args, not {spec_or_args!r}")
    result = _ask(sup, "start_child", arg, timeout=timeout)
    if isinstance(result, _Rejected):
        raise result.error
    answer: tuple[Any, ...] = result
    return answer


def terminate_child(sup: pykka.ActorRef[Any], id_or_ref: object, *, timeout: float = 30.0) -> Any:
    """Stop a child as its ``shutdown`` says; its spec stays, unless it is temporary or
    simple_one_for_one. By id or (a gunpy extension) by ref; simple_one_for_one
    children by ref only.

    ``"ok"`` (also for a child already stopped, or under simple_one_for_one a ref
    that is dead) or ``("error", "not_found" | "simple_one_for_one")`` (an id
    given to a simple_one_for_one supervisor). The default timeout covers a
    worker's 5 s shutdown time.
    """
    return _ask(sup, "terminate_child", id_or_ref, timeout=timeout)


def restart_child(sup: pykka.ActorRef[Any], child_id: object, *, timeout: float = 5.0) -> Any:
    """Start a stopped child's spec again: ``("ok", ref)``, ``("error", "running" |
    "restarting" | "not_found" | "simple_one_for_one")`` or ``("error",
    why_the_start_failed)``."""
    return _ask(sup, "restart_child", child_id, timeout=timeout)


def delete_child(sup: pykka.ActorRef[Any], child_id: object, *, timeout: float = 5.0) -> Any:
    """Forget a stopped child's spec: ``"ok"`` or ``("error", "running" | "restarting" |
    "not_found" | "simple_one_for_one")``."""
    return _ask(sup, "delete_child", child_id, timeout=timeout)


def which_children(
    sup: pykka.ActorRef[Any], *, timeout: float = 5.0
) -> list[tuple[Any, ChildRef, str, Modules]]:
    """``[(id, child, type, modules)]``, newest first as OTP (a restarted child keeps its
    place); under simple_one_for_one the id is ``"undefined"`` and the order is
    start order (OTP's is unspecified). ``child`` is the ref, ``"restarting"`` (a
    restart failed and is tried again) or None; modules the start callable's
    name or ``"dynamic"``."""
    result: list[tuple[Any, ChildRef, str, Modules]] = _ask(
        sup, "which_children", timeout=timeout)
    return result


def count_children(sup: pykka.ActorRef[Any], *, timeout: float = 5.0) -> dict[str, int]:
    """``{"specs", "active", "supervisors", "workers"}``, counted as OTP does."""
    result: dict[str, int] = _ask(sup, "count_children", timeout=timeout)
    return result
