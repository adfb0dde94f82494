"""The benchmark's two routes as motia steps."""

import msgspec

from motia import ApiRequest, api


class NewUser(msgspec.Struct):
    name: str
    email: str
    age: int


class User(msgspec.Struct):
    id: int
    name: str
    email: str
    age: int


class Greeting(msgspec.Struct):
    message: str


@api("GET", "/hello/:name")
async def hello(req: ApiRequest[None]) -> Greeting:
    return Greeting(message=f"Hello, {req.path_params['name']}!")


@api("POST", "/users", status=201)
async def create_user(req: ApiRequest[NewUser]) -> User:
    body = req.body
    return User(1, body.name, body.email, body.age)
