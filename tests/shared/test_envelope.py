"""The CloudEvents envelope and the catalog's codecs, without a broker."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from tests.factories import incident_opened
from shared.envelope import DecodeError, Envelope, decode, encode
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
