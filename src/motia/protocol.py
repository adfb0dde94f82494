"""The iii wire protocol: every message a worker and the engine exchange, as msgspec Structs.

Field names are the wire names of `docs/protocol.md` §2. In-process the runtime and the
embedded engine hand these objects to each other directly; over a WebSocket they are JSON text frames.
Payload structs for the built-in `http` trigger (§3.1) live here too, because they cross the same boundary.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, Union

import msgspec
from msgspec import Meta

from .errors import INTERNAL_ERROR, error_body
from .json_depth import MAX_JSON_DEPTH, too_deep

# The Rust engine types invocation ids as UUIDs: a frame whose id is not one fails to decode (§1.4).
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
InvocationId = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN)]


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The error of a failed invocation (§2.10)."""

    code: str
    message: str
    stacktrace: str | None = None


class Action(msgspec.Struct, omit_defaults=True):
    """How an `invokefunction` wants its call handled: `void`, `enqueue` or (absent) synchronous."""

    type: str
    queue: str | None = None


class Message(msgspec.Struct, tag_field="type", omit_defaults=True):
    """Base of every protocol message; the `type` field is the lower-case message name."""


class WorkerRegistered(Message, tag="workerregistered"):
    worker_id: str
    reattach_token: str | None = None
    # 0.25 feature negotiation (§2.12): what the engine implements of the SDK's optional extensions.
    features: list[str] | None = None


# The embedded engine implements none of the 0.25 extensions (observe, local dispatch); large messages need no
# negotiation (it accepts 64 MiB, fragmented). Sent as an empty list so that a 0.25 SDK knows, not guesses.
ENGINE_FEATURES: list[str] = []


class RegisterFunction(Message, tag="registerfunction"):
    id: str
    description: str | None = None
    request_format: Any = None
    response_format: Any = None
    metadata: Any = None
    invocation: Any = None


class UnregisterFunction(Message, tag="unregisterfunction"):
    id: str


class RegistrationRejected(Message, tag="registrationrejected"):
    code: str
    namespace: str = "default"
    function_id: str | None = None
    worker_name: str | None = None
    owner_worker_id: str = ""


class RegisterTriggerType(Message, tag="registertriggertype"):
    id: str
    description: str | None = None
    trigger_request_format: Any = None
    call_request_format: Any = None
    namespace: str | None = None


class UnregisterTriggerType(Message, tag="unregistertriggertype"):
    id: str
    namespace: str | None = None


class RegisterTrigger(Message, tag="registertrigger"):
    id: str
    trigger_type: str
    function_id: str
    # The Rust engine requires `config`; SDKs sometimes omit it (§1.4), so it defaults to {}.
    config: Any = msgspec.field(default_factory=dict)
    metadata: Any = None
    namespace: str | None = None
    trigger_namespace: str | None = None


class UnregisterTrigger(Message, tag="unregistertrigger"):
    id: str
    trigger_type: str | None = None


class TriggerRegistrationResult(Message, tag="triggerregistrationresult"):
    id: str
    trigger_type: str
    function_id: str
    error: ErrorBody | None = None


class InvokeFunction(Message, tag="invokefunction"):
    function_id: str
    data: Any = None
    invocation_id: InvocationId | None = None
    action: Action | None = None
    metadata: Any = None
    namespace: str | None = None
    traceparent: str | None = None
    baggage: str | None = None


class InvocationResult(Message, tag="invocationresult"):
    invocation_id: InvocationId | None = None
    function_id: str | None = None
    result: Any = None
    error: ErrorBody | None = None
    traceparent: str | None = None
    baggage: str | None = None


class Reattach(Message, tag="reattach"):
    previous_worker_id: str
    reattach_token: str


class Ping(Message, tag="ping"):
    pass


class Pong(Message, tag="pong"):
    pass


class ProtocolError(Message, tag="error"):
    """E->W: the connection is refused (`AUTH_ERROR`, then closed) or one registration is (`FORBIDDEN`)."""

    error: ErrorBody


class RegisterService(Message, tag="registerservice"):
    """Legacy (0.9-era) service grouping: accepted and ignored."""

    id: str
    name: str | None = None
    description: str | None = None
    parent_service_id: str | None = None


AnyMessage = Union[
    WorkerRegistered,
    RegisterFunction,
    UnregisterFunction,
    RegistrationRejected,
    RegisterTriggerType,
    UnregisterTriggerType,
    RegisterTrigger,
    UnregisterTrigger,
    TriggerRegistrationResult,
    InvokeFunction,
    InvocationResult,
    Reattach,
    Ping,
    Pong,
    RegisterService,
    ProtocolError,
]


# --- trigger configs (§3) --------------------------------------------------------------------------------


class QueueConfig(msgspec.Struct, kw_only=True, rename="camel"):
    """Delivery settings of one queue subscription: a step's `queue=` (snake_case attributes) and the
    `queue_config` of a `durable:subscriber` trigger (camelCase on the wire, §3.6). The engine and the step
    model both use this one Struct."""

    type: Literal["standard", "fifo"] = "standard"
    max_retries: Annotated[int, Meta(ge=0)] = 3
    backoff_type: Literal["fixed", "exponential"] = "exponential"
    backoff_delay_ms: Annotated[int, Meta(ge=0)] = 1000
    concurrency: Annotated[int, Meta(ge=1)] = 10
    # Seconds a delivered message stays invisible to other consumers before it is handed out again.
    visibility_timeout: Annotated[float, Meta(gt=0)] = 30
    delay_seconds: Annotated[float, Meta(ge=0, le=900)] = 0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        base = self.backoff_delay_ms / 1000
        return base if self.backoff_type == "fixed" else base * 2 ** (attempt - 1)

    def to_wire(self) -> dict[str, Any]:
        """The camelCase `queue_config`, every field written."""
        wire: dict[str, Any] = msgspec.to_builtins(self)
        return wire


# The trigger configs below are what the engine decodes a `registertrigger` config into (`decode_trigger_config`)
# and what the runtime writes (`trigger_config`). None forbids unknown fields: SDKs send keys the engine does
# not read. Optional keys take null too, where an SDK may write null for "not set".


class HttpTriggerConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The config of an `http` trigger (§3.1)."""

    api_path: str
    http_method: str | None = "GET"
    # The function reads `request_body` as it arrives (an iii engine ignores the key).
    stream_request_body: bool = False
    # What runs before the function, as iii runs it (§3.1): the condition, then the middleware in order.
    condition_function_id: str | None = None
    middleware_function_ids: list[str] | None = None


class QueueTriggerConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The config of a `durable:subscriber` trigger (§3.6)."""

    topic: str
    queue_config: QueueConfig | None = None


class CronTriggerConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The config of a `cron` trigger (§3.2)."""

    expression: str
    timezone: str | None = "UTC"


class StateTriggerConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The config of a `state` trigger (§3.3): every change, or those of one scope or key."""

    scope: str | None = None
    key: str | None = None


class StreamTriggerConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The config of a `stream` trigger (§3.4): changes of one stream, narrowed to a group or an item."""

    stream_name: str
    group_id: str | None = None
    item_id: str | None = None


class SubscribeTriggerConfig(msgspec.Struct, kw_only=True):
    """The config of a `subscribe` trigger (§3.5): the topic whose `publish` calls it receives."""

    topic: str


def trigger_config(config: msgspec.Struct) -> dict[str, Any]:
    """A trigger config as `registertrigger` carries it: a JSON object (in process too, where the engine
    reads it as a dict)."""
    wire: dict[str, Any] = msgspec.to_builtins(config)
    return wire


class Route(NamedTuple):
    """An HTTP route the app serves with a function of its own, not a step's: the OpenAPI document (a worker's
    function), the health and operator routes and the operator pages (graph, docs, console, recording; built-in
    functions of the embedded engine). Both register it the same way: the function `function_id` plus the
    `http` trigger `trigger()` describes. `handler` takes what its host passes (an `InvokeFunction` in a
    worker, the request's `HttpRequestData` in the engine)."""

    owner: str
    method: str
    path: str
    handler: Any

    @property
    def function_id(self) -> str:
        """`motia::<owner>::<method>(<path>)`: whose it is and what it answers, in the function list."""
        return f"motia::{self.owner}::{self.method.lower()}({self.path})"

    def trigger(self, metadata: Any = None) -> RegisterTrigger:
        # The method written even when GET (`HttpTriggerConfig` omits its default): listings show it.
        config = {"api_path": self.path, "http_method": self.method}
        return RegisterTrigger(new_id(), "http", self.function_id, config, metadata=metadata)
Config = TypeVar("Config", bound=msgspec.Struct)
# The key a msgspec error is about: the first step of its path, or the missing field of the top-level object.
_CONFIG_KEY = re.compile(r"at `\$\.(\w+)|missing required field `(\w+)`$")


class InvalidTriggerConfig(ValueError):
    """A `registertrigger` config that is not its kind's Struct; the message is the trigger type's refusal."""


def decode_trigger_config(raw: Any, kind: type[Config], refusals: Mapping[str, str]) -> Config:
    """A trigger's config (a JSON object; absent is `{}`), decoded once where the trigger is registered. Keys
    `kind` does not model are ignored. msgspec keeps each Struct's decoding plan, so a call costs no set-up.

    A config that does not decode raises `InvalidTriggerConfig` with `refusals[key]` for the top-level key at
    fault (the trigger type's own words, as iii's engine has them), else msgspec's message with the key's path."""
    try:
        return msgspec.convert({} if raw is None else raw, kind)
    except msgspec.ValidationError as exc:
        found = _CONFIG_KEY.search(str(exc))
        key = (found.group(1) or found.group(2)) if found else ""
        raise InvalidTriggerConfig(refusals.get(key) or f"Invalid trigger config: {exc}") from None


# --- payloads of the built-in `http` trigger (§3.1) -------------------------------------------------


class HttpTriggerInfo(msgspec.Struct):
    type: str
    path: str
    method: str


class HttpRequestData(msgspec.Struct, omit_defaults=True):
    """What the engine sends a function bound to an `http` trigger.

    `body` is the parsed JSON body on the wire. In-process the embedded engine does not parse it: it
    passes `msgspec.Raw` (JSON bytes, decoded once by the runtime into the handler's type) and the raw
    request bytes in `raw_body`, a field the wire form does not have (there the bytes travel through the
    `request_body` data channel). For a route that streams its body (`stream_request_body`), in-process
    `request_body` is the body as an async iterator of chunks, and `raw_body` is None.
    """

    method: str
    path: str
    path_params: dict[str, str] = {}
    query_params: dict[str, Any] = {}
    headers: dict[str, str] = {}
    body: Any = None
    trigger: HttpTriggerInfo | None = None
    raw_body: bytes | None = None
    request_body: Any = None
    response: Any = None
    # The client's IP address, as the embedded engine saw it (operator routes serve loopback clients only).
    client: str | None = None


class HttpResponseData(msgspec.Struct, omit_defaults=True):
    """What a function bound to an `http` trigger returns.

    `body` is a JSON value on the wire; in-process it may also be `msgspec.Raw` (already-encoded JSON,
    written as is) or `bytes`.
    """

    status_code: int = 200
    headers: dict[str, str] | None = None
    body: Any = None


_json_value = msgspec.json.Decoder()


def http_response_wire(response: HttpResponseData) -> dict[str, Any]:
    """An HTTP function's result as it travels over the network (§3.1): `status_code` always written and a
    JSON body, so bytes go as text. A binary body would need the response data channel; it becomes a 500."""
    body = response.body
    headers = response.headers
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            body = bytes(body).decode()
        except UnicodeDecodeError:
            message = "A binary response body cannot be sent over this connection"
            return {"status_code": 500, "body": msgspec.Raw(error_body(INTERNAL_ERROR, message))}
        if not any(k.lower() == "content-type" for k in headers or ()):
            headers = {**(headers or {}), "content-type": "application/octet-stream"}
    wire: dict[str, Any] = {"status_code": response.status_code, "body": body}
    if headers:
        wire["headers"] = headers
    return wire


def wire_http_request(
    data: HttpRequestData, request_body: dict[str, str] | None = None, response: dict[str, str] | None = None
) -> dict[str, Any]:
    """The in-process HTTP payload in its wire form (§3.1): `body` parsed JSON or null; the raw bytes travel
    through the `request_body` channel, and `response` is the channel a streamed response is written to."""
    body = data.body
    if isinstance(body, msgspec.Raw):
        try:
            body = _json_value.decode(body)
        except msgspec.DecodeError:
            body = None
    wire: dict[str, Any] = {
        "method": data.method,
        "path": data.path,
        "path_params": data.path_params,
        "query_params": data.query_params,
        "headers": data.headers,
        "body": body,
        "trigger": data.trigger,
    }
    if request_body is not None:
        wire["request_body"] = request_body
    if response is not None:
        wire["response"] = response
    return wire


# --- the stream WebSocket (§4.4): one definition for the server (engine/streams) and the client ----------


class StreamSubscribe(msgspec.Struct, rename="camel", omit_defaults=True):
    """The `data` of a client's `join` or `leave`: which subscription, of which group (and item)."""

    subscription_id: str | int
    stream_name: str
    group_id: str
    id: str | int | None = None


class StreamRequest(msgspec.Struct):
    """A frame a client sends: `{"type": "join" | "leave", "data": {...}}`."""

    type: str
    data: StreamSubscribe


class StreamCustomEvent(msgspec.Struct):
    """A custom event (`stream::send`): its own type and data."""

    type: str
    data: Any = None


class StreamChange(msgspec.Struct, omit_defaults=True):
    """What happened to a subscription: `sync`, `create`, `update`, `delete`, `event` or `unauthorized`."""

    type: str
    data: Any = None
    event: StreamCustomEvent | None = None


class StreamFrame(msgspec.Struct, rename="camel"):
    """A frame the server sends: a change of a group or item (`type` "stream"), or an `error`."""

    type: str
    timestamp: int = 0
    stream_name: str = ""
    group_id: str = ""
    id: str | int | None = None
    subscription_id: str | None = None  # not sent by iii engines; used when a server does
    event: StreamChange | None = None
    error: ErrorBody | None = None


class StreamError(msgspec.Struct, tag="error", tag_field="type"):
    """The `error` frame the server sends about a client frame it cannot take (read as a `StreamFrame`)."""

    error: ErrorBody


decode_stream_request = msgspec.json.Decoder(StreamRequest).decode
decode_stream_frame = msgspec.json.Decoder(StreamFrame).decode


# Unused 16-byte draws of the OS's random source: one system call per 64 ids (an HTTP request to a remote worker
# needs several). `list.pop` is atomic, so two threads never get the same draw; a forked child starts empty.
_spare_random: list[bytes] = []
os.register_at_fork(after_in_child=_spare_random.clear)


def _random16() -> bytes:
    try:
        return _spare_random.pop()
    except IndexError:
        block = os.urandom(16 * 64)
        _spare_random.extend(block[i:i + 16] for i in range(16, len(block), 16))
        return block[:16]


def new_id() -> str:
    """A fresh canonical UUIDv4 string (invocation, worker, trigger and channel ids, access keys).

    Formatted by hand: `str(uuid.uuid4())` costs 2.5x more, and an HTTP request to a remote worker needs five.
    """
    raw = bytearray(_random16())
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def span_id() -> str:
    """A W3C trace-context span id (16 hex digits, never all zero). Span ids need to be unique, not secret:
    a PRNG draw is 3x cheaper than reading the OS's random source, on the path of every emit."""
    return f"{random.getrandbits(64) or 1:016x}"


def trace_id() -> str:
    """A fresh W3C trace id (32 hex digits, never all zero), drawn from the PRNG like `span_id`: every request
    whose handler logs needs one, and reading the OS's random source is a system call."""
    return f"{random.getrandbits(128) or 1:032x}"


# --- the JSON form of a message (one WebSocket text frame) -----------------------------------------------

_frame_encoder = msgspec.json.Encoder()
_frame_decoder = msgspec.json.Decoder(AnyMessage)


def encode_message(message: Message) -> bytes:
    """One protocol message as a JSON text frame.

    `omit_defaults` drops a null `invokefunction.data` and an empty `registertrigger.config`, but the Rust
    engine requires both keys and drops frames without them (§1.4), so they are written back.
    """
    frame = _frame_encoder.encode(message)
    if isinstance(message, InvokeFunction) and message.data is None:
        return frame[:-1] + b',"data":null}'
    if isinstance(message, RegisterTrigger) and message.config == {}:
        return frame[:-1] + b',"config":{}}'
    if isinstance(message, RegistrationRejected):  # rare; the engine always writes namespace and owner
        fields = {f: getattr(message, f) for f in message.__struct_fields__}
        written = {k: v for k, v in fields.items() if v is not None}
        return _frame_encoder.encode({"type": "registrationrejected", **written})
    return frame


def decode_message(frame: str | bytes) -> Message:
    """Parse one frame; raises `msgspec.DecodeError` (bad JSON), `msgspec.ValidationError` (unknown `type`,
    missing field, non-UUID invocation id, JSON nested deeper than `MAX_JSON_DEPTH`)."""
    if too_deep(frame):
        raise msgspec.DecodeError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return _frame_decoder.decode(frame)
