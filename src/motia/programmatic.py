"""Official motia 1.0's programmatic API: `Motia().add_step(...)`/`add_stream(...)`, `get_instance()`,
`init_iii()`, `setup_step_endpoint(...)` and `generate_step_id(path)`.

A `Motia` collects steps and streams into a `Registry` (`motia.registry`), which runs like any discovered
app: `TestApp(motia.registry)`, `ServedApp(motia.registry)`. `get_instance()` is the process's `Motia`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .legacy import compile_step
from .model import SourceLocation, Step
from .registry import Registry
from .step import StepDefinition
from .streams import Stream, StreamConfig, stream_from_config

# Official motia's namespace (the same as the JS implementation), so tools see the same step ids.
STEP_NAMESPACE = uuid.UUID("7f1c3ff2-9b00-4d0a-bdd7-efb8bca49d4f")
STEP_ENDPOINT_PATH = "/__motia/step/:stepId"


def generate_step_id(path: str) -> str:
    """A stable step id: uuid5 of the step file's path in official motia's namespace."""
    return str(uuid.uuid5(STEP_NAMESPACE, path))


class Motia:
    """Steps and streams added by code instead of discovered from files."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.streams: dict[str, Stream[Any]] = {}
        self.otel_config: Mapping[str, Any] | None = None

    def add_step(self, config: Any, step_path: str, handler: Callable[..., Any] | None = None,
                 file_path: str | None = None) -> Step:
        """Add a step from a `StepDefinition` (`step(...)`, `multi_trigger_step(...)`), or from a config (dict
        or `StepConfig`) and its handler. Errors name `file_path` (or `step_path`)."""
        if isinstance(config, StepDefinition):
            handler = handler or config.handler
            config = config.config
        if handler is None:
            raise ValueError("handler is required - provide it directly or use step()/multi_trigger_step()")
        step = compile_step(config, handler, source=SourceLocation(file_path or step_path, 1))
        return self.registry.add(step)

    def add_stream(self, config: StreamConfig | Mapping[str, Any] | Stream[Any], file_path: str) -> Stream[Any]:
        """Declare a stream (its schema and join/leave hooks) and return it."""
        stream = config if isinstance(config, Stream) else stream_from_config(config)
        self.registry.add_stream(stream, file_path)
        self.streams[stream.name] = stream
        return stream

    def set_authenticate(self, handler: Callable[..., Any]) -> None:
        """Authenticate stream WebSocket connections (see `motia.stream_auth`)."""
        self.registry.set_stream_auth(handler, "<Motia.set_authenticate>")

    def initialize(self) -> None:
        """Official motia registers the step endpoint here; so do we."""
        setup_step_endpoint(self)


_instance: Motia | None = None


def get_instance() -> Motia:
    """The process's `Motia` (made on first use)."""
    global _instance
    if _instance is None:
        _instance = Motia()
    return _instance


def init_iii(otel_config: Mapping[str, Any] | None = None) -> Motia:
    """A fresh process `Motia`. With `otel_config` (`{"service_name": ...}`) and the `otel` extra installed,
    spans are recorded by an OpenTelemetry SDK tracer provider (installed unless the app set its own)."""
    global _instance
    _instance = Motia()
    _instance.otel_config = otel_config
    if otel_config is not None and otel_config.get("enabled", True):
        _install_tracer_provider(str(otel_config.get("service_name") or "motia"))
    return _instance


def _install_tracer_provider(service_name: str) -> None:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as exc:
        raise RuntimeError("init_iii(otel_config=...) needs the otel extra: pip install 'motia-py[otel]'") from exc
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service_name})))


def setup_step_endpoint(target: Motia | Registry, root: str | Path = ".") -> dict[str, str]:
    """Serve `GET /__motia/step/:stepId` (a step file's source and its tutorial features) to loopback
    clients only. Step ids are `generate_step_id` of the file paths under `<root>/steps` and `<root>/src`,
    relative to `root` as official tooling computes them. Returns the id -> file map."""
    from .discovery import find_step_files

    registry = target.registry if isinstance(target, Motia) else target
    base = Path(root)
    files: dict[str, str] = {}
    for directory in ("steps", "src"):
        for file in find_step_files(base / directory):
            relative = str(file.relative_to(base))
            files[generate_step_id(relative)] = str(file.resolve())
    registry.step_files = files
    return files


def step_document(files: Mapping[str, str], step_id: str | None) -> tuple[int, dict[str, Any]]:
    """The endpoint's answer: 200 `{id, content, features}`, 400 without an id, 404 for an unknown one."""
    if not step_id:
        return 400, {"error": "stepId is required"}
    file = files.get(step_id)
    if file is None:
        return 404, {"error": "Step not found"}
    import json

    features_file = Path(file.replace("/src/", "/tutorial/") + "-features.json")
    features: Any = []
    if features_file.is_file():
        try:
            features = json.loads(features_file.read_text())
        except ValueError:
            features = []
    return 200, {"id": step_id, "content": Path(file).read_text(), "features": features}
