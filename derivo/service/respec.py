"""Specs or limits changed since the last start: queue the photos the change concerns.

A done photo whose derivatives do not cover every configured spec goes back to
``pending``, and so does a photo that failed on its own account (too large,
damaged) under other specs or limits; the ingest loop renders them, and the
pipeline renders only the specs a photo lacks (files of unchanged specs are kept,
not made again). As ``derivo process`` does on a re-run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from derivo.cache import DerivativeCache, PhotoStatus
from derivo.errors import IllegalTransition, UnknownPhoto
from derivo.specs import SpecSet

PAGE = 500


def queue_stale(cache: DerivativeCache, specs: SpecSet, failure_key: Callable[[str], str]) -> int:
    """Set to pending the photos ``specs`` and ``failure_key`` (specs and limits) would
    render differently; returns how many."""
    queued = 0
    for status in (PhotoStatus.DONE, PhotoStatus.FAILED):
        after = None
        while batch := cache.photos(status=status, after=after, limit=PAGE):
            if status is PhotoStatus.DONE:
                made = cache.derivatives_of((p.hash for p in batch if p.hash), specs)
                stale = [
                    p.id for p in batch if p.hash and len(made.get(p.hash, {})) < len(specs.specs)
                ]
            else:  # a failure without a key was not the photo's: retried on upload
                stale = [
                    p.id
                    for p in batch
                    if p.hash and p.error_key and p.error_key != failure_key(p.hash)
                ]
            for photo_id in stale:
                # moved on since the page was read (deleted, rendered): nothing to do
                with contextlib.suppress(IllegalTransition, UnknownPhoto):
                    cache.mark_pending(photo_id, expected=status)
                    queued += 1
            after = batch[-1].id
    return queued
