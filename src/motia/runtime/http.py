"""The function behind one `@api` trigger: decode and validate the request, run condition, middleware and
handler, and turn what the handler returns into an HTTP response.

Every failure a client can cause is answered here with the error envelope (400, 422, 500, 504), so the
same responses come back whichever engine (embedded or external iii) routes the request.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any

import msgspec

from .. import _current, errors
from .._current import Services
from .._pending import Invocation
from ..context import FlowContext, TriggerInfo
from ..http_stream import (
    ChannelReader,
    ChannelWriter,
    MotiaHttpArgs,
    MotiaHttpRequest,
    MotiaHttpResponse,
    StreamingResponse,
)
from ..json_depth import MAX_JSON_DEPTH, too_deep
from ..model import HttpTrigger, Step
from ..protocol import HttpRequestData, HttpResponseData, InvokeFunction
from ..pydantic_types import ModelValidationError, PydanticDecoder, decoder, is_pydantic
from ..requests import ApiRequest, ApiResponse, Headers
from ..signature import accepts_none, handler_shape, wants_http_args
from .invoke import make_caller, maybe_await, with_timeout

log = logging.getLogger("motia.runtime")

_encoder = msgspec.json.Encoder(enc_hook=lambda obj: _to_builtins(obj))
_any_decoder = msgspec.json.Decoder()
_RESPONSE_KEYS = frozenset({"status", "status_code", "statusCode", "body", "headers"})


def _to_builtins(obj: Any) -> Any:
    if isinstance(obj, str):  # str subclasses such as TriggerType
        return str(obj)
    dump = getattr(obj, "model_dump", None)  # pydantic models returned by legacy handlers
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


class BadRequest(Exception):
    def __init__(self, code: str, message: str, details: list[errors.ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.body = errors.error_body(code, message, details=details)


class HttpFunction:
    __slots__ = (
        "body_decoder", "body_type", "call", "chain", "condition", "http_args", "info", "json_schema", "none_allowed",
        "query_model", "query_type", "services", "status", "step", "timeout",
    )

    def __init__(
        self, step: Step, trigger: HttpTrigger, index: int, services: Services, default_timeout: float | None
    ) -> None:
        self.step = step
        self.services = services
        self.status = trigger.status
        self.info = TriggerInfo("http", index, path=trigger.path, method=trigger.method)
        self.call = make_caller(step.handler)
        self.condition = trigger.condition
        self.timeout = step.handler_config.timeout if step.handler_config else default_timeout
        self.body_type: Any = trigger.body
        self.json_schema: Any = None
        self.body_decoder: msgspec.json.Decoder[Any] | None = None
        if isinstance(trigger.body, dict):
            self.json_schema = compile_json_schema(trigger.body)
            self.body_decoder = _any_decoder
        elif trigger.body is not None:
            self.body_decoder = decoder(trigger.body)
        self.none_allowed = (
            not any(True for _ in self.json_schema.iter_errors(None)) if self.json_schema is not None
            else accepts_none(trigger.body)
        )
        self.query_type = trigger.query if isinstance(trigger.query, type) else None
        self.query_model = PydanticDecoder(self.query_type) if is_pydantic(self.query_type) else None
        self.chain = _compose(list(trigger.middleware), self.call)
        self.http_args = wants_http_args(handler_shape(step.handler).input_annotation)

    async def __call__(self, message: InvokeFunction) -> HttpResponseData:
        data = message.data
        if type(data) is not HttpRequestData:
            try:
                data = msgspec.convert(data, HttpRequestData)
            except msgspec.ValidationError as exc:
                return _error(400, errors.VALIDATION_ERROR, f"Malformed HTTP trigger payload: {exc}")
        if not self.http_args and data.request_body is not None and isinstance(data.request_body, AsyncIterator):
            # The raw body comes as a stream (from a remote engine's channel); this handler wants it whole.
            data.raw_body = b"".join([chunk async for chunk in data.request_body])
        try:
            body = self._body(data) if self.body_type is not None else None
            query = self._query(data.query_params) if self.query_type is not None else None
        except BadRequest as exc:
            return HttpResponseData(400, None, msgspec.Raw(exc.body))
        if self.http_args:
            return await self._call_streaming(data, body, message)
        request: ApiRequest[Any] = ApiRequest.__new__(ApiRequest)
        request.path_params = data.path_params
        request.query_params = data.query_params
        request.headers = Headers._from_lower(data.headers)
        request.body = body
        request.method = data.method
        request.path = data.path
        request.query = query
        request.raw_body = data.raw_body or b""
        ctx = FlowContext(
            self.step.name, self.info, self.services,
            traceparent=data.headers.get("traceparent") or message.traceparent, input_value=request,
        )
        with _current.running(ctx, self.services) as invocation:
            return await self._respond(request, ctx, invocation, self.timeout)

    async def _respond(self, request: Any, ctx: FlowContext, invocation: Invocation,
                       limit: float | None) -> HttpResponseData:
        try:
            if self.condition is not None and not await maybe_await(self.condition(request, ctx)):
                return HttpResponseData(422, None, msgspec.Raw(_CONDITION_NOT_MET))
            # Answered only once the writes the handler started (awaited or not) are applied.
            result = await with_timeout(_current.settled(self.chain(request, ctx), invocation), limit)
            if isinstance(result, (StreamingResponse, AsyncIterable)):
                return _streamed(result, ctx)
            return to_response(result, self.status)
        except TimeoutError:
            error_id = os.urandom(8).hex()
            ctx.logger.error(f"handler timed out after {self.timeout}s", error_id=error_id)
            return _error(504, errors.TIMEOUT, "The handler did not finish in time", error_id)
        except errors.StoreUnavailable as exc:  # the shared store (Redis) is away: try again, it reconnects
            ctx.logger.warning(f"503: {exc}")
            return HttpResponseData(503, {"retry-after": "1"}, msgspec.Raw(errors.store_unavailable_body()))
        except Exception:
            error_id = os.urandom(8).hex()
            ctx.logger.error("handler failed", exc_info=True, error_id=error_id)
            return _error(500, errors.INTERNAL_ERROR, "Internal server error", error_id)

    async def _call_streaming(self, data: HttpRequestData, body: Any, message: InvokeFunction) -> HttpResponseData:
        """An official-style handler (`MotiaHttpArgs`): it may answer by writing to `args.response` while it
        runs, so the response starts at its first write, and the handler goes on writing."""
        loop = asyncio.get_running_loop()
        chunks = data.request_body if isinstance(data.request_body, AsyncIterator) else data.raw_body
        request = MotiaHttpRequest(data.path_params, data.query_params, body, Headers._from_lower(data.headers),
                                   data.method, ChannelReader(chunks, loop), data.path)
        writer = ChannelWriter(loop)
        args = MotiaHttpArgs(request, MotiaHttpResponse(writer))
        ctx = FlowContext(self.step.name, self.info, self.services,
                          traceparent=data.headers.get("traceparent") or message.traceparent, input_value=args)
        started: asyncio.Future[None] = loop.create_future()
        writer.on_start = lambda: None if started.done() else started.set_result(None)
        with _current.running(ctx, self.services) as invocation:
            # The time limit applies until the response starts (awaited below), not to a long stream.
            run = loop.create_task(self._respond(args, ctx, invocation, None))
        try:
            await asyncio.wait((run, started), timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            run.cancel()
            raise
        if not started.done():
            if run.done():
                return run.result()  # returned its answer: an ordinary response
            run.cancel()
            error_id = os.urandom(8).hex()
            ctx.logger.error(f"handler did not answer within {self.timeout}s", error_id=error_id)
            return _error(504, errors.TIMEOUT, "The handler did not finish in time", error_id)
        run.add_done_callback(lambda _: writer.close())  # a handler that forgets close() still ends the body
        response = args.response
        return HttpResponseData(response.status_code, response.header_values or None, _body_of(writer, run))

    def _body(self, data: HttpRequestData) -> Any:
        raw = data.body
        decoder = self.body_decoder
        if isinstance(raw, msgspec.Raw):
            value = _decode(decoder, raw)
        elif raw is None and data.raw_body:
            # No JSON content type (curl -d sends form encoding); a typed body is still JSON.
            if self.body_type is Any and self.json_schema is None:
                return None
            value = _decode(decoder, data.raw_body)
        elif raw is not None:
            # Already parsed: the request came from an external iii engine.
            value = _convert(raw, self.body_type if self.json_schema is None else Any, decoder)
        else:
            if self.none_allowed:
                return None
            raise BadRequest(errors.VALIDATION_ERROR, "Request body is required",
                             [errors.ErrorDetail("Expected a JSON body, got nothing", "$")])
        if self.json_schema is not None:
            _validate_schema(self.json_schema, value)
        return value

    def _query(self, params: Mapping[str, Any]) -> Any:
        try:
            if self.query_model is not None:
                return self.query_model.convert(params)
            return msgspec.convert(params, self.query_type, strict=False)
        except msgspec.ValidationError as exc:
            details = [errors.ErrorDetail(message, path.replace("$.", "query.", 1) if path else "query")
                       for path, message in _problems(exc)]
            raise BadRequest(errors.VALIDATION_ERROR, f"{details[0].path}: {details[0].message}", details) from None


_CONDITION_NOT_MET = errors.error_body(errors.CONDITION_NOT_MET, "Request condition not met", skipped=True)


def _decode(decoder: Any, raw: Any) -> Any:
    if isinstance(raw, bytes) and too_deep(raw):  # a body the engine took as not JSON (its content type)
        raise BadRequest(errors.INVALID_JSON, f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(errors.INVALID_JSON, f"Malformed JSON body: {exc}") from None


def _convert(value: Any, tp: Any, decoder: Any) -> Any:
    if tp is Any:
        return value
    try:
        return decoder.convert(value) if isinstance(decoder, PydanticDecoder) else msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: msgspec.ValidationError) -> BadRequest:
    """A body that does not match its type: the envelope's message is the first problem, `details` all of them
    (msgspec stops at the first; pydantic reports every one)."""
    problems = _problems(exc)
    path, message = problems[0]
    return BadRequest(errors.VALIDATION_ERROR, f"{path}: {message}" if path else message,
                      [errors.ErrorDetail(message, path or "$") for path, message in problems])


def _problems(exc: msgspec.ValidationError) -> list[tuple[str | None, str]]:
    """(JSON path or None, message) of each problem, backquotes dropped."""
    if isinstance(exc, ModelValidationError):
        return [(path, message.replace("`", "")) for path, message in exc.problems]
    return [_split_error(str(exc))]


def _split_error(text: str) -> tuple[str | None, str]:
    """`Expected \\`int\\`, got \\`str\\` - at \\`$.age\\`` -> (`$.age`, `Expected int, got str`)."""
    message, sep, where = text.rpartition(" - at ")
    if not sep:
        return None, text.replace("`", "")
    return where.strip("`"), message.replace("`", "")


def _error(status: int, code: str, message: str, error_id: str | None = None) -> HttpResponseData:
    return HttpResponseData(status, None, msgspec.Raw(errors.error_body(code, message, error_id=error_id)))


async def _body_of(writer: ChannelWriter, run: asyncio.Task[Any]) -> AsyncIterator[bytes]:
    """What the handler writes, as it writes it; if the client goes away first, the handler is stopped."""
    finished = False
    try:
        async for chunk in writer.chunks():
            yield chunk
        finished = True
    finally:
        if not finished:
            writer.abort("the client went away")  # a sync handler (a thread, not cancellable) hears it here
            if not run.done():
                run.cancel()


def _streamed(result: StreamingResponse | AsyncIterable[Any], ctx: FlowContext) -> HttpResponseData:
    """A native streamed answer (`StreamingResponse`, `event_stream(...)` or an async iterator): a task of this
    handler run (same context, so module-level helpers find the app) produces it while it is sent."""
    response = result if isinstance(result, StreamingResponse) else StreamingResponse(result)
    writer = ChannelWriter()

    async def produce() -> None:
        try:
            async for chunk in response.body():
                writer.write(chunk)
                await writer.drain()
        except Exception:
            ctx.logger.error("streamed response failed", exc_info=True)
        finally:
            writer.close()

    run = asyncio.get_running_loop().create_task(produce())
    return HttpResponseData(response.status, response.headers, _body_of(writer, run))


def to_response(result: Any, default_status: int) -> HttpResponseData:
    """What a handler returned -> status, headers and body (JSON encoded once, here)."""
    if result is None:
        return HttpResponseData(204)
    if isinstance(result, ApiResponse):
        status, headers, body = result.status, result.headers or None, result.body
    elif isinstance(result, HttpResponseData):
        return result
    elif isinstance(result, dict) and result.keys() <= _RESPONSE_KEYS and _response_status(result) is not None:
        status = _response_status(result)  # type: ignore[assignment]
        headers, body = result.get("headers") or None, result.get("body")
    else:
        status, headers, body = default_status, None, result
    if body is None or isinstance(body, (bytes, bytearray, str, msgspec.Raw)):
        if isinstance(body, str) and not _has_content_type(headers):
            headers = {**(headers or {}), "content-type": "text/plain; charset=utf-8"}
        return HttpResponseData(status, headers, body)
    return HttpResponseData(status, headers, msgspec.Raw(_encoder.encode(body)))


def _response_status(result: dict[str, Any]) -> int | None:
    for key in ("status", "status_code", "statusCode"):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _has_content_type(headers: Mapping[str, str] | None) -> bool:
    return bool(headers) and any(k.lower() == "content-type" for k in headers)  # type: ignore[union-attr]


def _compose(middleware: list[Callable[..., Any]], handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Seed-style middleware `async (req, ctx, next)`, outermost first; `next()` or `next(req, ctx)`."""
    chain = handler
    for layer in reversed(middleware):
        chain = _wrap(layer, chain)
    return chain


def _wrap(layer: Callable[..., Any], inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    async def run(request: Any, ctx: Any) -> Any:
        async def next_handler(req: Any = None, context: Any = None) -> Any:
            return await inner(request if req is None else req, ctx if context is None else context)

        return await maybe_await(layer(request, ctx, next_handler))

    return run


# --- legacy JSON-Schema bodies ---------------------------------------------------------------------------


def compile_json_schema(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for a legacy `body_schema`, built once per route."""
    from jsonschema import validators

    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_schema(validator: Any, value: Any) -> None:
    problems = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if problems:
        details = [errors.ErrorDetail(p.message, p.json_path) for p in problems]
        first = details[0]
        raise BadRequest(errors.VALIDATION_ERROR, f"{first.path}: {first.message}", details)
