"""Types shared by the order steps."""

import msgspec


class NewOrder(msgspec.Struct):
    customer: str
    item: str
    quantity: int
    unit_price: float
    card: str = "4242"


class Order(msgspec.Struct):
    id: str
    customer: str
    item: str
    quantity: int
    total: float
    card: str
    status: str = "placed"
