"""The console in a real browser: Debian's chromium, driven with Playwright (its wheel brings the driver; the
browser is the system's). Each page is opened, clicked, filled and read; a screenshot of each is checked for
content; with MOTIA_SCREENSHOTS=1 they are written to docs/console/ (docs/console.md shows them), otherwise to a
temporary directory, so that a test run leaves the checkout as it was.

One browser and one served app for the module; the tests run in file order and build on each other's data."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, eventually
from tests.console.conftest import served_console
from tests.graph.test_browser import BROWSERS, pixels

CHROMIUM = next((path for path in map(shutil.which, BROWSERS) if path), None)
SHOTS = ROOT / "docs" / "console" if os.environ.get("MOTIA_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp())
WINDOW = {"width": 1400, "height": 900}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH: nox -s tests installs Debian's"),
]


@pytest.fixture(scope="module")
def app() -> Iterator[httpx.Client]:
    with served_console(record=True) as client:
        yield client


@pytest.fixture(scope="module")
def page(app: httpx.Client) -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport=WINDOW)
        tab.set_default_timeout(15_000)
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(f"{app.base_url}/__motia/")
        yield tab
        browser.close()
        assert errors == [], f"the console's scripts failed: {errors}"


def shown(page: Any, route: str) -> None:
    """Wait until the shell has finished drawing a hash that starts with `route`."""
    page.wait_for_function(
        "route => document.body.dataset.ready === 'true' && document.body.dataset.shown === location.hash"
        " && location.hash.startsWith(route)", arg=route)


def go(page: Any, route: str) -> None:
    page.evaluate("route => { location.hash = route; }", route)
    shown(page, route)


def shoot(page: Any, name: str) -> Path:
    """A screenshot of the page (into docs/console/ with MOTIA_SCREENSHOTS=1), checked for content (not a blank
    or an error page)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / f"{name}.png"
    page.screenshot(path=str(target))
    width, height, colours = pixels(target)
    assert (width, height) == (WINDOW["width"], WINDOW["height"])
    assert len(colours) > 40, f"{name}: a blank page"
    background = colours.most_common(1)[0][1]
    assert background < width * height * 0.95, f"{name}: almost nothing drawn"
    return target


def test_the_shell_lists_every_page_and_opens_on_flows(page):
    shown(page, "")
    assert page.locator("nav a").all_inner_texts() == ["Flows", "Endpoints", "State", "Streams", "Queues & cron",
                                                       "Traces", "Logs"]
    assert page.evaluate("document.body.dataset.page") == "flows"
    assert page.locator("#app-title").inner_text() != ""


def test_flows_draw_every_step_and_a_click_shows_its_details(page, app):
    go(page, "#/flows")
    drawn = set(page.locator("svg.graph g[data-step]").evaluate_all("nodes => nodes.map(n => n.dataset.step)"))
    assert {"place_order", "pack_order"} <= drawn
    page.click("svg.graph g[data-step='place_order']")
    shown(page, "#/flows/place_order")
    details = page.locator("aside.details[data-step='place_order']")
    assert "shop.py:" in details.locator(".source").inner_text()
    assert "POST /orders/:shop" in details.locator(".trigger[data-kind='http']").inner_text()
    details.locator("summary", has_text="input schema").click()
    assert "quantity" in details.locator("pre").first.inner_text()
    runs = details.locator("section.runs")
    assert runs.locator("ul").count() == 1  # the recording is on: the runs it knows are listed
    shoot(page, "flows")


def test_the_endpoint_tester_sends_a_request_built_from_the_schema(page, app):
    go(page, "#/endpoints")
    page.click("a[data-route='POST /orders/{shop}']")
    shown(page, "#/endpoints/")
    form = page.locator("form.tester")
    form.locator("fieldset[data-in='path'] input[name='shop']").fill("east")
    body = form.locator("fieldset[data-in='body']")
    assert body.locator("input[name='quantity']").get_attribute("type") == "number"
    body.locator("input[name='item']").fill("lamp")
    body.locator("input[name='quantity']").fill("2")
    body.locator("input[name='gift']").check()
    form.locator("button[type='submit']").click()
    status = page.locator(".result [data-status]")
    assert status.get_attribute("data-status") == "201"
    assert '"id": "east-lamp"' in page.locator(".result pre.body").inner_text()
    assert "content-type" in page.locator(".result table.headers").inner_text()
    # The tester started the request's trace (its traceparent): linked, and recorded under that id.
    link = page.locator(".result .trace a[data-trace]")
    trace_id = link.get_attribute("data-trace")
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id or "")
    assert link.get_attribute("href") == f"#/traces/{trace_id}"
    recorded = eventually(lambda: (r := app.get(f"/__motia/api/traces/{trace_id}")).status_code == 200 and r.json())
    assert any(span["kind"] == "http" for span in recorded["spans"])
    shoot(page, "endpoints")


def test_a_state_value_edited_in_the_page_fires_the_state_trigger(page, app):
    go(page, "#/state/inventory/pears")
    editor = page.locator("section.editor[data-key='pears'] textarea")
    editor.fill('{"count": 7, "origin": "console"}')
    page.click("section.editor button[name='save']")
    row = page.locator("table.items a[data-key='pears']")
    row.wait_for()
    assert page.locator("ul.groups a[data-group='inventory']").count() == 1
    assert "console" in page.locator("table.items tr.current td").inner_text()
    audit = eventually(lambda: app.get("/__motia/api/state/audit").json().get("pears"))
    assert audit == {"event": "state:created", "new": {"count": 7, "origin": "console"}}
    shoot(page, "state")


def test_a_stream_group_is_shown_live_as_a_subscriber_sees_it(page, app):
    app.post("/orders/west", json={"item": "kettle", "quantity": 1})
    eventually(lambda: app.get("/__motia/api/streams").json()[0]["groups"] == ["packed"])
    go(page, "#/streams")
    page.click("a[data-stream='orders'][data-group='packed']")
    shown(page, "#/streams/orders/packed")
    page.locator("[data-socket='open'][data-synced='true']").wait_for()
    assert page.locator("tr[data-item='west-kettle']").count() == 1
    app.post("/orders/west", json={"item": "toaster", "quantity": 3})
    page.locator("tr[data-item='west-toaster']").wait_for()  # pushed over the socket, no reload
    assert '"quantity": 3' in page.locator("tr[data-item='west-toaster'] pre").inner_text()
    shoot(page, "streams")


def test_dead_letters_are_shown_redriven_and_discarded_and_cron_runs_now(page, app):
    app.post("/orders/north", json={"item": "broken", "quantity": 1})
    eventually(lambda: any(r["dead"] for r in app.get("/__motia/api/queues").json()))
    go(page, "#/queues")
    row = page.locator("tr[data-topic='order.placed']")
    assert row.locator("[data-count='dead']").inner_text() == "1"
    row.locator("a").click()
    shown(page, "#/queues/order.placed/")
    dead = page.locator("[data-list='dead'] article.message")
    assert dead.count() == 1
    assert '"item": "broken"' in dead.locator("pre.payload").inner_text()
    assert dead.locator("ol.attempts li").count() == 2
    assert "cannot pack a broken item" in dead.locator("ol.attempts").inner_text()
    cron = page.locator("tr[data-cron='yearly_report']")
    cron.locator("button[name='run-now']").click()
    page.locator("tr[data-cron='yearly_report'] li[data-outcome='ok']").wait_for()
    shoot(page, "queues")
    # Redriven: delivered again and failing again (the item is still broken), so back among the dead letters
    # with two more failed attempts in its history; the page, drawn again, shows all four.
    dead.locator("button[name='redrive']").click()
    eventually(lambda: [m for m in app.get("/__motia/api/queues/messages", params=_subscription(app)).json()["dead"]
                        if len(m["errors"]) == 4])
    page.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")
    shown(page, "#/queues/order.placed/")
    assert page.locator("[data-list='dead'] ol.attempts li").count() == 4
    page.click("button[name='discard-all']")
    page.wait_for_function("() => document.querySelectorAll(\"[data-list='dead'] article\").length === 0")
    assert app.get("/__motia/api/queues/messages", params=_subscription(app)).json()["dead"] == []


def _subscription(app: httpx.Client) -> dict[str, str]:
    row = next(r for r in app.get("/__motia/api/queues").json() if r["topic"] == "order.placed")
    return {"topic": row["topic"], "function_id": row["function_id"]}
