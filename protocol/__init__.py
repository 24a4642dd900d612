"""gunpy.protocol: Gun's data and rules, free of threads and sockets.

- `ClientConnection`: one connection's every rule (HTTP/1.1 requests and
  the upgrade, pipelined, read by h11; WebSocket frames; closing; flow),
  bytes in and events out.
- `FrameParser`, `encode_frame`: WebSocket frames, sans-I/O; `DeflateOptions`
  and `Agreement`: permessage-deflate's settings and what a server agreed.
- The shapes users match on (`Frame`, `Headers`, `Message`, `Ref`), the
  option schemas with Gun's defaults (`OpenOptions`, `WsOptions`,
  `HttpOptions`) and the exceptions a caller may see.
"""

from gunpy.protocol._close import CloseError
from gunpy.protocol._connection import ClientConnection
from gunpy.protocol._content import StreamReply, gun_data_h
from gunpy.protocol._deflate import Agreement, DeflateOptions
from gunpy.protocol._events import (
    CloseSent,
    ConnectRequest,
    ConnState,
    DataPart,
    Deliver,
    Event,
    HttpRequest,
    Notify,
    Refused,
    SendOutcome,
    StateName,
    TunnelUp,
    Upgraded,
    UpgradeRequest,
)
from gunpy.protocol._frames import (
    EncodedFrame,
    FrameError,
    FrameParser,
    ProtocolError,
    encode_frame,
    encode_frames,
)
from gunpy.protocol._handshake import (
    HandshakeError,
    InvalidRequest,
    InvalidRequestHeader,
    InvalidRequestTarget,
)
from gunpy.protocol._messages import (
    BADSTATE_NOT_WS,
    BADSTATE_WS_ONLY,
    Fin,
    Frame,
    FrameKind,
    Headers,
    Message,
    frame_kind,
)
from gunpy.protocol._options import (
    HttpOptions,
    OpenOptions,
    WsOptions,
    check_open_options,
    check_ws_options,
)
from gunpy.protocol._options_base import OptionsError, Timeout
from gunpy.protocol._refs import Ref
from gunpy.protocol._tunnel_options import SocksOptions, TunnelDestination, check_destination

__all__ = [
    "BADSTATE_NOT_WS",
    "BADSTATE_WS_ONLY",
    "Agreement",
    "ClientConnection",
    "CloseError",
    "CloseSent",
    "ConnState",
    "ConnectRequest",
    "DataPart",
    "DeflateOptions",
    "Deliver",
    "EncodedFrame",
    "Event",
    "Fin",
    "Frame",
    "FrameError",
    "FrameKind",
    "FrameParser",
    "HandshakeError",
    "Headers",
    "HttpOptions",
    "HttpRequest",
    "InvalidRequest",
    "InvalidRequestHeader",
    "InvalidRequestTarget",
    "Message",
    "Notify",
    "OpenOptions",
    "OptionsError",
    "ProtocolError",
    "Ref",
    "Refused",
    "SendOutcome",
    "SocksOptions",
    "StateName",
    "StreamReply",
    "Timeout",
    "TunnelDestination",
    "TunnelUp",
    "UpgradeRequest",
    "Upgraded",
    "WsOptions",
    "check_destination",
    "check_open_options",
    "check_ws_options",
    "encode_frame",
    "encode_frames",
    "frame_kind",
    "gun_data_h",
]
