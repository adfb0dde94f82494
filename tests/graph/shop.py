"""A made-up shop whose flow uses every graph feature: each step kind, a noop step, labelled and conditional
emits, virtual edges, a cycle, a topic two layers away, steps in two flows and steps in none."""

from motia import Emit, api, cron, on, on_state, on_stream, step


@api("POST", "/checkout", flows=["checkout"],
     emits=[Emit("cart.checked_out", label="valid cart"), {"topic": "cart.rejected", "label": "invalid",
                                                           "conditional": True}])
async def checkout(req):
    """Check a cart out."""


@on("cart.checked_out", emits=["payment.requested"], flows=["checkout"])
async def reserve_stock(cart):
    pass


@on("payment.requested", emits=["payment.done", {"topic": "payment.failed", "conditional": True}],
    flows=["checkout", "payments"])
async def charge(payment):
    pass


@on("payment.failed", emits=["payment.requested"], flows=["payments"])
async def retry_payment(payment):
    pass


@on("payment.done", emits=["order.confirmed"], flows=["checkout"])
async def confirm_order(payment):
    pass


@on(["order.confirmed", "cart.rejected"], flows=["checkout"])
async def notify_customer(event):
    pass


@step("ManualReview", virtual_subscribes=["cart.rejected"], virtual_emits=["cart.checked_out"], flows=["checkout"])
def manual_review():
    """Someone looks at rejected carts and sometimes lets them through."""


def is_business_hours(data, ctx):
    return True


@cron("0 * * * *", emits=["report.due"], flows=["reports"])
async def hourly(ctx):
    pass


@on("report.due", condition=is_business_hours, flows=["reports"])
async def build_report(data):
    pass


@on_state(scope="orders", emits=["order.changed"])
async def audit_orders(change):
    pass


@on_stream("carts", group_id="active", name="a_step_with_a_rather_long_name_that_cannot_fit_in_its_box")
async def watch_carts(event):
    pass


HANDLERS = [checkout, reserve_stock, charge, retry_payment, confirm_order, notify_customer, manual_review, hourly,
            build_report, audit_orders, watch_carts]
