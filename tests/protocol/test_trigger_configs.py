"""Each built-in trigger type decodes a `registertrigger` config once, into its Struct of `motia.protocol`
(docs/protocol.md §2.6, §3): a bad config from a worker on the wire is refused with the trigger type's own words,
and keys the engine does not read (SDKs send more) are accepted."""

from __future__ import annotations

from typing import Any

import pytest

REFUSED = [
    ("http", {"http_method": "GET"}, "api_path is required for http triggers"),
    ("http", {"api_path": 7}, "api_path is required for http triggers"),
    ("http", {"api_path": "  "}, "api_path is required for http triggers"),
    ("http", {"api_path": "/x", "http_method": "FETCH"}, "Unsupported http_method 'FETCH'"),
    ("http", {"api_path": "/x", "http_method": 1}, "http_method must be a method name"),
    ("http", {"api_path": "/x", "condition_function_id": 5}, "condition_function_id must be a function id"),
    ("http", {"api_path": "/x", "middleware_function_ids": ["mw", " "]},
     "middleware_function_ids must be a list of function ids"),
    ("http", {"api_path": "/x", "stream_request_body": "yes"},
     "Invalid trigger config: Expected `bool`, got `str` - at `$.stream_request_body`"),
    ("http", ["/x"], "Invalid trigger config: Expected `object`, got `array`"),
    ("durable:subscriber", {}, "topic is required for durable:subscriber triggers"),
    ("queue", {"topic": ""}, "topic is required for durable:subscriber triggers"),
    ("durable:subscriber", {"topic": "t", "queue_config": {"maxRetries": -1}},
     "Invalid trigger config: Expected `int` >= 0 - at `$.queue_config.maxRetries`"),
    ("durable:subscriber", {"topic": "t", "queue_config": {"type": "lifo"}},
     "Invalid trigger config: Invalid enum value 'lifo' - at `$.queue_config.type`"),
    ("cron", {}, "Cron expression is required"),
    ("cron", {"expression": "  "}, "Cron expression is required"),
    ("cron", {"expression": "0 * * * * *", "timezone": 3},
     "Invalid trigger config: Expected `str | null`, got `int` - at `$.timezone`"),
    ("state", {"scope": 1}, "Invalid trigger config: Expected `str | null`, got `int` - at `$.scope`"),
    ("stream", {"group_id": "g"}, "stream_name is required for stream triggers"),
    ("stream", {"stream_name": "s", "item_id": ["a"]},
     "Invalid trigger config: Expected `str | null`, got `array` - at `$.item_id`"),
    ("subscribe", {}, "topic is required for subscribe triggers"),
    ("subscribe", {"topic": ""}, "topic is required for subscribe triggers"),
]


@pytest.mark.parametrize(("trigger_type", "config", "message"), REFUSED,
                         ids=[f"{kind}-{i}" for i, (kind, _, _) in enumerate(REFUSED)])
def test_a_bad_config_is_refused_with_a_clear_message(engine, trigger_type, config, message):
    worker = engine.worker()
    worker.register("fn")
    trigger_id = worker.bind(trigger_type, "fn", config)
    result = worker.expect("triggerregistrationresult", id=trigger_id)
    assert result["error"] == {"code": "trigger_registration_failed", "message": message}


def refusals_until_synced(worker: Any) -> list[dict[str, Any]]:
    """The `triggerregistrationresult` frames the engine sent before answering a ping."""
    worker.send({"type": "ping"})
    frames = []
    while (frame := worker.recv())["type"] != "pong":
        frames.append(frame)
    return [f for f in frames if f["type"] == "triggerregistrationresult"]


def test_keys_the_engine_does_not_read_are_accepted(engine):
    worker = engine.worker()
    worker.register("fn")
    extra = {"description": "from an SDK", "metadata": {"team": "a"}, "somethingNew": [1, 2]}
    worker.bind("http", "fn", {"api_path": "/extra", "http_method": None, **extra})
    worker.bind("durable:subscriber", "fn", {"topic": "t", "queue_config": {"maxRetries": 1, "newKnob": 1}, **extra})
    worker.bind("cron", "fn", {"expression": "0 0 * * * *", "timezone": None, **extra})
    worker.bind("state", "fn", {"scope": None, **extra})
    worker.bind("stream", "fn", {"stream_name": "s", "group_id": None, **extra})
    worker.bind("subscribe", "fn", {"topic": "news", **extra})
    assert refusals_until_synced(worker) == []
    # The http binding serves (a null `http_method` is GET).
    worker.serve(lambda frame: {"status_code": 200, "body": {"path": frame["data"]["path"]}})
    response = engine.http.get("/extra")
    assert response.status_code == 200
    assert response.json() == {"path": "/extra"}
