"""The format table is the one list of formats: specs, renderer, CLI help and sniffing agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo import Spec, SpecError, render
from derivo.cli import main
from derivo.formats import FORMATS, INPUTS, OUTPUTS, sniff, sniff_file
from derivo.tasks import RenderTask
from tests.conftest import SAMPLES

MAGIC = {
    "jpeg": b"\xff\xd8\xff\xe0",
    "png": b"\x89PNG\r\n\x1a\n",
    "gif": b"GIF89a",
    "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "tiff": b"II*\x00",
    "heif": b"\x00\x00\x00\x18ftypheic",
    "avif": b"\x00\x00\x00\x1cftypavif",
}


def test_every_input_format_is_sniffed_under_its_table_name() -> None:
    assert {f.name for f in INPUTS} == set(MAGIC)
    for name, head in MAGIC.items():
        assert sniff(head.ljust(32, b"\x00")) == name


@pytest.mark.parametrize("fmt", [f.name for f in OUTPUTS])
def test_every_output_format_renders_and_reads_back_as_itself(fmt: str, tmp_path: Path) -> None:
    spec = Spec(name="small", width=64, height=64, format=fmt, quality=70)
    task = RenderTask(
        source=str(SAMPLES / "jolla.jpg"),
        source_hash="ab" * 32,
        specs=(spec,),
        out_dir=str(tmp_path),
    )
    (made,) = render(task).derivatives
    assert made.format == fmt
    assert made.path.endswith("." + FORMATS[fmt].extension)
    assert sniff_file(Path(made.path)) == fmt
    assert max(made.width, made.height) == 64


def test_a_spec_accepts_exactly_the_output_formats() -> None:
    for fmt in FORMATS.values():
        if fmt.output:
            assert Spec(name="s", width=10, height=10, format=fmt.name).extension == fmt.extension
        else:
            with pytest.raises(SpecError, match="format must be one of"):
                Spec(name="s", width=10, height=10, format=fmt.name)


def test_process_help_names_every_input_format() -> None:
    result = CliRunner().invoke(main, ["process", "--help"], terminal_width=300)
    assert result.exit_code == 0
    for fmt in INPUTS:
        assert fmt.label in result.output
