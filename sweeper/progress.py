"""Progress bars on stderr when it is a terminal; silent otherwise."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sweeper.sweep import Progress as EngineProgress
from sweeper.text import printable


class RichProgress(EngineProgress):
    def __init__(self, bars: Progress) -> None:
        self.bars = bars

    def listing(self, provider: str, scope: str) -> Callable[[int], None]:
        task = self.bars.add_task(printable(f"listing {provider} {scope}"), total=None)
        return lambda n: self.bars.advance(task, n)

    def acting(self, provider: str, total: int) -> Callable[[int], None]:
        task = self.bars.add_task(printable(f"disabling {provider}"), total=total)
        return lambda n: self.bars.advance(task, n)


@contextmanager
def make_progress(console: Console) -> Iterator[EngineProgress]:
    if not console.is_terminal:
        yield EngineProgress()
        return
    bars = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)
    with bars:
        yield RichProgress(bars)
