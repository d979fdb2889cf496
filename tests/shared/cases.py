"""A small aggregate (an incident reduced to what the store's tests need) and how its store is laid out."""

from __future__ import annotations

from pathlib import Path

from shared.kafka import clients
from shared.config import Settings
from shared.domain import Aggregate
from shared.events import DomainEvent
from shared.events.incident import IncidentOpened, ReportOverdue
from shared.eventstore import Context
from shared.eventstore.kafka import KafkaEventStore, Layout
from shared.repository import Repository
from shared.topics import INCIDENT_EVENTS, INCIDENT_STATE, SENSOR_ANOMALIES
from tests.factories import incident_opened, report_overdue

CTX = Context(actor="test")


class Case(Aggregate):
    """An incident reduced to what these tests need."""

    opened: bool
    overdue: list[str]
    signals: int

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.opened, self.overdue, self.signals = False, [], 0

    @property
    def exists(self) -> bool:
        return self.opened

    def index(self) -> dict[str, list[str]]:
        return {"overdue": sorted(self.overdue)}

    @classmethod
    def markers_of(cls, event: DomainEvent) -> list[str]:
        return [f"overdue:{event.incident_id}:{event.part}"] if isinstance(event, ReportOverdue) else []

    def open(self, *, description: str = "") -> None:
        self._record(incident_opened(self.id, description=description))

    def mark(self, part: str) -> None:
        self._record(report_overdue(self.id, part))

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, IncidentOpened):
            self.opened = True
        elif isinstance(event, ReportOverdue):
            self.overdue.append(event.part)


def layout(settings: Settings, instance: int, data: Path) -> Layout:
    return Layout(
        kafka=clients.access(settings),
        topics={INCIDENT_EVENTS: settings.topic(INCIDENT_EVENTS)},
        kinds={INCIDENT_EVENTS: Case},
        inbox=settings.topic(SENSOR_ANOMALIES),
        changelog=settings.topic(INCIDENT_STATE),
        group_id=f"{settings.topic_prefix}store-test",
        transactional_prefix=f"{settings.topic_prefix}store-test.writer",
        partitions=settings.topic_partitions,
        url=f"http://127.0.0.1:{9000 + instance}",
        instance=f"{instance:04d}",
        state_path=data / f"state-{instance}.sqlite",
        source="smguard/test",
        key_window_seconds=7 * 86400,
    )


async def open_cases(store: KafkaEventStore, count: int) -> list[str]:
    repo = Repository(store, Case, name="case")
    saved = [await repo.create(lambda new: opened_case(new), context=CTX) for _ in range(count)]
    return [s.aggregate_id for s in saved]


def opened_case(aggregate_id: str) -> Case:
    case = Case(aggregate_id)
    case.open()
    return case
