"""Mailbox barriers: run once the reader has taken what came before them."""

from __future__ import annotations

from gunpy.actors import Mailbox


def test_barrier_runs_when_the_reader_next_looks() -> None:
    box = Mailbox("b")
    ran: list[str] = []
    box.send("before")
    box.send_barrier(lambda: ran.append("barrier"))
    box.send("after")
    assert box.messages() == ["before", "after"]  # barriers are not messages
    assert box.receive(timeout=1) == "before"
    assert ran == []  # the reader has not looked again yet
    assert box.receive(timeout=1) == "after"
    assert ran == ["barrier"]


def test_barrier_with_selective_receive_waits_for_the_head() -> None:
    box = Mailbox("b")
    ran: list[str] = []
    box.send("first")
    box.send_barrier(lambda: ran.append("barrier"))
    box.send("wanted")
    assert box.receive(lambda m: m == "wanted", timeout=1) == "wanted"
    assert ran == []  # "first" was not taken: the owner has not handled it
    assert box.receive(timeout=1) == "first"
    box.send("later")
    assert box.receive(timeout=1) == "later"
    assert ran == ["barrier"]


def test_flush_runs_barriers_that_reach_the_head() -> None:
    box = Mailbox("b")
    ran: list[str] = []
    box.send("x")
    box.send_barrier(lambda: ran.append("barrier"))
    box.flush()
    assert ran == ["barrier"] and box.messages() == []
