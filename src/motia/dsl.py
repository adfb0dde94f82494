"""The decorator DSL: `@api`/`@http`, `@get`..., `@on`/`@queue`, `@cron`, `@on_state`, `@on_stream` and `@step`.

A decorator records a trigger on the function (`fn.__motia_step__`) and returns the function unchanged,
so handlers stay plain, directly callable functions. Stacked decorators make one multi-trigger step,
triggers in source order. The trigger decorators are the trigger objects of `motia.triggers`, so the same
call also works in a legacy config's `triggers` list (`api("GET", "/x/:id")`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import HandlerConfig, handler_limits, to_emit, to_handler_config, to_queue_config
from .triggers import (
    STEP_ATTRIBUTE,
    ApiTrigger,
    StepDecorator,
    StepOptions,
    api,
    cron,
    http,
    merge_options,
    on_state,
    queue,
    source_of,
    step_of,
)
from .triggers import stream as on_stream

__all__ = [
    "STEP_ATTRIBUTE", "StepDecorator", "StepOptions", "api", "cron", "delete", "event", "get", "http",
    "merge_options", "on", "on_state", "on_stream", "patch", "post", "put", "queue", "source_of", "step",
    "step_of", "to_emit", "to_handler_config", "to_queue_config",
]


def _method(verb: str) -> Callable[..., ApiTrigger]:
    def route(path: str, **kwargs: Any) -> ApiTrigger:
        return http(verb, path, **kwargs)

    route.__name__ = verb.lower()
    route.__doc__ = f"`@{verb.lower()}(path)` is `@api({verb!r}, path)`."
    return route


get = _method("GET")
post = _method("POST")
put = _method("PUT")
patch = _method("PATCH")
delete = _method("DELETE")

on = event = queue


def step(
    name: str | None = None,
    *,
    timeout: float | None = None,
    handler_config: HandlerConfig | None = None,
    **options: Any,
) -> StepDecorator:
    """Step-level settings without a trigger, stacked with the others: `name`, `description`, `flows`,
    `emits`, `virtual_emits`, `virtual_subscribes`, and handler limits (`timeout=` or `handler_config=`)."""
    config = to_handler_config(handler_config) if handler_config is not None else handler_limits(timeout)
    return StepDecorator([], StepOptions(name=name, handler_config=config, **options))
