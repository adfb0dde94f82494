"""The console's JSON APIs under `/__motia/api/`: the app's steps and flow graph, state, streams, queues and cron.

Reads come from the engine's registries, its state and stream backends and its queue module, whichever store keeps
them (the engine's own, or Redis shared by several nodes); every write goes through the engine function a handler's
own call reaches (`state::set`, `motia::dlq::redrive`, ...), so its effects are the same: state triggers fire,
redriven messages are delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from .. import errors
from ..engine.cron import CronJob, CronRun
from ..engine.embedded import EmbeddedEngine
from ..engine.queues import AttemptError
from ..engine.store import QueuedMessage
from ..model import Step, Trigger, function_ids
from ..protocol import HttpRequestData, HttpResponseData
from ..registry import Registry
from ..schema_utils import schema_to_json_schema


class TriggerInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One trigger of a step, as the Flows page shows it."""

    kind: str
    summary: str  # "POST /orders", "order.placed", "0 9 * * *", ...
    function_id: str
    schema: dict[str, Any] | None = None  # the request body (http) or the payload (queue)
    responses: dict[str, Any] = {}  # status -> JSON Schema (http)


class StepInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    triggers: list[TriggerInfo]
    description: str | None = None
    flows: list[str] = []
    emits: list[str] = []
    file: str | None = None
    line: int | None = None


class SubscriptionRow(msgspec.Struct, kw_only=True):
    """A queue subscription (topic + function): its messages by status. `in_flight` counts the function's
    deliveries running now (over all its topics)."""

    topic: str
    function_id: str
    step: str | None
    pending: int
    in_flight: int
    dead: int
    connected: bool


class MessageRow(msgspec.Struct, kw_only=True):
    id: int
    topic: str
    function_id: str
    data: msgspec.Raw
    attempts: int
    error: str | None
    errors: list[AttemptError]  # the failed attempts this process saw (the store keeps only the last error)
    enqueued_at: float
    available_at: float
    failed_at: float | None
    traceparent: str | None


class CronJobRow(msgspec.Struct, kw_only=True):
    function_id: str
    step: str | None
    expression: str
    timezone: str
    next_fire: float | None
    running: bool
    fired: int
    skipped: int
    runs: list[CronRun]  # the most recent last


class StreamRow(msgspec.Struct, kw_only=True):
    name: str
    groups: list[str]


class Selection(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which dead letters a redrive or discard takes: those of one subscription, all of them or the `ids`."""

    topic: str
    function_id: str
    ids: list[int] | None = None


class CronChoice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    function_id: str
    expression: str


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> HttpResponseData:
        return HttpResponseData(self.status, {"content-type": "application/json"},
                                errors.error_body(self.code, self.message))


class ConsoleApi:
    """The handlers; each takes the request and returns the response (`serve` routes them)."""

    def __init__(self, embedded: EmbeddedEngine, registry: Registry, title: str) -> None:
        self.embedded = embedded
        self.registry = registry
        self.title = title
        # engine function id -> the step it runs
        self.steps_by_function = {fid: step.name for step in registry for fid in function_ids(step)}
        self._flows: bytes | None = None

    # --- the app ------------------------------------------------------------------------------------

    async def about(self, request: HttpRequestData) -> HttpResponseData:
        """What the shell needs: the app's name and where its stream WebSocket listens (None: no stream port)."""
        return _json({"title": self.title, "stream_port": self.embedded.streams.port})

    async def flows(self, request: HttpRequestData) -> HttpResponseData:
        """The flow graph, laid out as `/__motia/graph` draws it, and every step's details; built once."""
        if self._flows is None:
            from ..graph import build_graph, page_data  # on demand, as for the graph page

            graph = page_data(build_graph(self.registry, root=Path.cwd()), self.title)
            steps = {step.name: _step_info(step) for step in self.registry}
            self._flows = msgspec.json.encode({"graph": graph, "steps": steps})
        return HttpResponseData(200, {"content-type": "application/json", "cache-control": "no-store"},
                                msgspec.Raw(self._flows))

    # --- state ----------------------------------------------------------------------------------------

    async def state_groups(self, request: HttpRequestData) -> HttpResponseData:
        listed = await self._call("state::list_groups", {})
        return _json(sorted(listed["groups"] if isinstance(listed, dict) else listed))

    async def state_items(self, request: HttpRequestData) -> HttpResponseData:
        group = request.path_params["group"]
        return _json({key: msgspec.Raw(value) for key, value in await self.embedded.state.items(group)})

    async def state_set(self, request: HttpRequestData) -> HttpResponseData:
        value = _body(request, Any, "the body must be the JSON value to store")
        params = request.path_params
        await self._call("state::set", {"scope": params["group"], "key": params["key"], "value": value})
        return _json(value)

    async def state_delete(self, request: HttpRequestData) -> HttpResponseData:
        params = request.path_params
        result = await self._call("state::delete", {"scope": params["group"], "key": params["key"]})
        return _json({"deleted": result is not None})

    # --- streams --------------------------------------------------------------------------------------

    async def streams(self, request: HttpRequestData) -> HttpResponseData:
        names = sorted({*self.registry.streams, *await self.embedded.streams.backend.names()})
        rows = [StreamRow(name=name, groups=list(await self._call("stream::list_groups", {"stream_name": name})))
                for name in names]
        return _json(rows)

    # --- queues ---------------------------------------------------------------------------------------

    async def queues(self, request: HttpRequestData) -> HttpResponseData:
        queues = self.embedded.queues
        rows = [SubscriptionRow(topic=row.topic, function_id=row.function_id,
                                step=self.steps_by_function.get(row.function_id), pending=row.pending,
                                in_flight=queues.in_flight(row.function_id), dead=row.dead, connected=row.connected)
                for row in await queues.subscription_counts()]
        return _json(rows)

    async def messages(self, request: HttpRequestData) -> HttpResponseData:
        """The pending and dead messages of one subscription (`?topic=...&function_id=...`)."""
        topic, function_id = request.query_params.get("topic"), request.query_params.get("function_id")
        if not isinstance(topic, str) or not isinstance(function_id, str):
            raise ApiError(400, errors.VALIDATION_ERROR, "give one ?topic=...&function_id=...")
        queues = self.embedded.queues
        pending, dead = await queues.messages(topic, function_id)
        return _json({"pending": [_message_row(m, queues.attempt_history(m.id)) for m in pending],
                      "dead": [_message_row(m, queues.attempt_history(m.id)) for m in dead]})

    async def redrive(self, request: HttpRequestData) -> HttpResponseData:
        choice = _body(request, Selection, 'expected {"topic", "function_id", "ids"?}')
        filters: dict[str, Any] = {"topic": choice.topic, "function_id": choice.function_id}
        if choice.ids is not None:
            filters["ids"] = choice.ids
        return _json(await self._call("motia::dlq::redrive", filters))

    async def discard(self, request: HttpRequestData) -> HttpResponseData:
        choice = _body(request, Selection, 'expected {"topic", "function_id", "ids"?}')
        _, dead = await self.embedded.queues.messages(choice.topic, choice.function_id)
        chosen = [m.id for m in dead if choice.ids is None or m.id in choice.ids]
        discarded = 0
        for message_id in chosen:
            result = await self._call("motia::dlq::discard", {"id": message_id})
            discarded += bool(result.get("discarded")) if isinstance(result, dict) else 0
        return _json({"discarded": discarded})

    # --- cron -----------------------------------------------------------------------------------------

    async def cron(self, request: HttpRequestData) -> HttpResponseData:
        rows = [CronJobRow(function_id=job.function_id, step=self.steps_by_function.get(job.function_id),
                           expression=job.schedule.expression, timezone=job.schedule.timezone,
                           next_fire=job.next_fire, running=job.running, fired=job.fired, skipped=job.skipped,
                           runs=list(job.runs))
                for job in self.embedded.cron.jobs.values()]
        return _json(rows)

    async def cron_run(self, request: HttpRequestData) -> HttpResponseData:
        choice = _body(request, CronChoice, 'expected {"function_id", "expression"}')
        job = self._job(choice)
        if not self.embedded.cron.run_now(job):
            raise ApiError(409, "CONFLICT", "a run of this job is still going")
        return _json({"started": True}, 202)

    def _job(self, choice: CronChoice) -> CronJob:
        for job in self.embedded.cron.jobs.values():
            if job.function_id == choice.function_id and job.schedule.expression == choice.expression:
                return job
        raise ApiError(404, errors.NOT_FOUND, f"no cron job {choice.function_id} at {choice.expression!r}")

    # --- helpers --------------------------------------------------------------------------------------

    async def _call(self, function_id: str, data: Any) -> Any:
        result = await self.embedded.core.invoke(function_id, data)
        if result.error is not None:
            raise ApiError(400, result.error.code, result.error.message)
        return result.result


def _step_info(step: Step) -> StepInfo:
    triggers = [_trigger_info(trigger, fid) for trigger, fid in zip(step.triggers, function_ids(step), strict=True)]
    return StepInfo(
        name=step.name, triggers=triggers, description=step.description, flows=list(step.flows),
        emits=[emit.topic for emit in step.emits], file=_relative(step.source.file) if step.source else None,
        line=step.source.line if step.source else None,
    )


def _relative(file: str) -> str:
    """A step file as the project names it (relative to where the app runs), else as it is."""
    try:
        return str(Path(file).relative_to(Path.cwd()))
    except ValueError:
        return file


def _trigger_info(trigger: Trigger, function_id: str) -> TriggerInfo:
    responses = {str(status): _schema(tp) for status, tp in trigger.response_types().items()}
    return TriggerInfo(kind=str(trigger.kind), summary=trigger.console_summary(), function_id=function_id,
                       schema=_schema(trigger.data_type), responses=responses)


def _schema(tp: Any) -> dict[str, Any] | None:
    """The JSON Schema of a body or payload type; None for none, or for a type msgspec cannot describe."""
    try:
        return schema_to_json_schema(tp)
    except (TypeError, ValueError):
        return None


def _message_row(message: QueuedMessage, history: list[AttemptError]) -> MessageRow:
    return MessageRow(id=message.id, topic=message.topic, function_id=message.function_id,
                      data=msgspec.Raw(message.payload), attempts=message.attempts, error=message.error,
                      errors=list(history), enqueued_at=message.enqueued_at, available_at=message.available_at,
                      failed_at=message.failed_at, traceparent=message.traceparent)


def _body(request: HttpRequestData, kind: Any, hint: str) -> Any:
    if not request.raw_body:
        raise ApiError(400, errors.INVALID_JSON, f"no body: {hint}")
    try:
        return msgspec.json.decode(request.raw_body, type=kind)
    except msgspec.ValidationError as exc:
        raise ApiError(400, errors.VALIDATION_ERROR, f"{exc}: {hint}") from None
    except msgspec.DecodeError:
        raise ApiError(400, errors.INVALID_JSON, f"the body is not JSON: {hint}") from None


def _json(value: Any, status: int = 200) -> HttpResponseData:
    return HttpResponseData(status, {"content-type": "application/json", "cache-control": "no-store"},
                            msgspec.Raw(msgspec.json.encode(value)))
