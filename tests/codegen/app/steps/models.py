"""Types shared by the fixture app's steps."""

from typing import Annotated, Literal, Union

import msgspec


class Todo(msgspec.Struct):
    """A todo item."""

    id: str
    title: str
    done: bool = False


class NewTodo(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, description="What to do")]


class TodoQuery(msgspec.Struct, rename="camel"):
    include_done: bool = False
    limit: Annotated[int, msgspec.Meta(ge=1, description="At most this many")] = 20


class NotFound(msgspec.Struct):
    error: str


class Cat(msgspec.Struct, tag="cat"):
    lives: int = 9


class Dog(msgspec.Struct, tag="dog"):
    good: bool = True


Pet = Union[Cat, Dog]


class Reminder(msgspec.Struct):
    todo_id: str
    channel: Literal["email", "sms"] = "email"
