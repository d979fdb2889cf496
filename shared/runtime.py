"""What runs beside a service's HTTP routes: topics, event store, subscribers, background work."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Protocol

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from shared.config import Settings
from shared.eventstore.kafka import KafkaEventStore
from shared.kafka.admin import ensure_topics
from shared.kafka.deadletters import DeadLetters
from shared.kafka.sinks import Sink
from shared.kafka.subscriber import Subscriber

log = logging.getLogger(__name__)


class Component(Protocol):
    """Anything with an async start and stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Consumer(Protocol):
    """A consumer the runtime watches: readiness waits for it, ``/ops/parked`` lists what it parked."""

    name: str

    async def caught_up(self) -> bool: ...

    def parked_view(self) -> list[dict[str, Any]]: ...


class LiveModel(Protocol):
    """The live read models as ``GET /ops/read-model`` shows them (see ``shared.replay.LiveReadModel``)."""

    async def take(self) -> dict[str, Any]: ...


class Runtime:
    """A service's moving parts, started in order and stopped in reverse."""

    def __init__(self, settings: Settings, *, service: str) -> None:
        self.settings = settings
        self.service = service
        self.dead_letters = DeadLetters(settings, consumer=service)
        self.store: KafkaEventStore | None = None
        self.subscribers: list[Consumer] = []
        self.read_model: LiveModel | None = None
        self._components: list[Component] = [self.dead_letters]
        self._started: list[Component] = []

    def event_store(self, topic_bases: list[str]) -> KafkaEventStore:
        """The service's event store over its own topics (one writer: this process)."""
        self.store = KafkaEventStore(
            bootstrap=self.settings.kafka_bootstrap_servers,
            topics={base: self.settings.topic(base) for base in topic_bases},
            source=f"smguard/{self.service}",
            transactional_id=f"{self.settings.topic_prefix}smguard.{self.service}.writer",
        )
        self._components.append(self.store)
        return self.store

    def subscribe(self, topic_bases: list[str], sink: Sink, *, name: str) -> Subscriber:
        """Feed topics into a sink once the store has loaded."""
        subscriber = Subscriber(
            bootstrap=self.settings.kafka_bootstrap_servers,
            topics=[self.settings.topic(base) for base in topic_bases],
            sink=sink,
            dead_letters=self.dead_letters,
            name=f"{self.service}.{name}",
            retry_seconds=self.settings.parked_retry_seconds,
        )
        self.subscribers.append(subscriber)
        self._components.append(subscriber)
        return subscriber

    def watch(self, consumer: Consumer) -> None:
        """Start a consumer of the service's own making, and count it in readiness and ``/ops/parked``."""
        self.subscribers.append(consumer)
        self._components.append(consumer)  # type: ignore[arg-type]  # it has start() and stop() too

    def expose(self, read_model: LiveModel) -> None:
        """Show these read models at ``GET /ops/read-model`` (what ``smguard replay`` compares)."""
        self.read_model = read_model

    def add(self, component: Component) -> Component:
        """Start another component after those added before it."""
        self._components.append(component)
        return component

    async def start(self) -> None:
        """Create topics, then start every component in order."""
        await ensure_topics(self.settings)
        for component in self._components:
            await component.start()
            self._started.append(component)
        log.info("service started", extra={"service": self.service})

    async def stop(self) -> None:
        """Stop in reverse order; a component that fails to stop does not keep the others running."""
        for component in reversed(self._started):
            try:
                await component.stop()
            except Exception:
                log.exception("component failed to stop", extra={"component": type(component).__name__})
        self._started.clear()

    async def wait_caught_up(self, timeout: float = 60.0) -> None:
        """Wait until every subscriber has read what was in its topics at start."""
        deadline = asyncio.get_running_loop().time() + timeout
        for subscriber in self.subscribers:
            while not await subscriber.caught_up():
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{subscriber.name} did not catch up in {timeout}s")
                await asyncio.sleep(0.05)

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the broker answers, the store is loaded and every projection has caught up."""
        detail: dict[str, Any] = {"broker": await self._broker_ok()}
        if self.store is not None:
            detail["event_store"] = self.store.ready
        detail["projections"] = {s.name: await s.caught_up() for s in self.subscribers}
        ok = detail["broker"] and detail.get("event_store", True) and all(detail["projections"].values())
        return ok, detail

    async def _broker_ok(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            await asyncio.wait_for(admin.describe_cluster(), 5)  # not list_topics: that grows with the cluster
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    def parked_report(self) -> dict[str, Any]:
        """Parked events per subscriber and the number of dead-lettered records."""
        return {
            "parked": {s.name: s.parked_view() for s in self.subscribers},
            "dead_lettered": self.dead_letters.count,
        }

    def lifespan(self) -> Any:
        """A FastAPI lifespan that starts and stops this runtime with the app."""

        @asynccontextmanager
        async def run(app: FastAPI) -> AsyncIterator[None]:
            app.state.runtime = self
            app.state.settings = self.settings
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        return run


class FaustComponent:
    """Runs a faust app as one of the runtime's components, on the running loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._running: Any = None

    async def start(self) -> None:
        """Bind the app to this loop and start its agents."""
        from faust.contrib.asgi import faust_app_running

        self._running = faust_app_running(self.app)
        await self._running.__aenter__()

    async def stop(self) -> None:
        """Stop the agents (offsets of processed records are committed)."""
        if self._running is not None:
            await self._running.__aexit__(None, None, None)
