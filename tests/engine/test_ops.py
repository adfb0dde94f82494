"""Update operations of state::update / stream::update (docs/protocol.md §4.3)."""

import pytest

from motia.engine.ops import apply_ops


@pytest.mark.parametrize(
    ("current", "ops", "expected"),
    [
        (None, [{"type": "set", "path": "a", "value": 1}], {"a": 1}),
        ({"a": 1}, [{"type": "set", "path": "", "value": [1]}], [1]),
        ({"a": {"b": 1}}, [{"type": "merge", "value": {"c": 2}}], {"a": {"b": 1}, "c": 2}),
        ({"a": {"b": 1}}, [{"type": "merge", "path": ["a", "x"], "value": {"c": 2}}], {"a": {"b": 1, "x": {"c": 2}}}),
        ({"n": 1}, [{"type": "increment", "path": "n", "by": 5}], {"n": 6}),
        ({}, [{"type": "decrement", "path": "n", "by": 2}], {"n": -2}),
        ({"l": [1]}, [{"type": "append", "path": "l", "value": 2}], {"l": [1, 2]}),
        ({"s": "ab"}, [{"type": "append", "path": "s", "value": "c"}], {"s": "abc"}),
        ({}, [{"type": "append", "path": "l", "value": 1}], {"l": [1]}),
        ({"a": 1, "b": 2}, [{"type": "remove", "path": "a"}], {"b": 2}),
        ({"a.b": 1}, [{"type": "set", "path": "a.b", "value": 2}], {"a.b": 2}),  # a dotted path is one key
    ],
)
def test_ops_apply_in_order(current, ops, expected):
    value, errors = apply_ops(current, ops)
    assert (value, errors) == (expected, [])


def test_failed_ops_are_skipped_and_reported_with_their_index():
    value, errors = apply_ops({"n": "text"}, [
        {"type": "increment", "path": "n", "by": 1},
        {"type": "set", "path": "ok", "value": True},
        {"type": "merge", "value": "not an object"},
        {"type": "set", "path": "__proto__", "value": 1},
        {"type": "explode"},
    ])
    assert value == {"n": "text", "ok": True}
    assert [(e["op_index"], e["code"]) for e in errors] == [
        (0, "increment.not_number"), (2, "merge.value.not_object"), (3, "set.path.proto_polluted"), (4, "op.unknown"),
    ]


def test_the_current_value_is_not_mutated():
    current = {"l": [1]}
    apply_ops(current, [{"type": "append", "path": "l", "value": 2}])
    assert current == {"l": [1]}
