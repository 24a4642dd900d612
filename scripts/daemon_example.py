"""A daemon-shaped gunpy program: a supervision tree holding two WebSocket feeds and a worker.

    python scripts/daemon_example.py ws://127.0.0.1:8080

SIGTERM or SIGINT stops the tree: children stop in reverse start order, each
connection closes with 1001, and no thread is left behind.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import pykka

from gunpy.actors import ProcessActor, WebsocketClient
from gunpy.supervision import Supervisor

_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one whole line: actors print from their own threads at the same time."""
    with _print_lock:
        print(line, flush=True)


class Aggregator(ProcessActor):
    """The worker: counts what the feeds receive."""

    def init(self) -> None:
        self.count = 0

    def handle_message(self, message: Any) -> Any:
        self.count += 1
        return None

    def terminate(self, reason: object) -> None:
        say(f"stopped aggregator after {self.count} messages ({reason})")


class Feed(WebsocketClient):
    """Subscribes after every (re)connect and forwards messages to the aggregator."""

    def on_connect(self, headers: Any, conn: Any, state: Any) -> Any:
        say(f"{state} connected")
        return ("reply", ("text", f"subscribe {state}"), state)

    def on_message(self, message: Any, conn: Any, state: Any) -> Any:
        for aggregator in pykka.ActorRegistry.get_by_class(Aggregator):
            aggregator.tell(message)
        return state

    def terminate(self, reason: object) -> None:
        super().terminate(reason)
        say(f"stopped {self.state} ({reason})")


def main(url: str) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    feed_opts = {"retry": 1_000_000, "retry_timeout": 1000, "shutdown": 5000}
    tree = Supervisor.start(
        {"strategy": "one_for_one", "intensity": 5, "period": 10},
        [
            {"id": "aggregator", "start": (Aggregator.start, ())},
            Feed.child_spec(f"{url}/a", id="feed-a", state="feed-a", **feed_opts),
            Feed.child_spec(f"{url}/b", id="feed-b", state="feed-b", **feed_opts),
        ],
    )
    say("ready")
    stop.wait()
    tree.stop(timeout=30)  # stops feed-b, feed-a, then the aggregator
    pykka.ActorRegistry.stop_all(timeout=10)  # gun's own tree, if anything used it
    left = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    say(f"threads left: {[n for n in left if not n.startswith('gunpy-runtime')]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080"))
