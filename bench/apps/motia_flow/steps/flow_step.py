"""A realistic flow: validated POST -> state write -> emit -> `@on` handler -> stream write, logging each step."""

import itertools

import msgspec

from motia import ApiRequest, FlowContext, Stream, api, on


class NewUser(msgspec.Struct):
    name: str
    email: str
    age: int


class User(msgspec.Struct):
    id: int
    name: str
    email: str
    age: int


class Welcome(msgspec.Struct):
    user_id: int
    text: str


welcomes = Stream[Welcome]("welcomes")
ids = itertools.count(1)


@api("POST", "/users", status=201, emits=["user.created"])
async def create_user(req: ApiRequest[NewUser], ctx: FlowContext) -> User:
    body = req.body
    user = User(next(ids), body.name, body.email, body.age)
    await ctx.state.set("users", str(user.id), user)
    await ctx.emit("user.created", user)
    ctx.logger.info("user created", user_id=user.id)
    return user


@on("user.created")
async def welcome(user: User, ctx: FlowContext) -> None:
    await welcomes.set("inbox", str(user.id), Welcome(user.id, f"Welcome, {user.name}!"))
    ctx.logger.info("welcome sent", user_id=user.id)
