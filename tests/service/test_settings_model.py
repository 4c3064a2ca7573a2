"""The settings model is the one source: serve options, environment help and docs agree with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.service import server
from derivo.service.settings import ENVIRONMENT, Settings, markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "service.md"
SAMPLE = {int: "5", float: "7.5", str: "a-long-enough-token", Path: "/srv/photos"}


def test_the_docs_table_is_the_one_the_model_gives() -> None:
    assert markdown_table() in DOCS.read_text(encoding="utf-8")


def test_serve_help_shows_each_option_with_its_variable_and_default() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=1000)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for env in ENVIRONMENT:
        if env.option is None:
            assert not any(line.strip().startswith(f"--{env.setting}") for line in lines)
            continue
        (line,) = [line for line in lines if line.strip().startswith(env.option + " ")]
        assert f"[env: {env.name}; default: {env.default_text}]" in line


@pytest.mark.parametrize("env", [e for e in ENVIRONMENT if e.option], ids=lambda e: e.name)
def test_an_option_sets_what_its_variable_sets(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Settings] = []
    monkeypatch.setattr(server, "serve", started.append)
    value = SAMPLE[env.type]
    result = CliRunner().invoke(main, ["serve", env.option, value], env={env.name: None})
    assert result.exit_code == 0, result.output
    assert started == [Settings.from_env({env.name: value})]
    assert started[0] != Settings.from_env({})
