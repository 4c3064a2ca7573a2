"""When part of a group commit fails: what is answered, kept, removed and rendered.

A group is formed as in production: the first upload is held in its data sync
while the others arrive; they then commit together. Failures are injected by the
test at the step it names (a sync, one upload's rename, one submit).
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import blake3
import httpx
import pytest

from derivo.atomic import make_durable
from derivo.cache import PhotoStatus
from derivo.errors import CacheError, StorageFull
from derivo.pipeline import PhotoResult
from derivo.service import ingest
from derivo.service.resources import Services
from tests.gates import Gate, every_pool_behind

from .asgi import AUTH, served
from .support import make_jpeg

DEADLINE = 120.0


class Syncs:
    """Stands in for ``make_durable`` in the service: holds the first sync until
    ``release``, and makes call number ``fail_at`` (1-based) raise ``error`` after
    doing the real sync (the device reported the failure afterwards)."""

    def __init__(self, fail_at: int = 0, error: BaseException | None = None) -> None:
        self.calls: list[list[Path]] = []
        self.holding, self.released = threading.Event(), threading.Event()
        self.fail_at, self.error = fail_at, error

    def __call__(self, files: Iterable[Path]) -> None:
        files = list(files)
        self.calls.append(files)
        if len(self.calls) == 1:
            self.holding.set()
            self.released.wait(DEADLINE)
        make_durable(files)
        if len(self.calls) == self.fail_at:
            assert self.error is not None
            raise self.error


async def until(condition: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not seen in {DEADLINE} s: {what}")
        await asyncio.sleep(0.01)


async def post_in_one_group(
    client: httpx.AsyncClient, services: Services, syncs: Syncs, bodies: list[bytes]
) -> list[httpx.Response]:
    """Post ``bodies[0]`` alone (held in its sync), then the rest as one group."""

    async def post(body: bytes) -> httpx.Response:
        return await client.post("/photos", content=body, headers=AUTH)

    first = asyncio.create_task(post(bodies[0]))
    await asyncio.to_thread(syncs.holding.wait, DEADLINE)
    rest = [asyncio.create_task(post(body)) for body in bodies[1:]]
    waiting = len(bodies) - 1
    await until(lambda: services.ingest._accepts.waiting == waiting, f"{waiting} uploads waiting")
    syncs.released.set()
    return list(await asyncio.gather(first, *rest))


def original(data_dir: Path, body: bytes) -> Path:
    digest = blake3.blake3(body).hexdigest()
    return data_dir / "originals" / digest[:2] / digest


def leftovers(data_dir: Path) -> list[str]:
    """Files in the originals folder that are not a committed original (temps)."""
    root = data_dir / "originals"
    return sorted(p.name for p in root.iterdir() if p.is_file())


def test_a_failed_sync_of_new_names_keeps_nothing_and_a_retry_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Syncs: 1 data and 2 names of the lone first upload, 3 data and 4 names of the
    group; the 4th fails. The group's originals are removed, nothing of it is
    recorded, each of its uploads gets the error, and posting them again works."""
    syncs = Syncs(fail_at=4, error=StorageFull("no space left on the device of originals"))
    monkeypatch.setattr(ingest, "make_durable", syncs)
    data = tmp_path / "data"
    bodies = [make_jpeg(160, 120, seed) for seed in range(7200, 7204)]

    async def main() -> tuple[list[httpx.Response], list[httpx.Response], int]:
        async with served(data) as (client, services):
            answers = await post_in_one_group(client, services, syncs, bodies)
            assert [len(files) for files in syncs.calls] == [1, 1, 3, 3]
            for body in bodies[1:]:
                assert not original(data, body).exists()
                assert services.cache.photo_by_hash(blake3.blake3(body).hexdigest()) is None
            assert leftovers(data) == []
            again = [await client.post("/photos", content=b, headers=AUTH) for b in bodies[1:]]
            return answers, again, len(services.cache.photos(limit=100))

    answers, again, recorded = asyncio.run(main())
    assert answers[0].status_code == 202
    for answer in answers[1:]:
        assert answer.status_code == 507, answer.text
        assert answer.json()["error"]["kind"] == "storage-full"
    assert [answer.status_code for answer in again] == [202] * 3
    assert recorded == 4
    for body in bodies:
        assert original(data, body).read_bytes() == body


def test_one_uploads_failed_commit_fails_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of a group of three cannot be moved into place (no space): it is
    answered 507 and leaves nothing; the other two are answered 202 and rendered."""
    syncs = Syncs()
    monkeypatch.setattr(ingest, "make_durable", syncs)
    data = tmp_path / "data"
    bodies = [make_jpeg(160, 120, seed) for seed in range(7300, 7304)]
    refused = blake3.blake3(bodies[2]).hexdigest()

    async def main() -> tuple[list[httpx.Response], dict[str, PhotoStatus]]:
        async with served(data) as (client, services):
            commit = services.ingest.originals.commit

            def failing_commit(temp: Path, source_hash: str) -> Path:
                if source_hash == refused:
                    temp.unlink()  # as the real commit does when it raises
                    raise StorageFull("no space left on the device of originals")
                return commit(temp, source_hash)

            monkeypatch.setattr(services.ingest.originals, "commit", failing_commit)
            answers = await post_in_one_group(client, services, syncs, bodies)
            ids = [a.json()["id"] for a in answers if a.status_code == 202]

            def statuses() -> dict[str, PhotoStatus]:
                return {i: services.cache.photo(i).status for i in ids}  # type: ignore[union-attr]

            await until(
                lambda: set(statuses().values()) == {PhotoStatus.DONE}, "accepted photos done"
            )
            assert services.cache.photo_by_hash(refused) is None
            return answers, statuses()

    answers, statuses = asyncio.run(main())
    assert [answer.status_code for answer in answers] == [202, 202, 507, 202]
    assert answers[2].json()["error"]["kind"] == "storage-full"
    assert len(statuses) == 3
    assert not original(data, bodies[2]).exists()
    assert leftovers(data) == []
    for body in (bodies[0], bodies[1], bodies[3]):
        assert original(data, body).read_bytes() == body


@pytest.mark.slow  # a real worker pool
def test_a_failed_submit_in_a_group_does_not_submit_a_live_render_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's second submit fails (a database error): the group's ``processing``
    marks are rolled back while the first one's render runs. Re-queueing must submit
    the other two, and not the one being rendered: each photo is submitted once and
    renders once."""
    syncs = Syncs()
    monkeypatch.setattr(ingest, "make_durable", syncs)
    gate = Gate.make(tmp_path / "gate")  # closed: every render waits at it
    bodies = [make_jpeg(160, 120, seed) for seed in range(7400, 7404)]
    submitted: collections.Counter[str] = collections.Counter()

    async def main() -> tuple[list[httpx.Response], float | None]:
        with every_pool_behind(gate):
            async with served(tmp_path / "data", real_pool=True, workers=2) as (client, services):
                submit = services.ingest.pipeline.submit
                calls: list[str] = []

                def failing_submit(photo_id: str, *args: Any, **kwargs: Any) -> Future[PhotoResult]:
                    calls.append(photo_id)
                    if len(calls) == 3:  # the lone first upload, then the group's first
                        raise CacheError("database is locked")
                    future = submit(photo_id, *args, **kwargs)
                    submitted[photo_id] += 1
                    return future

                monkeypatch.setattr(services.ingest.pipeline, "submit", failing_submit)
                answers = await post_in_one_group(client, services, syncs, bodies)
                await asyncio.to_thread(gate.wait_for, 2)  # both first submits are rendering
                await services.ingest.requeue()
                gate.open()
                ids = [answer.json()["id"] for answer in answers]
                await until(
                    lambda: all(
                        services.cache.photo(i).status is PhotoStatus.DONE  # type: ignore[union-attr]
                        for i in ids
                    ),
                    "every photo done",
                )
        rendered = services.metrics.registry.get_sample_value(
            "derivo_photos_total", {"outcome": "rendered"}
        )
        return answers, rendered

    answers, rendered = asyncio.run(main())
    assert [answer.status_code for answer in answers] == [202] * 4
    ids = [answer.json()["id"] for answer in answers]
    assert submitted == dict.fromkeys(ids, 1)
    assert len(gate.arrivals()) == 4  # one render per photo
    assert rendered == 4
