"""``smguard tail``: follow the event topics as a SOC consumer would.

    smguard tail                                              each new event, a CloudEvents JSON line (Ctrl-C stops)
    smguard tail --from beginning --until-end --format line   the whole history, readable, then stop
    smguard tail --from 2026-11-26T09:00:00+09:00 --type ConnectionBlocked --operator op-1 --format ecs
    smguard tail --group siem --format ecs                    in a consumer group of its own: resumes where it stopped

It reads the event topics (read_committed, like every consumer of them) as the configured principal
(``SMGUARD_KAFKA_*``): on a secured broker, a read-only one made by ``smguard kafka-user add NAME --role
soc-consumer``. Without ``--group`` it joins no group and commits nothing. Events go to stdout, one a
line; what it follows, and any record it cannot read (skipped), to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from datetime import datetime
from typing import TextIO

from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import (
    CommitFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from shared.config import Settings, get_settings
from shared.envelope import DecodeError
from shared.kafka.clients import KafkaAccessError, access
from shared.kafka.reader import assign_all, committed_consumer, reached
from shared.soc.render import Renderer, Start, start_of
from shared.soc.select import Selection, UnknownType, event_type, topics_of

FORMATS = ("cloudevents", "line", "ecs")
BATCH = 500
"""Records fetched at a time (with Kafka's fetch limits, what bounds the memory it uses)."""


def _type(name: str) -> str:
    try:
        return event_type(name)
    except UnknownType as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of events, at least 1, not {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--from", dest="start", type=start_of, default="now", metavar="now|beginning|TIME",
                        help="where to start: now (default), the beginning, or the first event written at or after TIME "
                             "(ISO 8601 with a zone, e.g. 2026-11-26T09:00:00+09:00); with --group, for a group's first run")  # fmt: skip
    parser.add_argument("--type", dest="types", type=_type, action="append", default=[], metavar="EVENT_TYPE",
                        help="only events of this type, as the catalog names it (e.g. ConnectionBlocked); repeatable")  # fmt: skip
    parser.add_argument("--operator", help="only events that concern this operator (tenant)")
    parser.add_argument("--incident", help="only events that concern this incident")
    parser.add_argument("--connection", help="only events that concern this connection")
    parser.add_argument("--format", choices=FORMATS, default="cloudevents",
                        help="cloudevents: each record's value as written (default); line: one readable line; ecs: Elastic Common Schema JSON")  # fmt: skip
    parser.add_argument("--utc", action="store_true", help="with --format line: times in UTC (default: Japan time)")
    parser.add_argument("--limit", type=_positive, metavar="N", help="stop after N events")
    parser.add_argument("--until-end", action="store_true", help="stop at the end of the topics as they were at the start")
    parser.add_argument("--group", metavar="NAME",
                        help="read in the consumer group <principal>.NAME and commit what was printed (resumes there)")  # fmt: skip


def main(args: argparse.Namespace, settings: Settings | None = None, *, out: TextIO | None = None) -> int:
    """Follow the topics; 0 when it stopped as asked, 2 with one clear line when it cannot read them."""
    settings = settings or get_settings()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its reasons are reported here, in one line
    try:
        return asyncio.run(tail(settings, args, out or sys.stdout))
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (KafkaAccessError, TimeoutError) as exc:
        return _fail(str(exc))
    except KafkaConnectionError as exc:
        return _fail(f"cannot connect to the Kafka broker at {access(settings).describe()} (not running, out of reach, "
                     f"or refusing these credentials): {exc}")  # fmt: skip
    except SaslAuthenticationFailed:
        return _fail(f"the broker refused the credentials of {access(settings).username} (SMGUARD_KAFKA_USERNAME / _PASSWORD)")
    except TopicAuthorizationFailedError:
        return _fail(f"{access(settings).username} may not read the event topics: a principal made by "
                     "`smguard kafka-user add NAME --role soc-consumer` may")  # fmt: skip
    except GroupAuthorizationFailedError:
        return _fail(f"{access(settings).username} may not use the group {group_id(settings, args.group)}: "
                     "a SOC consumer's groups start with its name")  # fmt: skip
    except KafkaError as exc:
        return _fail(f"Kafka: {exc}")


def group_id(settings: Settings, name: str) -> str:
    """The consumer group ``<principal>.NAME`` (a SOC consumer's ACLs allow groups that start with its name)."""
    owner = access(settings).username if access(settings).uses_sasl else f"{settings.topic_prefix}smguard-tail"
    return name if owner and name.startswith(owner) else f"{owner}.{name}"


def _fail(message: str) -> int:
    print(f"smguard tail: {message}", file=sys.stderr)
    return 2


async def tail(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Print the chosen events until the limit, the end (``--until-end``) or Ctrl-C."""
    selection = Selection(frozenset(args.types), args.operator, args.incident, args.connection)
    topics = [settings.topic(base) for base in topics_of(args.types)]
    renderer = Renderer(selection, args.format, utc=args.utc)
    group = group_id(settings, args.group) if args.group else None
    consumer = committed_consumer(access(settings), group_id=group, fetch_max_bytes=8 * 1024 * 1024)
    progress = _Progress(consumer, args.start)
    await _start(consumer)
    try:
        ends = await _place(consumer, topics, progress, group=group, until_end=args.until_end)
        where = (f"in group {group}{_who(settings)}, from where it stopped (a partition it never read: from {_describe(args.start)})"
                 if group else f"from {_describe(args.start)}{_who(settings)}")  # fmt: skip
        print(f"smguard tail: {'reading' if args.until_end else 'following'} {len(topics)} topics {where}", file=sys.stderr, flush=True)
        printer = _Printer(renderer, out, args.limit)
        while not (ends and await reached(consumer, ends)):
            fetched = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            full = any(printer.take(progress, tp, record) for tp, records in fetched.items() for record in records)
            out.flush()
            if group:
                await progress.commit()
            if full:
                return 0
            if group and args.until_end and ends is None and consumer.assignment():
                ends = await consumer.end_offsets(list(consumer.assignment()))
        return 0
    finally:
        await consumer.stop()


class _Printer:
    """Writes the chosen events of each record, up to the limit; reports and skips a record it cannot read."""

    def __init__(self, renderer: Renderer, out: TextIO, limit: int | None) -> None:
        self.renderer, self.out, self.limit, self.printed = renderer, out, limit, 0

    def take(self, progress: "_Progress", tp, record) -> bool:  # noqa: ANN001
        """Handle one record (marking it read); True once the limit is reached (the caller takes no more)."""
        progress.done[tp] = record.offset + 1
        try:
            text = self.renderer.render(record.value, record.key)
        except DecodeError as exc:
            print(f"smguard tail: skipped the record at {tp.topic}/{tp.partition}@{record.offset}: "
                  f"{self.renderer.clean(exc)}", file=sys.stderr)  # fmt: skip
            return False
        if text is not None:
            self.out.write(text + "\n")
            self.printed += 1
        return bool(self.limit and self.printed >= self.limit)


async def _start(consumer) -> None:  # noqa: ANN001
    """Start the consumer; one that failed to start is closed (aiokafka may cancel its own tasks as it closes)."""
    try:
        await consumer.start()
    except BaseException:
        with contextlib.suppress(KafkaError, asyncio.CancelledError):
            await consumer.stop()
        raise


async def _place(consumer, topics: list[str], progress: "_Progress", *, group: str | None, until_end: bool):  # noqa: ANN001, ANN202
    """Put the consumer where it starts; the end offsets it stops at (with --until-end; in a group, once assigned)."""
    if group:
        consumer.subscribe(topics, listener=progress)
        return None
    partitions = await assign_all(consumer, topics, timeout=15.0)
    for tp, offset in (await _starts(consumer, partitions, progress.start)).items():
        consumer.seek(tp, offset)
    return await consumer.end_offsets(partitions) if until_end else None


async def _starts(consumer, partitions: list, start: Start) -> dict:  # noqa: ANN001
    """Where each partition starts: its beginning, its end (the last committed transaction), or its first record
    written at or after a time (its end when there is none)."""
    if start == "beginning":
        return await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    if start == "now":
        return ends
    found = await consumer.offsets_for_times({tp: int(start.timestamp() * 1000) for tp in partitions})
    return {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in partitions}


class _Progress(ConsumerRebalanceListener):
    """In a group: where each assigned partition was read to, committed after it was printed; a partition the
    group has never committed starts at ``--from`` (and is committed there, so a later run resumes from it)."""

    def __init__(self, consumer, start: Start) -> None:  # noqa: ANN001
        self.consumer, self.start = consumer, start
        self.done: dict = {}
        self._committed: dict = {}

    async def on_partitions_revoked(self, revoked) -> None:  # noqa: ANN001
        await self.commit()
        for tp in revoked:
            self.done.pop(tp, None)
            self._committed.pop(tp, None)

    async def on_partitions_assigned(self, assigned) -> None:  # noqa: ANN001
        fresh = [tp for tp in assigned if await self.consumer.committed(tp) is None]
        for tp, offset in (await _starts(self.consumer, fresh, self.start) if fresh else {}).items():
            self.consumer.seek(tp, offset)
            self.done[tp] = offset

    async def commit(self) -> int:
        """Commit what changed since the last commit: at least once, never before it was written."""
        changed = {tp: offset for tp, offset in self.done.items() if self._committed.get(tp) != offset}
        if changed:
            try:
                await self.consumer.commit(changed)
                self._committed |= changed
            except CommitFailedError as exc:  # a rebalance took the partitions: their next owner reads them again
                print(f"smguard tail: could not commit (the group rebalanced): {exc}", file=sys.stderr)
        return 0


def _who(settings: Settings) -> str:
    return f" as {access(settings).username}" if access(settings).uses_sasl else ""


def _describe(start: Start) -> str:
    return start.isoformat() if isinstance(start, datetime) else {"now": "now", "beginning": "the beginning"}[start]
