"""`ProcessActor`: a pykka actor that dies like an Erlang process.

pykka actors stop, but nobody is told and no reason is kept. A ProcessActor
has an exit reason (``"normal"``, ``"shutdown"``, ``("shutdown", x)`` or the
exception that crashed it), fires its monitors when it stops, and can be
linked to other ProcessActors. `monitor`, `demonitor`, `link` and `exit` are
the Erlang functions of the same names.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Final, NamedTuple

import pykka

import gunpy.actors._futex_hash as futex_hash
from gunpy.actors._mailbox import Mailbox, sender_for
from gunpy.actors._monitors import MonitorSet, poller, remove_monitor
from gunpy.protocol import Ref
from gunpy.protocol._messages import exit_signal


class Exit(NamedTuple):
    """Runtime message: stop with ``reason`` (Erlang's ``exit(Pid, Reason)``)."""

    reason: object


class _LinkDown(NamedTuple):
    """Runtime message: a linked process stopped with ``reason``."""

    source: pykka.ActorRef[Any]
    reason: object


_EXIT_REASON: Final = "_gunpy_exit_reason"


def exit_reason_of(target: object) -> object:
    """The exit reason recorded for a dead ProcessActor or connection, or ``"noproc"``."""
    ref = getattr(target, "actor_ref", target)
    return getattr(ref, _EXIT_REASON, "noproc")


def is_normal_exit(reason: object) -> bool:
    """True for the reasons that do not count as a crash: normal and shutdown."""
    return (
        reason == "normal"
        or reason == "shutdown"
        or (isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown")
    )


_actors: Final[weakref.WeakValueDictionary[str, ProcessActor]] = weakref.WeakValueDictionary()


class ProcessActor(pykka.ThreadingActor):
    """A ThreadingActor with an exit reason, monitors and links.

    Subclasses put their start-up in `init`, their message handling in
    `handle_message` and their clean-up in `terminate`; `on_start`,
    `on_receive`, `on_stop` and `on_failure` belong to this class.
    ``trap_exit = True`` turns the exit of a linked actor into an
    ``("EXIT", ref, reason)`` message instead of a stop.
    """

    use_daemon_thread: ClassVar[bool] = True

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        # pykka's extension point for actor types. Its default, queue.Queue, runs
        # three Python Conditions (made at every start, taken at every message);
        # SimpleQueue is C, with the put/get/empty pykka uses.
        return queue.SimpleQueue()
    trap_exit: bool = False

    def __init__(self) -> None:
        super().__init__()
        futex_hash.fit(threading.active_count() + 1)  # the thread this actor starts
        self.monitors = MonitorSet(self.actor_ref)
        self.exit_reason: object = "normal"
        self._links: set[pykka.ActorRef[Any]] = set()
        self._links_lock = threading.Lock()
        self._dead = False
        self.initialized = threading.Event()
        """Set once `init` has returned: the actor is started, as OTP's start_link means."""
        _actors[self.actor_urn] = self

    # -- hooks for subclasses -------------------------------------------------

    def init(self) -> None:
        """Start-up work, in the actor's thread. An exception here is the exit reason."""

    def handle_message(self, message: Any) -> Any:
        """Handle one message; the return value answers an ``ask``."""
        return None

    def terminate(self, reason: object) -> None:
        """Clean-up, in the actor's thread, before monitors and links are told."""

    # -- pykka hooks ----------------------------------------------------------

    def on_start(self) -> None:
        """pykka hook: runs `init`; a failure there is the exit reason."""
        try:
            self.init()
        except BaseException as exc:
            # pykka calls no hook when on_start fails: report the death here.
            self._died(exc)
            raise
        if not self._dead:  # an init may also end with self.exit(reason): not started
            self.initialized.set()

    def on_receive(self, message: Any) -> Any:
        """pykka hook: runtime messages (exit, links), then `handle_message`."""
        if isinstance(message, Exit):
            # Erlang: exit(Pid, kill) ends the process with reason killed.
            self.exit("killed" if message.reason == "kill" else message.reason)
            return None
        if isinstance(message, _LinkDown):
            self._link_down(message.source, message.reason)
            return None
        return self.handle_message(message)

    def on_stop(self) -> None:
        """pykka hook: a stop; `terminate`, then monitors and links are told."""
        self._died(self.exit_reason)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """pykka hook: a crash in a told message; the exception is the exit reason."""
        self._died(exception_value)

    # -- the process ----------------------------------------------------------

    def exit(self, reason: object) -> None:
        """Stop now with ``reason``, skipping queued messages. Call from the actor's thread."""
        self.exit_reason = reason
        # pykka has no public "stop now" (its issue #46); _stop() is what its own
        # stop message runs, without waiting behind the rest of the inbox.
        self._stop()

    def _died(self, reason: object) -> None:
        with self._links_lock:
            if self._dead:
                return
            self._dead = True
        self.exit_reason = reason
        # Kept on the ref too: whoever holds the ref may monitor it after the actor
        # object is collected, and should still learn why it died.
        setattr(self.actor_ref, _EXIT_REASON, reason)
        try:
            self.terminate(reason)
        finally:
            with self._links_lock:
                links, self._links = self._links, set()
            # Exit signals first: Erlang delivers them ahead of queued messages,
            # so a linked process dies of the link, not of a DOWN it reads first.
            for other in links:
                _tell(other, _LinkDown(self.actor_ref, reason))
            self.monitors.fire(reason)

    def _link_down(self, source: pykka.ActorRef[Any], reason: object) -> None:
        with self._links_lock:
            self._links.discard(source)
        if self.trap_exit:
            self.handle_message(exit_signal(source, reason))
        elif reason != "normal":
            # As in Erlang, only "normal" spares a linked process; even "shutdown" does not.
            self.exit(reason)

    def add_link(self, other: pykka.ActorRef[Any]) -> bool:
        """Record a link; False if this actor is already dead (then nothing is recorded)."""
        with self._links_lock:
            if self._dead:
                return False
            self._links.add(other)
            return True


def _tell(ref: pykka.ActorRef[Any], message: object) -> None:
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)


def process_of(target: object) -> ProcessActor | None:
    """The live-or-dead ProcessActor behind ``target`` (an ActorRef or a gun connection)."""
    ref = getattr(target, "actor_ref", target)
    if isinstance(ref, pykka.ActorRef):
        return _actors.get(ref.actor_urn)
    return None


def _monitor_set(target: object) -> tuple[MonitorSet, Callable[[], bool] | None]:
    """The target's monitors, and the liveness check to poll if it cannot report its death."""
    process = process_of(target)
    if process is not None:
        return process.monitors, None
    if isinstance(target, Mailbox):
        return target.monitors, (target.is_alive if target.thread is not None else None)
    ref = getattr(target, "actor_ref", target)
    if isinstance(ref, pykka.ActorRef) and not ref.is_alive():
        # Dead, and its ProcessActor (if it was one) already collected.
        gone = MonitorSet(target)
        gone.fire(exit_reason_of(ref))
        return gone, None
    if isinstance(target, pykka.ActorRef):
        # A plain pykka actor cannot report its death: watch its stopped flag.
        monitors = _plain_monitors.get(target.actor_urn)
        if monitors is None:
            monitors = MonitorSet(target)
            _plain_monitors[target.actor_urn] = monitors
        return monitors, target.is_alive
    raise TypeError(f"cannot monitor {target!r}: not an actor, connection or Mailbox")


_plain_monitors: weakref.WeakValueDictionary[str, MonitorSet] = weakref.WeakValueDictionary()


def monitor(target: object, watcher: object = None) -> Ref:
    """Watch ``target``; ``watcher`` gets ``("DOWN", mref, "process", target, reason)`` once.

    ``target`` is a pykka ActorRef, a gun connection or a `Mailbox`;
    ``watcher`` an ActorRef or a Mailbox, by default the calling thread's
    `Mailbox.current`. If the target is already dead the DOWN comes at once.
    Plain pykka actors and ended threads are seen with reason ``"normal"``.
    """
    mref = Ref()
    send = sender_for(Mailbox.current() if watcher is None else watcher)
    monitors, is_alive = _monitor_set(target)
    monitors.add(mref, send)
    if is_alive is not None:
        poller.watch(is_alive, monitors)  # after add: the poller drops unwatched targets
    return mref


def demonitor(mref: Ref, flush: bool = False) -> bool:
    """Stop the monitor ``mref``; with ``flush``, drop its queued DOWN from the caller's mailbox."""
    active = remove_monitor(mref)
    if flush:
        Mailbox.current().flush(lambda m: isinstance(m, tuple) and m[:2] == ("DOWN", mref))
    return active


def link(a: object, b: object) -> None:
    """Link two ProcessActors: an abnormal exit of either stops the other (unless it traps exits).

    If one of them is already dead, the other is told at once, as Erlang
    sends ``noproc`` to a process that links to a dead one.
    """
    pa, pb = process_of(a), process_of(b)
    if pa is None or pb is None:
        # A dead actor whose object is gone: the live one gets its exit signal now.
        live, dead = (pb, a) if pa is None else (pa, b)
        dead_ref = getattr(dead, "actor_ref", dead)
        if live is None or not isinstance(dead_ref, pykka.ActorRef) or dead_ref.is_alive():
            raise TypeError("link() needs two gunpy ProcessActors (or connections)")
        _tell(live.actor_ref, _LinkDown(dead_ref, exit_reason_of(dead_ref)))
        return
    if not pa.add_link(pb.actor_ref):
        _tell(pb.actor_ref, _LinkDown(pa.actor_ref, pa.exit_reason))
        return
    if not pb.add_link(pa.actor_ref):
        with pa._links_lock:
            pa._links.discard(pb.actor_ref)
        _tell(pa.actor_ref, _LinkDown(pb.actor_ref, pb.exit_reason))


def exit(target: object, reason: object) -> None:
    """Ask ``target`` (a ProcessActor or connection) to stop with ``reason``; does not wait."""
    process = process_of(target)
    if process is None:
        raise TypeError(f"{target!r} is not a gunpy ProcessActor")
    _tell(process.actor_ref, Exit(reason))
