"""Specs: defaults, validation, fingerprints, spec files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from derivo import DEFAULT_SPECS, PREVIEW, THUMBNAIL, DerivativeCache, Spec, SpecError, SpecSet
from derivo.specs import fingerprint_of, load_spec_file, parse_inline, resolve_specs
from derivo.tasks import derivative_path


def test_defaults_reproduce_the_original_requirement() -> None:
    assert [(s.name, s.width, s.height, s.quality) for s in DEFAULT_SPECS] == [
        ("thumbnail", 200, 200, 80),
        ("preview", 1200, 1200, 85),
    ]
    assert all(s.fit == "inside" and s.format == "jpeg" and s.progressive for s in DEFAULT_SPECS)


specs = st.builds(
    Spec,
    name=st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    fit=st.sampled_from(["inside", "cover"]),
    format=st.sampled_from(["jpeg", "webp"]),
    quality=st.integers(1, 100),
    progressive=st.booleans(),
)
changes = st.sampled_from(
    [
        ("width", lambda v: v % 5000 + 1),
        ("height", lambda v: v % 5000 + 1),
        ("quality", lambda v: v % 100 + 1),
        ("fit", lambda v: "cover" if v == "inside" else "inside"),
        ("format", lambda v: "webp" if v == "jpeg" else "jpeg"),
        ("progressive", lambda v: not v),
    ]
)


@given(spec=specs, change=changes)
def test_every_output_field_changes_the_fingerprint(spec: Spec, change: tuple) -> None:
    field, alter = change
    other = dataclasses.replace(spec, **{field: alter(getattr(spec, field))})
    assert other.fingerprint != spec.fingerprint


@given(spec=specs, name=st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True))
def test_the_name_does_not_change_the_fingerprint(spec: Spec, name: str) -> None:
    assert dataclasses.replace(spec, name=name).fingerprint == spec.fingerprint
    assert len(spec.fingerprint) == 12


def test_renderer_version_is_part_of_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    before = THUMBNAIL.fingerprint
    monkeypatch.setattr("derivo.specs.RENDERER_VERSION", "next")
    assert THUMBNAIL.fingerprint != before


def test_a_remembered_fingerprint_follows_the_renderer_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = Spec(name="small", width=64, height=64)
    before = fingerprint_of(spec)
    assert before == spec.fingerprint and spec.filename == f"small-{before}.jpg"
    monkeypatch.setattr("derivo.specs.RENDERER_VERSION", "next")
    assert fingerprint_of(spec) == spec.fingerprint != before
    assert derivative_path(tmp_path, "ab" * 32, spec).name == f"small-{spec.fingerprint}.jpg"
    with DerivativeCache(tmp_path / "derivo.db") as cache:
        assert cache._fingerprint(spec) == spec.fingerprint


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Bad Name"}, "spec name 'Bad Name' must be"),
        ({"width": 0}, "width must be 1-16384, got 0"),
        ({"height": "200"}, "height must be 1-16384, got '200'"),
        ({"quality": 101}, "quality must be 1-100, got 101"),
        ({"fit": "stretch"}, "fit must be one of inside, cover, got 'stretch'"),
        ({"format": "bmp"}, "format must be one of jpeg, webp, avif, got 'bmp'"),
        ({"progressive": "yes"}, "progressive must be true or false"),
    ],
)
def test_invalid_specs_are_refused_clearly(fields: dict, message: str) -> None:
    values = {"name": "thumb", "width": 200, "height": 200} | fields
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        Spec(**values)


def test_spec_set_refuses_duplicates_and_emptiness() -> None:
    with pytest.raises(SpecError, match="thumbnail given twice"):
        SpecSet((THUMBNAIL, THUMBNAIL))
    with pytest.raises(SpecError, match="at least one spec"):
        SpecSet(())
    twin = Spec(name="small", width=200, height=200, quality=80)
    with pytest.raises(SpecError, match="specs thumbnail and small have the same settings"):
        SpecSet((THUMBNAIL, twin))


def test_toml_and_json_spec_files(tmp_path: Path) -> None:
    toml = tmp_path / "specs.toml"
    toml.write_text('[square]\nwidth = 256\nheight = 256\nfit = "cover"\nquality = 70\n')
    as_json = tmp_path / "specs.json"
    as_json.write_text(
        json.dumps({"square": {"width": 256, "height": 256, "fit": "cover", "quality": 70}})
    )
    expected = Spec(name="square", width=256, height=256, fit="cover", quality=70)
    assert load_spec_file(toml) == (expected,) == load_spec_file(as_json)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[square]\nwidth = 256\n", "spec square: missing height"),
        ("[square]\nwidth = 256\nheight = 256\nsharpen = 1\n", "unknown setting sharpen"),
        ("[square\n", "is not valid toml"),
        ("", "defines no specs"),
    ],
)
def test_bad_spec_files_are_refused_clearly(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "specs.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec_file(path)


def test_inline_specs() -> None:
    assert parse_inline("preview=1200x1200,quality=85") == PREVIEW
    assert parse_inline("sq=64x64,fit=cover,progressive=no") == Spec(
        name="sq", width=64, height=64, fit="cover", progressive=False
    )
    with pytest.raises(SpecError, match="expected NAME=WIDTHxHEIGHT"):
        parse_inline("preview")
    with pytest.raises(SpecError, match="cannot read spec option 'sharp=1'"):
        parse_inline("p=10x10,sharp=1")


def test_resolve_specs_defaults_when_none_given() -> None:
    assert resolve_specs([]).specs == DEFAULT_SPECS
    assert [s.name for s in resolve_specs(["a=10x10", "b=20x20"])] == ["a", "b"]
