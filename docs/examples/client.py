# docs-check: echo
from gunpy.actors import Mailbox, WebsocketClient, monitor


class Feed(WebsocketClient):
    def on_connect(self, headers, conn, state):  # websocket_init/1, after every upgrade
        return ("reply", ("text", "subscribe"), state)

    def on_message(self, message, conn, state):  # websocket_handle/2
        print("got", message)
        state += 1
        return ("stop", state) if state == 3 else state

    def on_info(self, info, conn, state):  # websocket_info/2: client.tell(info)
        return ("reply", [("text", f"{info} 1"), ("text", f"{info} 2")], state)

    def on_terminate(self, reason, state):  # terminate/3, called once
        print("terminate:", reason, "after", state, "messages")


client = Feed.start("ws://127.0.0.1:8080/feed", state=0, retry=5, idle_timeout=60_000)
client.tell("tick")  # may come before the upgrade: its frames wait for it, in order
mref = monitor(client)
down = Mailbox.current().receive(lambda m: m[:2] == ("DOWN", mref), timeout=10)
print("exit reason:", down[4])
