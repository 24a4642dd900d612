# docs-check: echo
import threading

import pykka

from gunpy.actors import gun

done = threading.Event()


class Chat(pykka.ThreadingActor):
    """A gen_server that owns its connection: Gun's messages arrive in on_receive."""

    def on_start(self):  # init/1
        self.conn = gun.open("127.0.0.1", 8080, {"retry": 0}, owner=self.actor_ref)
        self.ref = None

    def on_receive(self, message):  # handle_info/2
        match message:
            case ("gun_up", conn, "http") if conn is self.conn:
                self.ref = gun.ws_upgrade(conn, "/chat")
            case ("gun_upgrade", conn, ref, ["websocket"], _) if ref is self.ref:
                gun.ws_send(conn, ref, ("text", "hello from an actor"))
            case ("gun_ws", conn, ref, ("text", text)) if ref is self.ref:
                print("echoed:", text)
                gun.ws_send(conn, ref, "close")
            case ("gun_down", conn, _, reason, _) if conn is self.conn:
                print("down:", reason)
                done.set()
            case _:
                pass  # every other message: ignored, as a gen_server's catch-all clause


chat = Chat.start()
done.wait(10)
chat.stop()
