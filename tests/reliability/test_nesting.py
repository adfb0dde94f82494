"""Deeply nested JSON: refused as a client error (400 `INVALID_JSON` on HTTP and the operator routes,
`invalid_message` on the worker port) at `MAX_JSON_DEPTH` levels, before a decoder recurses into it, and
without a traceback in the log."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

import httpx
import pytest

from motia import ApiRequest, post
from motia.json_depth import MAX_JSON_DEPTH, decode_shallow, too_deep


@post("/echo")
async def echo(req: ApiRequest[list]) -> dict:
    return {"got": len(req.body)}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_is_counted_outside_strings_only() -> None:
    assert not too_deep(nested(MAX_JSON_DEPTH))
    assert too_deep(nested(MAX_JSON_DEPTH + 1))
    assert too_deep(b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1))
    assert too_deep(nested(MAX_JSON_DEPTH + 1).decode())
    assert not too_deep(json.dumps({"text": "[{" * 1000}))
    assert not too_deep(json.dumps({"text": '\\"[' * 1000 + "\\\\"}))
    assert not too_deep(json.dumps([{"a": [1]} for _ in range(1000)]))  # many brackets, two levels


def test_a_frame_too_deep_to_decode_still_shows_its_top_level_strings() -> None:
    frame = (b'{"type": "invokefunction", "data": ' + nested(5000)
             + b', "invocation_id": "i-1", "n": 1, "nested": {"type": "inner"}}')
    assert decode_shallow(frame) == {"type": "invokefunction", "invocation_id": "i-1"}
    assert decode_shallow(b'{"a": [1]}') == {"a": [1]}


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_an_http_body_nested_too_deep_is_a_400_without_a_traceback(
    serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture, content_type: str,
) -> None:
    client = serve(echo)
    with caplog.at_level(logging.WARNING):
        for depth in (MAX_JSON_DEPTH + 1, 5000):
            response = client.post("/echo", content=nested(depth), headers={"content-type": content_type})
            assert response.status_code == 400
            error = response.json()["error"]
            assert error["code"] == "INVALID_JSON"
            assert str(MAX_JSON_DEPTH) in error["message"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    body = nested(MAX_JSON_DEPTH - 1)  # the body's list is one level: the deepest accepted
    assert client.post("/echo", content=b"[" + body + b"]", headers={"content-type": content_type}).json() == {
        "got": 1}


def test_an_operator_route_body_nested_too_deep_is_a_400(serve: Callable[..., httpx.Client]) -> None:
    client = serve(echo)
    response = client.put("/__motia/state/g/k", content=nested(5000), headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_JSON"
    assert client.get("/__motia/state/g/k").status_code == 404


def test_a_worker_frame_nested_too_deep_gets_invalid_message_and_the_connection_lives(engine) -> None:
    worker = engine.worker()
    invocation_id = str(uuid.uuid4())
    for depth in (MAX_JSON_DEPTH + 1, 5000):
        frame = (b'{"type": "invokefunction", "function_id": "engine::workers::list", "data": ' + nested(depth)
                 + b', "invocation_id": "' + invocation_id.encode() + b'"}')
        worker.send(frame.decode())
        result = worker.expect("invocationresult", invocation_id=invocation_id)
        assert result["error"]["code"] == "invalid_message"
        assert str(MAX_JSON_DEPTH) in result["error"]["message"]
    assert "workers" in worker.call("engine::workers::list", {})["result"]
