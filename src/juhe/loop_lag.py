"""How late the event loop wakes up: a task that asks to sleep 10 ms and records how much longer
it took. Anything that blocks the loop (a query, an fsync, a long computation) shows here as lag,
in the histogram `juhe_event_loop_lag_seconds` of every API and worker process."""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

INTERVAL_S = 0.01
STALL_S = 0.05  # a wake-up later than this is a stall: a request waited for something not its own
LAG = Histogram("juhe_event_loop_lag_seconds", "How much later than asked the event loop woke a sleeping task",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, STALL_S, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))


async def probe(stop: asyncio.Event, interval_s: float = INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(interval_s)
        LAG.observe(max(0.0, loop.time() - asked - interval_s))


def start(stop: asyncio.Event) -> asyncio.Task:
    return asyncio.get_running_loop().create_task(probe(stop), name="loop-lag-probe")
