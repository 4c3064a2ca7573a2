"""Derivative specs: what to make from each photo, and the fingerprint that keys the cache.

A spec's fingerprint hashes every field that changes the output bytes plus
:data:`RENDERER_VERSION`, so a changed setting re-renders exactly the derivatives it
touches and nothing else. The name is not part of it: it only names the file.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import blake3

from derivo.errors import SpecError
from derivo.formats import FORMATS, OUTPUTS

#: Part of every fingerprint: bump it when the derivatives of an unchanged spec change in
#: size or in visible pixels, and every cache re-renders each photo once. Changed bytes that
#: keep sizes and looks (a file header, pixels about 45 dB PSNR or closer) keep the version
#: and the derivatives already made.
RENDERER_VERSION = "2"

Fit = Literal["inside", "cover"]

FITS: tuple[str, ...] = ("inside", "cover")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_MAX_SIDE = 16384


@dataclass(frozen=True, kw_only=True)
class Spec:
    """One derivative: fit the photo into ``width`` x ``height``, never upscaled.

    ``format`` is the name of an output format of :data:`derivo.formats.FORMATS`.

    >>> Spec(name="square", width=256, height=256, fit="cover").extension
    'jpg'
    """

    name: str
    width: int
    height: int
    fit: Fit = "inside"
    format: str = "jpeg"
    quality: int = 85
    progressive: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise SpecError(
                f"spec name {self.name!r} must be 1-32 of a-z, 0-9, '_' or '-', "
                "starting with a letter or digit"
            )
        for side in ("width", "height"):
            value = getattr(self, side)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not (1 <= value <= _MAX_SIDE)
            ):
                raise SpecError(f"spec {self.name}: {side} must be 1-{_MAX_SIDE}, got {value!r}")
        if self.fit not in FITS:
            raise SpecError(
                f"spec {self.name}: fit must be one of {', '.join(FITS)}, got {self.fit!r}"
            )
        if self.format not in (f.name for f in OUTPUTS):
            names = ", ".join(f.name for f in OUTPUTS)
            raise SpecError(f"spec {self.name}: format must be one of {names}, got {self.format!r}")
        q = self.quality
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100:
            raise SpecError(f"spec {self.name}: quality must be 1-100, got {q!r}")
        if not isinstance(self.progressive, bool):
            raise SpecError(f"spec {self.name}: progressive must be true or false")

    @property
    def fingerprint(self) -> str:
        """12 hex digits of BLAKE3 over the output-affecting fields and renderer version."""
        fields = asdict(self)
        del fields["name"]
        fields["renderer"] = RENDERER_VERSION
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return blake3.blake3(canonical.encode()).hexdigest()[:12]

    @property
    def extension(self) -> str:
        return FORMATS[self.format].extension

    @property
    def filename(self) -> str:
        """File name of this derivative inside a source's content-addressed folder."""
        return f"{self.name}-{fingerprint_of(self)}.{self.extension}"


def fingerprint_of(spec: Spec) -> str:
    """``spec.fingerprint``, worked out once per spec and renderer version: it hashes the
    spec, and is asked for with every derivative read, written or named."""
    return _fingerprint(spec, RENDERER_VERSION)


@functools.lru_cache(maxsize=1024)  # specs are few; a long-lived service may see many
def _fingerprint(spec: Spec, version: str) -> str:  # the version keys the memo only
    return spec.fingerprint


THUMBNAIL = Spec(name="thumbnail", width=200, height=200, quality=80)
PREVIEW = Spec(name="preview", width=1200, height=1200, quality=85)
DEFAULT_SPECS: tuple[Spec, ...] = (THUMBNAIL, PREVIEW)


@dataclass(frozen=True)
class SpecSet:
    """An ordered, validated collection of specs with unique names."""

    specs: tuple[Spec, ...] = field(default=DEFAULT_SPECS)

    def __post_init__(self) -> None:
        if not self.specs:
            raise SpecError("at least one spec is needed")
        names = [s.name for s in self.specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"spec names must be unique: {', '.join(dupes)} given twice")
        by_fingerprint: dict[str, str] = {}
        for spec in self.specs:
            twin = by_fingerprint.setdefault(spec.fingerprint, spec.name)
            if twin != spec.name:
                raise SpecError(f"specs {twin} and {spec.name} have the same settings: keep one")

    def __iter__(self) -> Iterator[Spec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def by_name(self, name: str) -> Spec | None:
        return next((s for s in self.specs if s.name == name), None)


def spec_from_mapping(name: str, values: Mapping[str, Any]) -> Spec:
    """Build a spec from a parsed TOML/JSON table, refusing unknown keys by name."""
    if not isinstance(values, Mapping):
        raise SpecError(f"spec {name}: expected a table of settings, got {type(values).__name__}")
    known = {"width", "height", "fit", "format", "quality", "progressive"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SpecError(f"spec {name}: unknown setting {', '.join(unknown)}")
    missing = sorted({"width", "height"} - set(values))
    if missing:
        raise SpecError(f"spec {name}: missing {', '.join(missing)}")
    return Spec(name=name, **values)


def parse_inline(text: str) -> Spec:
    """Parse ``name=WIDTHxHEIGHT[,quality=Q][,fit=cover][,format=webp][,progressive=no]``.

    ``name=200x`` and ``name=x200`` bound one side only.
    """
    name, sep, rest = text.partition("=")
    box, *options = rest.split(",")
    size = parse_box(box) if sep else None
    if size is None:
        raise SpecError(
            f"cannot read spec {text!r}: expected NAME=WIDTHxHEIGHT[,quality=Q][,fit=cover]"
        )
    values: dict[str, Any] = {"width": size[0], "height": size[1]}
    for option in options:
        key, _, value = option.partition("=")
        key, value = key.strip(), value.strip()
        if key == "quality" and value.isdigit():
            values[key] = int(value)
        elif key == "progressive" and value.lower() in ("yes", "no", "true", "false"):
            values[key] = value.lower() in ("yes", "true")
        elif key in ("fit", "format"):
            values[key] = value
        else:
            raise SpecError(f"cannot read spec option {option!r} in {text!r}")
    return spec_from_mapping(name.strip(), values)


def parse_box(text: str) -> tuple[int, int] | None:
    """``WxH``, or ``Wx`` / ``xH`` with the other side unbounded (as vipsthumbnail reads them)."""
    m = re.fullmatch(r"(\d*)x(\d*)", text.strip())
    if not m or not (m[1] or m[2]):
        return None
    return int(m[1] or _MAX_SIDE), int(m[2] or _MAX_SIDE)


def load_spec_file(path: Path) -> tuple[Spec, ...]:
    """Read specs from a TOML or JSON file: one table per spec, keyed by its name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(
            f"spec file {path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}"
        ) from None
    if not isinstance(data, dict) or not data:
        raise SpecError(f"spec file {path} defines no specs")
    return tuple(spec_from_mapping(name, values) for name, values in data.items())


def resolve_specs(arguments: Iterable[str]) -> SpecSet:
    """Turn CLI ``--spec`` values (files or inline specs) into a spec set; none → defaults."""
    specs: list[Spec] = []
    for argument in arguments:
        path = Path(argument)
        if path.suffix.lower() in (".toml", ".json") or path.exists():
            specs.extend(load_spec_file(path))
        else:
            specs.append(parse_inline(argument))
    return SpecSet(tuple(specs)) if specs else SpecSet()
