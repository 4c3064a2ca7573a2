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
#: What a person types for settings read by their own parser, not their type.
TYPED = {"max_pixels": "50M"}


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
        first = env.option.replace("/", " / ")  # a flag pair shows as --on / --off
        (line,) = [line for line in lines if line.strip().startswith(first + " ")]
        assert f"[env: {env.name}; default: {env.default_text}]" in line


@pytest.mark.parametrize("env", [e for e in ENVIRONMENT if e.option], ids=lambda e: e.name)
def test_an_option_sets_what_its_variable_sets(
    env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[Settings] = []
    monkeypatch.setattr(server, "serve", started.append)
    if env.type is bool:  # a flag pair: the flag that is not the default
        args, value = [env.option.split("/")[0]], "true"
    else:
        value = TYPED.get(env.setting, SAMPLE[env.type])
        if env.is_file:  # a settings file that sets nothing
            value = str(tmp_path / "derivo.toml")
            Path(value).write_text("")
        args = [env.option, value]
    result = CliRunner().invoke(main, ["serve", *args], env={env.name: None})
    assert result.exit_code == 0, result.output
    assert started == [Settings.from_env({env.name: value})]
    assert started[0] != Settings.from_env({})
