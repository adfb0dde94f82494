"""The API docs pages `motia run` serves (`/docs` Swagger UI, `/redoc`, `/asyncapi`): loaded in headless Chromium
with every host but the app's unreachable (the assets are packaged, nothing comes from a CDN), and read from the
DOM the page's script built: the operations shown are the app's routes, the channels its topics.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from motia import ApiRequest, ApiResponse, Registry, api
from tests.conftest import ROOT
from tests.graph.test_browser import CHROMIUM, chromium

ORDERS = ROOT / "examples" / "orders"
# Any host but loopback fails to resolve: a page that fetched a CDN asset would not render.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"

browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH: .ci/run installs Debian's (`apt-get install -y chromium`)"
)


def rendered_dom(url: str, tmp_path: Path) -> str:
    """The DOM once the page's scripts have fetched the document and rendered it."""
    result = chromium(url, tmp_path / "profile", OFFLINE, "--virtual-time-budget=15000", "--dump-dom")
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode()


class Elements(HTMLParser):
    """Every start tag's attributes, and the text of the whole page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attribute(self, name: str, *, cls: str | None = None) -> list[str]:
        return [attrs[name] or "" for _, attrs in self.tags
                if name in attrs and (cls is None or cls in (attrs.get("class") or "").split())]


@pytest.fixture(scope="module")
def orders(motia_run):
    return motia_run(ORDERS, "--memory", "--stream-port", "0")


def openapi_operations(client: httpx.Client) -> set[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


@pytest.mark.slow
@browser
def test_swagger_ui_lists_every_route_of_the_app_offline(orders, tmp_path):
    expected = openapi_operations(orders.client)
    assert ("POST", "/orders") in expected
    page = Elements(rendered_dom(orders.url + "/docs", tmp_path))
    paths = page.attribute("data-path", cls="opblock-summary-path")
    methods = [text.strip() for text in page.text if text.strip() in ("GET", "POST", "PUT", "PATCH", "DELETE")]
    assert sorted(paths) == sorted(path for _, path in expected)
    assert sorted(methods) == sorted(method for method, _ in expected)


@pytest.mark.slow
@browser
def test_redoc_lists_every_operation_of_the_app_offline(orders, tmp_path):
    document = orders.client.get("/openapi.json").json()
    operation_ids = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert "place_order" in operation_ids
    page = Elements(rendered_dom(orders.url + "/redoc", tmp_path))
    # Redoc gives each operation a section (`operation/ID`, and `tag/TAG/operation/ID` in its menu).
    sections = {s.rsplit("operation/", 1)[1] for s in page.attribute("data-section-id") if "operation/" in s}
    assert sections == operation_ids
    text = " ".join(page.text)
    for path in document["paths"]:
        assert path in text


@pytest.mark.slow
@browser
def test_the_asyncapi_page_shows_each_topic_with_its_emitters_and_consumers(orders, tmp_path):
    page = Elements(rendered_dom(orders.url + "/asyncapi", tmp_path))
    body = next(attrs for tag, attrs in page.tags if tag == "body")
    assert body.get("data-rendered") == "true"
    assert sorted(page.attribute("data-channel")) == ["order.paid", "order.placed"]
    document = orders.client.get("/asyncapi.json").json()
    expected = sorted((op["action"], op["x-motia-step"]) for op in document["operations"].values())
    shown = sorted((attrs["data-action"] or "", attrs["data-step"] or "") for tag, attrs in page.tags
                   if "operation" in (attrs.get("class") or "").split())
    assert shown == expected and ("send", "place_order") in shown


@pytest.mark.slow
def test_the_pages_load_only_assets_the_app_serves(orders):
    for path in ("/docs", "/redoc", "/asyncapi"):
        response = orders.client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        page = Elements(response.text)
        assets = page.attribute("src") + page.attribute("href")
        assert assets and all(asset.startswith("/") and not asset.startswith("//") for asset in assets), assets
        for asset in assets:
            served = orders.client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"].startswith(("text/javascript", "text/css", "application/json"))
            assert not re.search(rb"""<script[^>]+src=["']https?:""", served.content)


@pytest.mark.slow
def test_the_banner_lists_the_docs_pages_openapi_and_the_graph(motia_run):
    app = motia_run(ORDERS, "--memory", "--stream-port", "0")
    output = app.stop()
    for name, path in (("API docs", "/docs"), ("API reference", "/redoc"), ("topics (AsyncAPI)", "/asyncapi"),
                       ("OpenAPI", "/openapi.json"), ("flow graph", "/__motia/graph")):
        assert re.search(rf"^  {re.escape(name)} +{re.escape(app.url + path)}$", output, re.M), (name, output)


@pytest.mark.slow
def test_no_docs_turns_the_pages_off(motia_run):
    app = motia_run(ORDERS, "--memory", "--stream-port", "0", "--no-docs")
    for path in ("/docs", "/redoc", "/asyncapi", "/asyncapi.json", "/__motia/docs/redoc/redoc.standalone.js"):
        assert app.client.get(path).status_code == 404, path
    assert app.client.get("/openapi.json").status_code == 200
    assert "/docs" not in app.stop()


@api("GET", "/hello")
async def hello(req: ApiRequest[None]) -> ApiResponse[str]:
    return ApiResponse(200, "hello")


@api("GET", "/docs")
async def own_docs(req: ApiRequest[None]) -> ApiResponse[str]:
    return ApiResponse(200, "the step's own docs")


def test_pages_are_off_by_default_where_the_operator_routes_are_off(serve):
    client = serve(hello, admin=False)
    assert client.get("/docs").status_code == 404
    assert client.get("/hello").status_code == 200


def test_docs_turns_the_pages_on_explicitly(serve):
    client = serve(hello, admin=False, docs=True)
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200


def test_a_step_serving_a_docs_path_keeps_it(serve):
    client = serve(own_docs, hello)
    assert client.get("/docs").text == "the step's own docs"
    assert client.get("/redoc").status_code == 200


def test_the_engine_alone_serves_no_docs_pages_of_its_empty_registry(serve):
    client = serve(Registry(), engine_port=0)
    assert client.get("/docs").status_code == 404
    assert client.get("/__motia/health").status_code == 200
