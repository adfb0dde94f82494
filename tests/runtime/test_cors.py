"""CORS: off by default; with allowed origins, preflights are answered and responses carry the headers."""

from motia import get, post


def test_no_cors_headers_by_default(serve):
    @get("/data")
    async def data():
        return {"x": 1}

    response = serve(data).get("/data", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


def test_allowed_origin_gets_headers_and_a_preflight_answer(serve):
    @post("/data")
    async def data():
        return {"x": 1}

    client = serve(data, cors_origins=["https://app.example"])
    preflight = client.options("/data", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-token",
    })
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type, x-token"
    response = client.post("/data", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["vary"] == "Origin"


def test_other_origins_get_no_headers(serve):
    @get("/data")
    async def data():
        return {"x": 1}

    client = serve(data, cors_origins=["https://app.example"])
    response = client.get("/data", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = client.options("/data", headers={"Origin": "https://evil.example",
                                                 "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
