# Motia's module-level form: `config = {...}` + `handler`, camelCase keys, the api() helper, a condition.
from motia import api

from .users import USERS


def is_uuid_like(req, ctx):
    return len(req.path_params["id"]) >= 8


config = {
    "name": "GetUser",
    "description": "Reads a user created by CreateUser",
    "triggers": [api("GET", "/users/:id", condition=is_uuid_like)],
    "enqueues": [],
    "virtualEmits": ["user.viewed"],
    "flows": ["users"],
}


async def handler(request, ctx):
    user = USERS.get(request.path_params["id"])
    if user is None:
        return {"status": 404, "body": {"error": {"code": "NOT_FOUND", "message": "User not found"}}}
    return {"status": 200, "body": user}
