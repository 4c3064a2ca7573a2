"""``derivo.toml``: one file for specs, limits and the CPU budget; the command line wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from tests.conftest import ORIENTATION

pytestmark = pytest.mark.usefixtures("cli_renders_inline")

CONFIG = """\
cpu = 0.5
max_pixels = "100M"
lenient = true

[specs.small]
width = 300
height = 300
quality = 70
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Path("out").mkdir()
    Path("out/derivo.toml").write_text(CONFIG)
    return Path("out")


def test_config_prints_each_setting_and_its_origin(out: Path) -> None:
    assert run("config", "--out", "out") == (
        0,
        "workers     -             default\n"
        "cpu         0.5           out/derivo.toml\n"
        "max_pixels  100M          out/derivo.toml\n"
        "max_mb      200           default\n"
        "timeout     120           default\n"
        "lenient     true          out/derivo.toml\n"
        "specs                     out/derivo.toml\n"
        "  small: 300x300 inside, jpeg quality 70, progressive\n",
    )
    code, output = run(
        "config", "--out", "out", "--workers", "1", "--strict", "--spec", "tiny=x64,fit=inside"
    )
    assert code == 0
    assert output.splitlines()[:2] == [
        "workers     1             --workers",
        "cpu         -             default (overridden by --workers)",
    ]
    assert output.splitlines()[5:] == [
        "lenient     false         --lenient/--strict",
        "specs                     --spec",
        "  tiny: 16384x64 inside, jpeg quality 85, progressive",
    ]


def test_process_and_clean_follow_the_file_and_the_command_line_wins(out: Path) -> None:
    photo = str(ORIENTATION / "landscape_1.jpg")
    code, stdout = run("process", photo, "--out", "out", "--json")
    assert code == 0
    [result] = json.loads(stdout)["results"]
    assert [(d["spec"], d["width"]) for d in result["derivatives"]] == [("small", 300)]
    code, stdout = run("process", photo, "--out", "out", "--json", "--spec", "big=500x500")
    [result] = json.loads(stdout)["results"]
    assert [(d["spec"], d["width"]) for d in result["derivatives"]] == [("big", 500)]
    # clean keeps what the file configures, and removes what only --spec made
    code, output = run("clean", "--out", "out", "--dry-run")
    assert output.splitlines()[-1].startswith("Dry run: would forget 0 photos, remove 1 file")
    assert "(spec big is no longer configured)" in output


def test_an_explicit_config_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "settings.toml"
    good.write_text("workers = 3\n")
    code, output = run("config", "--out", str(tmp_path / "out"), "--config", str(good))
    assert code == 0 and output.splitlines()[0] == f"workers     3             {good}"
    missing = run("config", "--config", str(tmp_path / "nope.toml"))
    assert missing == (2, f"Error: no config file at {tmp_path / 'nope.toml'}\n")
    bad = tmp_path / "bad.toml"
    for text, reason in [
        (
            "cpus = 1\n",
            "unknown setting cpus (known: cpu, lenient, max_mb, max_pixels, "
            "specs, timeout, workers, [serve])",
        ),
        ("cpu = 2\n", "cpu must be a fraction in (0, 1], got 2"),
        ("max_pixels = 50\n", "50 pixels is smaller than a photo; for megapixels write 50M"),
        ("workers = 2\ncpu = 0.5\n", None),
        ("[specs.small]\nwidth = 10\n", "spec small: missing height"),
        ("cpu = \n", None),
    ]:
        bad.write_text(text)
        code, output = run(
            "process", str(ORIENTATION), "--out", str(tmp_path / "o"), "--config", str(bad)
        )
        assert code == 2, output
        if reason:
            assert output == f"Error: {bad}: {reason}\n"
    bad.write_text("workers = 2\ncpu = 0.5\n")
    assert run("config", "--config", str(bad)) == (
        2,
        "Error: set either workers or cpu, not both\n",
    )
