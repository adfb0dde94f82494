"""Pets typed with pydantic models, in the decorator form: the body, the query, the response and the payload."""

from __future__ import annotations

from pydantic import BaseModel, Field

from motia import ApiRequest, ApiResponse, FlowContext, api, on


class Owner(BaseModel):
    name: str
    email: str


class NewPet(BaseModel):
    """A pet to register."""

    name: str = Field(min_length=1)
    age: int = Field(ge=0)
    tags: list[str] = []
    owner: Owner | None = None


class Pet(NewPet):
    id: int


class PetQuery(BaseModel):
    limit: int = 2
    prefix: str = "pet"


@api("POST", "/pets", status=201, emits=["pet.created"])
async def create_pet(req: ApiRequest[NewPet], ctx: FlowContext) -> Pet:
    pet = Pet(id=7, **req.body.model_dump())
    await ctx.emit("pet.created", pet)  # the model itself: encoded as JSON once
    return pet


@api("GET", "/pets", query=PetQuery)
async def list_pets(req: ApiRequest[None], ctx: FlowContext) -> list[Pet]:
    query: PetQuery = req.query
    return [Pet(id=i, name=f"{query.prefix}{i}", age=i) for i in range(query.limit)]


@on("pet.created")
async def welcome_pet(pet: Pet, ctx: FlowContext) -> None:
    await ctx.state.set("welcomed", str(pet.id), {"name": pet.name, "received": type(pet).__name__,
                                                  "owner": pet.owner.name if pet.owner else None})


@api("GET", "/welcomed/:id")
async def welcomed(req: ApiRequest[None], ctx: FlowContext) -> ApiResponse[dict[str, str]]:
    found = await ctx.state.get("welcomed", req.path_params["id"])
    return ApiResponse(200, found) if found is not None else ApiResponse(404, {"missing": req.path_params["id"]})
