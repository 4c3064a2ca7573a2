"""``DERIVO_*`` variables are read in one place: the library and ``derivo serve`` agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from derivo.service.config import resolve_settings
from derivo.service.settings import Settings, env_values


def test_from_env_and_serve_read_variables_alike(tmp_path: Path) -> None:
    environ = {
        "DERIVO_DATA_DIR": str(tmp_path),
        "DERIVO_PORT": "8123",
        "DERIVO_MAX_PIXELS": "4.1M",
        "DERIVO_WORKERS": "",  # empty is unset
    }
    resolved = resolve_settings(environ, {})
    assert resolved.settings == Settings.from_env(environ)
    assert resolved.settings.max_pixels == 4_100_000
    assert resolved.origins["port"] == "DERIVO_PORT"
    assert resolved.origins["workers"] == "default"
    assert env_values(environ)["port"] == (8123, "DERIVO_PORT")


def test_a_bad_variable_is_named_the_same_way_on_both_paths(tmp_path: Path) -> None:
    environ = {"DERIVO_DATA_DIR": str(tmp_path), "DERIVO_PORT": "eighty"}
    with pytest.raises(ValueError) as from_env:
        Settings.from_env(environ)
    with pytest.raises(ValueError) as served:
        resolve_settings(environ, {})
    assert str(from_env.value) == str(served.value)
    assert str(served.value).startswith("DERIVO_PORT='eighty': ")
