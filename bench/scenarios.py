"""The scenarios ``make bench`` knows, by name (``BENCH_ONLY`` picks them), and what each is given.

A scenario is an async function of a ``Bench`` returning result rows (``bench.harness``). Register one
with ``@scenario("name", "what it measures", system=...)`` in a module listed in ``MODULES``; a later
registration of a name replaces an earlier one. A scenario that cannot run says so with a
``not_measured`` row (``bench.harness``) carrying its goals and the reason.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from bench.harness import goal

if TYPE_CHECKING:
    from bench.system_bench import Rig

MODULES = ("bench.system_bench", "bench.extras", "bench.bulk_bench", "bench.replay_bench")
"""Modules that register scenarios, imported by ``load()``."""

DEFAULT = ("steady", "burst", "fleet", "http", "bulk", "replay")
"""What ``make bench`` runs without ``BENCH_ONLY``; the others (``store``, ``scale``) are extras."""

# The targets of the issue, each held against what the scenario measures.
BULK_GOAL = goal(
    "≥ 5,000 meters/s", "throughput_per_s", ">=", 5000, "/s",
    why="every row is validated, its secrets sealed (an AES-GCM encryption each) and recorded as its own "
    "ConnectionRegistered event, then folded into the connection service's read model and the incident service's "
    "directory: about 1.2 ms of the connection service's CPU a meter",
)  # fmt: skip
REPLAY_GOAL = goal(
    "≥ 50,000 events/s", "throughput_per_s", ">=", 50000, "/s",
    why="the rebuild runs every event through the same Python folds as the live services, one service after the "
    "other, each fold a decoded event and SQLite document writes: the folds, not the broker, set the pace",
)  # fmt: skip
VERIFY_GOAL = goal(
    "≥ 200,000 entries/s", "throughput_per_s", ">=", 200000, "/s",
    why="the audit service recomputes each entry's hash and the Merkle tree's nodes in a Python loop over its "
    "SQLite rows (hashlib's SHA-256 per leaf and node)",
)  # fmt: skip


@dataclass(frozen=True)
class Parameters:
    """The sizes of a run (``BENCH_*`` environment variables)."""

    seconds: float = 60.0
    rates: tuple[int, ...] = (100, 1000)
    max_rate: int = 32000
    meters: int = 10_000
    burst: int = 10_000
    fleet: int = 100_000
    bulk: int = 100_000
    http_rate: int = 200
    bare_records: int = 200_000
    replay_events: int = 1_000_000

    @classmethod
    def from_env(cls, env: dict[str, str]) -> "Parameters":
        """Read ``BENCH_SECONDS``, ``BENCH_RATES``, ``BENCH_MAX_RATE``, ``BENCH_METERS``, ``BENCH_BURST``,
        ``BENCH_FLEET``, ``BENCH_BULK``, ``BENCH_HTTP_RATE``, ``BENCH_BARE_RECORDS``, ``BENCH_REPLAY_EVENTS``; ValueError names a bad one."""
        def number(name: str, default: float, kind: type = int) -> Any:
            text = env.get(name, "").replace("_", "").strip()
            try:
                value = kind(text) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a number, not {text!r}") from None
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {text!r}")
            return value

        rates_text = env.get("BENCH_RATES", "").strip()
        try:
            rates = tuple(sorted({int(r) for r in rates_text.replace("_", "").split(",") if r.strip()})) or cls.rates
        except ValueError:
            raise ValueError(f"BENCH_RATES must be rates per second separated by commas, not {rates_text!r}") from None
        if any(r <= 0 for r in rates):
            raise ValueError(f"BENCH_RATES must be positive, not {rates_text!r}")
        return cls(
            seconds=number("BENCH_SECONDS", cls.seconds, float), rates=rates,
            max_rate=number("BENCH_MAX_RATE", cls.max_rate), meters=number("BENCH_METERS", cls.meters),
            burst=number("BENCH_BURST", cls.burst), fleet=number("BENCH_FLEET", cls.fleet), bulk=number("BENCH_BULK", cls.bulk),
            http_rate=number("BENCH_HTTP_RATE", cls.http_rate), bare_records=number("BENCH_BARE_RECORDS", cls.bare_records),
            replay_events=number("BENCH_REPLAY_EVENTS", cls.replay_events),
        )  # fmt: skip


@dataclass
class Bench:
    """What a scenario is given: the broker, the sizes, the bare loop's rate, and the running system."""

    bootstrap: str
    parameters: Parameters
    bare_per_s: float | None = None
    rig: "Rig | None" = None
    """The whole system as ``smguard run`` starts it, with the HES peer and the SMTP catcher (scenarios with ``system=True``)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """What one scenario leaves for a later one (e.g. the highest rate that held)."""


Run = Callable[[Bench], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Scenario:
    """A named benchmark: ``run(bench)`` returns its rows; ``system``: it needs the running system."""

    name: str
    describe: str
    run: Run
    system: bool = True


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, describe: str, *, system: bool = True) -> Callable[[Run], Run]:
    """Register ``run`` under ``name`` (replacing what was registered under it)."""

    def register(run: Run) -> Run:
        SCENARIOS[name] = Scenario(name, describe, run, system)
        return run

    return register


def load() -> dict[str, Scenario]:
    """Every scenario the modules register."""
    for module in MODULES:
        importlib.import_module(module)
    return SCENARIOS


def choose(only: str | None) -> list[Scenario]:
    """The scenarios ``BENCH_ONLY`` names (comma-separated, in its order); ``DEFAULT`` without it."""
    known = load()
    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(DEFAULT)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"BENCH_ONLY: unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return [known[n] for n in dict.fromkeys(names)]
