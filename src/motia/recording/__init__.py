"""Recording what a running app does, for the console: every trace's spans (HTTP requests, handlers, emits, queue
deliveries with their retries, state and stream calls) and every log line, bounded in memory and kept in a
SQLite file beside the store for a window, so a restart keeps recent history.

`Recorder` is what the runtime feeds (one call per invocation); `api` answers the operator routes
(`/__motia/api/traces`, `/__motia/api/logs`, the live tail and `/__motia/api/rerun`).
"""

from __future__ import annotations

from .model import LogLine, Span, TraceSummary
from .recorder import Recorder, RecordingConfig

__all__ = ["LogLine", "Recorder", "RecordingConfig", "Span", "TraceSummary"]
