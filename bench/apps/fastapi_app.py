"""FastAPI serving the benchmark's two routes (pydantic validation, as FastAPI users write it)."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class NewUser(BaseModel):
    name: str
    email: str
    age: int


class User(NewUser):
    id: int


@app.get("/hello/{name}")
async def hello(name: str) -> dict:
    return {"message": f"Hello, {name}!"}


@app.post("/users", status_code=201)
async def create_user(body: NewUser) -> User:
    return User(id=1, **body.model_dump())
