"""Error texts a user can act on: each says what is wrong and what to do (the flag to use, the file to fix), with
paths relative to the project, and the admin commands exit non-zero when nothing matched. Asserted by text,
through the `motia` command as a user runs it."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import eventually
from tests.test_startup_checks import motia, project, refused

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"

ORDERS = """
    import msgspec

    from motia import ApiRequest, FlowContext, api, on


    class Order(msgspec.Struct):
        id: str
        total: float


    @api("POST", "/orders", emits=["order.placed"])
    async def place(req: ApiRequest[dict], ctx: FlowContext) -> dict:
        await ctx.emit("order.placed", req.body)
        return {"placed": True}


    @on("order.placed")
    async def charge(order: Order, ctx: FlowContext) -> None:
        ctx.logger.info("charged", id=order.id)
"""


def cron_step(expression: str, timezone: str = "UTC") -> dict[str, str]:
    return {"steps/report_step.py": f"""
        from motia import cron

        @cron({expression!r}, timezone={timezone!r})
        async def report(ctx):
            pass
    """}


# --- start-up ---------------------------------------------------------------------------------------------


def test_an_unknown_time_zone_names_the_closest_zones_not_the_cron_fields(tmp_path):
    assert refused(motia(project(tmp_path, cron_step("0 9 * * *", "Europe/Pariss")), "steps")) == (
        "error: steps/report_step.py:3: step 'report': Unknown time zone 'Europe/Pariss'\n"
        "  hint: use an IANA time zone name (or UTC); did you mean 'Europe/Paris'?\n")


def test_a_cron_expression_with_too_few_fields_says_how_many_it_has_and_the_hint_what_to_write(tmp_path):
    assert refused(motia(project(tmp_path, cron_step("0 9 * *")), "steps")) == (
        "error: steps/report_step.py:3: step 'report': Invalid cron expression '0 9 * *': it has 4 fields\n"
        "  hint: write 5 fields (minute hour day-of-month month day-of-week), 6 (seconds first), 7 (seconds first, "
        "then year), or an alias such as @daily\n")


def test_a_cron_field_out_of_range_is_hinted_with_the_ranges(tmp_path):
    message, hint = refused(motia(project(tmp_path, cron_step("0 25 * * *")), "steps")).splitlines()
    assert message.startswith("error: steps/report_step.py:3: step 'report': Invalid cron expression '0 25 * * *'")
    assert hint == ("  hint: the fields' ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, "
                    "day-of-week 0-6 (0 is Sunday)")


@pytest.mark.parametrize(("flag", "what"), [("--port", "HTTP"), ("--stream-port", "the stream WebSocket")])
def test_a_port_in_use_names_the_flag_that_moves_it(tmp_path, flag, what):
    root = project(tmp_path, {"steps/a_step.py": "from motia import get\n@get('/')\nasync def a(req):\n"
                                                 "    return {}\n"})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--stream-port": "0", flag: str(port)}
        result = motia(root, "run", "--memory", *[a for pair in ports.items() for a in pair])
    assert result.returncode == 1
    assert result.stderr.splitlines()[-2:] == [
        f"error: cannot listen on 127.0.0.1:{port} for {what}: another program uses that port (another motia run?)",
        f"  hint: stop it, or choose another port: {flag} PORT ({flag} 0 picks a free one)",
    ]


# --- admin commands and a payload that never decodes --------------------------------------------------------


@pytest.fixture(scope="module")
def orders(tmp_path_factory, motia_run):
    root = project(tmp_path_factory.mktemp("orders"), {"steps/orders_step.py": ORDERS})
    return root, motia_run(root, "--memory", "--stream-port", "0", "--log-format", "json")


def test_a_payload_that_never_decodes_is_dead_lettered_at_once_with_its_reason_and_trace_id(orders):
    root, served = orders
    placed = served.client.post("/orders", json={"id": "o1"},
                                headers={"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"})
    assert placed.status_code == 200
    listed = eventually(lambda: (r := motia(root, "dlq", "list", "--url", served.url, "--json")).returncode == 0
                        and json.loads(r.stdout))
    [letter] = listed
    assert (letter["topic"], letter["attempts"]) == ("order.placed", 1)
    assert letter["error"] == "invalid_payload: payload does not match: Object missing required field `total`"
    served.wait_for_output(r"(dead-lettered)")
    records = [json.loads(line) for line in served.lines if line.startswith("{")]
    [invalid] = [r for r in records if "does not match its type" in r["message"]]
    assert invalid["trace_id"] == TRACE_ID
    [dead] = [r for r in records if "dead-lettered" in r["message"]]
    assert dead["message"].endswith("dead-lettered at once, as its payload does not match the subscriber's type "
                                "(retrying cannot help): invalid_payload: payload does not match: Object missing "
                                "required field `total`")
    assert not [r for r in records if "retrying in" in r["message"]]


def test_dlq_list_prints_a_table_with_a_header_and_the_step_not_the_function_id(orders):
    root, served = orders
    eventually(lambda: motia(root, "dlq", "list", "--url", served.url).returncode == 0)
    header, row, *more = motia(root, "dlq", "list", "--url", served.url).stdout.splitlines()
    assert header.split() == ["ID", "TOPIC", "STEP", "ATTEMPTS", "ERROR"]
    assert row.split()[1:4] == ["order.placed", "charge", "1"] and "steps::" not in row and not more
    assert row.endswith("invalid_payload: payload does not match: Object missing required field `total`")


def test_dlq_list_and_redrive_exit_1_when_nothing_matched(orders):
    root, served = orders
    none = motia(root, "dlq", "list", "--topic", "nobody.listens", "--url", served.url)
    assert (none.returncode, none.stdout, none.stderr) == (1, "", "no dead letters on topic 'nobody.listens'\n")
    redrive = motia(root, "dlq", "redrive", "--id", "999", "--url", served.url)
    assert (redrive.returncode, redrive.stdout) == (1, "")
    assert redrive.stderr == "error: no dead letter matched --id 999: nothing was redriven (see motia dlq list)\n"


def test_state_get_of_a_missing_key_says_so_without_the_http_exchange(orders):
    root, served = orders
    missing = motia(root, "state", "get", "orders", "nope", "--url", served.url)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "error: no value for key 'nope' in group 'orders' (see motia state list orders)\n"
