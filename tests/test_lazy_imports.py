"""`import derivo`, `derivo --help` and `derivo status` start neither libvips nor the web stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from derivo import DerivativeCache

HEAVY = ("pyvips", "fastapi", "uvicorn")

PROBE = """
import sys
from click.testing import CliRunner
from derivo.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
assert result.exit_code == 0, result.output
print(" ".join(sorted(m for m in {heavy} if m in sys.modules)))
"""


def loaded_after(*args: str) -> list[str]:
    """Heavy modules loaded in a fresh interpreter after running the CLI with ``args``."""
    code = PROBE.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_import_derivo_loads_no_heavy_module() -> None:
    code = f"import sys, derivo; print(' '.join(m for m in {HEAVY} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


@pytest.mark.parametrize("args", [["--help"], ["process", "--help"], ["serve", "--help"]])
def test_help_loads_no_heavy_module(args: list[str]) -> None:
    assert loaded_after(*args) == []


def test_status_loads_no_heavy_module(tmp_path: Path) -> None:
    with DerivativeCache(tmp_path / "derivo.db"):
        pass
    assert loaded_after("status", "--db", str(tmp_path / "derivo.db")) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: rendering help after importing the renderer shows pyvips."""
    code = "import derivo.render\n" + PROBE.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["pyvips"]
