"""Where ``derivo serve``'s settings come from: options, ``DERIVO_*`` variables, the
settings file, defaults, in that order; and the origin of each, for ``derivo config --serve``.

The file is ``DATA_DIR/derivo.toml`` (or ``--config``), the format ``process``
reads: its top-level specs, limits and ``workers``/``cpu`` apply to the service
too, and a ``[serve]`` table holds what only the service has (``port``, ...)::

    loaded = resolve_settings(os.environ, {"port": (0, "--port")})
    loaded.settings.port, loaded.origins["port"]   # 0, "--port"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from derivo.config import find_config, read_config, shown_value, spec_lines
from derivo.errors import ConfigError, DerivoError
from derivo.executors import workers_for
from derivo.service.settings import ENVIRONMENT, Settings, env_values


@dataclass(frozen=True)
class Resolved:
    """Effective settings and where each came from: ``default``, a variable, a file, ``--x``."""

    settings: Settings
    origins: Mapping[str, str]


def resolve_settings(environ: Mapping[str, str], given: Mapping[str, tuple[Any, str]]) -> Resolved:
    """Defaults, then the settings file, then ``DERIVO_*`` variables, then ``given``
    (setting -> (value, option name)); a bad value anywhere is a ValueError naming it."""
    values: dict[str, Any] = {}
    origins = {f.name: "default" for f in fields(Settings) if f.name != "retry_after"}
    for key, (value, origin) in [*env_values(environ).items(), *given.items()]:
        values[key], origins[key] = value, origin
    data_dir = values.get("data_dir", Settings.data_dir)
    try:
        path = find_config(data_dir, values.get("config"))
        from_file = {} if path is None else _file_values(path)
    except DerivoError as exc:
        raise ValueError(str(exc)) from None
    for key, value in from_file.items():
        if key not in values:
            values[key], origins[key] = value, str(path)
    if path is not None and "config" not in values:
        values["config"], origins["config"] = path, "found in the data directory"
    return Resolved(settings=Settings(**values), origins=origins)


def _file_values(path: Path) -> dict[str, Any]:
    """The settings a file gives the service, checked; errors name the file."""
    data = read_config(path)
    table = data.pop("serve", {})
    values: dict[str, Any] = {}
    by_key = {env.file_key: env for env in ENVIRONMENT if env.file_key}
    for key, value in data.items():  # checked by read_config, in the file's units
        if key == "specs":
            values["specs"] = value
        elif key == "cpu":
            values.setdefault("workers", workers_for(cpu=value))
        else:
            env = by_key[key]
            values[env.setting] = value * env.unit
    for key, value in table.items():
        own = by_key.get(key)
        if own is None or own.shared:
            known = sorted(k for k, e in by_key.items() if not e.shared)
            where = "goes at the top of the file" if own else f"is unknown ({', '.join(known)})"
            raise ConfigError(f"{path}: [serve] {key} {where}")
        if isinstance(value, dict | list) or (isinstance(value, bool) != (own.type is bool)):
            raise ConfigError(f"{path}: [serve] {key} must be {own.expects}, got {value!r}")
        try:
            parsed = own.parse(str(value))
            own.check(parsed)
        except ValueError as exc:
            raise ConfigError(f"{path}: [serve] {key}: {exc}") from None
        values[own.setting] = parsed
    if "cpu" in data and "workers" in data:  # read_config refuses both; kept explicit
        raise ConfigError(f"{path}: set either workers or cpu, not both")
    return values


def settings_lines(resolved: Resolved) -> list[str]:
    """What ``derivo config --serve`` prints: each setting, its value and its origin."""
    rows = []
    for env in ENVIRONMENT:
        value = getattr(resolved.settings, env.setting)
        if env.setting == "token":
            shown = "generated" if value is None else "(set)"
        elif env.parser is not None:
            shown = shown_value(env.file_key or env.setting, value)
        elif value is not None and env.unit != 1:
            shown = shown_value(env.setting, value / env.unit)
        else:
            shown = shown_value(env.setting, value)
        rows.append((env.file_key or env.setting, shown, resolved.origins[env.setting]))
    rows.append(("specs", "", resolved.origins["specs"]))
    width = max(len(key) for key, _, _ in rows)
    value_width = max(12, *(len(value) for _, value, _ in rows))
    lines = [f"{key:<{width}}  {value:<{value_width}}  {origin}" for key, value, origin in rows]
    return [*lines, *spec_lines(resolved.settings.specs)]
