"""`Supervisor`: OTP's supervisor behaviour on pykka actors.

Children are started in order, linked (gunpy `ProcessActor` children) or
monitored (plain pykka actors, whose exit reason is never known and is seen
as ``"normal"``), and restarted by the OTP rules: permanent always,
transient after an abnormal exit, temporary never. More than ``intensity``
restarts within ``period`` seconds make the supervisor stop every child, in
reverse start order, and exit ``"shutdown"``, which its own supervisor sees.

One thing Python cannot copy: a thread cannot be killed. When a child
outlives its ``shutdown`` time, the supervisor stops waiting and forgets it
(its thread ends whenever its code returns).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pykka

# The private modules: gunpy.actors itself imports this package (the retry rule).
from gunpy.actors._process import (
    Exit,
    ProcessActor,
    demonitor,
    is_normal_exit,
    link,
    monitor,
    process_of,
)
from gunpy.protocol import Ref
from gunpy.supervision._child_spec import ChildSpec, SupFlags, check_child_spec, check_flags

_KILL_WAIT = 1.0  # seconds for a brutal kill to be handled before moving on


@dataclass
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None
    mref: Ref | None = None  # set for plain pykka children, watched by a monitor
    extra_args: tuple[Any, ...] = field(default_factory=tuple)


class _Call(NamedTuple):
    """A module function's request, answered by the supervisor's thread."""

    name: str
    args: tuple[Any, ...]


class StartChildError(Exception):
    """A child's start function raised or returned something that is not an ActorRef."""


class Supervisor(ProcessActor):
    """A supervisor; ``Supervisor.start(flags, children)`` returns its ActorRef.

    ``flags`` and each child spec are OTP's maps as dicts; they are checked
    in the caller, which gets a ValueError naming a bad key.
    """

    trap_exit = True

    def __init__(
        self,
        flags: dict[str, Any] | None = None,
        children: list[dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flags: SupFlags = check_flags(flags or {})
        specs = [check_child_spec(spec) for spec in children or []]
        if self.flags.strategy == "simple_one_for_one" and len(specs) != 1:
            raise ValueError("children: simple_one_for_one takes exactly one child spec")
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"children: duplicate ids in {ids}")
        super().__init__()
        self.specs = specs
        self.clock = clock
        self.children: list[_Child] = []
        self.restarts: deque[float] = deque()

    # -- start-up and shutdown -----------------------------------------------------

    def init(self) -> None:
        if self.flags.strategy == "simple_one_for_one":
            return  # children come with start_child
        for spec in self.specs:
            child = _Child(spec)
            self.children.append(child)
            try:
                self._start(child)
            except StartChildError as exc:
                self.children.remove(child)
                self.exit(("shutdown", ("failed_to_start_child", spec.id, exc.args[0])))
                return

    def terminate(self, reason: object) -> None:
        for child in reversed(self.children):
            self._stop_child(child)

    def _start(self, child: _Child) -> None:
        function, args = child.spec.start
        try:
            ref = function(*args, *child.extra_args)
        except Exception as exc:
            raise StartChildError(exc) from exc
        if not isinstance(ref, pykka.ActorRef):
            raise StartChildError(("bad_return", ref))
        child.ref = ref
        if process_of(ref) is not None:
            link(self.actor_ref, ref)
        else:
            child.mref = monitor(ref, watcher=self.actor_ref)

    def _stop_child(self, child: _Child) -> None:
        """Stop a child as its ``shutdown`` says; its exit is then not a crash."""
        ref, child.ref = child.ref, None
        if ref is None:
            return
        if child.mref is not None:
            demonitor(child.mref)
            child.mref = None
        shutdown = child.spec.shutdown
        wait: float | None
        if shutdown == "infinity":
            wait = None
        elif shutdown == "brutal_kill":
            wait = _KILL_WAIT
        else:
            wait = shutdown / 1000
        process = process_of(ref)
        with contextlib.suppress(pykka.ActorDeadError):
            if process is not None:
                ref.tell(Exit("kill" if shutdown == "brutal_kill" else "shutdown"))
            else:
                ref.stop(block=False)
        # Past its shutdown time the supervisor stops waiting: a thread cannot be killed.
        if process is not None:
            process.monitors.wait(wait)
        else:
            ref.actor_stopped.wait(wait)

    # -- children's exits -------------------------------------------------------------

    def handle_message(self, message: Any) -> Any:
        if isinstance(message, _Call):
            return getattr(self, f"_call_{message.name}")(*message.args)
        if type(message) is tuple and message:
            if message[0] == "EXIT" and len(message) == 3:
                self._exited(message[1], message[2])
            elif message[0] == "DOWN" and len(message) == 5:
                self._exited(message[3], message[4])
        return None

    def _find(self, ref: object) -> _Child | None:
        for child in self.children:
            if child.ref is ref and ref is not None:
                return child
        return None

    def _exited(self, ref: object, reason: object) -> None:
        child = self._find(ref)
        if child is None:
            return  # stopped on purpose, or already handled
        child.ref = None
        child.mref = None
        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and is_normal_exit(reason)):
            if restart == "temporary" or self.flags.strategy == "simple_one_for_one":
                self.children.remove(child)
            return
        if self._too_many_restarts():
            self.exit("shutdown")
            return
        if self.flags.strategy == "one_for_all":
            self._restart_group(self.children)
        elif self.flags.strategy == "rest_for_one":
            self._restart_group(self.children[self.children.index(child) :])
        else:
            self._restart_group([child])

    def _too_many_restarts(self) -> bool:
        now = self.clock()
        self.restarts.append(now)
        while self.restarts and now - self.restarts[0] > self.flags.period:
            self.restarts.popleft()
        return len(self.restarts) > self.flags.intensity

    def _restart_group(self, group: list[_Child]) -> None:
        """Stop the group (reverse order), then start it again (temporary ones are dropped)."""
        for child in reversed(group):
            self._stop_child(child)
        for child in list(group):
            if child.spec.restart == "temporary":
                self.children.remove(child)
                continue
            try:
                self._start(child)
            except StartChildError:
                if self._too_many_restarts():
                    self.exit("shutdown")
                    return

    # -- module functions, answered here -------------------------------------------------

    def _call_start_child(self, arg: Any) -> tuple[Any, ...]:
        if self.flags.strategy == "simple_one_for_one":
            child = _Child(self.specs[0], extra_args=tuple(arg))
        else:
            try:
                spec = check_child_spec(arg)
            except ValueError as exc:
                return ("error", ("invalid_child_spec", str(exc)))
            for existing in self.children:
                if existing.spec.id == spec.id:
                    if existing.ref is not None:
                        return ("error", ("already_started", existing.ref))
                    return ("error", ("already_present", spec.id))
            child = _Child(spec)
        try:
            self._start(child)
        except StartChildError as exc:
            return ("error", exc.args[0])
        self.children.append(child)
        return ("ok", child.ref)

    def _child_by(self, key: object) -> _Child | None:
        if isinstance(key, pykka.ActorRef):
            return self._find(key)
        for child in self.children:
            if child.spec.id == key and self.flags.strategy != "simple_one_for_one":
                return child
        return None

    def _call_terminate_child(self, key: object) -> object:
        child = self._child_by(key)
        if child is None:
            return ("error", "not_found")
        self._stop_child(child)
        if self.flags.strategy == "simple_one_for_one" or child.spec.restart == "temporary":
            self.children.remove(child)
        return "ok"

    def _call_restart_child(self, key: object) -> tuple[Any, ...]:
        child = self._child_by(key)
        if child is None or self.flags.strategy == "simple_one_for_one":
            return ("error", "not_found")
        if child.ref is not None:
            return ("error", "running")
        try:
            self._start(child)
        except StartChildError as exc:
            return ("error", exc.args[0])
        return ("ok", child.ref)

    def _call_delete_child(self, key: object) -> object:
        child = self._child_by(key)
        if child is None or self.flags.strategy == "simple_one_for_one":
            return ("error", "not_found")
        if child.ref is not None:
            return ("error", "running")
        self.children.remove(child)
        return "ok"

    def _call_which_children(self) -> list[tuple[Any, ...]]:
        simple = self.flags.strategy == "simple_one_for_one"
        return [
            (
                "undefined" if simple else child.spec.id,
                child.ref,
                child.spec.type,
                [getattr(child.spec.start[0], "__qualname__", repr(child.spec.start[0]))],
            )
            for child in self.children
        ]

    def _call_count_children(self) -> dict[str, int]:
        return {
            "specs": 1 if self.flags.strategy == "simple_one_for_one" else len(self.children),
            "active": sum(child.ref is not None for child in self.children),
            "supervisors": sum(child.spec.type == "supervisor" for child in self.children),
            "workers": sum(child.spec.type == "worker" for child in self.children),
        }


def _ask(sup: pykka.ActorRef[Any], name: str, *args: Any, timeout: float = 5.0) -> Any:
    return sup.ask(_Call(name, args), block=True, timeout=timeout)


def start_child(sup: pykka.ActorRef[Any], spec_or_args: Any, timeout: float = 5.0) -> Any:
    """Start a child: a child spec, or for simple_one_for_one the extra start args.

    ``("ok", ref)`` or ``("error", reason)`` (``("already_started", ref)``,
    ``("already_present", id)``, the start function's failure...).
    """
    return _ask(sup, "start_child", spec_or_args, timeout=timeout)


def terminate_child(sup: pykka.ActorRef[Any], id_or_ref: object, timeout: float = 30.0) -> Any:
    """Stop a child (by id, or by ref); ``"ok"`` or ``("error", "not_found")``."""
    return _ask(sup, "terminate_child", id_or_ref, timeout=timeout)


def restart_child(sup: pykka.ActorRef[Any], child_id: object, timeout: float = 5.0) -> Any:
    """Start a stopped child again: ``("ok", ref)``, ``("error", "running" | "not_found")``."""
    return _ask(sup, "restart_child", child_id, timeout=timeout)


def delete_child(sup: pykka.ActorRef[Any], child_id: object, timeout: float = 5.0) -> Any:
    """Forget a stopped child's spec: ``"ok"``, ``("error", "running" | "not_found")``."""
    return _ask(sup, "delete_child", child_id, timeout=timeout)


def which_children(sup: pykka.ActorRef[Any], timeout: float = 5.0) -> Any:
    """``[(id, ref or None, type, modules)]`` in start order."""
    return _ask(sup, "which_children", timeout=timeout)


def count_children(sup: pykka.ActorRef[Any], timeout: float = 5.0) -> Any:
    """``{"specs", "active", "supervisors", "workers"}`` counts."""
    return _ask(sup, "count_children", timeout=timeout)
