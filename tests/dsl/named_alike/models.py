"""A pydantic model named `User`, beside the Struct `User` of `structs.py`."""

from pydantic import BaseModel


class User(BaseModel):
    email: str
