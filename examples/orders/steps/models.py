"""Types shared by the order steps."""

from typing import Annotated

import msgspec


class NewOrder(msgspec.Struct):
    customer: str
    item: str
    quantity: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    unit_price: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    card: str = "4242"


class Order(msgspec.Struct):
    id: str
    customer: str
    item: str
    quantity: int
    total: float
    card: str
    status: str = "placed"
