"""Settings for a run, from one file and the command line: ``derivo.toml``.

Read from ``OUT/derivo.toml`` or the file given with ``--config``; an option on the
command line overrides the file, the file overrides the defaults, and every
effective value remembers where it came from (``derivo config`` prints that)::

    cpu = 0.5              # or workers = 3
    max_pixels = "100M"    # pixels: "100M" / "100MP" megapixels, or a plain count
    max_mb = 200           # largest source file, in MB
    timeout = 120          # seconds one photo may take
    lenient = false        # accept truncated files

    [specs.thumbnail]      # replaces the default specs; same keys as a spec file
    width = 200
    height = 200
    quality = 80
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from derivo.errors import ConfigError, SpecError
from derivo.executors.pool import MAX_TASK_TIMEOUT
from derivo.limits import MB, MP, Limits
from derivo.specs import SpecSet, spec_from_mapping

CONFIG_NAME = "derivo.toml"

#: Tables of settings only one command reads (``derivo serve`` checks its own).
SECTIONS = ("serve",)

#: The help of ``--max-pixels``, the same for ``process``, ``watch`` and ``serve``.
MAX_PIXELS_HELP = (
    "Refuse photos with more pixels than this: 200M (or 200MP) is 200 megapixels, "
    "200000000 the same, as in Limits(max_pixels=...)."
)

#: Every setting with its default; ``specs`` defaults to thumbnail and preview.
DEFAULTS: dict[str, Any] = {
    "workers": None,
    "cpu": None,
    "max_pixels": 200 * MP,
    "max_mb": 200,
    "timeout": 120.0,
    "lenient": False,
    "specs": SpecSet(),
}


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """The effective settings of a run, and the origin of each (``default``, a file, ``--x``)."""

    values: Mapping[str, Any]
    origins: Mapping[str, str]

    @property
    def specs(self) -> SpecSet:
        specs: SpecSet = self.values["specs"]
        return specs

    @property
    def limits(self) -> Limits:
        return Limits(
            max_pixels=self.values["max_pixels"],
            max_bytes=self.values["max_mb"] * MB,
            lenient=self.values["lenient"],
        )

    @property
    def workers(self) -> int | None:
        workers: int | None = self.values["workers"]
        return workers

    @property
    def cpu(self) -> float | None:
        cpu: float | None = self.values["cpu"]
        return cpu

    @property
    def timeout(self) -> float:
        return float(self.values["timeout"])


def parse_pixels(value: str | int) -> int:
    """``"200M"`` or ``"200MP"`` megapixels, or a plain count of pixels (as ``Limits`` counts)."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|mp)?", text, re.IGNORECASE)
    if not m:
        raise ConfigError(f"{value!r} is not a pixel count such as 200M or 200000000")
    if not m[2] and float(m[1]) < 10_000:
        raise ConfigError(f"{value} pixels is smaller than a photo; for megapixels write {value}M")
    count = int(Decimal(m[1]) * (MP if m[2] else 1))  # exact: 4.1M is 4,100,000
    if count < 1:
        raise ConfigError(f"{value!r} is less than one pixel")
    return count


def find_config(out_dir: Path, config: Path | None) -> Path | None:
    """The file to read: ``config`` if given (it must exist), else ``OUT/derivo.toml`` if there."""
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"no config file at {config}")
        return config
    candidate = out_dir / CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_settings(
    out_dir: Path, config: Path | None, given: Mapping[str, tuple[Any, str]]
) -> RunSettings:
    """Defaults, then the config file, then ``given`` (setting -> (value, option name))."""
    values = dict(DEFAULTS)
    origins = dict.fromkeys(DEFAULTS, "default")
    path = find_config(out_dir, config)
    if path is not None:
        for key, value in read_config(path).items():
            if key in DEFAULTS:
                values[key], origins[key] = value, str(path)
    for key, (value, option) in given.items():
        values[key], origins[key] = value, option
        # one way to size the pool: the command line's choice replaces the file's
        other = {"workers": "cpu", "cpu": "workers"}.get(key)
        if other and origins[other] != "default" and other not in given:
            values[other], origins[other] = None, f"default (overridden by {option})"
    if values["workers"] is not None and values["cpu"] is not None:
        raise ConfigError("set either workers or cpu, not both")
    return RunSettings(values=values, origins=origins)


def read_config(path: Path) -> dict[str, Any]:
    """Parse and check a config file; every bad key or value is a one-line ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(DEFAULTS) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting {', '.join(unknown)} (known: "
            f"{', '.join([*sorted(DEFAULTS), *(f'[{name}]' for name in SECTIONS)])})"
        )
    for name in SECTIONS:
        if not isinstance(data.get(name, {}), dict):
            raise ConfigError(f"{path}: {name} must be a table, [{name}]")
    try:
        return {
            key: value if key in SECTIONS else _check(key, value) for key, value in data.items()
        }
    except (ConfigError, SpecError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _check(key: str, value: Any) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "workers" and not (isinstance(value, int) and number and value >= 1):
        raise ConfigError(f"workers must be a whole number of at least 1, got {value!r}")
    if key == "cpu" and not (number and 0 < value <= 1):
        raise ConfigError(f"cpu must be a fraction in (0, 1], got {value!r}")
    if key == "max_pixels":
        return parse_pixels(value)
    if key == "max_mb" and not (isinstance(value, int) and number and value >= 1):
        raise ConfigError(f"max_mb must be a whole number of at least 1, got {value!r}")
    if key == "timeout" and not (number and 0 < value <= MAX_TASK_TIMEOUT):
        raise ConfigError(f"timeout must be seconds in (0, {MAX_TASK_TIMEOUT:g}], got {value!r}")
    if key == "lenient" and not isinstance(value, bool):
        raise ConfigError(f"lenient must be true or false, got {value!r}")
    if key == "specs":
        if not isinstance(value, dict) or not value:
            raise ConfigError("specs must be tables such as [specs.thumbnail]")
        return SpecSet(tuple(spec_from_mapping(name, v) for name, v in value.items()))
    return value


def settings_lines(settings: RunSettings) -> list[str]:
    """What ``derivo config`` prints: each setting, its value, and where it came from."""
    rows = [(key, shown_value(key, settings.values[key])) for key in DEFAULTS if key != "specs"]
    width = max(len(key) for key in DEFAULTS)
    lines = [f"{key:<{width}}  {value:<12}  {settings.origins[key]}" for key, value in rows]
    lines.append(f"{'specs':<{width}}  {'':<12}  {settings.origins['specs']}")
    return [*lines, *spec_lines(settings.specs)]


def spec_lines(specs: SpecSet) -> list[str]:
    """One indented line per spec, as ``derivo config`` shows them."""
    lines = []
    for spec in specs:
        extra = "" if spec.format != "jpeg" or not spec.progressive else ", progressive"
        lines.append(
            f"  {spec.name}: {spec.width}x{spec.height} {spec.fit}, {spec.format} "
            f"quality {spec.quality}{extra}"
        )
    return lines


def shown_value(key: str, value: Any) -> str:
    """A value as it would be written in the file."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "max_pixels":
        if value % 1000:
            return str(value)
        return f"{Decimal(value).scaleb(-6).normalize():f}M"  # what parse_pixels reads back
    return f"{value:g}" if isinstance(value, float) else str(value)
