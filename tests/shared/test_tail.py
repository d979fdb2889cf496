"""``smguard tail`` against the real broker, as a read-only SOC principal: events written through the envelope
codec to this test's prefixed topics, read back in each format, filtered, from a time, in a group, followed."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import sys
from datetime import datetime

import pytest

from shared.cli import tail
from shared.config import Settings
from shared.envelope import encode, kafka_headers
from shared.events.connection import SealedSecrets
from shared.events.notification import NotificationQueued, Recipient
from shared.kafka import clients
from shared.kafka.admin import ensure_topics
from shared.topics import INCIDENT_EVENTS
from tests.factories import (
    StandInWriter, connection_blocked, connection_registered, envelope, free_port, incident_opened, make_settings,
    operator_onboarded, report_overdue, soc_principal, uid,
)  # fmt: skip

SEALED = SealedSecrets(ciphertext="CIPHERTEXT-3c1d", fingerprint="fp", hints={"auth_id": "AU…01"})


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smguard tail")
    tail.configure(parser)
    return parser.parse_args(argv)


async def run_tail(settings: Settings, *argv: str) -> list[str]:
    """Run the command to its end (as a script would) and return what it printed on stdout."""
    out = io.StringIO()
    code = await asyncio.to_thread(tail.main, _parse(*argv), settings, out=out)
    assert code == 0
    return out.getvalue().splitlines()


async def write_story(settings: Settings) -> dict[str, list]:
    """Two operators' events on four topics, and a record that is no event; the envelopes written, by aggregate."""
    inc_a, inc_b, conn = uid("inc"), uid("inc"), uid("conn")
    notice = NotificationQueued(notification_id=uid("n"), domain_event_id="e-1", domain_event_type="IncidentOpened",
                                subject_id=inc_a, operator_id="op-a", route="utility_to_operator", channel="email",
                                title="インシデント", recipient=Recipient(kind="security_incident", name="山田"))  # fmt: skip
    async with StandInWriter(settings) as writer:
        story = {
            "inc_a": await writer.append(inc_a, [incident_opened(inc_a, "op-a"), report_overdue(inc_a)], operator_id="op-a"),
            "conn": await writer.append(conn, [connection_registered(conn, "op-a", secrets=SEALED),
                                               connection_blocked(conn, "op-a", inc_a)]),  # fmt: skip
            "inc_b": await writer.append(inc_b, [incident_opened(inc_b, "op-b")]),
            "op_b": await writer.append("op-b", [operator_onboarded("op-b")]),
            "notice": await writer.append(notice.notification_id, [notice]),
        }
    producer = clients.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(INCIDENT_EVENTS), b"{not an event", key=b"x")
    finally:
        await producer.stop()
    return story


@pytest.mark.integration
async def test_from_the_beginning_to_the_end_it_prints_exactly_the_chosen_events_in_each_format(settings, capsys) -> None:
    story = await write_story(settings)
    everything = [e for events in story.values() for e in events]
    soc = await soc_principal(settings)

    written = await run_tail(soc, "--from", "beginning", "--until-end")
    assert sorted(written) == sorted(encode(e).value.decode() for e in everything)  # each record's value as written
    assert "skipped the record at" in capsys.readouterr().err  # the record that is no event, and only on stderr

    documents = [json.loads(text) for text in await run_tail(soc, "--from", "beginning", "--until-end", "--format", "ecs")]
    assert sorted(d["event"]["id"] for d in documents) == sorted(e.id for e in everything)
    assert "CIPHERTEXT" not in json.dumps(documents)

    chosen = await run_tail(soc, "--from", "beginning", "--until-end", "--format", "ecs",
                            "--type", "IncidentOpened", "--type", "ConnectionBlocked", "--operator", "op-a")  # fmt: skip
    assert sorted(json.loads(t)["event"]["id"] for t in chosen) == sorted([story["inc_a"][0].id, story["conn"][1].id])

    about_a = await run_tail(soc, "--from", "beginning", "--until-end", "--format", "line", "--incident", story["inc_a"][0].subject)
    assert [text.split()[3] for text in about_a if story["inc_a"][0].subject in text.split()[4]] == ["IncidentOpened", "ReportOverdue"]
    assert sorted(text.split()[3] for text in about_a) == ["ConnectionBlocked", "IncidentOpened", "NotificationQueued", "ReportOverdue"]

    first = await run_tail(soc, "--from", "beginning", "--until-end", "--format", "line", "--connection", story["conn"][0].subject, "--limit", "1")
    assert len(first) == 1 and first[0].split()[3] == "ConnectionRegistered"


@pytest.mark.integration
async def test_from_a_time_it_starts_at_the_first_event_written_then(settings) -> None:
    await ensure_topics(settings)
    early, late = (envelope(incident_opened(uid("inc"), "op-a"), uid("inc")) for _ in range(2))
    producer = clients.producer(settings)
    await producer.start()
    try:
        for written, at in ((early, "2026-01-05T00:00:00+00:00"), (late, "2026-03-05T00:00:00+00:00")):
            message = encode(written)
            await producer.send_and_wait(settings.topic(INCIDENT_EVENTS), message.value, key=message.key, headers=kafka_headers(message),
                                         timestamp_ms=int(datetime.fromisoformat(at).timestamp() * 1000))  # fmt: skip
    finally:
        await producer.stop()
    soc = await soc_principal(settings)
    shown = await run_tail(soc, "--from", "2026-02-01T09:00:00+09:00", "--until-end", "--format", "ecs")
    assert [json.loads(text)["event"]["id"] for text in shown] == [late.id]


@pytest.mark.integration
async def test_in_a_group_a_second_run_resumes_after_what_the_first_printed(settings) -> None:
    story = await write_story(settings)
    soc = await soc_principal(settings)
    first = await run_tail(soc, "--group", "siem", "--from", "beginning", "--limit", "2")
    rest = await run_tail(soc, "--group", "siem", "--until-end")
    ids = [json.loads(text)["id"] for text in first + rest]
    assert len(first) == 2 and sorted(ids) == sorted(e.id for events in story.values() for e in events)


@pytest.mark.integration
async def test_it_follows_new_events_as_they_are_written_and_ctrl_c_ends_it_cleanly(settings) -> None:
    await ensure_topics(settings)
    soc = await soc_principal(settings)
    env = {**os.environ, "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": soc.kafka_bootstrap_servers, "SMGUARD_TOPIC_PREFIX": soc.topic_prefix,
           "SMGUARD_DATA_DIR": str(soc.data_dir), "SMGUARD_KAFKA_USERNAME": soc.kafka_username or "",
           "SMGUARD_KAFKA_PASSWORD": soc.kafka_password.get_secret_value()}  # fmt: skip
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.cli", "tail", "--format", "line", env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    try:
        started = b""
        while b"following 6 topics from now" not in started:  # it says so once it is at the end of every partition
            started = await asyncio.wait_for(process.stderr.readline(), 60)
            assert started, "it ended before it followed"
        incident = uid("inc")
        async with StandInWriter(settings) as writer:
            await writer.append(incident, [incident_opened(incident, "op-a")])
        shown = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert "IncidentOpened" in shown and incident in shown
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 130
        assert b"Traceback" not in await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class TestClearErrors:
    def test_an_unknown_event_type_lists_the_valid_ones(self, capsys) -> None:
        with pytest.raises(SystemExit):
            _parse("--type", "ConnectionBlock")
        error = capsys.readouterr().err
        assert "unknown event type 'ConnectionBlock'" in error and "ConnectionBlocked" in error and "IncidentOpened" in error

    def test_a_time_without_a_zone_is_refused_with_how_to_say_it(self, capsys) -> None:
        with pytest.raises(SystemExit):
            _parse("--from", "2026-11-26T09:00")
        assert "2026-11-26T09:00+09:00" in capsys.readouterr().err

    def test_no_broker_is_one_line_and_status_2(self, tmp_path, capsys) -> None:
        nowhere = make_settings(f"127.0.0.1:{free_port()}", "t.", tmp_path, kafka_security_protocol="PLAINTEXT")
        assert tail.main(_parse("--until-end"), nowhere, out=io.StringIO()) == 2
        error = capsys.readouterr().err
        assert error.startswith("smguard tail: cannot connect to the Kafka broker at 127.0.0.1:") and error.count("\n") == 1
