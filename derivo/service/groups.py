"""Group commit: what many requests ask for at once is done in one step in a thread.

Durability costs a sync, and a sync costs the same for one upload as for twenty.
Requests that arrive while a step runs wait together and form the next step, so
under load each sync serves many answers, and alone a request waits for nothing
but its own step (no timer, no added latency).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: One step over a group: a result, or the error, for each item, in order.
Step = Callable[[list[T]], Sequence[R | BaseException]]


class GroupCommit(Generic[T, R]):
    """``await group(item)``: ``step`` runs over every item waiting, one step at a time.

    Steps run in a thread, holding ``lock`` (the writes they make must not
    interleave with the caller's other writes). An error raised by a step is
    every item's error.
    """

    def __init__(self, step: Step[T, R], lock: asyncio.Lock) -> None:
        self._step = step
        self._lock = lock
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Items waiting for the next step (the one running not counted)."""
        return len(self._waiting)

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="derivo-group-commit")
        return await future

    async def _run(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            items = [item for item, _ in group]
            outcomes: Sequence[R | BaseException]
            try:
                async with self._lock:
                    outcomes = await asyncio.to_thread(self._step, items)
            except Exception as exc:  # every waiter's answer
                outcomes = [exc] * len(group)
            except BaseException:  # shutting down: the waiters are cancelled with it
                for _, future in group + self._waiting:
                    future.cancel()
                raise
            self._settle(group, outcomes)

    @staticmethod
    def _settle(
        group: list[tuple[T, asyncio.Future[R]]], outcomes: Sequence[R | BaseException]
    ) -> None:
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # its request was cancelled (the client went away)
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
