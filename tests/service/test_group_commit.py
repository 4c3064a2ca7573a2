"""Uploads that arrive together are made durable together: one sync for the group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path

import blake3
import pytest

from derivo.atomic import make_durable
from derivo.service import ingest
from derivo.service.groups import GroupCommit

from .asgi import AUTH, served
from .support import make_jpeg

DEADLINE = 120.0


async def until(condition: object, what: str) -> None:
    """Yield to the loop until ``condition()`` holds (generous deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"not seen in {DEADLINE} s: {what}")
        await asyncio.sleep(0.01)


def test_items_arriving_during_a_step_form_the_next_step() -> None:
    steps: list[list[int]] = []
    running, release = threading.Event(), threading.Event()

    def step(items: list[int]) -> list[int | BaseException]:
        steps.append(items)
        if len(steps) == 1:
            running.set()
            release.wait(DEADLINE)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    async def main() -> list[int | BaseException]:
        group: GroupCommit[int, int] = GroupCommit(step, asyncio.Lock())
        first = asyncio.create_task(group(0))
        await asyncio.to_thread(running.wait, DEADLINE)
        rest = [asyncio.create_task(group(i)) for i in range(1, 6)]
        await until(lambda: group.waiting == 5, "five items waiting")
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert steps == [[0], [1, 2, 3, 4, 5]]
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == [
        0, "odd 1", 20, "odd 3", 40, "odd 5",
    ]  # fmt: skip


def test_a_step_that_raises_answers_every_item_of_its_group() -> None:
    def step(items: list[int]) -> list[int | BaseException]:
        raise OSError("disk gone")

    async def main() -> list[int | BaseException]:
        group: GroupCommit[int, int] = GroupCommit(step, asyncio.Lock())
        return await asyncio.gather(*(group(i) for i in range(3)), return_exceptions=True)

    assert [str(o) for o in asyncio.run(main())] == ["disk gone"] * 3


def test_uploads_waiting_together_share_one_sync_of_files_and_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One upload is held in its sync; five more arrive meanwhile: they are made
    durable by one sync of their data and one of their names, all answered 202."""
    syncs: list[int] = []
    holding, release = threading.Event(), threading.Event()

    def counted(files: Iterable[Path]) -> None:
        files = list(files)
        syncs.append(len(files))
        if len(syncs) == 1:
            holding.set()
            release.wait(DEADLINE)
        make_durable(files)

    monkeypatch.setattr(ingest, "make_durable", counted)
    bodies = [make_jpeg(160, 120, seed) for seed in range(7100, 7106)]

    async def main() -> list[tuple[int, dict[str, object]]]:
        async with served(tmp_path / "data") as (client, services):

            async def post(body: bytes) -> tuple[int, dict[str, object]]:
                response = await client.post("/photos", content=body, headers=AUTH)
                return response.status_code, response.json()

            first = asyncio.create_task(post(bodies[0]))
            await asyncio.to_thread(holding.wait, DEADLINE)
            rest = [asyncio.create_task(post(body)) for body in bodies[1:]]
            await until(lambda: services.ingest._accepts.waiting == 5, "five uploads waiting")
            release.set()
            return await asyncio.gather(first, *rest)

    answers = asyncio.run(main())
    assert [status for status, _ in answers] == [202] * 6
    assert syncs == [1, 1, 5, 5]  # data then names: the first alone, then the five together
    originals = tmp_path / "data" / "originals"
    for body, (_, photo) in zip(bodies, answers, strict=True):
        digest = blake3.blake3(body).hexdigest()
        assert photo["hash"] == digest
        assert (originals / digest[:2] / digest).read_bytes() == body
