"""Natural batching: a lone item goes at once; items arriving meanwhile go together next."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gridmap.coalesce import Coalescer


def test_items_arriving_while_a_batch_runs_go_together_in_the_next_one() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        if len(batches) == 1:
            await release.wait()  # the first batch is still "in the database"
        return [item * 10 if item != 4 else ValueError("item 4 is bad") for item in items]

    async def scenario() -> list[int | BaseException]:
        coalescer: Coalescer[int, int] = Coalescer(run, max_batch=3)
        first = asyncio.create_task(coalescer.submit(1))
        await asyncio.sleep(0)  # the first batch starts with the lone item
        later = [asyncio.create_task(coalescer.submit(n)) for n in (2, 3, 4, 5)]
        await asyncio.sleep(0)
        assert batches == [[1]]  # nothing else started while the first runs
        release.set()
        answers = await asyncio.gather(first, *later, return_exceptions=True)
        await coalescer.drain()
        return answers

    answers = asyncio.run(scenario())
    assert batches == [[1], [2, 3, 4], [5]]  # max_batch bounds each batch
    assert answers[:3] == [10, 20, 30] and answers[4] == 50
    assert isinstance(answers[3], ValueError)  # only its own sender gets the error


def test_a_batch_that_raises_fails_every_sender_in_it_and_the_next_batch_still_runs() -> None:
    calls: list[list[str]] = []

    async def run(items: Sequence[str]) -> list[str | BaseException]:
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("database gone")
        return [item.upper() for item in items]

    async def scenario() -> tuple[list[str | BaseException], str]:
        coalescer: Coalescer[str, str] = Coalescer(run)
        failed = list(await asyncio.gather(coalescer.submit("a"), return_exceptions=True))
        return failed, await coalescer.submit("b")

    failed, after = asyncio.run(scenario())
    assert isinstance(failed[0], ConnectionError)
    assert after == "B"


def test_a_batch_size_below_one_is_refused() -> None:
    async def run(items: Sequence[int]) -> list[int | BaseException]:
        return list(items)

    with pytest.raises(Exception, match="max_batch"):
        Coalescer(run, max_batch=0)
