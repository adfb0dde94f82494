"""`motia.guards` and `motia.schema_utils`."""

from __future__ import annotations

from typing import Any

import msgspec
import pydantic
import pytest

import motia
import motia.guards as guards
import motia.schema_utils as schema_utils
from motia.legacy import compile_step

KINDS = ("api", "queue", "cron", "state", "stream")
TRIGGERS = {
    "api": motia.http("GET", "/g"),
    "queue": motia.queue("g"),
    "cron": motia.cron("0 * * * * *"),
    "state": motia.state(),
    "stream": motia.stream("g"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_trigger_guards_tell_each_kind_in_every_form(kind):
    guard = getattr(guards, f"is_{kind}_trigger")
    assert getattr(motia, f"is_{kind}_trigger") is guard
    trigger = TRIGGERS[kind]
    as_dict = {"type": "event" if kind == "queue" else kind, "path": "/g", "topic": "g", "expression": "* * * * *",
               "streamName": "g"}
    assert guard(trigger) and guard(trigger.triggers[0]) and guard(as_dict)
    assert not any(guard(other) for name, other in TRIGGERS.items() if name != kind)
    assert not guard("http")


@pytest.mark.parametrize("kind", KINDS)
def test_step_guards_and_getters_read_official_steps_definitions_and_model_steps(kind):
    is_step, get_triggers = getattr(guards, f"is_{kind}_step"), getattr(guards, f"get_{kind}_triggers")
    assert getattr(motia, f"get_{kind}_triggers") is get_triggers
    config = {"name": "G", "triggers": [TRIGGERS[kind], TRIGGERS["api" if kind != "api" else "queue"]]}
    official = motia.Step(file_path="steps/g_step.py", config=config)
    definition = motia.step(config, lambda i, c: None)
    model = compile_step(config, lambda i, c: None)
    for step in (official, definition, model):
        assert is_step(step)
        assert len(get_triggers(step)) == 1
    lonely = motia.Step(file_path="x", config={"name": "L", "triggers": []})
    assert not is_step(lonely) and get_triggers(lonely) == []


class Pet(pydantic.BaseModel):
    name: str


class Toy(msgspec.Struct):
    name: str


def test_schema_to_json_schema_accepts_dicts_pydantic_models_and_msgspec_types():
    convert = schema_utils.schema_to_json_schema
    assert motia.schema_to_json_schema is convert
    assert convert({"type": "string"}) == {"type": "string"}
    assert convert(Pet)["properties"]["name"]["type"] == "string"  # type: ignore[index]
    toy = convert(Toy)
    assert toy is not None and toy["$defs"]["Toy"]["required"] == ["name"]
    assert convert(int) == {"type": "integer"}
    assert convert(None) is None
    assert convert(object()) is None
    assert convert(Any) == {}
