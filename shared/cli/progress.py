"""How a long command shows how far it is (stderr): a live bar on a terminal, plain lines when asked, then one summary line.

``smguard replay`` and ``smguard verify`` count thousands of records a second: the bar shows the
count, the total when known and the rate; with ``--progress`` and no terminal (a CI log, a pipe)
a plain line every ``PLAIN_EVERY_SECONDS`` instead; and either way, at the end, the summary —
what was counted, in how long, at what rate.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Callable, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

PLAIN_EVERY_SECONDS = 5.0


def wanted(asked: bool, stream: TextIO | None = None) -> bool:
    """Whether to show progress: when asked, or when ``stream`` (stderr) is a terminal."""
    stream = stream or sys.stderr
    return asked or stream.isatty()


class Meter:
    """Counts one run of ``what`` (``events``, ``entries``) and shows it on ``stream``; ``summary()`` at the end."""

    def __init__(
        self,
        label: str,
        what: str,
        *,
        show: bool,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.what, self.done, self.total = label, what, 0, None
        self._stream, self._clock = stream or sys.stderr, clock
        self._began = self._shown = clock()
        self._bar: Progress | None = None
        self._plain = show and not self._stream.isatty()
        if show and not self._plain:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(), console=Console(file=self._stream), transient=True,
            )  # fmt: skip
            self._task = self._bar.add_task(label, total=None, rate="")

    def __enter__(self) -> Meter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
        if kind is None:
            print(self.summary(), file=self._stream, flush=True)

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` counted so far, of ``total`` when known."""
        self.done, self.total = done, total if total is not None else self.total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total, rate=f"{self.rate():,.0f} {self.what}/s")
        elif self._plain and self._clock() - self._shown >= PLAIN_EVERY_SECONDS:
            self._shown = self._clock()
            of = f" of {self.total:,}" if self.total else ""
            print(f"{self.label}: {self.done:,}{of} {self.what}, {self.rate():,.0f} {self.what}/s", file=self._stream, flush=True)

    def elapsed(self) -> float:
        """Seconds since the meter started."""
        return max(self._clock() - self._began, 1e-9)

    def rate(self) -> float:
        """Counted per second so far."""
        return self.done / self.elapsed()

    def summary(self) -> str:
        """``<label>: <count> <what> in <seconds> s (<rate> <what>/s)``."""
        return f"{self.label}: {self.done:,} {self.what} in {self.elapsed():.1f} s ({self.rate():,.0f} {self.what}/s)"
