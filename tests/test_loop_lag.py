"""The loop-lag probe tells a loop blocked by its own work (a stall) from a loop that only woke
late, e.g. because its thread waited for a core or for I/O."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from juhe import loop_lag


def _stalls_while(block) -> tuple[float, float]:
    async def main() -> None:
        stop = asyncio.Event()
        probe = loop_lag.start(stop)
        await asyncio.sleep(0.03)
        block()
        await asyncio.sleep(0.03)
        stop.set()
        await probe

    def now() -> tuple[float, float]:
        return (REGISTRY.get_sample_value("juhe_event_loop_stalls_total") or 0.0,
                REGISTRY.get_sample_value("juhe_event_loop_lag_seconds_sum") or 0.0)

    before = now()
    asyncio.run(main())
    after = now()
    return after[0] - before[0], after[1] - before[1]


def test_a_computation_on_the_loop_is_a_stall():
    def compute() -> None:
        end = time.thread_time() + 0.12
        while time.thread_time() < end:
            pass

    stalls, lag = _stalls_while(compute)
    assert stalls == 1 and lag >= 0.1


def test_a_late_wake_up_without_the_loops_own_work_is_lag_not_a_stall():
    stalls, lag = _stalls_while(lambda: time.sleep(0.12))  # the thread off the CPU, as when starved
    assert stalls == 0 and lag >= 0.1
