"""How waiting renders go into Dask tasks: shared while a backlog waits, alone at the end."""

from __future__ import annotations

from collections import deque

from derivo.executors.dask import MAX_SHARE, TASKS_AHEAD, plan_tasks


def run_through(photos: int, threads: int, cheap: int = 1) -> list[int]:
    """Sizes of the tasks a run of ``photos`` renders sends, in order, with the cluster
    taking the oldest task off whenever it holds its fill."""
    waiting = list(range(photos))
    on_cluster: deque[list[int]] = deque()
    sizes: list[int] = []
    while waiting or on_cluster:
        room = TASKS_AHEAD * threads - len(on_cluster)
        tasks = plan_tasks([], waiting, room=room, threads=threads, cheap=cheap)
        assert len(tasks) <= room
        sent = [photo for task in tasks for photo in task]
        assert sent == waiting[: len(sent)]  # in the order they came
        waiting = waiting[len(sent) :]
        on_cluster.extend(tasks)
        sizes += [len(task) for task in tasks]
        on_cluster.popleft()
    return sizes


def test_a_backlog_shares_tasks_and_its_last_renders_go_alone() -> None:
    sizes = run_through(100, threads=2)
    assert sum(sizes) == 100
    assert len(sizes) < 100 / 2
    assert max(sizes) == MAX_SHARE
    assert sizes == sorted(sizes, reverse=True)  # tasks only shrink as the backlog does
    # every thread's last tasks hold one render each
    assert sizes[-TASKS_AHEAD * 2 :] == [1] * (TASKS_AHEAD * 2)


def test_renders_that_arrive_one_at_a_time_go_one_to_a_task() -> None:
    # an upload service: each photo is sent as it comes
    assert plan_tasks([], ["a"], room=TASKS_AHEAD * 4, threads=4) == [["a"]]
    few = list(range(TASKS_AHEAD * 4 * 2 - 1))
    assert {len(task) for task in plan_tasks([], few, room=len(few), threads=4)} == {1}


def test_nothing_goes_without_room_and_retries_go_first_each_alone() -> None:
    assert plan_tasks(["retry"], list(range(50)), room=0, threads=2) == []
    tasks = plan_tasks(["r1", "r2"], list(range(50)), room=3, threads=2)
    assert tasks == [["r1"], ["r2"], [0, 1, 2, 3]]
    assert plan_tasks(["r1", "r2", "r3"], list(range(50)), room=2, threads=2) == [["r1"], ["r2"]]


def test_cheap_renders_share_more_but_leave_two_tasks_per_thread() -> None:
    tasks = plan_tasks([], list(range(1000)), room=6, threads=2, cheap=64)
    assert [len(task) for task in tasks] == [64] * 6
    # ten cheap renders on two threads: four tasks, so no thread waits for a long one
    sizes = [len(task) for task in plan_tasks([], list(range(10)), room=6, threads=2, cheap=64)]
    assert sizes == [3, 3, 3, 1]
