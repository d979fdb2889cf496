"""What runs beside a service's HTTP routes: topics, event store, subscribers, background work."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol

from fastapi import FastAPI

from shared.kafka import clients
from shared.kafka.access import topics_of
from shared.config import Settings
from shared.domain import Aggregate
from shared.eventstore.inbox import Handle, InboxLoop
from shared.eventstore.kafka import KafkaEventStore, Layout
from shared.kafka.admin import ensure_topics
from shared.kafka.deadletters import DeadLetters
from shared.kafka.sinks import Sink
from shared.kafka.subscriber import Subscriber
from shared.metrics import CONSUMER_LAG, PARKED, READY, Reading, Values
from shared.periodic import Periodic
from shared.supervision import Supervised, watched

log = logging.getLogger(__name__)
LAG_TIMEOUT = 3.0
"""How long a scrape waits for the consumers' end offsets (asked at once; a consumer's lag is left out beyond)."""
Read = Callable[[], "Values | Awaitable[Values]"]


class Component(Protocol):
    """Anything with an async start and stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Consumer(Protocol):
    """A consumer the runtime watches: readiness waits for it, ``/ops/parked`` lists what it parked."""

    name: str

    async def caught_up(self) -> bool: ...

    async def lag(self) -> int: ...

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
        self._readings: list[tuple[Reading, Read]] = []

    def event_store(self, kinds: Mapping[str, type[Aggregate]], *, inbox: str, changelog: str) -> KafkaEventStore:
        """The service's event store: ``kinds`` maps each own topic to its aggregate; ``inbox`` defines ownership."""
        s, instance = self.settings, self.settings.instance
        self.store = KafkaEventStore(
            Layout(
                kafka=clients.access(s),
                topics={base: s.topic(base) for base in kinds},
                kinds=dict(kinds),
                inbox=s.topic(inbox),
                changelog=s.topic(changelog),
                group_id=f"{s.topic_prefix}smguard.{self.service}",
                transactional_prefix=f"{s.topic_prefix}smguard.{self.service}.writer",
                partitions=s.topic_partitions,
                url=f"http://{s.host}:{s.port_of(self.service)}",
                instance=f"{instance:04d}",
                state_path=s.data_dir / "state" / f"{self.service}-{instance}.sqlite",
                source=f"smguard/{self.service}",
                key_window_seconds=s.key_window_days * 86400,
                cache_size=s.state_cache_size,
                session_timeout_ms=int(s.group_session_seconds * 1000),
                commit_deadline=s.commit_deadline_seconds,
            )
        )
        self._components.append(self.store)
        self._components.append(Periodic(f"{self.service}-expire-keys", self.store.expire_keys, interval=3600))
        return self.store

    def inbox(self, handle: Handle) -> InboxLoop:
        """Decide on the inbox records of the partitions this instance owns (after the store is started)."""
        assert self.store is not None, "event_store() first"
        loop = InboxLoop(self.store, handle, self.dead_letters, name=f"{self.service}.inbox")
        self._components.append(loop)
        return loop

    def subscribe(self, topic_bases: list[str], sink: Sink, *, name: str) -> Subscriber:
        """Feed topics into a sink once the store has loaded."""
        subscriber = Subscriber(
            kafka=clients.access(self.settings),
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

    def measure(self, reading: Reading, read: Read) -> None:
        """Read ``reading`` (from a read model: a cheap query) each time ``/metrics`` is scraped."""
        self._readings.append((reading, read))

    async def readings(self) -> dict[Reading, Values]:
        """What ``/metrics`` shows beside the counters, as it is now: readiness, lag, parked events, the service's own."""
        (ready, _), lags = await asyncio.gather(self.readiness(), self._lags())
        found: dict[Reading, Values] = {READY: {(): 1.0 if ready else 0.0}, CONSUMER_LAG: lags}
        found[PARKED] = {(s.name,): float(sum(map(len, getattr(s, "parked", {}).values()))) for s in self.subscribers}
        for reading, read in self._readings:
            try:
                values = read()
                found[reading] = await values if asyncio.iscoroutine(values) else values  # type: ignore[assignment]
            except Exception:  # e.g. a read model closing as the service stops: left out of this scrape
                log.exception("could not read a metric", extra={"metric": reading.name})
        return found

    async def _lags(self) -> dict[tuple[str, ...], float]:
        """Per consumer group (or subscriber), topic base and partition: records not processed yet."""
        sources: list[tuple[str, Any]] = [(s.name, s) for s in self.subscribers if hasattr(s, "partition_lags")]
        if self.store is not None:
            sources.append((self.store.layout.group_id, self.store.ownership))
        sources += [(c.group, c) for c in self._started if isinstance(c, FaustComponent)]
        prefix, found = self.settings.topic_prefix, {}
        asked = [asyncio.wait_for(source.partition_lags(), LAG_TIMEOUT) for _, source in sources]
        for (group, _), lags in zip(sources, await asyncio.gather(*asked, return_exceptions=True)):
            if isinstance(lags, BaseException):  # the broker away: this scrape shows no lag for it
                log.warning("could not read a consumer's lag", extra={"consumer": group, "error": repr(lags)})
                continue
            for tp, lag in lags.items():
                key = (group.removeprefix(prefix), tp.topic.removeprefix(prefix), str(tp.partition))
                found[key] = float(lag)
        return found

    def add(self, component: Component) -> Component:
        """Start another component after those added before it."""
        self._components.append(component)
        return component

    async def start(self) -> None:
        """Create topics, then start every component in order."""
        await ensure_topics(self.settings, topics_of(self.service))
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
        """Ready when the broker answers, the owned partitions are restored and every projection is caught
        up with its topics as they are now (within ``readiness_max_lag`` records); the detail says how far."""
        detail: dict[str, Any] = {"broker": await self._broker_ok(), "instance": self.settings.instance}
        ok = detail["broker"]
        if self.store is not None:
            store = self.store
            detail["event_store"] = {
                "ready": store.ready, "owned": sorted(store.owned), "restoring": sorted(store.restoring),
                "folded_at_restore": store.restored_events,  # events the changelog lacked (0 when snapshots were whole)
            }  # fmt: skip
            ok = ok and store.ready
        detail["projections"] = {}
        for subscriber in self.subscribers:
            # against the topics' end offsets now (lag), once what was there at start has been read
            lag = await subscriber.lag() if detail["broker"] else -1
            caught_up = await subscriber.caught_up() and 0 <= lag <= self.settings.readiness_max_lag
            detail["projections"][subscriber.name] = {"caught_up": caught_up, "lag": lag}
            ok = ok and caught_up
        detail["tasks"] = {task.name: task.view() for task in self.tasks()}
        failing = sorted(task.name for task in self.tasks() if not task.healthy)
        if failing:
            detail["failing"] = failing
        return ok and not failing, detail

    def tasks(self) -> list[Supervised]:
        """Every background task of the started components, watched (``shared.supervision``)."""
        return watched(self._started)

    async def _broker_ok(self) -> bool:
        admin = clients.admin(self.settings, request_timeout_ms=3000)
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
    """Runs a faust app as one of the runtime's components, on the running loop; a crashed worker or agent
    makes the service not ready (its task ``faust:<app>`` says why)."""

    def __init__(self, app: Any, *, poll_seconds: float = 1.0) -> None:
        self.app = app
        self._running: Any = None
        self._poll = poll_seconds
        self._watch = Supervised(f"faust:{app.conf.id}", self._crashed, restart=False)

    async def start(self) -> None:
        """Bind the app to this loop and start its agents."""
        from faust.contrib.asgi import faust_app_running

        self._running = faust_app_running(self.app)
        await self._running.__aenter__()
        self._watch.start()

    async def stop(self) -> None:
        """Stop the agents (offsets of processed records are committed)."""
        await self._watch.stop()
        if self._running is not None:
            await self._running.__aexit__(None, None, None)

    def supervised(self) -> list[Supervised]:
        """The watch over the faust worker."""
        return [self._watch]

    @property
    def group(self) -> str:
        """The consumer group of the app's agents (its id)."""
        return str(self.app.conf.id)

    async def partition_lags(self) -> dict[Any, int]:
        """Per partition assigned to the agents, the records past what they committed."""
        consumer = self.app.consumer
        assigned = sorted(consumer.assignment())
        ends = await consumer.highwaters(*assigned) if assigned else {}
        committed = consumer._committed_offset  # faust keeps no public view of it
        return {tp: max(0, end - (committed.get(tp) or 0)) for tp, end in ends.items()}

    async def _crashed(self) -> None:
        """Returns (raising why) once the worker or one of its agents has crashed or stopped on its own."""
        while True:
            for service in [self.app, *self.app.agents.values()]:
                if getattr(service, "crashed", False):
                    raise RuntimeError(f"{service.label} crashed: {service.crash_reason!r}")
                if getattr(service, "should_stop", False):
                    raise RuntimeError(f"{service.label} stopped")
            await asyncio.sleep(self._poll)
