"""The code passes the lint rules of pyproject.toml (pyflakes, pycodestyle, import order, bugbear, pyupgrade)."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (it is in the test extras)")
def test_ruff_finds_nothing():
    result = subprocess.run(["ruff", "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
