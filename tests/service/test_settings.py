"""Settings: defaults, environment, overrides, validation; and the ``serve`` command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.executors import available_cores
from derivo.service.settings import ENVIRONMENT, Settings
from derivo.tasks import MB


def test_defaults_leave_a_core_for_the_server() -> None:
    settings = Settings()
    assert settings.workers == max(1, available_cores() - 1)
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.data_dir == Path("derivo-data")
    assert settings.max_upload_bytes == 200 * MB
    assert settings.limits.max_bytes == 200 * MB
    assert settings.db_path == Path("derivo-data/derivo.db")
    assert settings.token is None


def test_environment_then_overrides() -> None:
    environ = {
        "DERIVO_DATA_DIR": "/srv/photos",
        "DERIVO_HOST": "0.0.0.0",
        "DERIVO_PORT": "9000",
        "DERIVO_TOKEN": "a-long-enough-token",
        "DERIVO_WORKERS": "3",
        "DERIVO_QUEUE_SIZE": "10",
        "DERIVO_MAX_UPLOAD_MB": "5",
        "DERIVO_MAX_PIXELS": "50M",
        "DERIVO_TASK_TIMEOUT": "7.5",
        "UNRELATED": "ignored",
    }
    settings = Settings.from_env(environ, port=0, workers=1)
    assert settings == Settings(
        data_dir=Path("/srv/photos"),
        host="0.0.0.0",
        port=0,
        token="a-long-enough-token",
        workers=1,
        queue_size=10,
        max_upload_bytes=5 * MB,
        max_pixels=50_000_000,
        task_timeout=7.5,
    )
    assert Settings.from_env({"DERIVO_PORT": ""}).port == 8000


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DERIVO_PORT": "eighty"}, "DERIVO_PORT='eighty': expected an integer"),
        ({"DERIVO_PORT": "70000"}, "port must be 0-65535, got 70000"),
        ({"DERIVO_WORKERS": "0"}, "workers must be at least 1, got 0"),
        ({"DERIVO_TASK_TIMEOUT": "soon"}, "DERIVO_TASK_TIMEOUT='soon': expected a number"),
        ({"DERIVO_TOKEN": "short"}, "the token must be at least 16 characters long"),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Settings.from_env(environ)
    assert str(excinfo.value) == message


def test_serve_help_documents_every_environment_variable() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for env in ENVIRONMENT:
        assert env.name in result.output, env.name
    for option in ("--data-dir", "--host", "--port", "--workers", "--queue-size"):
        assert option in result.output


def test_serve_reports_a_bad_environment_as_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["serve"], env={"DERIVO_QUEUE_SIZE": "lots"})
    assert result.exit_code == 2
    assert "Error: DERIVO_QUEUE_SIZE='lots': expected an integer" in result.output
