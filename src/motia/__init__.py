"""motia: event-driven Python backends from typed steps.

Decorate typed handlers with `@api`/`@http`, `@on`/`@queue`, `@cron`, `@on_state` or `@on_stream`; `motia run`
discovers them and serves the app. The seed's `StepConfig` + `step_wrapper`, and official motia 1.0's
`config = {...}` + `handler`, `step(...)` and `multi_trigger_step(...)` forms work unchanged, with every
public name of official motia 1.0 importable from here (docs/migrating.md).
"""

from . import tracing
from .context import FlowContext, TriggerInfo, TriggerMetadata
from .dsl import delete, event, get, on, on_state, on_stream, patch, post, put
from .errors import MotiaError, StepError
from .events import emit, enqueue, get_stream
from .guards import (
    get_api_triggers,
    get_cron_triggers,
    get_queue_triggers,
    get_state_triggers,
    get_stream_triggers,
    is_api_step,
    is_api_trigger,
    is_cron_step,
    is_cron_trigger,
    is_queue_step,
    is_queue_trigger,
    is_state_step,
    is_state_trigger,
    is_stream_step,
    is_stream_trigger,
)
from .http_stream import ChannelReader, ChannelWriter, MotiaHttpArgs, MotiaHttpRequest, MotiaHttpResponse
from .inputs import (
    StateTriggerInput,
    StreamAuthInput,
    StreamAuthResult,
    StreamEvent,
    StreamSubscription,
    StreamTriggerInput,
)
from .legacy import Emit, Enqueue, InfrastructureConfig, StepConfig, step_wrapper
from .log import StepLogger, logger
from .model import HandlerConfig, QueryParam, QueueConfig
from .multi_trigger import MultiTriggerStepBuilder, multi_trigger_step
from .programmatic import Motia, generate_step_id, get_instance, init_iii, setup_step_endpoint
from .registry import Registry
from .requests import ApiRequest, ApiResponse, Headers
from .schema_utils import schema_to_json_schema
from .state import StateManager, state_manager, stateManager
from .step import StepBuilder, StepDefinition, step
from .stream_client import StreamClient
from .streams import Stream, StreamConfig, stream_auth
from .triggers import (
    ApiTrigger,
    CronTrigger,
    EventTrigger,
    QueueTrigger,
    StateTrigger,
    StreamTrigger,
    api,
    cron,
    http,
    queue,
    state,
    stream,
)
from .types import (
    ApiMiddleware,
    ApiRouteMethod,
    Enqueuer,
    Step,
    TriggerCondition,
    TriggerConfig,
    TriggerInput,
)

__version__ = "0.1.0"

__all__ = [
    "ApiMiddleware",
    "ApiRequest",
    "ApiResponse",
    "ApiRouteMethod",
    "ApiTrigger",
    "ChannelReader",
    "ChannelWriter",
    "CronTrigger",
    "Emit",
    "Enqueue",
    "Enqueuer",
    "EventTrigger",
    "FlowContext",
    "HandlerConfig",
    "Headers",
    "InfrastructureConfig",
    "Motia",
    "MotiaError",
    "MotiaHttpArgs",
    "MotiaHttpRequest",
    "MotiaHttpResponse",
    "MultiTriggerStepBuilder",
    "QueryParam",
    "QueueConfig",
    "QueueTrigger",
    "Registry",
    "StateManager",
    "StateTrigger",
    "StateTriggerInput",
    "Step",
    "StepBuilder",
    "StepConfig",
    "StepDefinition",
    "StepError",
    "StepLogger",
    "Stream",
    "StreamAuthInput",
    "StreamAuthResult",
    "StreamClient",
    "StreamConfig",
    "StreamEvent",
    "StreamSubscription",
    "StreamTrigger",
    "StreamTriggerInput",
    "TriggerCondition",
    "TriggerConfig",
    "TriggerInfo",
    "TriggerInput",
    "TriggerMetadata",
    "__version__",
    "api",
    "cron",
    "delete",
    "emit",
    "enqueue",
    "event",
    "generate_step_id",
    "get",
    "get_api_triggers",
    "get_cron_triggers",
    "get_instance",
    "get_queue_triggers",
    "get_state_triggers",
    "get_stream",
    "get_stream_triggers",
    "http",
    "init_iii",
    "is_api_step",
    "is_api_trigger",
    "is_cron_step",
    "is_cron_trigger",
    "is_queue_step",
    "is_queue_trigger",
    "is_state_step",
    "is_state_trigger",
    "is_stream_step",
    "is_stream_trigger",
    "logger",
    "multi_trigger_step",
    "on",
    "on_state",
    "on_stream",
    "patch",
    "post",
    "put",
    "queue",
    "schema_to_json_schema",
    "setup_step_endpoint",
    "state",
    "stateManager",
    "state_manager",
    "step",
    "step_wrapper",
    "stream",
    "stream_auth",
    "tracing",
]
