"""The start-up banner: ports and where the data lives, the pages the app serves (API docs, OpenAPI, flow
graph), routes, topics (who emits -> who consumes) and crons with their next fire time."""

from __future__ import annotations

import time
from typing import Any

from .registry import Registry

# How the banner names each page an App serves (App.pages), in the order listed.
PAGE_NAMES = {"swagger": "API docs", "redoc": "API reference", "asyncapi": "topics (AsyncAPI)",
              "openapi": "OpenAPI", "graph": "flow graph", "console": "console", "traces": "traces",
              "logs": "logs"}


def banner_data(
    registry: Registry, *, http: str, streams: str | None, data: str, pages: dict[str, str] | None = None
) -> dict[str, Any]:
    sections: dict[str, list[dict[str, Any]]] = {"routes": [], "consumers": [], "crons": [], "watchers": []}
    producers: dict[str, list[str]] = {}
    now = time.time()
    for step in registry:
        for emit in step.emits:
            producers.setdefault(emit.topic, []).append(step.name)
        for trigger in step.triggers:
            section, row = trigger.banner_row(step.name, now)
            sections[section].append(row)
    consumers: dict[str, list[str]] = {}
    for row in sections["consumers"]:
        consumers.setdefault(row["topic"], []).append(row["step"])
    topics = [
        {"topic": topic, "emitted_by": sorted(producers.get(topic, [])),
         "consumed_by": sorted(consumers.get(topic, []))}
        for topic in sorted(set(producers) | set(consumers))
    ]
    served = pages or {}
    listed = [{"page": label, "url": http + served[name]} for name, label in PAGE_NAMES.items() if name in served]
    return {"http": http, "streams": streams, "data": data, "pages": listed, "routes": sections["routes"],
            "topics": topics, "crons": sections["crons"], "watchers": sections["watchers"],
            "streams_declared": sorted(registry.streams)}


def render(info: dict[str, Any], color: bool = False) -> str:
    def bold(text: str) -> str:
        return f"\033[1m{text}\033[0m" if color else text

    lines = [bold("motia") + f"  http {info['http']}" + (f"  streams {info['streams']}" if info["streams"] else "")
             + f"  data {info['data']}"]
    if info.get("pages"):
        lines.append(bold("pages"))
        width = max(len(p["page"]) for p in info["pages"])
        lines += [f"  {p['page']:<{width}}  {p['url']}" for p in info["pages"]]
    if info["routes"]:
        lines.append(bold("routes"))
        width = max(len(r["method"]) for r in info["routes"])
        path_width = max(len(r["path"]) for r in info["routes"])
        lines += [f"  {r['method']:<{width}}  {r['path']:<{path_width}}  {r['step']}" for r in info["routes"]]
    if info["topics"]:
        lines.append(bold("topics"))
        for t in info["topics"]:
            emitters = ", ".join(t["emitted_by"]) or "(nobody declares it)"
            consumers = ", ".join(t["consumed_by"]) or "(no consumer)"
            lines.append(f"  {t['topic']}: {emitters} -> {consumers}")
    if info["crons"]:
        lines.append(bold("crons"))
        lines += [f"  {c['expression']} ({c['timezone']})  {c['step']}  next {c['next']}" for c in info["crons"]]
    if info["watchers"]:
        lines.append(bold("watchers"))
        lines += [f"  {w['kind']} {w['of']}  {w['step']}" for w in info["watchers"]]
    return "\n".join(lines)
