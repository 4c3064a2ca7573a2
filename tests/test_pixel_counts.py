"""A pixel count printed by ``derivo config`` reads back as the same count."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from derivo.cli import main
from derivo.config import parse_pixels, shown_value

from .test_cli_serve_settings import CLEAN


@given(st.integers(min_value=10_000, max_value=10**12))
def test_a_shown_pixel_count_parses_back_exactly(count: int) -> None:
    assert parse_pixels(shown_value("max_pixels", count)) == count


@pytest.mark.parametrize(
    ("written", "pixels"),
    [("4.1M", 4_100_000), ("1234.567M", 1_234_567_000), ("0.3MP", 300_000), ("12345", 12_345)],
)
def test_megapixels_with_decimals_are_exact(written: str, pixels: int) -> None:
    assert parse_pixels(written) == pixels


def test_config_serve_prints_max_pixels_as_it_reads_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**CLEAN, "DERIVO_MAX_PIXELS": "1234567000"}
    result = CliRunner().invoke(main, ["config", "--serve", "--data-dir", "data"], env=env)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("max_pixels"))
    assert row.split()[1:] == ["1234.567M", "DERIVO_MAX_PIXELS"]
    assert parse_pixels(row.split()[1]) == 1_234_567_000
