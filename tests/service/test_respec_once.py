"""The library is read for photos a spec or limit change concerns only when the specs
or limits changed since the last start: a large library is not read at every start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from derivo.cache import DerivativeCache
from derivo.service import resources
from derivo.specs import PREVIEW, THUMBNAIL, SpecSet

from .test_serve_specs import SMALL, started


def test_a_start_reads_the_library_only_when_specs_or_limits_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[str, ...]] = []
    real = resources.queue_stale

    def counting(
        cache: DerivativeCache, specs: SpecSet, failure_key: Callable[[str], str]
    ) -> int:
        reads.append(tuple(spec.name for spec in specs))
        return real(cache, specs, failure_key)

    monkeypatch.setattr(resources, "queue_stale", counting)
    data = tmp_path / "data"
    for specs, more in [
        (SpecSet((THUMBNAIL, PREVIEW)), {}),
        (SpecSet((THUMBNAIL, PREVIEW)), {}),  # unchanged: not read
        (SpecSet((THUMBNAIL, SMALL)), {}),
        (SpecSet((THUMBNAIL, SMALL)), {"max_pixels": 1_000_000}),  # a limit changed
        (SpecSet((THUMBNAIL, SMALL)), {"max_pixels": 1_000_000}),
    ]:
        with started(data, specs, **more) as client:
            assert client.get("/healthz").status_code == 200
    assert reads == [("thumbnail", "preview"), ("thumbnail", "small"), ("thumbnail", "small")]
