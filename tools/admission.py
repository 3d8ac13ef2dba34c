"""Admission control for the MCP server: how many calls of each kind run at once and how many
may wait, with a clear "busy" error past that bound instead of an ever-growing queue.

Calls are grouped into lanes by what they cost. Describing and generating are CPU- and
memory-bound: more at once than cores only adds contention (and memory: each describe holds a
decoded picture), so they run ``VMB_MAX_JOBS`` at a time (default: the number of cores, at least
2). Search is quick and mostly waits on Chroma, so more run at once and it is never stuck behind
a generation. Indexing writes the library: one at a time. Each lane lets ``VMB_MAX_QUEUED`` calls
wait (search: four times as many); the next one is refused at once with :class:`BusyError`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from vmb_agent.errors import BusyError
from vmb_agent.settings import Settings


@dataclass(frozen=True)
class Lane:
    """Calls that share one limit: ``running`` at once, ``waiting`` more in the queue."""

    name: str
    running: int
    waiting: int


#: tool -> lane; a tool not listed (get_track: one small read) runs without a limit
TOOL_LANES = {
    "describe_visuals": "describe",
    "search_music": "search",
    "generate_music": "generate",
    "score_video": "generate",
    "index_music": "index",
}


def lanes(settings: Settings) -> dict[str, Lane]:
    """The lanes for these settings."""
    jobs = settings.max_jobs or max(2, os.cpu_count() or 2)
    queued = settings.max_queued
    return {
        "describe": Lane("describe", jobs, queued),
        "generate": Lane("generate", jobs, queued),
        "search": Lane("search", 4 * jobs, 4 * queued),
        "index": Lane("index", 1, queued),
    }


class Admission:
    """One capacity limiter per lane, created lazily inside the event loop that uses it."""

    def __init__(self, settings: Settings) -> None:
        self.lanes = lanes(settings)
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    @asynccontextmanager
    async def slot(self, tool: str) -> AsyncIterator[None]:
        """Hold a place in ``tool``'s lane for the body: run now, or wait in its queue, or raise
        :class:`BusyError` at once when the queue is full. The check and the enqueueing happen
        without a yield in between, so concurrent calls cannot all slip past the bound."""
        lane_name = TOOL_LANES.get(tool)
        if lane_name is None:
            yield
            return
        lane = self.lanes[lane_name]
        limiter = self._limiters.get(lane_name)
        if limiter is None:
            limiter = self._limiters[lane_name] = anyio.CapacityLimiter(lane.running)
        stats = limiter.statistics()
        if stats.borrowed_tokens >= lane.running and stats.tasks_waiting >= lane.waiting:
            raise BusyError(
                f"the server is busy: {stats.borrowed_tokens} {lane_name} calls are running and "
                f"{stats.tasks_waiting} are waiting (at most {lane.running} run and "
                f"{lane.waiting} wait: VMB_MAX_JOBS, VMB_MAX_QUEUED); try again in a minute."
            )
        async with limiter:
            yield
