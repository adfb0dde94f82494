"""The two distributions as users install them: `nox -s build`'s wheels (runtime with its packaged assets, and the
generators), consistent names, and the `motia codegen` hint naming a command that exists."""

from __future__ import annotations

import email
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


@pytest.mark.slow
def test_the_build_writes_both_wheels_with_the_docs_assets(tmp_path):
    # What `nox -s build` runs (noxfile.py), into a temporary directory instead of dist/.
    noxfile = (ROOT / "noxfile.py").read_text()
    assert '"pip", "wheel", "--no-deps", "--wheel-dir", "dist", ".", "./codegen"' in noxfile
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(tmp_path),
                             ".", "./codegen"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = sorted(path.name for path in tmp_path.glob("*.whl"))
    assert [re.sub(r"-[\d.]+-py3-none-any\.whl$", "", name) for name in wheels] == ["motia_codegen", "motia_py"]
    runtime = next(tmp_path.glob("motia_py-*.whl"))
    with zipfile.ZipFile(runtime) as archive:
        names = set(archive.namelist())
    for asset in ("motia/docs_assets/swagger-ui/swagger-ui-bundle.js", "motia/docs_assets/swagger-ui/LICENSE",
                  "motia/docs_assets/redoc/redoc.standalone.js", "motia/docs_assets/redoc/LICENSE",
                  "motia/docs_assets/asyncapi.js", "motia/py.typed",
                  # the console's pages (motia/console/assets: plain files, every one of them shipped)
                  *(f"motia/console/assets/{page.name}" for page in (ROOT / "src/motia/console/assets").iterdir())):
        assert asset in names, asset
    assert metadata(runtime)["Name"] == "motia-py"
    generators = metadata(next(tmp_path.glob("motia_codegen-*.whl")))
    assert generators["Name"] == "motia-codegen"
    assert any(requirement.startswith("motia-py") for requirement in generators.get_all("Requires-Dist"))


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_the_distribution_names_are_the_ones_the_docs_and_hints_use():
    # tests/codegen/test_cli.py checks the `motia codegen` hint names `pip install ./codegen`.
    codegen = tomllib.loads((ROOT / "codegen" / "pyproject.toml").read_text())
    assert codegen["project"]["name"] == "motia-codegen"
    assert any(dependency.startswith("motia-py") for dependency in codegen["project"]["dependencies"])
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == "motia-py"
