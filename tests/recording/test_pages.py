"""traces.js and logs.js in headless Chromium (driven over the DevTools protocol), against a served app with
recording on: they click, fill and read the DOM; a screenshot of each is checked for non-blank content."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually
from tests.graph.test_browser import ARTIFACTS, pixels
from tests.recording.cdp import CHROMIUM, Browser
from tests.recording.shop import shop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH: .ci/run installs Debian's"),
]


@pytest.fixture
def app(serve) -> httpx.Client:
    place, bill, _ = shop()
    return serve(place, bill, record=True)


def _url(app: httpx.Client) -> str:
    return str(app.base_url).rstrip("/")


def _not_blank(png: Path) -> None:
    width, height, colours = pixels(png)
    assert width > 0 and height > 0
    assert len(colours) > 20, "the screenshot is (almost) one colour: nothing was drawn"


def _order(app: httpx.Client, order: str) -> str:
    trace_id = app.post("/orders", json={"id": order}).json()["trace_id"]
    eventually(lambda: any(span["kind"] == "queue" and span["status"] == "ok" for span in
                           app.get(f"/__motia/api/traces/{trace_id}").json().get("spans", [])))
    return trace_id


def test_the_traces_page_lists_traces_draws_a_timeline_and_shows_a_spans_logs(app, tmp_path):
    trace_id = _order(app, "o1")
    with Browser(tmp_path / "profile") as page:
        page.goto(f"{_url(app)}/__motia/recording/traces")
        page.wait("document.querySelector('tr.trace')")
        assert page.js("document.querySelector('tr.trace').dataset.trace") == trace_id
        assert page.js("document.querySelector('tr.trace td').textContent") == "POST /orders"
        page.js("document.querySelector('tr.trace').click()")
        page.wait("document.querySelectorAll('.span').length >= 5")
        kinds = page.js("[...document.querySelectorAll('.span')].map(s => s.dataset.kind)")
        assert sorted(kinds) == ["call", "emit", "http", "queue", "queue"]
        failed = page.js("[...document.querySelectorAll('.span.queue.error .label')].map(l => l.textContent)")
        assert failed == ["queue order.placedattempt 1bill"]
        # A span's click shows its facts and the log lines its step wrote while it ran.
        page.js("document.querySelector('.span.queue.ok').click()")
        page.wait("document.querySelector('[data-fact=step]')")
        assert page.js("document.querySelector('[data-fact=attempt]').textContent") == "2"
        assert page.js("[...document.querySelectorAll('.span-detail li.log')].map(l => l.textContent)")[0].endswith(
            'billed {"order":"o1"}')
        page.js("document.querySelector('.span.http').click()")
        page.wait("document.querySelector('.span-detail li.log')")
        assert "placing order" in page.js("document.querySelector('.span-detail li.log').textContent")
        _not_blank(page.screenshot(ARTIFACTS / "recording-trace.png"))
        # Rerun from the page: a new trace, linked back to this one.
        page.js("document.querySelector('[data-rerun]').click()")
        new_trace = page.wait("document.querySelector('[data-new-trace]')?.dataset.newTrace")
        assert new_trace != trace_id
        page.js("document.querySelector('[data-new-trace]').click()")
        page.wait(f"document.querySelector('[data-rerun-of=\"{trace_id}\"]')")


def test_the_logs_page_tails_live_filters_and_links_to_traces(app, tmp_path):
    first = _order(app, "o1")
    with Browser(tmp_path / "profile") as page:
        page.goto(f"{_url(app)}/__motia/recording/logs")
        page.wait("document.querySelector('[data-tail=live]')")
        assert "placing order" in page.js("document.querySelector('li.log').textContent")
        # Pushed: a line logged after the page opened appears without a reload.
        second = _order(app, "o2")
        page.wait("[...document.querySelectorAll('li.log')].some(l => l.textContent.includes('\"order\":\"o2\"'))")
        # Filters: the step `bill` at error and above keeps only the failed attempt's error line.
        page.js("""(() => { const form = document.querySelector('form.filters');
            form.elements.step.value = 'bill'; form.elements.level.value = 'error';
            form.querySelector('button').click(); })()""")
        page.wait("document.querySelector('[data-tail=live]') && document.querySelectorAll('li.log').length === 1")
        shown = page.js("[...document.querySelectorAll('li.log')]"
                        ".map(l => [l.dataset.step, l.querySelector('.message').textContent])")
        assert shown == [["bill", "handler failed"]]
        _not_blank(page.screenshot(ARTIFACTS / "recording-logs.png"))
        # A line's trace link opens that trace.
        page.js("document.querySelector('li.log a.trace-link').click()")
        page.wait("document.querySelector('.timeline')")
        assert page.js("location.hash") == f"#/{first}"
    assert second != first


def test_the_pages_open_in_the_console_shell(serve, tmp_path):
    place, bill, _ = shop()
    app = serve(place, bill, record=True, console=True)
    trace_id = _order(app, "o1")
    with Browser(tmp_path / "profile") as page:
        page.goto(f"{_url(app)}/__motia/#/traces/{trace_id}")
        page.wait("document.querySelectorAll('.span').length >= 5")
        assert page.js("getComputedStyle(document.querySelector('.span .bar')).position") == "absolute"  # its CSS
        page.js("document.querySelector('a[data-page=logs]').click()")
        page.wait("document.querySelector('[data-tail=live]') && document.querySelector('li.log a.trace-link')")
        page.js("document.querySelector('li.log a.trace-link').click()")
        page.wait("document.querySelector('.timeline')")
        assert page.js("location.hash") == f"#/traces/{trace_id}"
