"""Users: a validated Struct body, typed responses, a 404 with an explicit ApiResponse."""

import msgspec

from motia import ApiRequest, ApiResponse, api

from .store import users


class NewUser(msgspec.Struct):
    name: str
    email: str
    age: int


class User(msgspec.Struct):
    id: int
    name: str
    email: str
    age: int


class NotFound(msgspec.Struct):
    error: str


@api("POST", "/users", status=201, flows=["users"])
async def create_user(req: ApiRequest[NewUser]) -> User:
    """Create a user; the body is decoded and validated into NewUser before this runs."""
    user = User(id=len(users) + 1, name=req.body.name, email=req.body.email, age=req.body.age)
    users[user.id] = user
    return user


@api("GET", "/users/:user_id", responses={404: NotFound}, flows=["users"])
async def get_user(req: ApiRequest[None]) -> ApiResponse[User] | ApiResponse[NotFound]:
    user = users.get(int(req.path_params["user_id"])) if req.path_params["user_id"].isdecimal() else None
    if user is None:
        return ApiResponse(404, NotFound(error="no such user"))
    return ApiResponse(200, user)
