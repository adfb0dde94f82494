"""Lint (ruff) and type checks (mypy on src/) run as part of the test suite, so CI enforces them."""

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff not installed")
def test_ruff_is_clean():
    result = run(sys.executable, "-m", "ruff", "check", "src", "tests", "examples", "codegen", "bench", "noxfile.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
