"""OpenAPI 3.1 from the step registry: one operation per HTTP trigger, schemas from msgspec's JSON Schema (and
pydantic's, for pydantic models).

`motia codegen openapi` writes this document and `motia run` serves it at `GET /openapi.json`. Only msgspec is
needed, so the runtime can build it; the other generators live in the separate `motia-codegen` package.
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

import msgspec

from .errors import ErrorEnvelope
from .model import HttpTrigger, QueryParam, Step
from .pydantic_types import is_pydantic, json_schemas
from .registry import Registry
from .signature import accepts_none

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{name}"
DEFAULT_TITLE = "motia app"
DEFAULT_VERSION = "0.1.0"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_COMPONENT_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")

# The answers in the error envelope: status -> (shared response name, when). An operation references those it
# can get: 400 when it validates a body or query, 413 with a body, 422 with a condition, the others always.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The body is not JSON (INVALID_JSON), or the body or query does not match its type "
                        "(VALIDATION_ERROR, with `details`)."),
    404: ("NotFound", "No route matches the path (NOT_FOUND)."),
    405: ("MethodNotAllowed", "The path exists for other methods, listed in `Allow` (METHOD_NOT_ALLOWED)."),
    413: ("PayloadTooLarge", "The body is over the size limit (PAYLOAD_TOO_LARGE)."),
    422: ("ConditionNotMet", "The trigger's condition returned false; the handler did not run (CONDITION_NOT_MET)."),
    500: ("InternalError", "The handler raised; `error_id` matches the logged traceback (INTERNAL_ERROR)."),
    504: ("Timeout", "The handler ran past its time limit (TIMEOUT)."),
}


def openapi_document(
    registry: Registry | Iterable[Step],
    *,
    title: str | None = None,
    version: str = DEFAULT_VERSION,
    description: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every HTTP trigger of `registry` (a resolved Registry: `Registry.add` has
    filled in body and response types from the handlers' annotations). Deterministic: paths, statuses and
    components are sorted, so the output can be committed and diffed. Titled `title`, else the project's name."""
    title = title or document_title(registry)
    steps = list(registry.steps if isinstance(registry, Registry) else registry)
    routes = [(step, trigger, index) for step in steps
              for index, trigger in enumerate(step.triggers) if isinstance(trigger, HttpTrigger)]
    schemas = SchemaSet()
    schemas.add(ErrorEnvelope)
    for _, trigger, _ in routes:
        for tp in _route_types(trigger):
            schemas.add(tp)
    schemas.resolve()

    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    tags: set[str] = set()
    for step, trigger, index in routes:
        operation_id = step.name if step.name not in operation_ids else f"{step.name}_{index}"
        operation_ids.add(operation_id)
        tags.update(step.flows)
        path, operation = _operation(step, trigger, operation_id, schemas)
        paths.setdefault(path, {})[trigger.method.lower()] = operation

    error_ref = schemas.ref(ErrorEnvelope)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, **({"description": description} if description else {})},
    }
    if tags:
        document["tags"] = [{"name": tag} for tag in sorted(tags)]
    document["paths"] = {path: _sorted_methods(paths[path]) for path in sorted(paths)}
    document["components"] = {
        "schemas": {},
        "responses": {
            name: {"description": text, "content": {"application/json": {"schema": error_ref}}}
            for name, text in (ERROR_RESPONSES[status] for status in sorted(ERROR_RESPONSES))
        },
    }
    # Only the components something refers to (a query Struct is spread into parameters, not referenced).
    document["components"]["schemas"] = schemas.reachable_from(document["paths"], document["components"])
    return document


def document_title(registry: Registry | Iterable[Step]) -> str:
    """The title of an app's API documents: its project's name (`motia.discovery`), else "motia app"."""
    return (registry.name if isinstance(registry, Registry) else None) or DEFAULT_TITLE


def openapi_json(registry: Registry | Iterable[Step], **options: Any) -> bytes:
    """The document encoded as JSON (what `GET /openapi.json` answers)."""
    return msgspec.json.encode(openapi_document(registry, **options))


def openapi_path(path: str) -> tuple[str, list[str]]:
    """`/users/:id` -> (`/users/{id}`, [`id`])."""
    names: list[str] = []
    segments = []
    for segment in path.split("/"):
        if segment.startswith(":"):
            names.append(segment[1:])
            segments.append("{" + segment[1:] + "}")
        else:
            segments.append(segment)
    return "/".join(segments) or "/", names


def _route_types(trigger: HttpTrigger) -> Iterator[Any]:
    if _is_type(trigger.body):
        yield trigger.body
    if isinstance(trigger.query, type):
        yield trigger.query
    for body in _responses(trigger).values():
        if _is_type(body):
            yield body


def _is_type(tp: Any) -> bool:
    """A type msgspec describes (not None, not a JSON-Schema dict, not a body passed through as is)."""
    return tp is not None and not isinstance(tp, dict) and tp not in (str, bytes, bytearray)


def _operation(step: Step, trigger: HttpTrigger, operation_id: str, schemas: SchemaSet) -> tuple[str, dict[str, Any]]:
    path, names = openapi_path(trigger.path)
    operation: dict[str, Any] = {}
    if step.flows:
        operation["tags"] = list(step.flows)
    summary, description = _texts(step)
    if summary:
        operation["summary"] = summary
    if description:
        operation["description"] = description
    operation["operationId"] = operation_id
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]
    parameters.extend(_query_parameters(trigger.query, schemas))
    if parameters:
        operation["parameters"] = parameters
    body = _request_body(trigger, schemas, operation_id)
    if body is not None:
        operation["requestBody"] = body

    responses: dict[int, Any] = {}
    for status, tp in _responses(trigger).items():
        responses[status] = _response(status, tp, schemas, f"{operation_id}Response{status}")
    if not responses:
        responses[trigger.status] = _response(trigger.status, Any, schemas, "")
    validates = body is not None or isinstance(trigger.query, type)
    for status, (name, _) in ERROR_RESPONSES.items():
        wanted = {400: validates, 413: body is not None, 422: trigger.condition is not None}.get(status, True)
        if wanted and status not in responses:
            responses[status] = {"$ref": f"#/components/responses/{name}"}
    operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
    return path, operation


def _texts(step: Step) -> tuple[str | None, str | None]:
    """summary: the step's description (its docstring's first paragraph) on one line; description: the rest
    of the docstring, when there is more."""
    summary = " ".join(step.description.split()) if step.description else None
    doc = inspect.getdoc(step.handler)
    if doc and summary:
        paragraphs = doc.split("\n\n")
        if " ".join(paragraphs[0].split()) == summary and len(paragraphs) > 1:
            return summary, "\n\n".join(paragraphs[1:]).strip() or None
    return summary, None


def _query_parameters(query: Any, schemas: SchemaSet) -> list[dict[str, Any]]:
    if isinstance(query, type):
        schema = schemas.component_of(query)
        if schema is None:
            return []
        required = set(schema.get("required", ()))
        parameters = []
        for name, prop in schema.get("properties", {}).items():
            parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if isinstance(prop.get("description"), str):
                parameter["description"] = prop["description"]
            parameter["schema"] = prop
            parameters.append(parameter)
        return parameters
    parameters = []
    for item in query or ():
        if isinstance(item, QueryParam):
            parameter = {"name": item.name, "in": "query", "required": item.required}
            if item.description:
                parameter["description"] = item.description
            parameter["schema"] = {"type": "string"}
            parameters.append(parameter)
    return parameters


def _schema_accepts_null(schema: dict[str, Any]) -> bool:
    """Whether a legacy JSON-Schema body lets a request without a body through (the runtime's rule)."""
    from jsonschema import validators

    return not any(True for _ in validators.validator_for(schema)(schema).iter_errors(None))


def _request_body(trigger: HttpTrigger, schemas: SchemaSet, operation_id: str) -> dict[str, Any] | None:
    body = trigger.body
    if body is None or (body is Any and trigger.method not in _BODY_METHODS):
        return None
    if isinstance(body, dict):
        schema, required = schemas.hoist(body, f"{operation_id}Body"), not _schema_accepts_null(body)
    else:
        schema, required = _content_schema(body, schemas), not accepts_none(body)
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _responses(trigger: HttpTrigger) -> dict[int, Any]:
    """The declared responses, a union at one status losing the members declared at another status
    (`-> ApiResponse[User] | ApiResponse[NotFound]` with `responses={404: NotFound}`: 200 is `User`)."""
    declared = dict(trigger.responses)
    result: dict[int, Any] = {}
    for status, tp in declared.items():
        members = _union_members(tp)
        if len(members) > 1:
            elsewhere = [other for s, other in declared.items() if s != status]
            kept = [m for m in members if not any(m is other or m == other for other in elsewhere)]
            if kept and len(kept) < len(members):
                tp = kept[0] if len(kept) == 1 else _union(kept)
        result[status] = tp
    return result


def _response(status: int, tp: Any, schemas: SchemaSet, name: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _phrase(status)}
    if tp is None:
        return response
    if tp is str:
        response["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif tp in (bytes, bytearray):
        response["content"] = {"application/octet-stream": {}}
    elif isinstance(tp, dict):
        response["content"] = {"application/json": {"schema": schemas.hoist(tp, name)}}
    else:
        response["content"] = {"application/json": {"schema": _content_schema(tp, schemas)}}
    return response


def _content_schema(tp: Any, schemas: SchemaSet) -> dict[str, Any]:
    return {} if tp is Any else copy.deepcopy(schemas.schema(tp))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _sorted_methods(operations: dict[str, Any]) -> dict[str, Any]:
    order = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    return {method: operations[method] for method in sorted(operations, key=order.index)}


def _union_members(tp: Any) -> tuple[Any, ...]:
    import types
    import typing

    origin = typing.get_origin(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is getattr(types, "UnionType", None)):
        return typing.get_args(tp)
    return (tp,)


def _union(members: list[Any]) -> Any:
    import typing

    return typing.Union[tuple(members)]


class SchemaSet:
    """JSON Schemas of many types made by one `msgspec.json.schema_components` call, so a Struct used in several
    places is one shared component; legacy JSON-Schema dicts join them with their `$defs` hoisted.

    `add()` every type, `resolve()`, then ask for `schema(tp)`. Also used by motia-codegen (AsyncAPI, models).
    """

    def __init__(self, ref_template: str = SCHEMA_REF) -> None:
        self.ref_template = ref_template
        self._types: list[Any] = []
        self._split: list[tuple[Any, tuple[Any, ...]]] = []
        self._schemas: list[dict[str, Any]] = []
        self._models: list[Any] = []  # types of pydantic models: described by pydantic, not msgspec
        self._model_schemas: list[dict[str, Any]] = []
        self.components: dict[str, Any] = {}

    def add(self, tp: Any) -> None:
        if self._find(tp) is not None or any(known is tp or _same(known, tp) for known, _ in self._split):
            return
        if is_pydantic(tp):
            if not any(known is tp or _same(known, tp) for known in self._models):
                self._models.append(tp)
            return
        try:
            msgspec.json.schema(tp)
        except TypeError:
            # A union msgspec refuses (`Order | dict`: two object types) is described member by member;
            # anything else it cannot describe is any JSON value.
            members = _union_members(tp)
            parts = members if len(members) > 1 else ()
            self._split.append((tp, parts))
            for member in parts:
                self.add(member)
            return
        self._types.append(tp)

    def _find(self, tp: Any) -> int | None:
        for i, known in enumerate(self._types):
            if known is tp or _same(known, tp):
                return i
        return None

    def resolve(self) -> None:
        schemas, components = msgspec.json.schema_components(self._types, ref_template=self.ref_template)
        renames = {name: _component_name(name) for name in components}
        renames = {old: new for old, new in renames.items() if old != new}
        self._schemas = [self._rename_refs(s, renames) for s in schemas]
        self.components.update({renames.get(name, name): _clean_description(self._rename_refs(schema, renames))
                                for name, schema in components.items()})
        if self._models:
            self._model_schemas, definitions = json_schemas(self._models, self.ref_template)
            # A model named like a Struct (`User` in two modules) gets its module-qualified name, as msgspec
            # names its own clashes, instead of overwriting the Struct's component.
            clashes = {name: _component_name(_qualified(self._models, name)) for name in definitions
                       if name in self.components}
            self._model_schemas = [self._rename_refs(s, clashes) for s in self._model_schemas]
            self.components.update({clashes.get(name, name): self._rename_refs(schema, clashes)
                                    for name, schema in definitions.items()})

    def schema(self, tp: Any) -> dict[str, Any]:
        for known, schema in zip(self._models, self._model_schemas, strict=True):
            if known is tp or _same(known, tp):
                return schema
        for known, members in self._split:
            if known is tp or _same(known, tp):
                return {"anyOf": [self.schema(m) for m in members]} if members else {}
        index = self._find(tp)
        if index is None:  # pragma: no cover - every type is added before resolve()
            raise KeyError(tp)
        return self._schemas[index]

    def ref(self, tp: Any) -> dict[str, Any]:
        return self.schema(tp)

    def component_of(self, tp: Any) -> dict[str, Any] | None:
        """The object schema of a Struct-like type (its component, when it has one)."""
        schema = self.schema(tp)
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.components.get(ref.rsplit("/", 1)[-1])
        return schema if schema.get("type") == "object" else None

    def hoist(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        """A JSON-Schema dict with its `$defs`/`definitions` moved to the components (a `$ref` inside an OpenAPI
        or AsyncAPI document points into the document, not into the schema it is written in)."""
        schema = copy.deepcopy(schema)
        schema.pop("$schema", None)
        renames: dict[str, str] = {}
        hoisted: dict[str, Any] = {}
        for key in ("$defs", "definitions"):
            for def_name, definition in (schema.pop(key, None) or {}).items():
                target = _component_name(def_name)
                if target in self.components or target in hoisted.values():
                    target = _component_name(f"{name}_{def_name}")
                renames[f"#/{key}/{def_name}"] = target
                hoisted[target] = definition
        if _has_root_ref(schema):
            renames["#"] = _component_name(name)
            hoisted[renames["#"]] = schema
        for target, definition in hoisted.items():
            self.components[target] = self._rewrite_local_refs(definition, renames)
        if "#" in renames:
            return {"$ref": self.ref_template.format(name=renames["#"])}
        return self._rewrite_local_refs(schema, renames)

    def reachable_from(self, *roots: Any) -> dict[str, Any]:
        """The components `roots` refer to, directly or through other components, sorted by name."""
        seen: set[str] = set()
        pending = [name for root in roots for name in self._refs(root)]
        while pending:
            name = pending.pop()
            if name in seen or name not in self.components:
                continue
            seen.add(name)
            pending.extend(self._refs(self.components[name]))
        return {name: self.components[name] for name in sorted(seen)}

    def _refs(self, value: Any) -> Iterator[str]:
        prefix = self.ref_template.format(name="")
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "$ref" and isinstance(item, str) and item.startswith(prefix):
                    yield item[len(prefix):]
                elif key == "mapping" and isinstance(item, dict):
                    for target in item.values():
                        if isinstance(target, str) and target.startswith(prefix):
                            yield target[len(prefix):]
                else:
                    yield from self._refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from self._refs(item)

    def _rename_refs(self, value: Any, renames: dict[str, str]) -> Any:
        if not renames:
            return value
        template = self.ref_template
        old_to_new = {template.format(name=old): template.format(name=new) for old, new in renames.items()}
        return _map_refs(value, lambda ref: old_to_new.get(ref, ref))

    def _rewrite_local_refs(self, value: Any, renames: dict[str, str]) -> Any:
        template = self.ref_template

        def rewrite(ref: str) -> str:
            if ref in renames:
                return template.format(name=renames[ref])
            for local, target in renames.items():
                if local != "#" and ref.startswith(local + "/"):
                    return template.format(name=target) + ref[len(local):]
            return ref

        return _map_refs(value, rewrite)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def _clean_description(schema: dict[str, Any]) -> dict[str, Any]:
    """A docstring as Python 3.13 stores it (dedented) on every version, so the output does not depend on it."""
    if isinstance(schema.get("description"), str):
        schema = {**schema, "description": inspect.cleandoc(schema["description"])}
    return schema


def _qualified(models: list[Any], name: str) -> str:
    """`module.Qualname` of the pydantic model among `models` (or nested in their fields) that pydantic named
    `name`; `name.pydantic` when none is found."""
    seen: set[int] = set()
    pending = list(models)
    while pending:
        tp = pending.pop()
        if id(tp) in seen:
            continue
        seen.add(id(tp))
        pending.extend(typing.get_args(tp))
        fields = getattr(tp, "model_fields", None)
        if isinstance(tp, type) and isinstance(fields, dict):
            if tp.__name__ == name:
                return f"{tp.__module__}.{tp.__qualname__}"
            pending.extend(field.annotation for field in fields.values())
    return f"{name}.pydantic"


def _component_name(name: str) -> str:
    """OpenAPI component names are `[a-zA-Z0-9._-]+`; msgspec names a clash `module.Qual<locals>.Name`."""
    return name if _COMPONENT_NAME.match(name) else re.sub(r"[^a-zA-Z0-9._-]", "_", name)


def _map_refs(value: Any, rewrite: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                out[key] = rewrite(item)
            elif key == "mapping" and isinstance(item, dict):
                out[key] = {k: rewrite(v) if isinstance(v, str) else v for k, v in item.items()}
            else:
                out[key] = _map_refs(item, rewrite)
        return out
    if isinstance(value, list):
        return [_map_refs(item, rewrite) for item in value]
    return value


def _has_root_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("$ref") == "#" or any(_has_root_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_root_ref(v) for v in value)
    return False
