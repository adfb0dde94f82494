"""The decorator forms: typed bodies, query Structs, responses by status, a tagged union, emits."""

from motia import ApiRequest, ApiResponse, FlowContext, api, on

from .models import NewTodo, NotFound, Pet, Reminder, Todo, TodoQuery
from .todos_stream import todos


@api("POST", "/todos", status=201, emits=["todo.created"], flows=["todos"])
async def create_todo(req: ApiRequest[NewTodo], ctx: FlowContext) -> Todo:
    """Create a todo.

    The todo is stored in the `todos` stream and announced on `todo.created`.
    """
    todo = Todo(id="1", title=req.body.title)
    await todos.set("inbox", todo.id, todo)
    await ctx.emit("todo.created", todo)
    return todo


@api("GET", "/todos/:todo_id", query=TodoQuery, responses={404: NotFound}, flows=["todos"])
async def get_todo(req: ApiRequest[None]) -> ApiResponse[Todo] | ApiResponse[NotFound]:
    """Read one todo."""
    found = await todos.get("inbox", req.path_params["todo_id"])
    return ApiResponse(200, found) if found is not None else ApiResponse(404, NotFound(error="no such todo"))


@api("DELETE", "/todos/:todo_id", flows=["todos"])
async def delete_todo(req: ApiRequest[None]) -> None:
    await todos.delete("inbox", req.path_params["todo_id"])


@api("POST", "/pets", condition=lambda req, ctx: True, emits=["pet.adopted"])
async def adopt(req: ApiRequest[Pet], ctx: FlowContext) -> Pet:
    await ctx.emit("pet.adopted", req.body)
    return req.body


@on("pet.adopted")
async def welcome_pet(pet: Pet) -> None:
    """Tagged unions travel as events too."""


@on("todo.created", emits=["todo.remind"], flows=["todos"])
async def index_todo(todo: Todo, ctx: FlowContext) -> None:
    await ctx.emit("todo.remind", Reminder(todo_id=todo.id))


@on("todo.remind", flows=["todos"])
async def send_reminder(reminder: Reminder) -> None:
    """Send a reminder."""
