"""Modern formats per client: WebP or AVIF variants of a derivative, made on first request.

A derivative's JPEG is always made and is the default. When a client's ``Accept``
prefers a format the service offers (``image/avif``, ``image/webp``), the variant
is rendered once, in the worker pool, from the original, and recorded in the
cache like any derivative (same content-addressed folder, its own fingerprint),
so later requests are served from disk. Answers then carry ``Vary: Accept``.

Encoding costs differ a lot (AVIF about 25x a JPEG), which is why nothing is made
before a client asks for it, and why the offered formats are configurable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from python_multipart.multipart import parse_options_header

from derivo.cache import DerivativeCache, PhotoRecord
from derivo.errors import DerivoError
from derivo.executors.base import Executor
from derivo.formats import FORMATS
from derivo.specs import Spec
from derivo.tasks import Derivative, Limits, RenderResult, RenderTask

log = logging.getLogger("derivo.service")

#: Encoder quality of each variant format, chosen to look like the JPEG at its own
#: quality: AVIF and WebP reach the same look at lower numbers.
QUALITY = {"webp": 80, "avif": 55}


def preferred_format(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered format the client asks for by name with the highest ``q``, or None (JPEG).

    Only an explicit media type counts (``image/*`` or ``*/*`` accept JPEG too);
    between equal ``q`` the server's order wins; a client that names JPEG with a
    higher ``q`` gets JPEG.

    >>> preferred_format("image/avif,image/webp,image/apng,*/*;q=0.8", ["webp", "avif"])
    'webp'
    >>> preferred_format("image/*", ["avif"]) is None
    True
    """
    if not accept or not offered:
        return None
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media_type, params = parse_options_header(item.strip())
        try:
            q = float(params.get(b"q", b"1").decode("ascii", "replace"))
        except ValueError:
            q = 0.0
        key = media_type.decode("latin-1").lower()
        weights[key] = max(q, weights.get(key, 0.0))
    best, best_q = None, 0.0
    for name in offered:
        q = weights.get(FORMATS[name].media_type, 0.0)
        if q > best_q:
            best, best_q = name, q
    if best is None or weights.get("image/jpeg", 0.0) > best_q:
        return None
    return best


def variant_spec(spec: Spec, fmt: str) -> Spec:
    """``spec`` in another format: same box and fit, that format's quality."""
    return dataclasses.replace(spec, format=fmt, quality=QUALITY.get(fmt, spec.quality))


class Variants:
    """Makes and finds format variants; one render per (source, variant) at a time."""

    def __init__(
        self, *, cache: DerivativeCache, executor: Executor, out_dir: Path, limits: Limits
    ) -> None:
        self.cache = cache
        self.executor = executor
        self.out_dir = out_dir
        self.limits = limits
        self._flights: dict[tuple[str, str], asyncio.Future[Derivative | None]] = {}

    async def find_or_make(
        self, record: PhotoRecord, spec: Spec, fmt: str
    ) -> tuple[Derivative, os.stat_result, Spec] | None:
        """The variant of ``spec`` in ``fmt`` for a done photo, rendering it if needed.

        None when it cannot be had now (render queue full, or the render failed):
        the caller serves the JPEG instead.
        """
        assert record.hash is not None
        wanted = variant_spec(spec, fmt)
        found = await asyncio.to_thread(self._on_disk, record.hash, wanted)
        if found is None:
            key = (record.hash, wanted.fingerprint)
            flight = self._flights.get(key)
            if flight is None:
                flight = asyncio.ensure_future(self._make(record, wanted))
                self._flights[key] = flight
                flight.add_done_callback(lambda _: self._flights.pop(key, None))
            if await asyncio.shield(flight) is None:
                return None
            found = await asyncio.to_thread(self._on_disk, record.hash, wanted)
            if found is None:
                return None
        return found[0], found[1], wanted

    def _on_disk(self, source_hash: str, spec: Spec) -> tuple[Derivative, os.stat_result] | None:
        derivative = self.cache.derivatives(source_hash, [spec]).get(spec.name)
        if derivative is None:
            return None
        try:
            stat = os.stat(derivative.path)
        except FileNotFoundError:
            return None
        if stat.st_size != derivative.bytes:  # damaged (cut short, overwritten): made again
            return None
        return derivative, stat

    async def _make(self, record: PhotoRecord, spec: Spec) -> Derivative | None:
        assert record.hash is not None
        task = RenderTask(
            source=record.source,
            source_hash=record.hash,
            specs=(spec,),
            out_dir=str(self.out_dir),
            limits=self.limits,
        )
        try:
            future: Future[RenderResult] = self.executor.submit(task, block=False)
            result = await asyncio.wrap_future(future)
        except DerivoError as exc:  # queue full, or the render failed: JPEG it is, for now
            log.warning("no %s variant of %s: %s", spec.format, record.id, exc)
            return None
        await asyncio.to_thread(self.cache.record, record.hash, [spec], result.derivatives)
        return result.derivatives[0] if result.derivatives else None
