# docs-check: aiohttp
from gunpy.actors import gun

conn = gun.open("127.0.0.1", 8080, {"retry": 0})
gun.await_up(conn)

# Pipelined: written at once, answered in order (the slow one first), each to its ref.
refs = [gun.get(conn, "/delayed?ms=200"), gun.get(conn, "/hello"), gun.get(conn, "/chunked")]
for ref in refs:
    match gun.await_(conn, ref):
        case ("response", "nofin", 200, headers):
            print(gun.await_body(conn, ref))  # ("ok", b"hello /delayed"), then /hello's...
        case other:
            raise SystemExit(f"failed: {other}")

# A body sent in parts: post without a body, then gun.data (chunked: no content-length).
ref = gun.post(conn, "/echo", [("content-type", "text/plain")])
gun.data(conn, ref, "nofin", "part 1, ")
gun.data(conn, ref, "fin", "part 2")
match gun.await_(conn, ref):
    case ("response", fin, 200, headers):
        print(dict(headers)["x-method"], gun.await_body(conn, ref))  # POST ("ok", b"part 1, ...")
gun.shutdown(conn)
