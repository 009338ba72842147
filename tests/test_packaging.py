"""`pip install .` ships the engine: the bundled weights travel as package data and `python -m core` runs.

The project is copied out of the checkout, installed with pip into a temporary folder, and a fresh
interpreter started elsewhere (with only that folder on PYTHONPATH) must find the three bundled networks inside
the installed `core` with the md5s the code checks them against.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# Build outputs and local state that are not part of the project (a stale build/ would hide a packaging bug).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.pyc", ".pytest_cache", ".venv", "build", "dist", "*.egg-info", "test-artifacts"
)

_CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import core.weights as weights
    from core import faces

    site = Path(sys.argv[1]).resolve()
    package = Path(weights.__file__).resolve().parent
    assert package == site / "core", f"core imported from {package}, not from the installed copy in {site}"
    assert weights.BUNDLED_WEIGHTS_DIR == package / "bundled_weights", weights.BUNDLED_WEIGHTS_DIR

    bundled = [spec for spec in weights.REGISTRY.values() if spec.bundled and spec.filename]
    expected = {faces.WEIGHTS_FILE.name: faces.WEIGHTS_MD5, **{spec.filename: spec.md5 for spec in bundled}}
    assert sorted(expected) == ["blazeface_back_256.onnx", "modnet.onnx", "u2netp.onnx"], sorted(expected)
    assert faces.WEIGHTS_FILE.parent == weights.BUNDLED_WEIGHTS_DIR, faces.WEIGHTS_FILE
    for name, md5 in expected.items():
        path = weights.BUNDLED_WEIGHTS_DIR / name
        assert path.is_file(), f"{path} is not in the installed package"
        assert md5 and weights.md5_of(path) == md5, f"{path}: md5 {weights.md5_of(path)}, expected {md5}"
    for spec in bundled:  # what the engine itself resolves, with an empty U2NET_HOME
        assert weights.find_weights(spec) == weights.BUNDLED_WEIGHTS_DIR / spec.filename, spec.name
    assert (weights.BUNDLED_WEIGHTS_DIR / "README.md").is_file(), "the weights' provenance did not ship"
    print("ok", len(expected))
    """
)


def _pins(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Folder that `pip install --no-deps --target` filled from a clean copy of the project."""
    base = tmp_path_factory.mktemp("packaging")
    source, site = base / "source", base / "site"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def _run_elsewhere(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    """A fresh interpreter in `cwd` (not the checkout) that sees only the installed copy of the project."""
    env = {**os.environ, "PYTHONPATH": str(site), "U2NET_HOME": str(cwd / "u2net_home")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_installed_package_holds_the_bundled_weights_with_their_md5s(installed, tmp_path):
    result = _run_elsewhere(["-c", _CHECK, str(installed)], installed, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok 3"


def test_installed_command_line_runs_from_another_folder(installed, tmp_path):
    result = _run_elsewhere(["-m", "core", "--help"], installed, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Portrait Studio" in result.stdout
    script = installed / "bin" / "portrait-studio"  # the console script pip wrote
    assert script.is_file()
    result = _run_elsewhere([str(script), "--help"], installed, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Portrait Studio" in result.stdout


def test_installed_metadata_takes_its_dependencies_from_the_requirements_files(installed):
    (dist_info,) = installed.glob("portrait_studio-*.dist-info")
    requires = [line.split(":", 1)[1].strip() for line in (dist_info / "METADATA").read_text().splitlines()
                if line.startswith("Requires-Dist:")]
    assert [r for r in requires if "extra ==" not in r] == _pins(ROOT / "requirements.txt")
    assert [r.split(";")[0].strip() for r in requires if "extra ==" in r] == _pins(ROOT / "requirements-ray.txt")
    assert all(r.endswith('extra == "ray"') for r in requires if "extra ==" in r)
    assert sorted(p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")) == ["bin", "core"]
