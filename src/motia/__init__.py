"""motia: event-driven Python backends from typed steps.

Decorate typed handlers with `@api`, `@on`, `@cron`, `@on_state` or `@on_stream`; `motia run` discovers
them and serves the app. The seed's `StepConfig` + `step_wrapper` and `config = {...}` + `handler` forms
work unchanged.
"""

from .context import FlowContext, TriggerInfo, TriggerMetadata
from .dsl import api, cron, delete, event, get, http, on, on_state, on_stream, patch, post, put, queue, step
from .errors import MotiaError, StepError
from .events import emit, enqueue
from .http_stream import ChannelReader, ChannelWriter, MotiaHttpArgs, MotiaHttpRequest, MotiaHttpResponse
from .inputs import StateTriggerInput, StreamAuthInput, StreamEvent, StreamSubscription, StreamTriggerInput
from .legacy import (
    ApiTrigger,
    CronTrigger,
    Emit,
    Enqueue,
    EventTrigger,
    InfrastructureConfig,
    QueueTrigger,
    StateTrigger,
    StepConfig,
    StreamTrigger,
    step_wrapper,
)
from .log import StepLogger
from .model import HandlerConfig, QueryParam, QueueConfig, Step
from .registry import Registry
from .requests import ApiRequest, ApiResponse, Headers
from .state import StateManager, state, state_manager, stateManager
from .stream_client import StreamClient
from .streams import Stream, StreamConfig, stream_auth

__version__ = "0.1.0"

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "ApiTrigger",
    "ChannelReader",
    "ChannelWriter",
    "CronTrigger",
    "Emit",
    "Enqueue",
    "EventTrigger",
    "FlowContext",
    "HandlerConfig",
    "Headers",
    "InfrastructureConfig",
    "MotiaError",
    "MotiaHttpArgs",
    "MotiaHttpRequest",
    "MotiaHttpResponse",
    "QueryParam",
    "QueueConfig",
    "QueueTrigger",
    "Registry",
    "StateManager",
    "StateTrigger",
    "StateTriggerInput",
    "Step",
    "StepConfig",
    "StepError",
    "StepLogger",
    "Stream",
    "StreamAuthInput",
    "StreamClient",
    "StreamConfig",
    "StreamEvent",
    "StreamSubscription",
    "StreamTrigger",
    "StreamTriggerInput",
    "TriggerInfo",
    "TriggerMetadata",
    "__version__",
    "api",
    "cron",
    "delete",
    "emit",
    "enqueue",
    "event",
    "get",
    "http",
    "on",
    "on_state",
    "on_stream",
    "patch",
    "post",
    "put",
    "queue",
    "state",
    "stateManager",
    "state_manager",
    "step",
    "step_wrapper",
    "stream_auth",
]
