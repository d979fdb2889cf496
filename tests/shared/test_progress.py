"""What a long command shows on stderr: plain progress lines when asked, and always one summary line."""

from __future__ import annotations

import io

from shared.cli.progress import PLAIN_EVERY_SECONDS, Meter, wanted


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestTheMeter:
    def test_asked_without_a_terminal_it_prints_a_line_now_and_then_and_the_summary(self):
        out, clock = io.StringIO(), Clock()
        with Meter("replay", "events", show=True, stream=out, clock=clock) as meter:
            clock.now += 1
            meter.update(10_000, 40_000)  # too soon for a line
            clock.now += PLAIN_EVERY_SECONDS
            meter.update(30_000, 40_000)
            clock.now += 2
            meter.update(40_000)
        assert out.getvalue().splitlines() == [
            f"replay: 30,000 of 40,000 events, {30_000 / (1 + PLAIN_EVERY_SECONDS):,.0f} events/s",
            f"replay: 40,000 events in {3 + PLAIN_EVERY_SECONDS:.1f} s ({40_000 / (3 + PLAIN_EVERY_SECONDS):,.0f} events/s)",
        ]

    def test_not_asked_it_prints_the_summary_only(self):
        out, clock = io.StringIO(), Clock()
        with Meter("verify", "entries", show=False, stream=out, clock=clock) as meter:
            clock.now += 60
            meter.update(1_200_000, 1_200_000)
        assert out.getvalue() == "verify: 1,200,000 entries in 60.0 s (20,000 entries/s)\n"

    def test_a_failed_run_prints_no_summary(self):
        out = io.StringIO()
        try:
            with Meter("verify", "entries", show=True, stream=out):
                raise RuntimeError("the service went away")
        except RuntimeError:
            pass
        assert out.getvalue() == ""

    def test_progress_is_shown_on_a_terminal_or_when_asked(self):
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        assert wanted(False, Terminal()) and wanted(True, io.StringIO())
        assert not wanted(False, io.StringIO())
