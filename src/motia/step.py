"""`step`: official motia 1.0's step builder and this project's `@step(...)` decorator, one function.

    my_step = step(config, handler)            # a StepDefinition (discovered like config + handler)
    my_step = step(config).handle(handler)     # the same, built in two calls
    @step(name="CreateUser", flows=["users"])  # step-level settings stacked on trigger decorators
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from . import dsl
from .legacy import StepConfig
from .model import SourceLocation

StepHandler = Callable[..., Any]


class StepDefinition:
    """A step's config and handler (what `step(config, handler)` and `multi_trigger_step` build).

    `source` is where it was written: discovery picks a definition up from the file that made it.
    """

    __slots__ = ("config", "handler", "source")

    def __init__(self, config: StepConfig | Mapping[str, Any], handler: StepHandler,
                 source: SourceLocation | None = None) -> None:
        self.config = config if isinstance(config, StepConfig) else StepConfig.model_validate(config)
        self.handler = handler
        self.source = source

    def __repr__(self) -> str:
        return f"StepDefinition(name={self.config.name!r}, handler={getattr(self.handler, '__name__', self.handler)})"


class StepBuilder:
    """`step(config)`: attach the handler with `.handle(fn)`."""

    __slots__ = ("config", "source")

    def __init__(self, config: StepConfig | Mapping[str, Any], source: SourceLocation | None = None) -> None:
        self.config = config if isinstance(config, StepConfig) else StepConfig.model_validate(config)
        self.source = source

    def handle(self, handler: StepHandler) -> StepDefinition:
        return StepDefinition(self.config, handler, self.source)


def caller_location(depth: int = 2) -> SourceLocation | None:
    """The file and line of the code that called our caller (where a step definition is written)."""
    try:
        frame = sys._getframe(depth)
    except ValueError:  # pragma: no cover - called from the top of the stack
        return None
    return SourceLocation(frame.f_code.co_filename, frame.f_lineno)


def step(config: StepConfig | Mapping[str, Any] | str | None = None, handler: StepHandler | None = None,
         **options: Any) -> Any:
    """With a config (a dict or `StepConfig`): `step(config, handler)` -> StepDefinition, `step(config)` ->
    StepBuilder. With a name or keywords only: the `@step(...)` decorator of step-level settings (see
    `motia.dsl.step` for its keywords)."""
    if config is not None and not isinstance(config, str):
        if handler is not None:
            return StepDefinition(config, handler, caller_location())
        return StepBuilder(config, caller_location())
    return dsl.step(config if config is not None else options.pop("name", None), **options)
