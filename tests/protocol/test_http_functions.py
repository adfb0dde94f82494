"""HTTP-invoked functions (docs/protocol.md §4.8): a worker registers a function with an `invocation` URL and the
engine calls it over HTTP, for direct invocations and trigger fires, under `iii-http-functions.security`.

The endpoint is a real HTTP server on 127.0.0.1 (ephemeral port). Since `block_private_ips` would refuse
loopback, the tests that reach it allow `127.0.0.1` and turn the private-address block off; the refusal tests
keep the defaults on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from motia.engine.options import EngineOptions, HttpFunctionsSecurity

from .conftest import Engine, serve_engine

LOOPBACK_ALLOWED = HttpFunctionsSecurity(url_allowlist=("127.0.0.1",), block_private_ips=False,
                                         require_https=False)


class Endpoint:
    """An HTTP server that records each request and answers with `reply` (status, body bytes, delay)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, bytes, float] = (200, b'{"ok": true}', 0.0)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                endpoint.requests.append({"method": self.command, "path": self.path, "body": body,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, content, delay = endpoint.reply
                time.sleep(delay)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    running = Endpoint()
    yield running
    running.close()


@pytest.fixture
def local() -> Iterator[Engine]:
    """An engine allowed to call 127.0.0.1 over plain HTTP."""
    with serve_engine(engine_options=EngineOptions(http_functions=LOOPBACK_ALLOWED)) as running:
        yield running


def register(engine: Engine, function_id: str, **invocation: Any) -> Any:
    owner = engine.worker()
    owner.register(function_id, description="hosted elsewhere", invocation=invocation)
    owner.sync()
    return owner


def test_a_call_is_a_post_with_the_payload_and_the_iii_headers(local, endpoint, monkeypatch):
    monkeypatch.setenv("TEST_BEARER_TOKEN", "s3cret")
    register(local, "billing::charge", url=endpoint.url + "/charge", headers={"x-tenant": "acme"},
             auth={"type": "bearer", "token_key": "TEST_BEARER_TOKEN"})
    caller = local.worker()
    result = caller.call("billing::charge", {"amount": 5},
                         traceparent="00-0af7651916cd43dd8448eb211c80319c-d621366e4d8ae54f-01")
    assert result["result"] == {"ok": True}
    [request] = endpoint.requests
    assert (request["method"], request["path"]) == ("POST", "/charge")
    assert json.loads(request["body"]) == {"amount": 5, "_caller_worker_id": caller.worker_id}
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["x-tenant"] == "acme"
    assert headers["x-iii-function-path"] == "billing::charge"
    assert uuid.UUID(headers["x-iii-invocation-id"]).version == 4
    assert abs(int(headers["x-iii-timestamp"]) - time.time()) < 60
    assert headers["x-iii-trace-id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "x-iii-trigger-type" not in headers


def test_api_key_auth_puts_the_key_in_the_named_header(local, endpoint, monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", "k-123")
    register(local, "geo::lookup", url=endpoint.url, method="put",
             auth={"type": "api_key", "header": "x-api-key", "value_key": "TEST_API_KEY"})
    assert local.worker().call("geo::lookup", [1, 2])["result"] == {"ok": True}
    [request] = endpoint.requests
    assert request["method"] == "PUT" and request["headers"]["x-api-key"] == "k-123"
    assert json.loads(request["body"]) == [1, 2]  # not an object: no caller id added


def test_hmac_auth_signs_the_timestamp_and_the_body(local, endpoint, monkeypatch):
    monkeypatch.setenv("TEST_HMAC_SECRET", "shared-secret")
    register(local, "hooks::sign", url=endpoint.url, auth={"type": "hmac", "secret_key": "TEST_HMAC_SECRET"})
    local.worker().call("hooks::sign", {"n": 1})
    [request] = endpoint.requests
    signed = f"{request['headers']['x-iii-timestamp']}:{base64.b64encode(request['body']).decode()}"
    expected = hmac.new(b"shared-secret", signed.encode(), hashlib.sha256).hexdigest()
    assert request["headers"]["x-iii-signature"] == f"sha256={expected}"


def test_a_missing_secret_is_an_error_and_nothing_is_sent(local, endpoint, monkeypatch):
    monkeypatch.delenv("TEST_UNSET_TOKEN", raising=False)
    register(local, "hooks::nokey", url=endpoint.url, auth={"type": "bearer", "token_key": "TEST_UNSET_TOKEN"})
    error = local.worker().call("hooks::nokey", {})["error"]
    assert error["code"] == "http_auth_missing" and "TEST_UNSET_TOKEN" in error["message"]
    assert endpoint.requests == []


@pytest.mark.parametrize(("status", "body", "expected"), [
    (201, b'{"id": 9}', {"result": {"id": 9}}),
    (204, b"", {"result": None}),
    (422, b'{"error": {"code": "card_declined", "message": "insufficient funds"}}',
     {"error": {"code": "card_declined", "message": "insufficient funds"}}),
    (503, b"", {"error": {"code": "http_error", "message": "HTTP 503"}}),
    (200, b"<html>", {"error": {"code": "invalid_response",
                                "message": "HTTP function remote::fn answered 200 with a body that is not JSON"}}),
])
def test_the_response_becomes_the_result_or_the_error(local, endpoint, status, body, expected):
    endpoint.reply = (status, body, 0.0)
    register(local, "remote::fn", url=endpoint.url)
    answer = local.worker().call("remote::fn", {})
    assert {k: answer[k] for k in ("result", "error") if k in answer and answer[k] is not None} == {
        k: v for k, v in expected.items() if v is not None
    }


def test_an_endpoint_slower_than_timeout_ms_is_a_timeout_error(local, endpoint):
    endpoint.reply = (200, b"{}", 1.0)
    register(local, "remote::slow", url=endpoint.url, timeout_ms=100)
    error = local.worker().call("remote::slow", {})["error"]
    assert error == {"code": "timeout", "message": "HTTP function remote::slow did not answer within 100 ms"}


def test_an_http_trigger_fires_the_endpoint_with_the_trigger_headers(local, endpoint):
    endpoint.reply = (200, b'{"status_code": 202, "body": {"queued": true}}', 0.0)
    owner = register(local, "orders::create", url=endpoint.url)
    trigger = owner.bind("http", "orders::create", {"api_path": "/orders", "http_method": "POST"})
    owner.sync()
    response = local.http.post("/orders", json={"sku": "A1"})
    assert (response.status_code, response.json()) == (202, {"queued": True})
    [request] = endpoint.requests
    assert request["headers"]["x-iii-trigger-type"] == "http"
    assert request["headers"]["x-iii-trigger-id"] == trigger
    sent = json.loads(request["body"])
    assert sent["body"] == {"sku": "A1"} and sent["path"] == "/orders" and sent["method"] == "POST"


def test_unregistering_or_disconnecting_stops_deliveries(local, endpoint):
    owner = register(local, "remote::gone", url=endpoint.url)
    caller = local.worker()
    assert caller.call("remote::gone", {})["result"] == {"ok": True}
    owner.send({"type": "unregisterfunction", "id": "remote::gone"})
    owner.sync()
    assert caller.call("remote::gone", {})["error"]["code"] == "function_not_found"
    register(local, "remote::owned", url=endpoint.url).close()
    time.sleep(0.2)
    assert caller.call("remote::owned", {})["error"]["code"] == "function_not_found"
    assert len(endpoint.requests) == 1


def test_the_default_security_refuses_plain_http_and_private_addresses(engine, endpoint):
    register(engine, "remote::plain", url=endpoint.url)
    error = engine.worker().call("remote::plain", {})["error"]
    assert error["code"] == "url_not_allowed" and "require_https" in error["message"]
    assert endpoint.requests == []


def test_block_private_ips_refuses_loopback(endpoint):
    security = HttpFunctionsSecurity(require_https=False)  # allowlist "*", private addresses blocked
    with serve_engine(engine_options=EngineOptions(http_functions=security)) as engine:
        register(engine, "remote::internal", url=endpoint.url)
        register(engine, "remote::named", url=endpoint.url.replace("127.0.0.1", "localhost"))
        caller = engine.worker()
        for function_id in ("remote::internal", "remote::named"):
            error = caller.call(function_id, {})["error"]
            assert error["code"] == "url_not_allowed"
            assert "non-public address" in error["message"] and "block_private_ips" in error["message"]
    assert endpoint.requests == []


def test_a_host_outside_the_allowlist_is_refused(endpoint):
    security = HttpFunctionsSecurity(url_allowlist=("*.example.com",), block_private_ips=False,
                                     require_https=False)
    with serve_engine(engine_options=EngineOptions(http_functions=security)) as engine:
        register(engine, "remote::elsewhere", url=endpoint.url)
        error = engine.worker().call("remote::elsewhere", {})["error"]
        assert error == {"code": "url_not_allowed",
                         "message": "host '127.0.0.1' is not in iii-http-functions.security.url_allowlist"}
    assert endpoint.requests == []


def test_an_invalid_invocation_is_not_registered_and_says_why(local, caplog):
    owner = register(local, "remote::bad", url="ftp://files.example.com/x")
    register(local, "remote::verb", url="https://api.example.com", method="TRACE")
    owner.sync()
    caller = local.worker()
    assert caller.call("remote::bad", {})["error"]["code"] == "function_not_found"
    assert caller.call("remote::verb", {})["error"]["code"] == "function_not_found"
    assert "url must be an absolute http:// or https:// URL, got 'ftp://files.example.com/x'" in caplog.text
    assert "remote::verb" in caplog.text and "TRACE" in caplog.text
