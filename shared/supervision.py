"""Background work that is watched: a task that ends or raises is restarted with back-off, or marks the
service not ready — never a silent stop.

Every loop a service runs beside its HTTP routes (the event store's writers, the subscribers, the inbox
loop, the audit consumer, the periodic jobs) runs as a ``Supervised`` task. The runtime lists them at
``/readyz``: a task that is restarting or has given up makes the service not ready, and the body says
which task and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Iterable, Protocol

from shared.backoff import Backoff

log = logging.getLogger(__name__)
RESTART = Backoff(base=0.2, cap=10.0)
HEALTHY_AFTER = 30.0
"""Seconds a restarted task must run without failing again before its restart count starts over."""


class Watched(Protocol):
    """A component with background tasks of its own (``supervised()`` lists them, as they are now)."""

    def supervised(self) -> Iterable["Supervised"]: ...


class Supervised:
    """Runs ``body()`` as a background task. When it returns or raises, it is logged (name and error) and
    started again after a back-off (``restart=True``), or left ``failed`` (``restart=False``).

    ``body`` is called afresh on each start; ``on_restart`` (if given) runs before each restart, to put
    what the body works on back in order (e.g. seek a consumer back to what was processed).
    """

    def __init__(
        self,
        name: str,
        body: Callable[[], Awaitable[Any]],
        *,
        restart: bool = True,
        backoff: Backoff = RESTART,
        on_restart: Callable[[], Awaitable[Any] | Any] | None = None,
    ) -> None:
        self.name, self._body, self._restart, self._backoff, self._on_restart = name, body, restart, backoff, on_restart
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.failures = 0
        self.error: str | None = None
        """The last error (``Type: message``), until the task has run ``HEALTHY_AFTER`` seconds again."""
        self.state = "new"  # running | restarting | failed | stopped
        self.degraded: str | None = None
        """Set by the body itself (``degrade``/``recover``) when it keeps running but its work fails."""

    def start(self) -> None:
        """Start the task (on the running loop)."""
        self.state = "running"
        self._task = asyncio.create_task(self._watch(), name=self.name)

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        self.state = "stopped"
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def healthy(self) -> bool:
        """Running (or stopped on purpose) and its work not failing."""
        return self.state in ("running", "stopped", "new") and self.degraded is None

    def degrade(self, reason: str) -> None:
        """The task runs, but its work fails (e.g. every commit of a writer): not ready until ``recover()``."""
        if self.degraded != reason:
            log.error("background task degraded", extra={"task": self.name, "error": reason})
        self.degraded = reason

    def recover(self) -> None:
        """Its work succeeds again."""
        if self.degraded is not None:
            log.info("background task recovered", extra={"task": self.name})
        self.degraded = None

    def view(self) -> dict[str, Any]:
        """What ``/readyz`` shows of it."""
        view: dict[str, Any] = {"state": self.state, "restarts": self.restarts}
        if self.error is not None:
            view["error"] = self.error
        if self.degraded is not None:
            view["degraded"] = self.degraded
        return view

    async def _watch(self) -> None:
        attempt = 0
        while True:
            began = time.monotonic()
            try:
                await self._body()
                error = "ended"
                log.error("background task ended", extra={"task": self.name})
            except asyncio.CancelledError:
                if self.state == "stopped" or _asked_to_cancel():
                    raise
                # not a stop: a future the body awaited was cancelled by someone else — the body ended, restart it
                error = "CancelledError: raised inside the task, which was not cancelled"
                log.exception("background task failed", extra={"task": self.name, "error": error})
            except (KeyboardInterrupt, SystemExit) as exc:  # the process is ending: say so, do not restart
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
                raise
            except Exception as exc:  # whatever ends it is reported, never swallowed
                error = f"{type(exc).__name__}: {exc}"
                log.exception("background task failed", extra={"task": self.name, "error": error})
            self.failures += 1
            self.error = error
            if not self._restart:
                self.state = "failed"
                return
            attempt = 1 if time.monotonic() - began > HEALTHY_AFTER else attempt + 1
            self.state = "restarting"
            await asyncio.sleep(self._backoff.delay(attempt))
            if self._on_restart is not None:
                try:
                    done = self._on_restart()
                    if asyncio.iscoroutine(done):
                        await done
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the restart itself failed: count it, try again after the next wait
                    self.error = f"restart: {type(exc).__name__}: {exc}"
                    log.exception("background task could not be restarted", extra={"task": self.name})
                    continue
            self.restarts += 1
            self.state = "running"
            log.warning("background task restarted", extra={"task": self.name, "restarts": self.restarts})


def _asked_to_cancel() -> bool:
    """Whether the running task was cancelled (``stop()``, the loop ending), rather than handed a CancelledError
    by something it awaited."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def watched(components: Iterable[object]) -> list[Supervised]:
    """Every supervised task of these components, as they are now."""
    tasks: list[Supervised] = []
    for component in components:
        if isinstance(component, Supervised):
            tasks.append(component)
        elif callable(getattr(component, "supervised", None)):
            tasks.extend(component.supervised())  # type: ignore[attr-defined]
    return tasks
