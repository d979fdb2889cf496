"""A SOC consumer of smguard's event topics: plain aiokafka and JSON, nothing of smguard's. Copy it and change handle().

It reads the six event topics in a consumer group of its own, handles each event, commits the offsets
only after the events before them were handled (at least once: after a crash it reads some again),
and skips an event whose id it handled recently (redeliveries, a writer's retry; to be exact across
restarts too, keep the handled ids with what you store, or store idempotently by event id). Order
holds per aggregate: the events of one incident, connection, operator or notification come in the
order written (one key, one partition).

Connect as a read-only principal (made by ``smguard kafka-user add soc-siem --role soc-consumer``, which
prints these settings)::

    SMGUARD_KAFKA_BOOTSTRAP_SERVERS=broker:9092      SMGUARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL
    SMGUARD_KAFKA_SASL_MECHANISM=SCRAM-SHA-512       SMGUARD_KAFKA_CA_FILE=/path/ca.pem
    SMGUARD_KAFKA_USERNAME=soc-siem                  SMGUARD_KAFKA_PASSWORD=...
    SMGUARD_TOPIC_PREFIX=                            (the deployment's topic prefix, if it has one)

    python soc_consumer.py --group siem              # group "soc-siem.siem"; Ctrl-C stops
    python soc_consumer.py --group siem --until-end  # stop at the end of the topics as they were at the start

Requires Python 3.11+ and ``pip install aiokafka``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
from collections import OrderedDict
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer

TOPICS = ("incident", "connection", "policy", "operator", "contact", "notification")
"""The event topics: ``<prefix>smguard.<name>.events``, keyed by aggregate id."""
TYPE_PREFIX = "jp.smguard."
KNOWN_SCHEMA_VERSIONS: dict[str, int] = {}
"""Event type → the highest schema version this consumer was written for (e.g. ``{"IncidentOpened": 1}``): a
newer one is reported rather than misread. Empty: every version is taken as is."""


class SeenIds:
    """The ids of the last ``size`` events handled: enough to catch a redelivery, bounded however long it runs."""

    def __init__(self, size: int = 100_000) -> None:
        self.size, self._ids = size, OrderedDict[str, None]()

    def first_time(self, event_id: str) -> bool:
        """True the first time an id is seen (and remembers it), False for a repeat."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def handle(event: dict[str, Any]) -> None:
    """What this SOC does with one event: here, print it as one JSON line. Change this."""
    print(json.dumps(event, ensure_ascii=False), flush=True)


def consumer_from_env(group: str) -> AIOKafkaConsumer:
    """A consumer in the group ``<user>.<group>`` (a SOC principal's groups start with its name), as the environment says."""
    env = os.environ.get
    protocol = env("SMGUARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    user = env("SMGUARD_KAFKA_USERNAME")
    options: dict[str, Any] = {"bootstrap_servers": env("SMGUARD_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                               "security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=env("SMGUARD_KAFKA_CA_FILE"))
    if protocol.startswith("SASL_"):
        password = env("SMGUARD_KAFKA_PASSWORD")
        if not user or not password:
            raise SystemExit("set SMGUARD_KAFKA_USERNAME and SMGUARD_KAFKA_PASSWORD (smguard kafka-user add prints them)")
        options |= {"sasl_mechanism": env("SMGUARD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
                    "sasl_plain_username": user, "sasl_plain_password": password}
    prefix = env("SMGUARD_TOPIC_PREFIX", "")
    return AIOKafkaConsumer(
        *(f"{prefix}smguard.{name}.events" for name in TOPICS),
        group_id=f"{user or prefix + 'soc'}.{group}",
        isolation_level="read_committed",  # only events of committed transactions: what the services decided
        enable_auto_commit=False,  # committed below, after handling
        auto_offset_reset="earliest",  # a new group reads the whole history
        **options,
    )


def event_of(value: bytes | None) -> dict[str, Any] | None:
    """A record's CloudEvent, or None (reported) when it is not one this consumer reads."""
    try:
        event = json.loads(value or b"")
        name = event["type"].removeprefix(TYPE_PREFIX)
        version, known = int(event.get("schemaversion", 1)), KNOWN_SCHEMA_VERSIONS.get(name)
        if known is not None and version > known:
            raise ValueError(f"{name} schema version {version} is newer than this consumer knows ({known})")
        if not isinstance(event.get("id"), str):
            raise ValueError("no event id")
        return event
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"skipped a record: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
        return None


async def consume(consumer: AIOKafkaConsumer, *, seen: SeenIds, on_event: Callable[[dict[str, Any]], None] = handle,
                  until_end: bool = False) -> int:  # fmt: skip
    """Handle events until stopped (or, with ``until_end``, the topics' end as of the first assignment); the count handled."""
    handled, ends = 0, None
    while True:
        batches = await consumer.getmany(timeout_ms=1000, max_records=500)
        for records in batches.values():
            for record in records:
                event = event_of(record.value)
                if event is not None and seen.first_time(event["id"]):
                    on_event(event)
                    handled += 1
        if batches:
            await consumer.commit()  # the positions after the records just handled
        if until_end and consumer.assignment():
            ends = ends or await consumer.end_offsets(list(consumer.assignment()))
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return handled


async def main(argv: list[str] | None = None) -> int:
    """Run the consumer as the command line says."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", required=True, help="the group's name after the principal's (e.g. siem)")
    parser.add_argument("--until-end", action="store_true", help="stop at the end of the topics as they were at the start")
    args = parser.parse_args(argv)
    consumer = consumer_from_env(args.group)
    await consumer.start()
    try:
        count = await consume(consumer, seen=SeenIds(), until_end=args.until_end)
        print(f"handled {count} events", file=sys.stderr)
    finally:
        await consumer.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
