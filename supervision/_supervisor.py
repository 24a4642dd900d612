"""`Supervisor`: OTP's supervisor behaviour as a gunpy `ProcessActor`.

Children start in list order, each waited for until its init has returned (OTP's
start_link), and are linked (ProcessActor children) or monitored (plain pykka
actors, seen to exit ``"normal"`` whatever happened). They are restarted by
OTP's rules: permanent always, transient after an abnormal exit, temporary
never. More than ``intensity`` restarts within ``period`` seconds make the
supervisor stop every child, in reverse start order, and exit ``"shutdown"``,
which its own supervisor sees through their link. A ``significant`` child
(transient or temporary) that ends by itself and is not restarted makes the
supervisor exit ``"shutdown"`` as its ``auto_shutdown`` flag says (OTP 24).

Where gunpy still differs from OTP:

- A thread cannot be killed, and pykka has no "stop now". A kill is a message
  that the child takes when it next reads its inbox, so ``brutal_kill`` waits
  (up to `KILL_WAIT`) for the child to take it. A child that outlives its
  shutdown time is sent a kill and then forgotten: the supervisor moves on, and
  the child's thread ends whenever its code returns.
- ``Supervisor.start`` returns a ref at once (pykka's start), not OTP's
  ``{error, {shutdown, Reason}}``: a failed start is the supervisor's exit
  reason, seen through a link or monitor.
- A plain pykka child is seen to exit ``"normal"`` whatever happened.
- ``terminate_child`` also takes a ref under the other strategies, and
  simple_one_for_one children are listed in start order (OTP: unspecified).
- A start callable cannot return OTP's ``ignore`` or ``{ok, Pid, Info}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import pykka

from gunpy.actors._process import (
    ProcessActor,
    demonitor,
    is_normal_exit,
    link,
    monitor,
)
from gunpy.protocol import Ref
from gunpy.supervision import _child_spec as one
from gunpy.supervision._api import (
    ChildRef,
    _Call,
    _Rejected,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from gunpy.supervision._child_spec import ChildSpec, Modules, StartFailed, SupFlags

__all__ = [
    "Supervisor",
    "count_children",
    "delete_child",
    "restart_child",
    "start_child",
    "terminate_child",
    "which_children",
]

logger: Final = logging.getLogger("gunpy")


@dataclass(eq=False)
class _Child:
    spec: ChildSpec
    extra_args: tuple[Any, ...] = field(default_factory=tuple)
    ref: pykka.ActorRef[Any] | None = None  # None while not running
    mref: Ref | None = None  # the monitor on a plain pykka child
    process: ProcessActor | None = None  # held: a collected actor's exit reason is lost
    restarting: bool = False  # its restart failed; a _TryAgain is on its way (OTP's restarting)


class _TryAgain(NamedTuple):
    """Restart ``child`` again: its restart failed (OTP's try_again_restart)."""

    child: _Child


class Supervisor(ProcessActor):
    """OTP's supervisor. ``Supervisor.start(flags, children)`` returns its ActorRef.

    ``flags`` and each child spec are OTP's maps as dicts, checked in the caller
    of `start` (ValueError naming the bad key). A child that fails to start makes
    the supervisor exit ``("shutdown", ("failed_to_start_child", id, reason))``
    after stopping the children already started. ``clock`` (seconds, monotonic)
    is for tests of the restart intensity.
    """

    trap_exit = True

    def __init__(
        self,
        flags: Mapping[str, Any] | None = None,
        children: list[Mapping[str, Any]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flags: SupFlags = one.check_flags(flags if flags is not None else {})
        if children is not None and not isinstance(children, list | tuple):
            raise ValueError(f"children: must be a list of child specs, not {children!r}")
        specs = [one.check_child_spec(spec, self.flags.auto_shutdown) for spec in children or []]
        if self.flags.strategy == "simple_one_for_one" and len(specs) != 1:
            raise ValueError("children: simple_one_for_one takes exactly one child spec")
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"children: duplicate ids in {ids}")
        super().__init__()
        self.specs = specs
        self.clock = clock
        self.children: list[_Child] = []  # in start order
        # The running children by actor URN: a simple_one_for_one supervisor may hold
        # 10,000 connections, and every exit and terminate_child looks one up.
        self._running: dict[str, _Child] = {}
        self.restarts: deque[float] = deque()
        # Children stopped on purpose whose EXIT has not come yet: it is no crash.
        self._detached: set[str] = set()
        self._thread: threading.Thread | None = None

    @property
    def _simple(self) -> bool:
        return self.flags.strategy == "simple_one_for_one"

    # -- start-up and shutdown --------------------------------------------------------

    def init(self) -> None:
        self._thread = threading.current_thread()
        if self._simple:
            return  # children come with start_child
        for spec in self.specs:
            child = _Child(spec)
            try:
                self._start(child)
            except StartFailed as exc:
                self.exit(("shutdown", ("failed_to_start_child", spec.id, exc.args[0])))
                return
            self.children.append(child)

    def terminate(self, reason: object) -> None:
        running = [child for child in reversed(self.children) if child.ref is not None]
        if self._simple:
            self._stop_all(running)  # OTP: all at once, no order
        else:
            for child in running:
                self._stop_all([child])

    def _start(self, child: _Child) -> None:
        child.ref, child.process = one.start(child.spec, child.extra_args)
        child.restarting = False
        self._running[child.ref.actor_urn] = child
        if child.process is None:
            child.mref = monitor(child.ref, watcher=self.actor_ref)
        else:
            link(self.actor_ref, child.ref)

    def _detach(self, child: _Child) -> tuple[pykka.ActorRef[Any], ProcessActor | None] | None:
        """Mark a child as stopped on purpose, so its exit is neither restarted nor counted."""
        ref, process = child.ref, child.process
        child.ref = child.process = None
        child.restarting = False  # a terminated child's pending restart is dropped, as OTP
        if ref is None:
            return None
        self._running.pop(ref.actor_urn, None)
        if child.mref is not None:
            demonitor(child.mref)
            child.mref = None
        else:
            self._detached.add(ref.actor_urn)
        return ref, process

    def _stop_all(self, children: list[_Child]) -> None:
        """Stop children as their ``shutdown`` says: ask all, then wait for each."""
        waiting = []
        for child in children:
            detached = self._detach(child)
            if detached is None:
                continue
            ref, process = detached
            one.signal_stop(ref, process, kill=child.spec.shutdown == "brutal_kill")
            timeout = one.shutdown_timeout(child.spec)
            deadline = None if timeout is None else time.monotonic() + timeout
            waiting.append((child, ref, process, deadline))
        for child, ref, process, deadline in waiting:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if one.wait_dead(ref, process, left):
                continue
            logger.warning("supervisor %s: child %r (%s) outlived its shutdown %r; killed",
                           self.actor_urn, child.spec.id, ref, child.spec.shutdown)
            one.signal_stop(ref, process, kill=True)

    # -- children's exits ----------------------------------------------------------------

    def handle_message(self, message: Any) -> Any:
        if isinstance(message, _Call):
            return getattr(self, f"_call_{message.name}")(*message.args)
        if isinstance(message, _TryAgain):
            if message.child.restarting and message.child in self.children:
                self._restart(message.child)
        elif type(message) is tuple and len(message) == 3 and message[0] == "EXIT":
            self._on_exit(message[1], message[2])
        elif type(message) is tuple and len(message) == 5 and message[0] == "DOWN":
            watched = next((c for c in self.children if c.mref == message[1]), None)
            if watched is not None:
                self._child_exited(watched, message[4])
        return None

    def _on_exit(self, ref: Any, reason: object) -> None:
        child = self._by_ref(ref)
        if child is not None:
            self._child_exited(child, reason)
            return
        urn = getattr(ref, "actor_urn", None)
        if urn in self._detached:
            self._detached.discard(urn)
        elif reason != "normal":
            # Not a child: the parent, or whoever linked to us. OTP dies with its parent;
            # an untrapped link would die too.
            self.exit(reason)

    def _by_ref(self, ref: object) -> _Child | None:
        return self._running.get(getattr(ref, "actor_urn", None))  # type: ignore[arg-type]

    def _child_exited(self, child: _Child, reason: object) -> None:
        if child.ref is not None:
            self._running.pop(child.ref.actor_urn, None)
        child.ref, child.mref, child.process = None, None, None
        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and is_normal_exit(reason)):
            if restart == "temporary" or self._simple:
                self.children.remove(child)  # a non-simple transient keeps its spec
            if self._shuts_down_after(child):
                logger.info("supervisor %s: significant child %r ended; auto_shutdown %s",
                            self.actor_urn, child.spec.id, self.flags.auto_shutdown)
                self.exit("shutdown")  # terminate stops every child, in reverse order
            return
        self._restart(child)

    def _shuts_down_after(self, child: _Child) -> bool:
        """OTP's do_auto_shutdown, for a child that ended by itself and is not restarted
        (one stopped by the supervisor, as terminate_child or a sibling's restart, is not)."""
        mode = self.flags.auto_shutdown
        if mode == "never" or not child.spec.significant:
            return False
        return mode == "any_significant" or not any(
            c.spec.significant and (c.ref is not None or c.restarting) for c in self.children)

    def _restart(self, child: _Child) -> None:
        """Count a restart, then restart ``child`` and the siblings its strategy names."""
        now = self.clock()
        self.restarts.append(now)
        while self.restarts and now - self.restarts[0] > self.flags.period:
            self.restarts.popleft()
        if len(self.restarts) > self.flags.intensity:
            logger.error("supervisor %s: restart intensity reached; shutting down",
                         self.actor_urn)
            self.exit("shutdown")  # terminate stops every child, in reverse order
            return
        if self.flags.strategy == "one_for_all":
            group = list(self.children)
        elif self.flags.strategy == "rest_for_one":
            group = self.children[self.children.index(child):]
        else:
            group = [child]
        for other in reversed(group):
            self._stop_all([other])
        for member in group:
            if member.spec.restart == "temporary":
                self.children.remove(member)  # stopped by a sibling: never restarted
                continue
            try:
                self._start(member)
            except StartFailed as exc:
                logger.error("supervisor %s: restarting %r failed: %r",
                             self.actor_urn, member.spec.id, exc.args[0])
                member.restarting = True
                # Later: the rest of the group waits, and each attempt counts.
                self.actor_ref.tell(_TryAgain(member))
                return

    # -- module functions, answered here ----------------------------------------------------

    def _by_key(self, key: object) -> _Child | None:
        if isinstance(key, pykka.ActorRef):
            return self._by_ref(key)
        if self._simple:
            return None  # OTP: simple_one_for_one children are named by ref only
        return next((c for c in self.children if c.spec.id == key), None)

    def _call_start_child(self, arg: ChildSpec | tuple[Any, ...]) -> object:
        if self._simple:
            if not isinstance(arg, tuple):
                return ("error", ("bad_extra_args", arg))
            child = _Child(self.specs[0], extra_args=arg)
        else:
            if not isinstance(arg, ChildSpec):
                return ("error", ("invalid_child_spec", arg))
            if arg.significant:
                try:
                    one.check_significant(arg.restart, self.flags.auto_shutdown)
                except ValueError as exc:
                    return _Rejected(exc)
            existing = self._by_key(arg.id)
            if existing is not None:
                if existing.ref is not None:
                    return ("error", ("already_started", existing.ref))
                return ("error", "already_present")
            child = _Child(arg)
        try:
            self._start(child)
        except StartFailed as exc:
            return ("error", exc.args[0])
        self.children.append(child)
        return ("ok", child.ref)

    def _call_terminate_child(self, key: object) -> object:
        if self._simple:
            if not isinstance(key, pykka.ActorRef):
                return ("error", "simple_one_for_one")  # OTP: by pid only
            child = self._by_ref(key)
            if child is None:  # OTP: a dead pid is a child already gone
                return ("error", "not_found") if key.is_alive() else "ok"
        else:
            child = self._by_key(key)
            if child is None:
                return ("error", "not_found")
        self._stop_all([child])
        if self._simple or child.spec.restart == "temporary":
            self.children.remove(child)
        return "ok"

    def _call_restart_child(self, key: object) -> object:
        if self._simple:
            return ("error", "simple_one_for_one")
        child = self._by_key(key)
        if child is None:
            return ("error", "not_found")
        if child.restarting:
            return ("error", "restarting")
        if child.ref is not None:
            return ("error", "running")
        try:
            self._start(child)
        except StartFailed as exc:
            return ("error", exc.args[0])
        return ("ok", child.ref)

    def _call_delete_child(self, key: object) -> object:
        if self._simple:
            return ("error", "simple_one_for_one")
        child = self._by_key(key)
        if child is None:
            return ("error", "not_found")
        if child.restarting:
            return ("error", "restarting")
        if child.ref is not None:
            return ("error", "running")
        self.children.remove(child)
        return "ok"

    def _call_which_children(self) -> list[tuple[Any, ChildRef, str, Modules]]:
        # OTP keeps its children newest first; gunpy keeps them in start order.
        return [
            ("undefined" if self._simple else c.spec.id, "restarting" if c.restarting else c.ref,
             c.spec.type, c.spec.modules if c.spec.modules is not None else [])
            for c in (self.children if self._simple else reversed(self.children))
        ]

    def _call_count_children(self) -> dict[str, int]:
        return {
            "specs": 1 if self._simple else len(self.children),
            "active": sum(c.ref is not None for c in self.children),
            "supervisors": sum(c.spec.type == "supervisor" for c in self.children),
            "workers": sum(c.spec.type == "worker" for c in self.children),
        }
