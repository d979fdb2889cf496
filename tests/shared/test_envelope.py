"""The CloudEvents envelope and the catalog's codecs, without a broker."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import pytest

from datetime import datetime, timedelta, timezone

from cloudevents.core.bindings.kafka import KafkaMessage, from_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from tests.factories import connection_blocked, connection_registered, incident_opened, operator_onboarded
from shared import envelope as envelope_module
from shared.envelope import DecodeError, Envelope, decode, encode, encode_with_sdk
from shared.events.base import CATALOG, DomainEvent


def envelope_of(event: DomainEvent, **extra: object) -> Envelope:
    return Envelope(event=event, subject="inc-1", sequence=1, source="smguard/incident", **extra)


class TestEncoding:
    def test_an_event_travels_as_a_structured_cloudevent_keyed_by_its_aggregate(self) -> None:
        message = encode(envelope_of(incident_opened("inc-1"), operator_id="op-1", actor="soc-alice"))
        body = json.loads(message.value)
        assert message.key == b"inc-1"
        assert message.headers["content-type"] == b"application/cloudevents+json"
        assert body["specversion"] == "1.0"
        assert body["type"] == "jp.smguard.IncidentOpened"
        assert body["subject"] == "inc-1"
        assert body["sequence"] == 1
        assert body["operatorid"] == "op-1"
        assert body["actor"] == "soc-alice"
        assert body["data"]["title"] == "不正アクセスの疑い"

    def test_decoding_gives_back_the_same_envelope_with_japanese_text_intact(self) -> None:
        original = envelope_of(incident_opened("inc-1", title="無線端末紛失 — 発生事象"), correlation_id="c-1")
        assert decode(encode(original).value) == original

    def test_a_plain_json_consumer_can_read_the_time_in_utc_with_its_zone(self) -> None:
        body = json.loads(encode(envelope_of(incident_opened("inc-1"))).value)
        assert body["time"].endswith("Z") or body["time"].endswith("+00:00")


SAMPLES = [
    envelope_of(incident_opened("inc-1", title="無線端末紛失 — \"発生事象\"\n")),
    envelope_of(connection_registered("conn-1", "op-1", smart_meter_ids=["SM-1", "SM-2"]), operator_id="op-1",
                actor="staff-1", correlation_id="c-1", causation_id="e-0", idempotency_key="sub|POST /x|k#3",
                traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),  # fmt: skip
    envelope_of(connection_blocked("conn-1", "op-1", "inc-1"), time=datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)),
    envelope_of(operator_onboarded("事業者-1"), time=datetime(2026, 12, 7, 18, 0, 0, 123, tzinfo=timezone(timedelta(hours=9)))),
]


class TestTheSdksRecords:
    """``encode`` writes and ``decode`` reads without the SDK's objects: what a SOC consumer sees must not change."""

    @pytest.mark.parametrize("original", SAMPLES)
    def test_encode_writes_the_record_the_sdk_writes(self, original: Envelope) -> None:
        ours, sdks = encode(original), encode_with_sdk(original)
        assert (ours.key, ours.headers) == (sdks.key, sdks.headers)
        read = [from_structured(KafkaMessage(headers={}, key=None, value=m.value), JSONFormat(), CloudEvent) for m in (ours, sdks)]
        assert read[0].get_attributes() == read[1].get_attributes()
        assert read[0].get_data() == read[1].get_data()
        assert json.loads(ours.value) == json.loads(sdks.value)

    @pytest.mark.parametrize("original", SAMPLES)
    def test_decode_reads_what_the_sdk_reads(self, original: Envelope, monkeypatch: pytest.MonkeyPatch) -> None:
        value = encode(original).value
        plain = decode(value)
        monkeypatch.setattr(envelope_module, "_read_plain", lambda _: None)  # every record through the SDK
        through_sdk = decode(value)
        assert plain == through_sdk == original
        assert plain.time.utcoffset() == through_sdk.time.utcoffset()

    @pytest.mark.parametrize(
        "change",
        [
            lambda body: body.update(specversion="0.3"),
            lambda body: body.update(time="2026-12-07 09:00:00Z"),  # a time the SDK's parser reads more loosely
            lambda body: body.update(Extra="x"),  # not an extension name the SDK accepts
            lambda body: body.update(subject=""),
            lambda body: body.pop("data"),
            lambda body: body.update(data_base64="e30="),
        ],
    )
    def test_a_record_shaped_otherwise_is_read_by_the_sdk_with_its_answer(self, change, monkeypatch) -> None:
        body = json.loads(encode(SAMPLES[1]).value)
        change(body)
        value = json.dumps(body).encode()

        def outcome() -> object:
            try:
                return decode(value)
            except DecodeError as exc:
                return str(exc)

        plain = outcome()
        monkeypatch.setattr(envelope_module, "_read_plain", lambda _: None)
        assert plain == outcome()


class TestPosition:
    def test_an_envelope_placed_at_a_position_keeps_every_other_attribute(self) -> None:
        original = SAMPLES[1]
        placed = original.at(envelope_module.Position("t", 1, 42))
        assert placed == dataclasses.replace(original, position=envelope_module.Position("t", 1, 42))
        # at() names every field (it is built directly, for speed): a new field must be added there too
        assert [f.name for f in dataclasses.fields(Envelope)] == [
            "event", "subject", "sequence", "source", "id", "time", "operator_id", "actor", "correlation_id",
            "causation_id", "idempotency_key", "traceparent", "position",
        ]  # fmt: skip


class TestDecodeErrors:
    @pytest.mark.parametrize(
        "value, reason",
        [
            (b"", "empty"),
            (b"not json", "CloudEvents"),
            (b'{"specversion": "1.0", "id": "1", "source": "x", "type": "com.other.Thing", "data": {}}', "not a smguard"),
            (b'{"specversion": "1.0", "id": "1", "source": "x", "type": "jp.smguard.NoSuchEvent", "data": {}}', "unknown"),
        ],
    )
    def test_records_that_are_not_smguard_events_are_refused_with_a_reason(self, value: bytes, reason: str) -> None:
        with pytest.raises(DecodeError, match=reason):
            decode(value)

    def test_an_event_missing_a_required_field_is_refused(self) -> None:
        body = json.loads(encode(envelope_of(incident_opened("inc-1"))).value)
        del body["data"]["title"]
        with pytest.raises(DecodeError, match="invalid payload"):
            decode(json.dumps(body).encode())

    def test_unknown_fields_from_a_newer_producer_are_ignored(self) -> None:
        body = json.loads(encode(envelope_of(incident_opened("inc-1"))).value)
        body["data"]["added_in_a_later_version"] = "x"
        assert decode(json.dumps(body).encode()).event == incident_opened("inc-1")


class TestUpcasting:
    def test_an_old_schema_version_is_upcast_to_the_current_one(self) -> None:
        class SampleRenamed(DomainEvent):
            topic: ClassVar[str] = "sample"
            schema_version: ClassVar[int] = 2
            upcasters: ClassVar = {1: lambda d: {"full_name": d.pop("name"), **d}}
            full_name: str

        try:
            old = envelope_of(SampleRenamed(full_name="x"))
            body = json.loads(encode(old).value)
            body["schemaversion"] = 1
            body["data"] = {"name": "中部"}
            assert decode(json.dumps(body).encode()).event == SampleRenamed(full_name="中部")
        finally:
            CATALOG.pop("SampleRenamed", None)

    def test_every_event_named_in_the_domain_brief_is_in_the_catalog(self) -> None:
        named = """AnomalyDetected IncidentOpened AnomalyAttached VulnerabilityDeclared ReportFiled ReportOverdue
        IncidentCleared ConnectionRegistered BlockRecommended BlockRecommendationRejected ConnectionBlocked
        BlockEnforced BlockEnforcementFailed ReconnectionApproved ConnectionReconnected ReconnectEnforced
        BlockPolicyChanged OperatorOnboarded RiskAssessmentRecorded TrainingRecorded LeakageControlsAttested
        StatusRequested StatusReported ComplianceOverdue ContactRegistered ContactChanged NotificationQueued
        NotificationDelivered NotificationFailed NotificationAcknowledged NotificationEscalated""".split()
        assert set(named) <= set(CATALOG)
