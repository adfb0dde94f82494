"""`motia emit`, `motia state ...` against a served app (examples/orders under `motia run`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from motia import Registry
from motia.assembly import App
from tests.conftest import ROOT, eventually

EXAMPLE = ROOT / "examples" / "orders"


def motia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia.cli", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def served(motia_run):
    return motia_run(EXAMPLE, "--memory", "--stream-port", "0")


def test_emit_reaches_the_subscribers(served):
    order = {"id": "cli-1", "customer": "ada", "item": "lamp", "quantity": 1, "total": 5.0, "card": "4242"}
    result = motia("emit", "order.placed", json.dumps(order), "--url", served.url)
    assert (result.returncode, result.stdout.strip()) == (0, "emitted order.placed")
    def status() -> str | None:
        got = motia("state", "get", "orders", "cli-1", "--url", served.url)
        return json.loads(got.stdout)["status"] if got.returncode == 0 else None

    eventually(lambda: status() == "shipped")  # charged, then shipped, through the events


def test_emit_to_a_topic_nothing_subscribes_to_fails_with_the_closest_topics_unless_forced(served):
    mistyped = motia("emit", "order.placd", "{}", "--url", served.url)
    assert mistyped.returncode == 1 and mistyped.stdout == ""
    assert mistyped.stderr.strip() == ("error: no function subscribes to topic 'order.placd': the message is dropped; "
                                       "did you mean 'order.placed' or 'order.paid'?")
    forced = motia("emit", "order.placd", "{}", "--url", served.url, "--force")
    assert (forced.returncode, forced.stdout.strip()) == (0, "emitted order.placd")
    assert forced.stderr.startswith("warning: no function subscribes to topic 'order.placd'")


def test_state_set_get_list(served):
    assert motia("state", "set", "notes", "n1", '{"text": "hi"}', "--url", served.url).returncode == 0
    assert json.loads(motia("state", "get", "notes", "n1", "--url", served.url).stdout) == {"text": "hi"}
    assert json.loads(motia("state", "list", "notes", "--url", served.url).stdout) == {"n1": {"text": "hi"}}
    assert "notes" in motia("state", "list", "--url", served.url).stdout.split()


def test_groups_and_keys_with_a_slash_round_trip(served):
    assert motia("state", "set", "files/2026", "docs/read me.md", '"v1"', "--url", served.url).returncode == 0
    assert json.loads(motia("state", "get", "files/2026", "docs/read me.md", "--url", served.url).stdout) == "v1"
    assert motia("state", "get", "files", "2026/docs/read me.md", "--url", served.url).returncode == 1


def test_missing_key_and_bad_json_are_clear_errors(served):
    missing = motia("state", "get", "notes", "nope", "--url", served.url)
    assert missing.returncode == 1 and "no value for key 'nope' in group 'notes'" in missing.stderr
    bad = motia("emit", "t", "{not json", "--url", served.url)
    assert bad.returncode == 2 and "DATA is not JSON" in bad.stderr


def test_no_running_app_is_explained():
    result = motia("state", "list", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "is `motia run` running there?" in result.stderr


def test_operator_routes_are_off_on_a_public_interface():
    assert App(Registry(), host="0.0.0.0", memory=True).embedded.admin is False
    assert App(Registry(), memory=True).embedded.admin is True
