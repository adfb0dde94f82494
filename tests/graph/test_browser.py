"""The flow graph page in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run) loads
`/__motia/graph` from `motia run`, runs the page's script, and every step ends up drawn.

Screenshots are kept in `test-artifacts/` (or $MOTIA_TEST_ARTIFACTS) for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from motia.discovery import discover
from motia.graph import KIND_COLORS, build_graph, to_html
from tests.conftest import ROOT, registry_of
from tests.graph.shop import HANDLERS
from tests.graph.test_model import EXAMPLES

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((path for path in map(shutil.which, BROWSERS) if path), None)
ARTIFACTS = Path(os.environ.get("MOTIA_TEST_ARTIFACTS", ROOT / "test-artifacts"))
WINDOW = (1400, 900)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary on PATH: .ci/run installs Debian's (`apt-get install -y chromium`)",
    ),
]


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args, url,
    ]
    return subprocess.run(command, capture_output=True, timeout=90, check=False)


def dump_dom(url: str, tmp_path: Path) -> str:
    result = chromium(url, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode()


def screenshot(url: str, tmp_path: Path, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    result = chromium(url, tmp_path / "profile", f"--screenshot={target}")
    assert result.returncode == 0 and target.exists(), result.stderr.decode(errors="replace")[-2000:]
    return target


class Drawn(HTMLParser):
    """The nodes the page's script drew: `<g data-step=...>` and `<g data-topic=...>` inside an <svg> (topics, and
    streams and state groups as `kind name` in `resources`)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.steps: list[str] = []
        self.topics: list[str] = []
        self.resources: list[str] = []
        self.edges = 0
        self.body: dict[str, str | None] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "body":
            self.body = values
        if tag != "g":
            return
        classes = (values.get("class") or "").split()
        if "step" in classes and values.get("data-step"):
            self.steps.append(values["data-step"] or "")
        elif "topic" in classes and values.get("data-topic"):
            kind = values.get("data-kind") or "topic"
            name = values["data-topic"] or ""
            (self.topics if kind == "topic" else self.resources).append(name if kind == "topic" else f"{kind} {name}")
        elif "edge" in classes:
            self.edges += 1


def pixels(png: Path) -> tuple[int, int, Counter[tuple[int, int, int]]]:
    """Width, height and a count of the RGB colours of an 8-bit RGB or RGBA PNG (enough to tell a drawn graph
    from a blank page, without an imaging library)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position:position + 4]), data[position + 4:position + 8]
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format (depth {depth}, colour type {colour})"
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[i - channels] if i >= channels else 0
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        counts.update(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return width, height, counts


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@pytest.fixture(scope="module")
def orders_app(motia_run):
    return motia_run(ROOT / "examples" / "orders", "--memory", "--stream-port", "0")


def test_every_step_and_topic_of_the_orders_example_is_drawn(orders_app, tmp_path):
    registry = discover(ROOT / "examples" / "orders")
    drawn = Drawn(dump_dom(orders_app.url + "/__motia/graph", tmp_path))
    assert drawn.body.get("data-rendered") == "true", "the page's script did not finish"
    assert sorted(drawn.steps) == sorted(step.name for step in registry)
    assert sorted(drawn.topics) == ["order.paid", "order.placed"]
    assert sorted(drawn.resources) == ["state alerts", "state orders", "state reports"]
    assert drawn.edges == len(build_graph(registry).edges)


def test_the_orders_screenshot_shows_the_graph(orders_app, tmp_path):
    png = screenshot(orders_app.url + "/__motia/graph", tmp_path, "graph-orders.png")
    assert png.stat().st_size > 20_000
    width, height, colours = pixels(png)
    assert (width, height) == WINDOW
    assert len(colours) > 50  # text, edges and fills, not a blank page
    # The node fills are on screen: API steps, event steps, the cron step and the topics.
    for kind in ("api", "event", "cron", "topic"):
        fill = rgb(KIND_COLORS[kind][0])
        assert colours[fill] > 2_000, f"too few {kind} pixels ({colours[fill]}): the graph is not drawn"


@pytest.mark.parametrize("example", [name for name in EXAMPLES if name != "orders"])
def test_every_step_of_the_other_examples_is_drawn(example, motia_run, tmp_path):
    app = motia_run(ROOT / "examples" / example, "--memory", "--stream-port", "0")
    drawn = Drawn(dump_dom(app.url + "/__motia/graph", tmp_path))
    names = {step.name for step in discover(ROOT / "examples" / example)}
    # A step in several flows is drawn once per flow, and again in the whole-app view.
    assert set(drawn.steps) == names
    app.stop()


def test_a_long_flow_with_every_kind_of_step_is_drawn_top_to_bottom(tmp_path):
    graph = build_graph(registry_of(*HANDLERS))
    page = tmp_path / "shop.html"
    page.write_text(to_html(graph, "shop"))
    drawn = Drawn(dump_dom(page.as_uri(), tmp_path))
    # Every flow, the steps in none and the whole app: each step at least twice.
    assert set(drawn.steps) == {step.name for step in graph.steps}
    assert all(drawn.steps.count(step.name) >= 2 for step in graph.steps)
    assert set(drawn.topics) == {topic.topic for topic in graph.topics if topic.kind == "topic"}
    assert set(drawn.resources) == {topic.label for topic in graph.topics if topic.kind != "topic"}
    png = screenshot(page.as_uri() + "#checkout", tmp_path, "graph-shop-checkout.png")
    _, _, colours = pixels(png)
    for kind in ("api", "event", "noop", "topic"):
        assert colours[rgb(KIND_COLORS[kind][0])] > 1_000, kind
    # The reports flow is not on the checkout tab: only the legend swatch is cron-coloured.
    assert colours[rgb(KIND_COLORS["cron"][0])] < 200
