"""gunpy.actors: Gun's connection as a pykka actor, mailboxes and the runtime.

- `gun`: Gun's API (``gun.open``, ``gun.ws_upgrade``, ``gun.await_`` ...).
- `Mailbox`: an Erlang mailbox with selective receive, for plain threads.
- `WebsocketClient`: callbacks, automatic re-upgrade after reconnects.
- `ProcessActor`, `monitor`, `demonitor`, `link`, `exit`: Erlang process
  semantics (exit reasons, ``DOWN`` and ``EXIT`` messages) on pykka.
"""

from gunpy.actors import gun
from gunpy.actors._client import SendQueueFull, WebsocketClient, parse_ws_url
from gunpy.actors._connection import ConnectionActor
from gunpy.actors._connection_ref import ConnectionRef, owner_down_reason
from gunpy.actors._mailbox import Destination, Mailbox, sender_for
from gunpy.actors._process import (
    Exit,
    ProcessActor,
    demonitor,
    exit,
    is_normal_exit,
    link,
    monitor,
    process_of,
)
from gunpy.actors._scheduler import Scheduler, Timer, scheduler

__all__ = [
    "ConnectionActor",
    "ConnectionRef",
    "Destination",
    "Exit",
    "Mailbox",
    "ProcessActor",
    "Scheduler",
    "SendQueueFull",
    "Timer",
    "WebsocketClient",
    "demonitor",
    "exit",
    "gun",
    "is_normal_exit",
    "link",
    "monitor",
    "owner_down_reason",
    "parse_ws_url",
    "process_of",
    "scheduler",
    "sender_for",
]
