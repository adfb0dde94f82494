"""The ceiling: a raw ASGI app (no framework) serving the benchmark's two routes with msgspec."""

import msgspec


class NewUser(msgspec.Struct):
    name: str
    email: str
    age: int


class User(msgspec.Struct):
    id: int
    name: str
    email: str
    age: int


decoder = msgspec.json.Decoder(NewUser)
encoder = msgspec.json.Encoder()
JSON = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if scope["method"] == "GET" and path.startswith("/hello/"):
        body = encoder.encode({"message": f"Hello, {path[7:]}!"})
        await send({"type": "http.response.start", "status": 200, "headers": JSON})
        await send({"type": "http.response.body", "body": body})
        return
    if scope["method"] == "POST" and path == "/users":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        try:
            new = decoder.decode(b"".join(chunks))
        except msgspec.ValidationError as exc:
            await send({"type": "http.response.start", "status": 400, "headers": JSON})
            await send({"type": "http.response.body", "body": encoder.encode({"error": str(exc)})})
            return
        user = User(1, new.name, new.email, new.age)
        await send({"type": "http.response.start", "status": 201, "headers": JSON})
        await send({"type": "http.response.body", "body": encoder.encode(user)})
        return
    await send({"type": "http.response.start", "status": 404, "headers": JSON})
    await send({"type": "http.response.body", "body": b"{}"})
