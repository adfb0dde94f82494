"""Who may use the console: loopback Host and the page's own Origin only, never CORS, a token when one is set,
and no console at all on a non-loopback interface without a token. On by default under `motia dev` only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from motia.assembly import App, ServedApp
from tests.conftest import ROOT
from tests.console.conftest import served_console
from tests.console.shop import registry

API = "/__motia/api/state"


@pytest.fixture(scope="module")
def open_console() -> Iterator[httpx.Client]:
    # CORS on for the app's own routes: it must still never apply to the console.
    with served_console(cors_origins=["*"]) as client:
        yield client


@pytest.fixture(scope="module")
def token_console() -> Iterator[httpx.Client]:
    with served_console(console_token="s3cret") as client:
        yield client


def test_the_console_is_off_unless_asked(serve):
    client = serve(registry())
    assert client.get("/__motia/").status_code == 404
    assert client.get(API).status_code == 404


def test_the_shell_and_its_pages_are_served(open_console):
    shell = open_console.get("/__motia/")
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert 'src="/__motia/console/console.js"' in shell.text
    script = open_console.get("/__motia/console/console.js")
    assert script.headers["content-type"].startswith("text/javascript") and "const PAGES" in script.text
    assert open_console.get("/__motia/console/missing.js").status_code == 404
    assert open_console.get("/__motia/console/..%2Fapi.py").status_code == 404


def test_a_foreign_host_is_refused(open_console):
    response = open_console.get(API, headers={"host": "attacker.example"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"


def test_a_foreign_origin_is_refused_and_the_pages_own_is_served(open_console):
    refused = open_console.get(API, headers={"origin": "http://attacker.example"})
    assert refused.status_code == 403 and "Origin" in refused.json()["error"]["message"]
    own = str(open_console.base_url).rstrip("/")
    assert open_console.get(API, headers={"origin": own}).status_code == 200
    write = open_console.put(f"{API}/inventory/x", json=1, headers={"origin": "http://attacker.example"})
    assert write.status_code == 403


def test_cors_never_applies_to_the_console(open_console):
    own = str(open_console.base_url).rstrip("/")
    for response in (open_console.get(API, headers={"origin": own}),
                     open_console.get("/__motia/", headers={"origin": "http://attacker.example"}),
                     open_console.options(API, headers={"origin": own, "access-control-request-method": "PUT"})):
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    preflight = open_console.options(API, headers={"origin": own, "access-control-request-method": "PUT"})
    assert preflight.status_code == 403


def test_with_a_token_every_request_needs_it(token_console):
    for path in (API, "/__motia/", "/__motia/console/console.js"):
        response = token_console.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED", path
    assert token_console.get(API, headers={"x-motia-console-token": "wrong"}).status_code == 401
    assert token_console.get(API, headers={"x-motia-console-token": "s3cret"}).status_code == 200


def test_a_token_visit_sets_the_cookie_that_opens_the_console(token_console):
    assert token_console.get("/__motia/", params={"token": "wrong"}).status_code == 401
    visit = token_console.get("/__motia/", params={"token": "s3cret"})
    assert visit.status_code == 303 and visit.headers["location"] == "/__motia/"
    cookie = visit.headers["set-cookie"]
    assert "motia_console=s3cret" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    cookie = {"cookie": "motia_console=s3cret"}  # as the browser sends it back
    assert token_console.get("/__motia/", headers=cookie).status_code == 200
    assert token_console.get(API, headers=cookie).status_code == 200
    assert token_console.get(API, headers={"cookie": "motia_console=guess"}).status_code == 401


def test_a_non_loopback_interface_needs_a_token():
    with pytest.raises(ValueError, match="needs a token"):
        App(registry(), host="0.0.0.0", port=0, memory=True, console=True)


def test_on_a_non_loopback_interface_with_a_token_the_console_answers_to_the_token():
    with ServedApp(registry(), host="0.0.0.0", console=True, console_token="s3cret") as served:
        url = f"http://127.0.0.1:{served.app.port}"
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get(API).status_code == 401
            assert client.get(API, headers={"x-motia-console-token": "s3cret"}).status_code == 200


# --- the command line -----------------------------------------------------------------------------------------

HELLO = ROOT / "examples" / "hello"


@pytest.mark.slow
@pytest.mark.parametrize(("under_dev", "flags", "served"), [
    (False, (), False), (False, ("--console",), True), (True, (), True), (True, ("--no-console",), False),
], ids=["run", "run --console", "dev", "dev --no-console"])
def test_the_console_is_on_under_motia_dev_and_where_asked(motia_run, monkeypatch, under_dev, flags, served):
    from motia.reload import CHILD_ENV

    if under_dev:
        monkeypatch.setenv(CHILD_ENV, "1")  # what `motia dev` sets for the app it runs and restarts
    app = motia_run(HELLO, "--memory", "--stream-port", "0", *flags)
    assert app.client.get("/__motia/").status_code == (200 if served else 404)
    app.stop()


@pytest.mark.slow
def test_motia_run_refuses_the_console_on_another_interface_without_a_token(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--host", "0.0.0.0", "--port", "0",
                             "--memory", "--stream-port", "0", "--console"],
                            cwd=HELLO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "needs a token" in result.stderr and "--console-token" in result.stderr
