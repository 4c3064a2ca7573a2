"""``derivo serve`` settings: --spec, DATA_DIR/derivo.toml, CLI > env > file > default;
``derivo config --serve``; one unit for --max-pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.config import MAX_PIXELS_HELP
from derivo.executors import workers_for
from derivo.service import server
from derivo.service.settings import Settings
from derivo.specs import SpecSet, parse_inline

FILE = """\
cpu = 0.5
max_pixels = "100M"
timeout = 60

[specs.small]
width = 300
height = 300

[serve]
port = 9000
queue_size = 8
formats = "none"
"""

#: No DERIVO_* variable of the machine running the tests leaks in.
CLEAN = {
    name: None
    for name in (
        "DERIVO_DATA_DIR DERIVO_CONFIG DERIVO_HOST DERIVO_PORT DERIVO_TOKEN DERIVO_WORKERS "
        "DERIVO_QUEUE_SIZE DERIVO_MAX_UPLOAD_MB DERIVO_MAX_PIXELS DERIVO_LENIENT "
        "DERIVO_TASK_TIMEOUT DERIVO_SCHEDULER DERIVO_IDLE_TIMEOUT DERIVO_MAX_CONNECTIONS "
        "DERIVO_FORMATS"
    ).split()
}


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    """The settings ``derivo serve`` would start a server with (nothing is started)."""
    monkeypatch.chdir(tmp_path)
    found: list[Settings] = []
    monkeypatch.setattr(server, "serve", found.append)
    return found


def run(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={**CLEAN, **env})
    return result.exit_code, result.output


def test_serve_reads_the_data_directorys_file_under_env_and_options(
    started: list[Settings],
) -> None:
    Path("data").mkdir()
    Path("data/derivo.toml").write_text(FILE)
    code, output = run("serve", "--data-dir", "data", "--timeout", "30", DERIVO_PORT="8100")
    assert code == 0, output
    [settings] = started
    assert settings.specs == SpecSet((parse_inline("small=300x300,quality=85"),))
    assert settings.port == 8100  # the environment over the file
    assert settings.task_timeout == 30  # the option over the file
    assert settings.queue_size == 8 and settings.offered == ()
    assert settings.max_pixels == 100_000_000
    assert settings.workers == workers_for(cpu=0.5)
    assert settings.host == "127.0.0.1"  # the default, as nothing sets it


def test_serve_takes_specs_as_process_does(started: list[Settings]) -> None:
    code, output = run("serve", "--spec", "small=x100", "--spec", "big=1600x,quality=70")
    assert code == 0, output
    assert started[0].specs == SpecSet(
        (parse_inline("small=x100"), parse_inline("big=1600x,quality=70"))
    )
    code, output = run("serve", "--spec", "small=100y100")
    assert code == 2
    assert "Invalid value for --spec:" in output


def test_a_config_file_given_by_option_or_variable(started: list[Settings]) -> None:
    Path("serve.toml").write_text("[specs.tiny]\nwidth = 64\nheight = 64\n")
    assert run("serve", "--config", "serve.toml")[0] == 0
    assert run("serve", DERIVO_CONFIG="serve.toml")[0] == 0
    assert [s.specs.by_name("tiny") is not None for s in started] == [True, True]
    code, output = run("serve", "--config", "missing.toml")
    assert (code, output) == (2, "Error: no config file at missing.toml\n")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "[serve]\nportt = 1\n",
            "[serve] portt is unknown (connections, formats, "
            "host, idle_timeout, port, queue_size, scheduler)",
        ),
        ("[serve]\ntimeout = 1\n", "[serve] timeout goes at the top of the file"),
        ('[serve]\nport = "x"\n', "[serve] port: expected an integer"),
        ("[serve]\nport = 70000\n", "[serve] port: port must be 0-65535, got 70000"),
        ("serve = 1\n", "serve must be a table, [serve]"),
        ("max_pixels = 50\n", "50 pixels is smaller than a photo; for megapixels write 50M"),
    ],
)
def test_a_bad_file_is_one_line_naming_it(started: list[Settings], text: str, reason: str) -> None:
    Path("data").mkdir()
    Path("data/derivo.toml").write_text(text)
    code, output = run("serve", "--data-dir", "data")
    assert (code, output) == (2, f"Error: data/derivo.toml: {reason}\n")
    assert started == []


def test_config_serve_prints_each_setting_and_its_origin(started: list[Settings]) -> None:
    Path("data").mkdir()
    Path("data/derivo.toml").write_text(FILE)
    code, output = run(
        "config", "--serve", "--data-dir", "data", "--max-pixels", "50M", DERIVO_PORT="8100"
    )
    assert code == 0, output
    rows = [
        ("data_dir", "data", "--data-dir"),
        ("config", "data/derivo.toml", "found in the data directory"),
        ("host", "127.0.0.1", "default"),
        ("port", "8100", "DERIVO_PORT"),
        ("token", "generated", "default"),
        ("workers", str(workers_for(cpu=0.5)), "data/derivo.toml"),
        ("queue_size", "8", "data/derivo.toml"),
        ("max_mb", "200", "default"),
        ("max_pixels", "50M", "--max-pixels"),
        ("lenient", "false", "default"),
        ("timeout", "60", "data/derivo.toml"),
        ("scheduler", "-", "default"),
        ("idle_timeout", "30", "default"),
        ("connections", "256", "default"),
        ("formats", "none", "data/derivo.toml"),
        ("specs", "", "data/derivo.toml"),
    ]
    assert output.splitlines() == [
        *(f"{key:<12}  {value:<16}  {origin}" for key, value, origin in rows),
        "  small: 300x300 inside, jpeg quality 85, progressive",
    ]
    assert started == []  # config starts nothing
    code, output = run("config", "--data-dir", "data")
    assert (code, output.splitlines()[-1]) == (
        2,
        "Error: --data-dir is the server's: use it with --serve",
    )


def test_max_pixels_is_counted_in_pixels_by_every_command(started: list[Settings]) -> None:
    for command in ("process", "watch", "serve", "config"):
        help_text = CliRunner().invoke(main, [command, "--help"], terminal_width=1000).output
        [line] = [x for x in help_text.splitlines() if x.strip().startswith("--max-pixels")]
        assert MAX_PIXELS_HELP in line, command
    assert run("serve", "--max-pixels", "50M")[0] == 0
    assert run("serve", "--max-pixels", "50000000")[0] == 0
    assert run("serve", DERIVO_MAX_PIXELS="50MP")[0] == 0
    assert [s.max_pixels for s in started] == [50_000_000] * 3
    assert [s.limits.max_pixels for s in started] == [50_000_000] * 3
    code, output = run("serve", "--max-pixels", "50")
    assert code == 2
    assert output.splitlines()[-1] == (
        "Error: Invalid value for '--max-pixels': "
        "50 pixels is smaller than a photo; for megapixels write 50M"
    )
    code, output = run("serve", DERIVO_MAX_PIXELS="50")
    assert (code, output) == (
        2,
        "Error: DERIVO_MAX_PIXELS='50': 50 pixels is smaller than a photo; "
        "for megapixels write 50M\n",
    )


def test_lenient_from_the_file_the_environment_or_the_option(started: list[Settings]) -> None:
    Path("data").mkdir()
    Path("data/derivo.toml").write_text("lenient = true\n")
    assert run("serve", "--data-dir", "data")[0] == 0
    assert run("serve", "--data-dir", "data", DERIVO_LENIENT="false")[0] == 0
    assert run("serve", "--data-dir", "data", "--strict", DERIVO_LENIENT="true")[0] == 0
    assert run("serve", "--lenient")[0] == 0
    assert [s.limits.lenient for s in started] == [True, False, False, True]
    code, output = run("serve", DERIVO_LENIENT="maybe")
    assert (code, output) == (2, "Error: DERIVO_LENIENT='maybe': expected true or false\n")
