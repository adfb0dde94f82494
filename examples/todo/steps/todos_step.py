"""The Todo API: create, list, read, update and delete todos. Each write goes to the todo stream, so every
subscriber of the inbox sees it at once."""

from datetime import datetime, timezone
from typing import Annotated
from uuid import uuid4

import msgspec

from motia import ApiRequest, ApiResponse, FlowContext, api

from .todo_stream import INBOX, Todo, todo_stream


class NewTodo(msgspec.Struct, rename="camel"):
    description: Annotated[str, msgspec.Meta(min_length=1)]
    due_date: str | None = None


class TodoChanges(msgspec.Struct, rename="camel"):
    """What PUT may change; absent fields stay as they are. `completed` sets or clears `completedAt`."""

    description: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    due_date: str | None = None
    completed: bool | None = None


class NotFound(msgspec.Struct):
    error: str


TODO_NOT_FOUND = NotFound(error="Todo not found")


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


@api("POST", "/todo", status=201, flows=["todo"])
async def create_todo(req: ApiRequest[NewTodo], ctx: FlowContext) -> Todo:
    """Create a todo in the inbox."""
    todo = Todo(id=str(uuid4()), description=req.body.description, created_at=now(), due_date=req.body.due_date)
    await todo_stream.set(INBOX, todo.id, todo)
    ctx.logger.info("todo created", todo_id=todo.id)
    return todo


@api("GET", "/todo", flows=["todo"])
async def list_todos(req: ApiRequest[None]) -> list[Todo]:
    """Every todo in the inbox, oldest first."""
    todos: list[Todo] = await todo_stream.get_group(INBOX)
    return sorted(todos, key=lambda todo: todo.created_at)


@api("GET", "/todo/:id", responses={404: NotFound}, flows=["todo"])
async def get_todo(req: ApiRequest[None]) -> ApiResponse[Todo] | ApiResponse[NotFound]:
    todo = await todo_stream.get(INBOX, req.path_params["id"])
    return ApiResponse(200, todo) if todo is not None else ApiResponse(404, TODO_NOT_FOUND)


@api("PUT", "/todo/:id", responses={404: NotFound}, flows=["todo"])
async def update_todo(req: ApiRequest[TodoChanges], ctx: FlowContext) -> ApiResponse[Todo] | ApiResponse[NotFound]:
    todo: Todo | None = await todo_stream.get(INBOX, req.path_params["id"])
    if todo is None:
        return ApiResponse(404, TODO_NOT_FOUND)
    changes = req.body
    if changes.description is not None:
        todo.description = changes.description
    if changes.due_date is not None:
        todo.due_date = changes.due_date
    if changes.completed is not None:
        todo.completed_at = (todo.completed_at or now()) if changes.completed else None
    await todo_stream.set(INBOX, todo.id, todo)
    ctx.logger.info("todo updated", todo_id=todo.id)
    return ApiResponse(200, todo)


@api("DELETE", "/todo/:id", responses={404: NotFound}, flows=["todo"])
async def delete_todo(req: ApiRequest[None], ctx: FlowContext) -> ApiResponse[Todo] | ApiResponse[NotFound]:
    """Delete a todo and return it."""
    removed = await todo_stream.delete(INBOX, req.path_params["id"])
    if removed is None:
        return ApiResponse(404, TODO_NOT_FOUND)
    ctx.logger.info("todo deleted", todo_id=removed.id)
    return ApiResponse(200, removed)
