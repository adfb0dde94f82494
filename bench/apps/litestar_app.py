"""Litestar serving the benchmark's two routes with msgspec Structs (Litestar's fastest path)."""

import msgspec
from litestar import Litestar, get, post


class NewUser(msgspec.Struct):
    name: str
    email: str
    age: int


class User(msgspec.Struct):
    id: int
    name: str
    email: str
    age: int


@get("/hello/{name:str}")
async def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}


@post("/users", status_code=201)
async def create_user(data: NewUser) -> User:
    return User(1, data.name, data.email, data.age)


app = Litestar([hello, create_user])
