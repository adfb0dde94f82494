"""HTTP steps served for real: requests over loopback to uvicorn, through the engine, to the handler."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import msgspec

from motia import ApiRequest, ApiResponse, FlowContext, HandlerConfig, api, get, post, step
from tests.conftest import eventually


class NewUser(msgspec.Struct):
    name: str
    age: int


class User(msgspec.Struct):
    id: int
    name: str
    age: int


# --- requests -------------------------------------------------------------------------------------------


def test_path_query_and_headers_reach_the_handler(serve):
    @api("GET", "/items/:item_id/parts/:part")
    async def show(req: ApiRequest[None]) -> dict:
        return {
            "params": req.path_params,
            "query": req.query_params,
            "auth": req.headers["Authorization"],
            "auth_lower": req.headers.get("authorization"),
            "method": req.method,
            "path": req.path,
        }

    client = serve(show)
    response = client.get("/items/42/parts/wheel?color=red&tag=a&tag=b", headers={"Authorization": "Bearer x"})
    assert response.status_code == 200
    assert response.json() == {
        "params": {"item_id": "42", "part": "wheel"},
        "query": {"color": "red", "tag": ["a", "b"]},
        "auth": "Bearer x",
        "auth_lower": "Bearer x",
        "method": "GET",
        "path": "/items/:item_id/parts/:part",
    }


def test_struct_body_is_decoded_and_validated(serve):
    @post("/users", status=201)
    async def create(req: ApiRequest[NewUser]) -> User:
        assert isinstance(req.body, NewUser)
        return User(id=1, name=req.body.name, age=req.body.age)

    client = serve(create)
    response = client.post("/users", json={"name": "Ada", "age": 36})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 1, "name": "Ada", "age": 36}


def test_typed_body_without_json_content_type_is_still_decoded(serve):
    @post("/users")
    async def create(req: ApiRequest[NewUser]) -> dict:
        return {"name": req.body.name}

    client = serve(create)
    response = client.post("/users", content=b'{"name": "Ada", "age": 1}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.json() == {"name": "Ada"}


def test_untyped_request_gets_json_as_builtins(serve):
    @post("/echo")
    async def echo(req):
        return {"got": req.body}

    client = serve(echo)
    assert client.post("/echo", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}


def test_query_struct_is_converted_from_strings(serve):
    class Page(msgspec.Struct):
        limit: int = 10
        desc: bool = False

    @get("/things", query=Page)
    async def things(req: ApiRequest[None]) -> dict:
        return {"limit": req.query.limit, "desc": req.query.desc}

    client = serve(things)
    assert client.get("/things?limit=3&desc=true").json() == {"limit": 3, "desc": True}
    assert client.get("/things").json() == {"limit": 10, "desc": False}
    bad = client.get("/things?limit=lots")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == [{"message": "Expected int, got str", "path": "query.limit"}]


# --- responses ------------------------------------------------------------------------------------------


def test_return_forms(serve):
    @get("/struct")
    async def struct_() -> User:
        return User(1, "a", 2)

    @get("/list")
    async def list_() -> list:
        return [1, 2, 3]

    @get("/none")
    async def none_() -> None:
        return None

    @get("/created")
    async def created():
        return ApiResponse(201, {"ok": True}, {"x-request": "abc", "Location": "/things/1"})

    @get("/bytes")
    async def bytes_():
        return ApiResponse(200, b"\x89PNG", {"content-type": "image/png"})

    @get("/text")
    async def text():
        return "plain words"

    @get("/html")
    async def html():
        return ApiResponse(200, "<p>hi</p>", {"Content-Type": "text/html"})

    @get("/dict-response")
    async def dict_response():
        return {"status": 202, "body": {"queued": True}, "headers": {"x-a": "1"}}

    client = serve(struct_, list_, none_, created, bytes_, text, html, dict_response)
    assert client.get("/struct").json() == {"id": 1, "name": "a", "age": 2}
    assert client.get("/list").json() == [1, 2, 3]
    none = client.get("/none")
    assert (none.status_code, none.content) == (204, b"")
    created_response = client.get("/created")
    assert created_response.status_code == 201
    assert created_response.headers["x-request"] == "abc"
    assert created_response.headers["location"] == "/things/1"
    png = client.get("/bytes")
    assert (png.content, png.headers["content-type"]) == (b"\x89PNG", "image/png")
    plain = client.get("/text")
    assert (plain.text, plain.headers["content-type"]) == ("plain words", "text/plain; charset=utf-8")
    page = client.get("/html")
    assert (page.text, page.headers["content-type"]) == ("<p>hi</p>", "text/html")
    queued = client.get("/dict-response")
    assert (queued.status_code, queued.json(), queued.headers["x-a"]) == (202, {"queued": True}, "1")


def test_head_is_served_from_get_without_a_body(serve):
    @get("/doc")
    async def doc():
        return {"text": "hello"}

    client = serve(doc)
    response = client.head("/doc")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(b'{"text":"hello"}'))


def test_options_lists_allowed_methods(serve):
    @get("/things")
    async def list_things():
        return []

    @post("/things")
    async def add_thing():
        return {}

    client = serve(list_things, add_thing)
    response = client.options("/things")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


# --- routing --------------------------------------------------------------------------------------------


def test_static_segment_beats_parameter(serve):
    @get("/greetings/:name")
    async def by_name(req: ApiRequest[None]):
        return {"name": req.path_params["name"]}

    @get("/greetings/summary")
    async def summary():
        return {"summary": True}

    client = serve(by_name, summary)
    assert client.get("/greetings/summary").json() == {"summary": True}
    assert client.get("/greetings/ada").json() == {"name": "ada"}
    assert client.get("/greetings/summary/").json() == {"summary": True}


def test_an_encoded_slash_stays_inside_its_path_parameter(serve):
    @get("/files/:folder/:name")
    async def show(req: ApiRequest[None]):
        return req.path_params

    client = serve(show)
    assert client.get("/files/docs%2F2026/read%20me%2Fv1.md").json() == {"folder": "docs/2026",
                                                                         "name": "read me/v1.md"}
    assert client.head("/files/a%2fb/c").status_code == 200
    assert client.get("/files/docs/2026/x").status_code == 404  # a real slash is still a separator


def test_unknown_path_is_a_json_404(serve):
    @get("/here")
    async def here():
        return {}

    response = serve(here).get("/not/here")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "Not Found"}}


def test_other_method_on_known_path_is_405_with_allow(serve):
    @get("/users/:id")
    async def read(req):
        return {}

    response = serve(read).delete("/users/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


# --- errors ---------------------------------------------------------------------------------------------


def test_wrong_field_type_is_a_400_naming_the_field(serve):
    @post("/users")
    async def create(req: ApiRequest[NewUser]):
        raise AssertionError("handler must not run")

    response = serve(create).post("/users", json={"name": "Ada", "age": "old"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "$.age: Expected int, got str",
            "details": [{"message": "Expected int, got str", "path": "$.age"}],
        }
    }


def test_missing_field_is_a_400(serve):
    @post("/users")
    async def create(req: ApiRequest[NewUser]):
        raise AssertionError("handler must not run")

    response = serve(create).post("/users", json={"name": "Ada"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Object missing required field age"


def test_malformed_json_is_a_400(serve):
    @post("/users")
    async def create(req: ApiRequest[NewUser]):
        raise AssertionError("handler must not run")

    response = serve(create).post("/users", content=b'{"name": "Ada", ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_JSON"
    assert error["message"].startswith("Malformed JSON body")


def test_malformed_json_is_a_400_for_untyped_handlers_too(serve):
    @post("/echo")
    async def echo(req):
        raise AssertionError("handler must not run")

    response = serve(echo).post("/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_JSON")


def test_missing_body_is_a_400(serve):
    @post("/users")
    async def create(req: ApiRequest[NewUser]):
        raise AssertionError("handler must not run")

    response = serve(create).post("/users")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Request body is required"


def test_optional_body_may_be_absent(serve):
    @post("/maybe")
    async def maybe(req: ApiRequest[NewUser | None]):
        return {"body": None if req.body is None else req.body.name}

    client = serve(maybe)
    assert client.post("/maybe").json() == {"body": None}
    assert client.post("/maybe", json={"name": "x", "age": 1}).json() == {"body": "x"}


def test_oversize_body_is_a_413_and_the_server_keeps_serving(serve):
    @post("/upload")
    async def upload(req):
        return {"size": len(req.raw_body)}

    client = serve(upload, max_body_size=1000)
    response = client.post("/upload", content=b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert client.post("/upload", content=b"x" * 1000).json() == {"size": 1000}


def test_oversize_chunked_body_is_a_413(serve):
    @post("/upload")
    async def upload(req):
        return {"size": len(req.raw_body)}

    client = serve(upload, max_body_size=1000)

    def chunks():
        for _ in range(5):
            yield b"y" * 300

    response = client.post("/upload", content=chunks())
    assert response.status_code == 413


def test_handler_exception_is_a_500_with_an_error_id_and_no_internals(serve, caplog):
    @get("/boom")
    async def boom():
        raise ValueError("secret database password is hunter2")

    with caplog.at_level(logging.ERROR):
        response = serve(boom).get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "INTERNAL_ERROR"
    assert error["message"] == "Internal server error"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if getattr(r, "fields", {}).get("error_id") == error["error_id"]]
    assert logged, "the error id must be in the log"
    assert logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


def test_false_condition_is_a_422_and_the_handler_does_not_run(serve):
    calls = []

    @get("/vip/:tier", condition=lambda req, ctx: req.path_params["tier"] == "gold")
    async def vip(req):
        calls.append(req.path_params["tier"])
        return {"welcome": True}

    client = serve(vip)
    refused = client.get("/vip/bronze")
    assert refused.status_code == 422
    assert refused.json() == {
        "error": {"code": "CONDITION_NOT_MET", "message": "Request condition not met"},
        "skipped": True,
    }
    assert client.get("/vip/gold").json() == {"welcome": True}
    assert calls == ["gold"]


def test_async_condition(serve):
    async def is_admin(req, ctx):
        await asyncio.sleep(0)
        return req.headers.get("x-role") == "admin"

    @get("/admin", condition=is_admin)
    async def admin():
        return {"ok": True}

    client = serve(admin)
    assert client.get("/admin").status_code == 422
    assert client.get("/admin", headers={"X-Role": "admin"}).json() == {"ok": True}


def test_slow_handler_is_a_504(serve):
    @get("/slow")
    @step(handler_config=HandlerConfig(timeout=0.2))
    async def slow():
        await asyncio.sleep(5)

    started = time.monotonic()
    response = serve(slow).get("/slow")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 3


# --- middleware -----------------------------------------------------------------------------------------


def test_middleware_runs_outermost_first_and_can_set_context_attributes(serve):
    order = []

    async def outer(req, ctx, next):
        order.append("outer")
        ctx.user = "ada"
        response = await next()
        response.headers["x-outer"] = "1"
        return response

    async def inner(req, ctx, next_handler):
        order.append("inner")
        return await next_handler(req, ctx)

    @get("/me", middleware=[outer, inner])
    async def me(req, ctx: FlowContext):
        order.append("handler")
        return ApiResponse(200, {"user": ctx.user})

    response = serve(me).get("/me")
    assert response.json() == {"user": "ada"}
    assert response.headers["x-outer"] == "1"
    assert order == ["outer", "inner", "handler"]


def test_middleware_can_short_circuit(serve):
    def deny(req, ctx, next):  # a sync middleware
        return ApiResponse(401, {"error": "Unauthorized"})

    @get("/secret", middleware=[deny])
    async def secret():
        raise AssertionError("handler must not run")

    response = serve(secret).get("/secret")
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})


# --- handlers and context -------------------------------------------------------------------------------


def test_handlers_with_zero_one_or_two_parameters(serve):
    @get("/zero")
    async def zero():
        return {"n": 0}

    @get("/one/:x")
    async def one(req):
        return {"n": 1, "x": req.path_params["x"]}

    @get("/two")
    async def two(req, ctx):
        return {"n": 2, "step": ctx.step}

    client = serve(zero, one, two)
    assert client.get("/zero").json() == {"n": 0}
    assert client.get("/one/a").json() == {"n": 1, "x": "a"}
    assert client.get("/two").json() == {"n": 2, "step": "two"}


def test_sync_handler_runs_in_a_thread_and_does_not_block_the_server(serve):
    release = threading.Event()
    seen_threads = []

    @get("/blocking")
    def blocking():
        seen_threads.append(threading.current_thread().name)
        release.wait(10)
        return {"done": True}

    @get("/quick")
    async def quick():
        return {"quick": True}

    client = serve(blocking, quick)
    results = {}

    def call_blocking():
        results["blocking"] = client.get("/blocking").json()

    thread = threading.Thread(target=call_blocking)
    thread.start()
    eventually(lambda: seen_threads, timeout=5)
    # The blocking handler is still running, yet the server answers.
    assert client.get("/quick").json() == {"quick": True}
    release.set()
    thread.join(10)
    assert results["blocking"] == {"done": True}
    assert seen_threads and seen_threads[0] != "motia-app"


def test_trace_id_comes_from_traceparent(serve):
    @get("/trace")
    async def trace(req, ctx):
        return {"trace_id": ctx.trace_id}

    client = serve(trace)
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert client.get("/trace", headers={"traceparent": header}).json() == {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"
    }
    generated = client.get("/trace").json()["trace_id"]
    assert len(generated) == 32 and generated != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_trigger_type_matches_seed_and_motia_names(serve):
    @get("/kind")
    async def kind(req, ctx: FlowContext):
        return {
            "api": ctx.trigger.type == "api",
            "http": ctx.trigger.type == "http",
            "event": ctx.trigger.type == "event",
            "kind": ctx.trigger.kind,
            "method": ctx.trigger.method,
            "path": ctx.trigger.path,
            "index": ctx.trigger.index,
            "is_api": ctx.is_api(),
        }

    assert serve(kind).get("/kind").json() == {
        "api": True, "http": True, "event": False, "kind": "http", "method": "GET", "path": "/kind",
        "index": 0, "is_api": True,
    }


def test_multi_trigger_step_tells_which_trigger_fired(serve):
    @api("GET", "/a")
    @api("POST", "/b")
    async def both(req, ctx):
        return {"index": ctx.trigger.index, "path": ctx.trigger.path}

    client = serve(both)
    assert client.get("/a").json() == {"index": 0, "path": "/a"}
    assert client.post("/b").json() == {"index": 1, "path": "/b"}


def test_logger_lines_carry_step_name_and_trace_id(serve, caplog):
    @get("/log")
    async def logs(req, ctx):
        ctx.logger.info("hello", {"a": 1}, b=2)
        ctx.logger.warn("careful")
        return {"trace_id": ctx.trace_id}

    with caplog.at_level(logging.INFO, logger="motia.step"):
        trace_id = serve(logs).get("/log").json()["trace_id"]
    records = [r for r in caplog.records if r.name == "motia.step"]
    assert [(r.getMessage(), r.levelname) for r in records] == [("hello", "INFO"), ("careful", "WARNING")]
    assert all(r.step == "logs" and r.trace_id == trace_id for r in records)
    assert records[0].fields == {"a": 1, "b": 2}


def test_legacy_json_schema_body_is_validated(serve):
    @api("POST", "/legacy", body_schema={
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    })
    async def legacy(req):
        return {"got": req.body}

    client = serve(legacy)
    assert client.post("/legacy", json={"name": "a", "age": 3}).json() == {"got": {"name": "a", "age": 3}}
    bad = client.post("/legacy", json={"age": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == [
        {"message": "'name' is a required property", "path": "$"},
        {"message": "'x' is not of type 'integer'", "path": "$.age"},
    ]


def test_decorated_handlers_stay_directly_callable():
    @post("/users", status=201)
    async def create(req: ApiRequest[NewUser]) -> User:
        return User(id=7, name=req.body.name, age=req.body.age)

    result = asyncio.run(create(ApiRequest(body=NewUser("Ada", 3))))
    assert result == User(7, "Ada", 3)
