"""`multi_trigger_step`: one step, one handler per trigger kind (official motia 1.0).

    multi_trigger_step(config).handlers({"queue": on_order, "http": create_order})
    multi_trigger_step(config).on_queue(on_order).on_http(create_order).on_cron(sweep).handlers()

The built handler dispatches on the trigger that fired (a cron branch gets only `ctx`) and raises
`RuntimeError("No handler defined for trigger type ...")` when the step has no branch for it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread

from .legacy import StepConfig
from .model import SourceLocation, canonical_kind
from .step import StepDefinition, caller_location

Branch = Callable[..., Any]


class MultiTriggerStepBuilder:
    """Collects the branches (`.on_http(fn)`..., or a dict given to `.handlers({...})`)."""

    def __init__(self, config: StepConfig | Mapping[str, Any], source: SourceLocation | None = None) -> None:
        self.config = config if isinstance(config, StepConfig) else StepConfig.model_validate(config)
        self.source = source
        self._handlers: dict[str, Branch] = {}

    def _on(self, kind: str, handler: Branch) -> MultiTriggerStepBuilder:
        self._handlers[kind] = handler
        return self

    def on_queue(self, handler: Branch) -> MultiTriggerStepBuilder:
        return self._on("queue", handler)

    def on_http(self, handler: Branch) -> MultiTriggerStepBuilder:
        return self._on("http", handler)

    def on_cron(self, handler: Branch) -> MultiTriggerStepBuilder:
        return self._on("cron", handler)

    def on_state(self, handler: Branch) -> MultiTriggerStepBuilder:
        return self._on("state", handler)

    def on_stream(self, handler: Branch) -> MultiTriggerStepBuilder:
        return self._on("stream", handler)

    def handlers(self, handlers: Mapping[str, Branch] | None = None) -> StepDefinition:
        """The finished step: the branches given here added to those set with `on_*()`."""
        for key, branch in (handlers or {}).items():
            kind = canonical_kind(key)
            if kind is None:
                raise ValueError(f"unknown trigger type {key!r} in multi_trigger_step handlers; "
                                 "use queue, http, cron, state or stream")
            self._handlers[kind] = branch
        return StepDefinition(self.config, dispatcher(dict(self._handlers)), self.source)


def dispatcher(branches: dict[str, Branch]) -> Callable[[Any, Any], Any]:
    """One `(input, ctx)` handler running the branch of the trigger kind that fired. Sync branches run in a
    worker thread, as a sync handler would."""

    async def handler(input: Any, ctx: Any) -> Any:
        kind = ctx.trigger.kind
        branch = branches.get(kind)
        if branch is None:
            raise RuntimeError(f"No handler defined for trigger type: {kind}. "
                               f"Available handlers: {', '.join(branches)}")
        args = (ctx,) if kind == "cron" else (input, ctx)
        if inspect.iscoroutinefunction(branch):
            return await branch(*args)
        result = await anyio.to_thread.run_sync(lambda: branch(*args))
        return await result if inspect.isawaitable(result) else result

    handler.__name__ = "multi_trigger_handler"
    return handler


def multi_trigger_step(config: StepConfig | Mapping[str, Any]) -> MultiTriggerStepBuilder:
    return MultiTriggerStepBuilder(config, caller_location())
