"""Variants render outside the pipeline's flights, so the leftover sweep of a retried
render of the same bytes can meet a variant's temp file. Harmless: shown here at the
worst moment, between the temp file's creation and its rename."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from derivo import DerivativeCache, InlineExecutor, Pipeline, atomic
from derivo.atomic import remove_leftovers
from derivo.service.variants import Variants, variant_spec
from derivo.tasks import Limits

from .support import SAMPLES


def test_a_variant_swept_mid_write_is_not_recorded_and_is_made_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    with DerivativeCache(out / "derivo.db") as cache:
        with InlineExecutor() as executor:
            pipeline = Pipeline(cache=cache, executor=executor, out_dir=out)
            assert pipeline.submit("p", SAMPLES / "jolla.jpg").result().outcome == "rendered"
            pipeline.close()
        record = cache.photo("p")
        assert record is not None and record.hash is not None
        thumbnail = pipeline.specs.by_name("thumbnail")
        assert thumbnail is not None
        webp = variant_spec(thumbnail, "webp")
        jpegs = cache.derivatives(record.hash, pipeline.specs)
        variants = Variants(cache=cache, executor=InlineExecutor(), out_dir=out, limits=Limits())
        open_temp = atomic.open_temp

        def swept_after_creation(folder: str, name: str, mode: int) -> tuple[int, str]:
            made = open_temp(folder, name, mode)
            remove_leftovers(Path(folder))  # what the recorder does after a retried render
            return made

        monkeypatch.setattr(atomic, "open_temp", swept_after_creation)
        assert asyncio.run(variants.find_or_make(record, thumbnail, "webp")) is None  # JPEG served
        folder = Path(jpegs["thumbnail"].path).parent
        assert cache.derivatives(record.hash, [webp]) == {}, "nothing recorded"
        assert sorted(p.suffix for p in folder.iterdir()) == [".jpg", ".jpg"], "nothing left"
        for jpeg in jpegs.values():
            assert Path(jpeg.path).stat().st_size == jpeg.bytes  # the JPEGs untouched

        monkeypatch.undo()
        made = asyncio.run(variants.find_or_make(record, thumbnail, "webp"))
        assert made is not None
        derivative, stat, spec = made
        assert (derivative.format, spec) == ("webp", webp)
        assert stat.st_size == derivative.bytes == Path(derivative.path).stat().st_size
