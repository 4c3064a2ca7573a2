"""Specs changed since the last start: queue the photos that lack a configured derivative.

A done photo whose derivatives do not cover every configured spec goes back to
``pending``; the ingest loop renders it, and the pipeline renders only the specs
it lacks (the files of unchanged specs are kept and not made again).
"""

from __future__ import annotations

import contextlib

from derivo.cache import DerivativeCache, PhotoStatus
from derivo.errors import IllegalTransition, UnknownPhoto
from derivo.specs import SpecSet

PAGE = 500


def queue_missing_specs(cache: DerivativeCache, specs: SpecSet) -> int:
    """Set done photos lacking a derivative of ``specs`` to pending; how many were."""
    queued, after = 0, None
    wanted = len(specs.specs)
    while batch := cache.photos(status=PhotoStatus.DONE, after=after, limit=PAGE):
        made = cache.derivatives_of((p.hash for p in batch if p.hash), specs)
        for photo in batch:
            if photo.hash and len(made.get(photo.hash, {})) < wanted:
                # moved on since the page was read (deleted, rendered): nothing to do
                with contextlib.suppress(IllegalTransition, UnknownPhoto):
                    cache.mark_pending(photo.id, expected=PhotoStatus.DONE)
                    queued += 1
        after = batch[-1].id
    return queued
