"""HTTP route matching: `:param` segments, static segments before parameters, 405 for a known path.

Fully static paths are one dict lookup; paths with parameters walk a segment tree that tries the static
child before the parameter child at every level (so `/greetings/summary` beats `/greetings/:name`).
Parameter names belong to each route, so `/users/:id` and `/users/:user_id/posts` coexist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar
from urllib.parse import unquote

R = TypeVar("R")


class RouteConflict(ValueError):
    pass


class _Node(Generic[R]):
    __slots__ = ("param_child", "routes", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node[R]] = {}
        self.param_child: _Node[R] | None = None
        # method -> (route, parameter names in path order)
        self.routes: dict[str, tuple[R, tuple[str, ...]]] = {}


def split(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def encoded_slash_segments(raw_path: bytes | None) -> list[str] | None:
    """The segments of a raw (still percent-encoded) path that has an encoded `/` (`%2F`), each decoded on
    its own, so that `/state/s/a%2Fb` is three segments with the key `a/b`; None for every other path (the
    server's decoded path is split as it is, the fast way)."""
    if raw_path is None or b"%2" not in raw_path or (b"%2F" not in raw_path and b"%2f" not in raw_path):
        return None
    return [unquote(segment) for segment in raw_path.decode("latin-1").split("/") if segment]


class Router(Generic[R]):
    """Maps (method, path) to a route value R, with the path parameters."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, R]] = {}
        self._root: _Node[R] = _Node()

    def add(self, method: str, path: str, route: R) -> None:
        """Add, or replace when the pattern is the same. A pattern that differs from an existing one only
        in its parameter names raises RouteConflict (the iii engine's rule)."""
        segments = split(path)
        node = self._root
        names: list[str] = []
        for segment in segments:
            if segment.startswith(":"):
                names.append(segment[1:])
                if node.param_child is None:
                    node.param_child = _Node()
                node = node.param_child
            else:
                node = node.static.setdefault(segment, _Node())
        existing = node.routes.get(method)
        if existing is not None and existing[1] != tuple(names):
            raise RouteConflict(
                f"Route '{method} {path}' conflicts with already-registered route "
                f"'{method} {_pattern(segments, existing[1])}': routes with identical structure but different "
                "path-parameter names are not supported"
            )
        node.routes[method] = (route, tuple(names))
        if not names:
            self._static.setdefault("/" + "/".join(segments), {})[method] = route

    def remove(self, method: str, path: str, route: R | None = None) -> None:
        """Remove the route at this pattern (only if it is `route`, when given)."""
        segments = split(path)
        node: _Node[R] | None = self._root
        for segment in segments:
            if node is None:
                return
            node = node.param_child if segment.startswith(":") else node.static.get(segment)
        if node is None or method not in node.routes:
            return
        if route is not None and node.routes[method][0] is not route:
            return
        del node.routes[method]
        key = "/" + "/".join(segments)
        static = self._static.get(key)
        if static is not None:
            static.pop(method, None)
            if not static:
                del self._static[key]

    def match(
        self, method: str, path: str, segments: list[str] | None = None
    ) -> tuple[R | None, dict[str, str], list[str]]:
        """(route, params, allowed): route None with `allowed` empty is 404, with `allowed` set is 405.

        `segments`, when given, are the path's segments already split (see `encoded_slash_segments`)."""
        if segments is None:
            static = self._static.get(path if len(path) < 2 or path[-1] != "/" else path.rstrip("/") or "/")
            if static is not None:
                route = static.get(method)
                if route is not None:
                    return route, {}, []
            segments = split(path)
        hit = _walk(self._root, segments, method)
        if hit is not None:
            (route, names), bound = hit
            return route, dict(zip(names, bound, strict=True)), []
        # No route for this method (`_find` walked every node the path reaches): the methods those nodes have.
        allowed: list[str] = []
        for node in self._candidates(self._root, segments, 0):
            for m in node.routes:
                if m not in allowed:
                    allowed.append(m)
        return None, {}, allowed

    def _candidates(self, node: _Node[R], segments: list[str], index: int) -> Iterator[_Node[R]]:
        """The nodes with routes that the whole path reaches, static children first."""
        if index == len(segments):
            if node.routes:
                yield node
            return
        child = node.static.get(segments[index])
        if child is not None:
            yield from self._candidates(child, segments, index + 1)
        if node.param_child is not None:
            yield from self._candidates(node.param_child, segments, index + 1)


def _walk(
    root: _Node[R], segments: list[str], method: str
) -> tuple[tuple[R, tuple[str, ...]], list[str]] | None:
    """`_find` without recursion while the path is unambiguous (no level offers both a static and a parameter
    child for the segment): the common case, one loop. Where both could match, `_find` backtracks."""
    node = root
    values: list[str] = []
    for segment in segments:
        child = node.static.get(segment)
        param = node.param_child
        if child is None:
            if param is None:
                return None
            values.append(segment)
            node = param
        elif param is None:
            node = child
        else:
            return _find(root, segments, 0, method, [])
    found = node.routes.get(method)
    return None if found is None else (found, values)


def _find(
    node: _Node[R], segments: list[str], index: int, method: str, values: list[str]
) -> tuple[tuple[R, tuple[str, ...]], list[str]] | None:
    """The hot path of `match`: depth first, static child before parameter child, no generators."""
    if index == len(segments):
        found = node.routes.get(method)
        return None if found is None else (found, values)
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        result = _find(child, segments, index + 1, method, values)
        if result is not None:
            return result
    if node.param_child is not None:
        return _find(node.param_child, segments, index + 1, method, [*values, segment])
    return None


def _pattern(segments: list[str], names: tuple[str, ...]) -> str:
    it = iter(names)
    return "/" + "/".join(f":{next(it)}" if s.startswith(":") else s for s in segments)
