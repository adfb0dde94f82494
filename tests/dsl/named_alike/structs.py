"""A Struct named `User`, beside the pydantic `User` of `models.py`."""

import msgspec


class User(msgspec.Struct):
    login: str
