"""Make `tests.harness.fake_models` importable here and in every process the tests spawn.

Suites under test name it as a plugin; a spawned cell worker inherits this sys.path, and
subprocesses get the repository root through PYTHONPATH (see `subprocess_env`).
"""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

FAKE_PLUGIN = "tests.harness.fake_models"


@pytest.fixture
def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def write_suite(tmp_path):
    """write_suite(text, name="t") -> path of a suite file holding `text`."""
    def write(text: str, name: str = "t") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        return path
    return write
