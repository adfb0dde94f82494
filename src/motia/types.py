"""Official motia 1.0's `motia.types`: the types step code annotates with and builds, under their names.

Each name is this project's own type (one definition each): trigger objects from `motia.triggers`, the
records of `motia.inputs`, `FlowContext`/`TriggerInfo` from `motia.context`, `StepConfig` from
`motia.legacy`. Only `Step` (a step file's path and config, what the guards take) is defined here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .context import FlowContext, TriggerInfo
from .http_stream import ChannelReader, ChannelWriter, MotiaHttpArgs, MotiaHttpRequest, MotiaHttpResponse
from .inputs import StateTriggerInput, StreamEvent, StreamTriggerInput
from .legacy import Enqueue, StepConfig
from .model import HandlerConfig, QueryParam, QueueConfig
from .records import Record
from .requests import ApiRequest, ApiResponse
from .triggers import (
    ApiRouteMethod,
    ApiTrigger,
    CronTrigger,
    QueueTrigger,
    StateTrigger,
    StreamTrigger,
    TriggerConfig,
)

__all__ = [
    "ApiMiddleware", "ApiRequest", "ApiResponse", "ApiRouteMethod", "ApiTrigger", "ChannelReader", "ChannelWriter",
    "CronTrigger", "Enqueue", "Enqueuer", "FlowContext", "HandlerConfig", "MotiaHttpArgs", "MotiaHttpRequest",
    "MotiaHttpResponse", "QueryParam", "QueueConfig", "QueueTrigger", "StateTrigger",
    "StateTriggerInput", "Step", "StepConfig", "StreamEvent", "StreamTrigger", "StreamTriggerInput",
    "TriggerCondition", "TriggerConfig", "TriggerInfo", "TriggerInput",
]

# What `enqueue` is: `enqueue({"topic": ..., "data": ...})`, awaitable.
Enqueuer = Callable[[Any], Awaitable[None]]

# What a handler receives: an `ApiRequest`/`MotiaHttpArgs`, a queue payload, None (cron) or a trigger input.
TriggerInput = Any

# `condition(input, ctx) -> bool` (or an awaitable bool), on any trigger.
TriggerCondition = Callable[[Any, FlowContext[Any]], "bool | Awaitable[bool]"]

# `middleware(req, ctx, next)`: `await next()` runs the rest of the chain and the handler.
ApiMiddleware = Callable[[Any, FlowContext[Any], Callable[[], Awaitable[Any]]], Awaitable[Any]]


class Step(Record):
    """A step as tooling sees it: the file it is written in and its config (`is_api_step(step)`...)."""

    __slots__ = ("file_path", "config")  # noqa: RUF023 - positional order
    file_path: str
    config: StepConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config: Any = self.config
        if not isinstance(config, StepConfig):
            self.config = StepConfig.model_validate(config)
