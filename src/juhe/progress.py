"""Output helpers shared by domain commands and benchmarks: progress bars on stderr, one JSON line on stdout.

Progress bars go to stderr and vanish when done, so stdout stays the table or the JSON alone.
Here rather than in juhe.bench so that domain packages (juhe.risk's evaluation, its commands)
use them without importing the benchmarks.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]


def printed_json(figures: dict, as_json: bool) -> bool:
    """With --json: the figures as one JSON line on stdout, and True (the caller prints nothing else)."""
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
        sys.stdout.flush()
    return as_json


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Progress | None]:
    """Transient progress bars on stderr (None when disabled or stderr is not a terminal)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)
    with bars:
        yield bars


def track(progress: Progress | None, description: str, total: int) -> Advance:
    """A task on `progress` and the function that advances it (a no-op without progress)."""
    if progress is None:
        return lambda _n: None
    task = progress.add_task(description, total=total)
    return lambda n: progress.advance(task, n)
