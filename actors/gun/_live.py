"""A caller's command applied to the live connection, and the caller's direct path to it.

`apply_live` is the one place where `WsUpgrade`, `Request`, `Data` and
`Cancel` meet the live `ClientConnection`. The connection actor calls it for
the commands it receives; `submit` calls it in the caller's own thread when
the connection is live and nothing the callers told the actor is still
waiting in its inbox. That skips a thread wake-up per request (the actor's),
and keeps Gun's order: commands are applied in the order one caller made
them, because a caller goes direct only once the actor has applied all it
was told (`Channel.pending`). With an event handler every command goes
through the actor, so the callbacks run where they always did.
"""

from __future__ import annotations

from typing import Final

from gunpy.actors._mailbox import sender_for
from gunpy.actors.gun._commands import Cancel, Data, Request, SetOwner, Shutdown, WsUpgrade
from gunpy.actors.gun._io import SocketIO
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol._messages import gun_stream_error

BADSTATE_HTTP10: Final = "Websocket cannot be used over an HTTP/1.0 connection."

LiveCommand = WsUpgrade | Request | Data | Cancel
COUNTED: Final = (WsUpgrade, Request, Data, Cancel, SetOwner, Shutdown)
"""The commands `Channel.pending` counts: those whose order a caller relies on."""


def apply_live(io: SocketIO, command: LiveCommand, owner: object) -> None:
    """Apply ``command`` to ``io``'s connection; a missing reply_to is ``owner``."""
    match command:
        case WsUpgrade(request):
            if request.reply_to is None:
                request = request._replace(reply_to=owner)
            if io.opts.http_opts.version == "HTTP/1.0":
                error = ("badstate", BADSTATE_HTTP10)
                sender_for(request.reply_to)(gun_stream_error(io.conn, request.ref, error))
                return
            if io.events.active:
                io.events.emit("ws_upgrade", {"stream_ref": request.ref,
                                              "reply_to": request.reply_to})
            io.call(lambda proto: proto.ws_upgrade(request))
        case Request(http_request):
            if http_request.reply_to is None:
                http_request = http_request._replace(reply_to=owner)
            io.call(lambda proto: proto.request(http_request))
        case Data(part):
            if part.reply_to is None:
                part = part._replace(reply_to=owner)
            io.call(lambda proto: proto.data(part))
        case Cancel(ref, reply_to):
            io.call(lambda proto: proto.cancel(ref, reply_to or owner))


def submit(conn: ConnectionRef, command: LiveCommand | SetOwner | Shutdown) -> None:
    """Apply ``command`` now in this thread if the connection allows it, else tell the actor.

    Direct only while connected, with nothing told still pending, no event
    handler and no trace: everything else is the actor's (postponing while
    not connected, Gun's event callbacks, the trace log). `SetOwner` and
    `Shutdown` always go to the actor, and count: what follows them waits.
    """
    channel = conn._channel
    io = channel.io
    if (io is not None and not channel.pending and not io.events.active
            and not io.opts.trace and not isinstance(command, SetOwner | Shutdown)):
        apply_live(io, command, channel.owner)
        return
    channel.told()
    conn.tell(command)
