"""How late the event loop wakes up: a task that asks to sleep 10 ms and records how much longer
it took, in the histogram `juhe_event_loop_lag_seconds` of every API and worker process.

Lag has two causes: the loop's thread running something long (our fault: a computation, a
synchronous call), or the thread waiting for a core or the GIL (a loaded machine, busy worker
threads). A stall, counted in `juhe_event_loop_stalls_total`, is the first kind: a wake-up later
than 50 ms during which the loop's own thread burnt more than 50 ms of CPU. Blocking I/O burns no
CPU, so it is caught elsewhere: `juhe.db.engine.loop_guard` refuses a database connection taken
on an event loop."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Counter, Histogram

INTERVAL_S = 0.01
STALL_S = 0.05  # a wake-up later than this is a stall: a request waited for something not its own
LAG = Histogram("juhe_event_loop_lag_seconds", "How much later than asked the event loop woke a sleeping task",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, STALL_S, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
STALLS = Counter("juhe_event_loop_stalls", "Wake-ups later than 50 ms while the loop's thread ran for more than 50 ms")


async def probe(stop: asyncio.Event, interval_s: float = INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked, cpu = loop.time(), time.thread_time()
        await asyncio.sleep(interval_s)
        lag = max(0.0, loop.time() - asked - interval_s)
        LAG.observe(lag)
        if lag > STALL_S and time.thread_time() - cpu > STALL_S:
            STALLS.inc()


def start(stop: asyncio.Event) -> asyncio.Task:
    return asyncio.get_running_loop().create_task(probe(stop), name="loop-lag-probe")
