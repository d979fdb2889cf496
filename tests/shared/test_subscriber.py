"""The consumer base against a real broker: once each, dead letters, parking, resuming after a crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from shared.kafka import clients
from tests.factories import incident_opened, report_overdue, uid
from shared.config import Settings
from shared.envelope import Envelope
from shared.kafka.deadletters import DeadLetters
from shared.kafka.reader import assign_all, read_to_end
from shared.kafka.sinks import MemorySink, Sink
from shared.kafka.subscriber import Subscriber
from shared.topics import DEAD_LETTERS, INCIDENT_EVENTS
from tests.factories import StandInWriter, eventually

pytestmark = pytest.mark.integration


class CountingSink(Sink):
    """Counts how many times each event was applied, durably: the count, the id and the position in one transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS seen (event_id TEXT, subject TEXT);"
            "CREATE TABLE IF NOT EXISTS positions (topic TEXT, part INTEGER, next_offset INTEGER, PRIMARY KEY (topic, part));"
        )

    def resume_positions(self) -> dict[TopicPartition, int]:
        rows = self.db.execute("SELECT topic, part, next_offset FROM positions").fetchall()
        return {TopicPartition(topic, part): offset for topic, part, offset in rows}

    def already_applied(self, event_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE event_id = ?", (event_id,)).fetchone() is not None

    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        assert envelope.position is not None
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO seen VALUES (?, ?)", (envelope.id, envelope.subject))
            self.db.execute(
                "INSERT OR REPLACE INTO positions VALUES (?, ?, ?)",
                (envelope.position.topic, envelope.position.partition, resume_at),
            )

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT event_id, COUNT(*) FROM seen GROUP BY event_id").fetchall())

    def close(self) -> None:
        self.db.close()


class FlakySink(MemorySink):
    """Fails on events of subjects listed in ``broken``; records the order it applied events in."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()
        self.applied: list[tuple[str, int]] = []

    async def handle(self, envelope: Envelope) -> None:
        if envelope.subject in self.broken:
            raise RuntimeError("read model not ready for this aggregate")
        self.applied.append((envelope.subject, envelope.sequence))


async def append_many(writer: StandInWriter, count: int) -> list[str]:
    """Open ``count`` incidents; their event ids."""
    return [(await writer.append(i, [incident_opened(i)]))[0].id for i in (uid("inc") for _ in range(count))]


async def subscriber_for(settings: Settings, sink, dlq: DeadLetters) -> Subscriber:
    subscriber = Subscriber(
        kafka=clients.access(settings),
        topics=[settings.topic(INCIDENT_EVENTS)],
        sink=sink,
        dead_letters=dlq,
        name="test",
        retry_seconds=3600,  # the tests call retry_parked() themselves
    )
    await subscriber.start()
    return subscriber


@pytest.fixture
async def writer(settings: Settings):
    """The incident service's events, written by a stand-in."""
    async with StandInWriter(settings) as stand_in:
        yield stand_in


@pytest.fixture
async def dlq(settings: Settings, writer: StandInWriter):
    dead_letters = DeadLetters(settings, consumer="test")
    await dead_letters.start()
    yield dead_letters
    await dead_letters.stop()


async def dead_lettered(settings: Settings) -> list:
    consumer = clients.consumer(settings)
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(DEAD_LETTERS)])
        await consumer.seek_to_beginning(*partitions)
        return [r async for batch in read_to_end(consumer, partitions) for r in batch]
    finally:
        await consumer.stop()


class TestExactlyOnce:
    async def test_a_consumer_killed_mid_stream_and_restarted_applies_every_event_exactly_once(
        self, settings: Settings, writer, dlq: DeadLetters, tmp_path: Path
    ) -> None:
        ids = await append_many(writer, 300)
        sink = CountingSink(tmp_path / "view.db")
        first = await subscriber_for(settings, sink, dlq)
        await eventually(lambda: first.applied >= 50, what="some events applied")
        await first.stop()  # killed mid-stream: no graceful hand-over of anything
        sink.close()
        ids += await append_many(writer, 100)  # more events arrive while it is down
        revived = CountingSink(tmp_path / "view.db")
        second = await subscriber_for(settings, revived, dlq)
        try:
            await eventually(lambda: len(revived.counts()) == len(ids), what="all events applied")
            assert set(revived.counts()) == set(ids)
            assert set(revived.counts().values()) == {1}
        finally:
            await second.stop()
            revived.close()


class TestDeadLetters:
    async def test_a_poison_record_goes_to_the_dead_letter_topic_and_the_next_event_is_still_applied(
        self, settings: Settings, writer, dlq: DeadLetters
    ) -> None:
        producer = clients.producer(settings)
        await producer.start()
        await producer.send_and_wait(settings.topic(INCIDENT_EVENTS), b"{not json at all", key=b"poison")
        await producer.stop()
        incident = uid("inc")
        await writer.append(incident, [incident_opened(incident)])
        sink = FlakySink()
        subscriber = await subscriber_for(settings, sink, dlq)
        try:
            await eventually(lambda: (incident, 1) in sink.applied, what="the good event applied")
            letters = await eventually(lambda: dead_lettered(settings), what="a dead letter")
            headers = dict(letters[0].headers)
            assert letters[0].value == b"{not json at all"
            assert b"CloudEvents" in headers["dlq.reason"]
            assert headers["dlq.topic"] == settings.topic(INCIDENT_EVENTS).encode()
        finally:
            await subscriber.stop()


class TestParking:
    async def test_a_failing_event_waits_with_its_aggregates_later_events_while_others_go_on(
        self, settings: Settings, writer, dlq: DeadLetters
    ) -> None:
        stuck, fine = uid("inc"), uid("inc")
        sink = FlakySink()
        sink.broken.add(stuck)
        await writer.append(stuck, [incident_opened(stuck)])
        await writer.append(stuck, [report_overdue(stuck)])
        await writer.append(fine, [incident_opened(fine)])
        subscriber = await subscriber_for(settings, sink, dlq)
        try:
            await eventually(lambda: (fine, 1) in sink.applied, what="the other aggregate applied")
            await eventually(lambda: len(subscriber.parked_view()) == 2, what="two parked events")
            assert [p["type"] for p in subscriber.parked_view()] == ["IncidentOpened", "ReportOverdue"]
            assert "not ready" in subscriber.parked_view()[0]["reason"]
            sink.broken.clear()
            await subscriber.retry_parked()
            assert [a for a in sink.applied if a[0] == stuck] == [(stuck, 1), (stuck, 2)]
            assert subscriber.parked_view() == []
        finally:
            await subscriber.stop()
