"""Where the HTML page draws each node and edge: a deterministic layered layout computed in Python."""

from __future__ import annotations

import itertools
from typing import Literal

import msgspec

from .model import FlowGraph, StepNode, TopicNode

STEP_WIDTH = 200.0
TOPIC_WIDTH = 164.0
TOPIC_HEIGHT = 34.0
LAYER_GAP = {"LR": 80.0, "TB": 56.0}  # between layers
LABEL_CHAR_WIDTH = 6.5  # the page draws edge labels at 11px
LABEL_ROOM = 22.0  # clear of the nodes and the arrow head on both sides
NODE_GAP = 26.0  # between neighbours in a layer
DUMMY_SIZE = 10.0  # the lane a long edge takes through a layer it crosses
GRID_GAP = 24.0
# Left to right reads best while it fits a laptop screen; longer flows are laid out top to bottom.
AUTO_MAX_WIDTH = 1320.0

Direction = Literal["LR", "TB"]


def node_size(node: StepNode | TopicNode) -> tuple[float, float]:
    if isinstance(node, TopicNode):
        return TOPIC_WIDTH, TOPIC_HEIGHT
    return STEP_WIDTH, 46.0 + 17.0 * len(node.details)


class Box(msgspec.Struct, array_like=True):
    """A node's rectangle: top-left corner, width, height."""

    x: float
    y: float
    width: float
    height: float


class Layout(msgspec.Struct):
    direction: Direction
    width: float
    height: float
    boxes: dict[str, Box]
    # One polyline per edge of the graph (same order): where the edge leaves, bends and arrives.
    routes: list[list[tuple[float, float]]]


def layout(graph: FlowGraph, direction: Direction | Literal["auto"] = "auto", margin: float = 16.0) -> Layout:
    """A layered layout (Sugiyama-style: break cycles, layer by longest path, order layers by barycentres,
    place by least squares); steps without any edge go in a grid below. `auto` is left to right unless that
    is wider than AUTO_MAX_WIDTH, then top to bottom. Deterministic."""
    if direction == "auto":
        wide = _layout(graph, "LR", margin)
        return wide if wide.width <= AUTO_MAX_WIDTH else _layout(graph, "TB", margin)
    return _layout(graph, direction, margin)


def _layout(graph: FlowGraph, direction: Direction, margin: float) -> Layout:
    nodes = {n.id: n for n in graph.nodes()}
    order = list(nodes)
    connected = {e.source for e in graph.edges} | {e.target for e in graph.edges}
    linked = [n for n in order if n in connected]
    isolated = [n for n in order if n not in connected]

    def along(n: str) -> float:  # size along the layer axis
        width, height = node_size(nodes[n])
        return width if direction == "LR" else height

    dag = _acyclic([(e.source, e.target) for e in graph.edges], linked)
    layer = _layers(linked, dag)

    # Chains of dummy nodes for edges spanning several layers, so they get a lane of their own.
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in linked:
        layers[layer[n]].append(n)
    across = {n: node_size(nodes[n])[1 if direction == "LR" else 0] for n in linked}
    chains: list[list[str]] = []
    segments: list[tuple[str, str]] = []
    for index, (u, v, _) in enumerate(dag):
        chain = [u]
        for depth in range(layer[u] + 1, layer[v]):
            dummy = f"\x00{index}:{depth}"
            layers[depth].append(dummy)
            layer[dummy] = depth
            across[dummy] = DUMMY_SIZE
            chain.append(dummy)
        chain.append(v)
        chains.append(chain)
        segments.extend(itertools.pairwise(chain))
    preds: dict[str, list[str]] = {n: [] for layer_nodes in layers for n in layer_nodes}
    succs: dict[str, list[str]] = {n: [] for layer_nodes in layers for n in layer_nodes}
    for a, b in segments:
        succs[a].append(b)
        preds[b].append(a)

    layers = _order(layers, preds, succs)
    offsets = _place(layers, across, preds, succs)

    # Layer positions: each layer as deep as its largest node, gaps wide enough for the labels drawn in them.
    depths = [max((along(n) for n in col if n in nodes), default=0.0) for col in layers]
    gaps = [LAYER_GAP[direction]] * len(layers)
    if direction == "LR":
        for index, chain in enumerate(chains):
            label = graph.edges[index].label
            if label:  # the page puts it on the middle segment of the edge as drawn
                drawn = chain[::-1] if dag[index][2] else chain
                middle = (len(drawn) - 1) // 2
                where = min(layer[drawn[middle]], layer[drawn[middle + 1]])
                gaps[where] = max(gaps[where], LABEL_CHAR_WIDTH * len(label) + 2 * LABEL_ROOM)
    starts: list[float] = []
    position = margin
    for thickness, gap in zip(depths, gaps, strict=True):
        starts.append(position)
        position += thickness + gap

    low = min((offsets[n] - across[n] / 2 for n in offsets), default=0.0)
    boxes: dict[str, Box] = {}
    centers: dict[str, tuple[float, float]] = {}
    for index, col in enumerate(layers):
        for n in col:
            main, cross = starts[index] + depths[index] / 2, offsets[n] - low + margin
            centers[n] = (main, cross) if direction == "LR" else (cross, main)
            if n in nodes:
                w, h = node_size(nodes[n])
                cx, cy = centers[n]
                boxes[n] = Box(_r(cx - w / 2), _r(cy - h / 2), w, h)
    right = max([b.x + b.width for b in boxes.values()] + [x for x, _ in centers.values()], default=margin)
    bottom = max([b.y + b.height for b in boxes.values()] + [y for _, y in centers.values()], default=0.0)

    # The grid of steps nothing links to a topic: rows as wide as the graph above (at least a few columns).
    if isolated:
        fits = int((right - margin + GRID_GAP) // (STEP_WIDTH + GRID_GAP)) if boxes else 0
        columns = max(fits, min(len(isolated), 4))
        y = bottom + (2 * GRID_GAP if boxes else margin)
        row_height = 0.0
        for index, n in enumerate(isolated):
            if index and index % columns == 0:
                y += row_height + GRID_GAP
                row_height = 0.0
            w, h = node_size(nodes[n])
            gx = margin + (index % columns) * (STEP_WIDTH + GRID_GAP) + (STEP_WIDTH - w) / 2
            boxes[n] = Box(_r(gx), _r(y), w, h)
            row_height = max(row_height, h)
            right = max(right, gx + w)
        bottom = y + row_height

    routes = [_route(chains[i], reversed_, direction, boxes, centers) for i, (_, _, reversed_) in enumerate(dag)]
    return Layout(direction=direction, width=_r(right + margin), height=_r(bottom + margin), boxes=boxes,
                  routes=routes)


def _r(value: float) -> float:
    return round(value, 1)


def _acyclic(edges: list[tuple[str, str]], nodes: list[str]) -> list[tuple[str, str, bool]]:
    """The edges with those closing a cycle (found by a depth-first walk in node order) turned around."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in edges:
        out[u].append(v)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    return [(v, u, True) if (u, v) in back else (u, v, False) for u, v in edges]


def _layers(nodes: list[str], dag: list[tuple[str, str, bool]]) -> dict[str, int]:
    """Longest path from the sources, then each source pulled right next to its first successor."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v, _ in dag:
        succs[u].append(v)
        preds[v].append(u)
    indegree = {n: len(preds[n]) for n in nodes}
    ready = [n for n in nodes if indegree[n] == 0]
    layer: dict[str, int] = {}
    while ready:
        n = ready.pop(0)
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
        for s in succs[n]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    for n in nodes:
        if not preds[n] and succs[n]:
            layer[n] = min(layer[s] for s in succs[n]) - 1
    return layer


def _crossings(layers: list[list[str]], succs: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in itertools.pairwise(layers):
        position = {n: i for i, n in enumerate(lower)}
        pairs = [(i, position[s]) for i, n in enumerate(upper) for s in succs[n] if s in position]
        total += sum(1 for a, (i1, j1) in enumerate(pairs) for i2, j2 in pairs[a + 1:] if (i1 - i2) * (j1 - j2) < 0)
    return total


def _order(
    layers: list[list[str]], preds: dict[str, list[str]], succs: dict[str, list[str]], sweeps: int = 8
) -> list[list[str]]:
    """Reorder each layer by the mean position of its neighbours, sweeping both ways; keep the best."""
    best = [list(col) for col in layers]
    best_crossings = _crossings(best, succs)
    current = [list(col) for col in layers]
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for depth in indices:
            neighbour_layer = current[depth - 1] if downward else current[depth + 1]
            position = {n: i for i, n in enumerate(neighbour_layer)}
            col = current[depth]
            neighbours = preds if downward else succs
            keys = []
            for i, n in enumerate(col):
                linked = [position[m] for m in neighbours[n] if m in position]
                keys.append((sum(linked) / len(linked) if linked else float(i), i))
            current[depth] = [col[i] for _, i in sorted(keys)]
        crossings = _crossings(current, succs)
        if crossings < best_crossings:
            best, best_crossings = [list(col) for col in current], crossings
    return best


def _place(
    layers: list[list[str]], sizes: dict[str, float], preds: dict[str, list[str]], succs: dict[str, list[str]]
) -> dict[str, float]:
    """Centres across the layers: each node as close as possible to the mean of its neighbours, in layer order,
    never closer to the next one than NODE_GAP (least squares under those constraints, solved exactly)."""
    centres: dict[str, float] = {}
    for col in layers:
        y = 0.0
        for n in col:
            centres[n] = y + sizes[n] / 2
            y += sizes[n] + NODE_GAP
    for sweep in range(6):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for depth in indices:
            col = layers[depth]
            wanted = []
            for n in col:
                linked = [centres[m] for m in (preds[n] if downward else succs[n])]
                wanted.append(sum(linked) / len(linked) if linked else centres[n])
            for n, y in zip(col, _fit(wanted, [sizes[n] for n in col]), strict=True):
                centres[n] = y
    return centres


def _fit(wanted: list[float], sizes: list[float]) -> list[float]:
    """Positions in the given order, each at least half-sizes plus NODE_GAP below the previous one,
    minimising the squared distance to `wanted` (pool-adjacent-violators on the shifted targets)."""
    offsets = [0.0]
    for previous, height in itertools.pairwise(sizes):
        offsets.append(offsets[-1] + previous / 2 + NODE_GAP + height / 2)
    blocks: list[list[float]] = []  # [mean, count]
    for target, offset in zip(wanted, offsets, strict=True):
        blocks.append([target - offset, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1][0] = (blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count)
            blocks[-1][1] += count
    shifted = [mean for mean, count in blocks for _ in range(int(count))]
    return [value + offset for value, offset in zip(shifted, offsets, strict=True)]


def _route(
    chain: list[str], reversed_: bool, direction: Direction, boxes: dict[str, Box],
    centers: dict[str, tuple[float, float]],
) -> list[tuple[float, float]]:
    """From the source's outgoing side (right, or bottom top to bottom) to the target's incoming side, through
    the chain's dummies. An edge that closes a cycle runs backwards, out of the incoming side."""
    if reversed_:
        chain = chain[::-1]
    first, last = boxes[chain[0]], boxes[chain[-1]]
    start, end = _side(first, direction, not reversed_), _side(last, direction, reversed_)
    middle = [centers[n] for n in chain[1:-1]]
    return [(_r(x), _r(y)) for x, y in [start, *middle, end]]


def _side(box: Box, direction: Direction, outgoing: bool) -> tuple[float, float]:
    if direction == "LR":
        return (box.x + box.width if outgoing else box.x), box.y + box.height / 2
    return box.x + box.width / 2, (box.y + box.height if outgoing else box.y)
