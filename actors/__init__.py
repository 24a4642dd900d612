"""gunpy.actors: an Erlang-style runtime on pykka, and Gun's connection built on it.

The runtime (no Gun knowledge):

- `Mailbox`: an Erlang mailbox with selective receive, for plain threads;
  `Source`: what a mailbox's waiting thread may read itself (`Mailbox.attach`).
- `ProcessActor`, `monitor`, `demonitor`, `link`, `exit`, `Exit`,
  `is_normal_exit`: Erlang process semantics (exit reasons, ``DOWN`` and
  ``EXIT`` messages) on pykka.

The connection (``gunpy.actors.gun``):

- `gun`: Gun's API (``gun.open``, ``gun.ws_upgrade``, ``gun.await_`` ...).
- `ConnectionRef`: the ``conn`` of every message; `frame_kind`: a frame's
  kind whatever its shape (``"ping"`` for ``"ping"`` and ``("ping", data)``).
- `WebsocketClient`, `SendQueueFull`, `UpgradeRefused`: callbacks, re-upgrade
  after reconnects with backoff, Cowboy's handler contract.
"""

# The connection comes after the runtime: gunpy.supervision, which it uses,
# needs the runtime above.
from gunpy.actors import gun
from gunpy.actors._mailbox import Destination, Mailbox, Source
from gunpy.actors._process import (
    Exit,
    ProcessActor,
    demonitor,
    exit,
    is_normal_exit,
    link,
    monitor,
)
from gunpy.actors.gun._client import SendQueueFull, UpgradeRefused, WebsocketClient
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol import frame_kind

__all__ = [
    "ConnectionRef",
    "Destination",
    "Exit",
    "Mailbox",
    "ProcessActor",
    "SendQueueFull",
    "Source",
    "UpgradeRefused",
    "WebsocketClient",
    "demonitor",
    "exit",
    "frame_kind",
    "gun",
    "is_normal_exit",
    "link",
    "monitor",
]
