"""`motia codegen ...` as a user runs it: the examples' committed outputs are fresh, `--check` catches stale
files, and the runtime CLI explains how to install the generators when they are missing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.codegen.conftest import EXAMPLES, codegen, example
from tests.conftest import ROOT

OUTPUTS = {"openapi": "openapi.json", "asyncapi": "asyncapi.json", "client": "motia_client.py"}


@pytest.mark.parametrize("command", list(OUTPUTS))
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_examples_ship_fresh_generated_files(name, command):
    """Golden files: `motia codegen <command> --check` in each example (regenerate with the same command
    without `--check`)."""
    assert (example(name) / OUTPUTS[command]).exists()
    result = codegen(command, "--check", cwd=example(name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is up to date" in result.stderr


def test_check_fails_with_a_unified_diff_when_the_file_is_stale(app_copy):
    assert codegen("openapi", cwd=app_copy).returncode == 0
    path = app_copy / "openapi.json"
    document = json.loads(path.read_text())
    document["info"]["title"] = "old title"
    path.write_text(json.dumps(document, indent=2) + "\n")
    result = codegen("openapi", "--check", cwd=app_copy)
    assert result.returncode == 1
    assert "--- openapi.json (on disk)" in result.stdout and "+++ openapi.json (generated)" in result.stdout
    assert '-    "title": "old title",' in result.stdout and '+    "title": "app",' in result.stdout
    assert "openapi.json is stale: run `motia codegen openapi`" in result.stderr
    assert json.loads(path.read_text())["info"]["title"] == "old title"  # --check writes nothing


def test_check_fails_when_the_file_does_not_exist(app_copy):
    result = codegen("client", "--check", cwd=app_copy)
    assert result.returncode == 1
    assert "+++ motia_client.py (generated)" in result.stdout
    assert not (app_copy / "motia_client.py").exists()


def test_generating_twice_changes_nothing(app_copy):
    for command in OUTPUTS:
        assert codegen(command, cwd=app_copy).returncode == 0
        again = codegen(command, cwd=app_copy)
        assert "unchanged" in again.stderr
        assert codegen(command, "--check", cwd=app_copy).returncode == 0


def test_yaml_output_holds_the_same_document(app_copy):
    for output in ("openapi.yaml", "openapi.json"):
        assert codegen("openapi", "-o", output, "--title", "Todos", "--version", "2.0.0", cwd=app_copy).returncode == 0
    text = (app_copy / "openapi.yaml").read_text()
    assert "&id" not in text  # shared schemas are written out, not aliased
    from_yaml = yaml.safe_load(text)
    assert from_yaml == json.loads((app_copy / "openapi.json").read_text())
    assert from_yaml["info"] == {"title": "Todos", "version": "2.0.0"}
    assert codegen("asyncapi", "-o", "events.yml", cwd=app_copy).returncode == 0
    assert yaml.safe_load((app_copy / "events.yml").read_text())["asyncapi"] == "3.0.0"


def test_dash_writes_to_stdout(app_copy):
    result = codegen("asyncapi", "-o", "-", cwd=app_copy)
    assert json.loads(result.stdout)["channels"]["todo.created"]["address"] == "todo.created"


def test_the_client_goes_beside_the_steps_directory_by_default(tmp_path):
    steps = tmp_path / "backend" / "steps"
    steps.mkdir(parents=True)
    (steps / "ping_step.py").write_text("from motia import on\n\n\n@on('ping')\nasync def pong(n: int) -> None: ...\n")
    result = codegen("client", "--dir", "backend/steps", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    generated = (tmp_path / "backend" / "motia_client.py").read_text()
    assert 'def emit(topic: Literal["ping"], data: int, /) -> Coroutine[Any, Any, None]: ...' in generated


def test_a_broken_step_is_reported_with_its_file_and_line(tmp_path):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "bad_step.py").write_text("import nowhere_to_be_found\n")
    result = codegen("openapi", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad_step.py:1" in result.stderr and "nowhere_to_be_found" in result.stderr
    assert not (tmp_path / "openapi.json").exists()


def test_codegen_help_lists_the_three_generators():
    result = codegen("--help", cwd=ROOT)
    assert result.returncode == 0
    assert all(name in result.stdout for name in OUTPUTS)


def test_without_the_generator_package_the_cli_says_how_to_install_it():
    # A None entry in sys.modules makes `import motia_codegen` fail as if it were not installed.
    script = textwrap.dedent("""
        import sys
        sys.modules["motia_codegen"] = None
        sys.modules["motia_codegen.cli"] = None
        from motia.cli import main
        sys.argv = ["motia", "codegen", "openapi"]
        main()
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=example("hello"), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    # Commands that work: the generator is not on PyPI; it installs from a checkout or the wheel `nox -s build` writes.
    assert "`pip install ./codegen`" in result.stderr and "`pip install dist/motia_codegen-*.whl`" in result.stderr
    assert "pip install motia-codegen" not in result.stderr


def test_motia_help_imports_no_generator():
    script = textwrap.dedent("""
        import sys
        from typer.testing import CliRunner
        from motia.cli import app
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0 and "codegen" in result.output, result.output
        heavy = [m for m in ("motia_codegen", "datamodel_code_generator", "pydantic", "yaml") if m in sys.modules]
        print(heavy)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_generator_package_passes_mypy():
    result = subprocess.run([sys.executable, "-m", "mypy", str(Path("codegen") / "src" / "motia_codegen")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
