"""Which instance owns which partitions: a Kafka consumer group over the service's inbox topic.

Partition *k* of the inbox, and with it partition *k* of every event topic of the service, belongs
to one member of the group. The assignor lays partitions round-robin over the members ordered by
their instance name (so an instance that comes back gets the same partitions back), and tells every
member who owns what, with each owner's HTTP address, so any instance can forward a command to
the owner of its aggregate. The same consumer reads the inbox records of the owned partitions.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

from shared.kafka.clients import Access, aiokafka_options
from shared.kafka.reader import FETCH_MAX_WAIT_MS

log = logging.getLogger(__name__)
Partitions = Callable[[set[int]], Awaitable[None]]
Served = Callable[[set[int]], Awaitable[set[int]]]


def assignor(*, url: str, instance: str, heard: Callable[[dict[int, str]], None]) -> type[AbstractPartitionAssignor]:
    """An assignor class for one member: it announces ``url`` and ``instance``, and hears the owner map."""

    class CoPartitioned(AbstractPartitionAssignor):
        name = "smguard-copartitioned"
        version = 0

        @classmethod
        def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
            about = json.dumps({"url": url, "instance": instance}).encode()
            return ConsumerProtocolMemberMetadata(cls.version, sorted(topics), about)

        @classmethod
        def assign(cls, cluster: Any, members: Mapping[str, ConsumerProtocolMemberMetadata]) -> dict[str, Any]:
            return lay_out(cluster, members, cls.version)

        @classmethod
        def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
            owners = json.loads(assignment.user_data or b"{}").get("owners", {})
            heard({int(k): v for k, v in owners.items()})

    return CoPartitioned


def lay_out(cluster: Any, members: Mapping[str, ConsumerProtocolMemberMetadata], version: int) -> dict[str, Any]:
    """Partition k of every subscribed topic to the same member, round-robin over members by instance name."""
    about = {m: json.loads(meta.user_data or b"{}") for m, meta in members.items()}
    order = sorted(members, key=lambda m: (str(about[m].get("instance", "")), m))
    topics = sorted({t for meta in members.values() for t in meta.subscription})
    count = max((len(cluster.partitions_for_topic(t) or ()) for t in topics), default=0)
    owner_of = {k: order[k % len(order)] for k in range(count)}
    owners = json.dumps({"owners": {k: about[m].get("url") for k, m in owner_of.items()}}).encode()
    return {
        member: ConsumerProtocolMemberAssignment(
            version,
            [(t, [k for k in sorted(cluster.partitions_for_topic(t) or ()) if owner_of[k] == member]) for t in topics],
            owners,
        )
        for member in members
    }


class Ownership(ConsumerRebalanceListener):
    """Membership of this instance; ``owners`` maps every partition to its owner's address."""

    def __init__(
        self,
        *,
        kafka: Access,
        group_id: str,
        inbox: str,
        url: str,
        instance: str,
        revoked: Partitions,
        assigned: Served,
        session_timeout_ms: int,
    ) -> None:
        self.group_id, self.inbox, self.url = group_id, inbox, url
        self.owners: dict[int, str] = {}
        self.rebalancing = True
        self._revoked, self._assigned = revoked, assigned
        self._kafka, self._instance, self._session = kafka, instance, session_timeout_ms
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Join the group (the first assignment arrives through ``assigned``)."""
        self.consumer = AIOKafkaConsumer(
            **aiokafka_options(self._kafka),
            group_id=self.group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            session_timeout_ms=self._session,
            heartbeat_interval_ms=max(500, self._session // 6),
            partition_assignment_strategy=(assignor(url=self.url, instance=self._instance, heard=self._heard),),
        )
        await self.consumer.start()
        self.consumer.subscribe([self.inbox], listener=self)

    async def stop(self) -> None:
        """Leave the group (its partitions go to the others at once)."""
        if self.consumer is not None:
            await self.consumer.stop()

    async def records(self, *, max_records: int = 1000) -> dict[int, list[ConsumerRecord]]:
        """The next inbox records of owned partitions, by partition (also keeps the membership alive)."""
        assert self.consumer is not None
        fetched = await self.consumer.getmany(timeout_ms=200, max_records=max_records)
        return {tp.partition: records for tp, records in fetched.items() if records}

    def serve(self, partition: int) -> None:
        """Read ``partition``'s inbox (after it was taken over)."""
        assert self.consumer is not None
        tp = TopicPartition(self.inbox, partition)
        if tp in self.consumer.assignment():
            self.consumer.resume(tp)

    def unread(self, partition: int, offset: int) -> None:
        """Give back records of a partition this instance does not serve now: read again from ``offset``
        once it serves the partition (records are never dropped on the way)."""
        assert self.consumer is not None
        tp = TopicPartition(self.inbox, partition)
        if tp in self.consumer.assignment():
            self.consumer.seek(tp, offset)
            self.consumer.pause(tp)

    def assigned(self) -> set[int]:
        """The inbox partitions the group gives this instance now (served or still being taken over)."""
        return {tp.partition for tp in self.consumer.assignment()} if self.consumer is not None else set()

    async def rewind(self, partition: int) -> None:
        """Read a partition's inbox again from its committed offset (what a failed transaction consumed comes again)."""
        assert self.consumer is not None
        tp = TopicPartition(self.inbox, partition)
        if tp in self.consumer.assignment():
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)

    async def partition_lags(self) -> dict[TopicPartition, int]:
        """Per inbox partition assigned here, the records in it past the group's committed offset."""
        if self.consumer is None:
            return {}
        assigned = sorted(self.consumer.assignment())
        ends = await self.consumer.end_offsets(assigned) if assigned else {}
        return {tp: max(0, end - (await self.consumer.committed(tp) or 0)) for tp, end in ends.items()}

    def _heard(self, owners: dict[int, str]) -> None:
        self.owners = owners

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """A rebalance begins: stop deciding for these partitions."""
        self.rebalancing = True
        await self._revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """A rebalance ended: these partitions are ours; each is read once it is taken over (fenced, restored)."""
        assert self.consumer is not None
        self.consumer.pause(*assigned)  # aiokafka fetches at once; nothing is read before the store serves it
        served = await self._assigned({tp.partition for tp in assigned})
        self.consumer.resume(*[tp for tp in assigned if tp.partition in served])
        self.rebalancing = False
        log.info("owns partitions", extra={"group": self.group_id, "partitions": sorted(tp.partition for tp in assigned)})
