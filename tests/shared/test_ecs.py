"""The SOC's view of the events, without I/O: the ECS mapping of every event type, what never leaves, the
readable line, the filters, and the generated table in docs/soc-integration.md."""

from __future__ import annotations

import json
import types
import typing
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from shared.envelope import encode
from shared.events import CATALOG
from shared.events.connection import SealedSecrets, SecretsResealed, SecretsRotated
from shared.events.contact import ContactChanged
from shared.events.incident import AnomalyDetected
from shared.events.notification import NotificationQueued, Recipient
from shared.soc import doc
from shared.soc.ecs import dataset, free_form_fields, payload, secret_fields, to_ecs
from shared.soc.mapping import EXPECTED_TYPES, KINDS, MAPPING, OUTCOMES
from shared.soc.render import Renderer
from shared.soc.select import Selection
from shared.soc.text import fields_of
from tests.factories import DETECTED, connection_blocked, connection_registered, envelope, incident_opened

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SEALED = SealedSecrets(ciphertext="CIPHERTEXT-77f1", fingerprint="FINGERPRINT-9a2", hints={"auth_id": "HINT-AU…78"})


def _nested(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in typing.get_args(annotation) if (found := _nested(arg))), None)


def _has_path(cls: type[BaseModel], path: str) -> bool:
    head, _, rest = path.partition(".")
    if head not in cls.model_fields:
        return False
    if not rest:
        return True
    inner = _nested(cls.model_fields[head].annotation)
    return inner is not None and _has_path(inner, rest)


class TestTheMappingCoversTheCatalog:
    def test_every_event_type_of_the_catalog_has_an_entry_and_no_entry_is_for_another(self) -> None:
        assert set(MAPPING) == set(CATALOG)

    def test_entries_use_ecs_allowed_values_each_type_one_its_categories_expect(self) -> None:
        for name, entry in MAPPING.items():
            assert entry.kind in KINDS, name
            assert bool(entry.category) == bool(entry.type), name
            for category in entry.category:
                assert set(entry.type) <= EXPECTED_TYPES[category], (name, category)
            assert entry.outcome is None or entry.outcome in OUTCOMES, name

    def test_every_summary_and_mapped_field_names_a_field_of_its_event(self) -> None:
        for name, entry in MAPPING.items():
            for path in [*fields_of(entry.summary), *entry.fields.values()]:
                assert _has_path(CATALOG[name], path), f"{name}: {path}"

    def test_one_field_name_has_one_shape_within_a_dataset_so_a_siem_index_can_hold_them_all(self) -> None:
        shapes: dict[tuple[str, str], set[str]] = {}
        for name, cls in CATALOG.items():
            loose = free_form_fields(cls)
            for field, info in cls.model_fields.items():
                if field not in secret_fields(cls):
                    shape = "text" if field in loose else _shape(info.annotation)
                    shapes.setdefault((dataset(name), field), set()).add(shape)
        assert {key: found for key, found in shapes.items() if len(found) > 1} == {}


def _shape(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return "|".join(sorted({_shape(arg) for arg in args if arg is not type(None)}))
    if origin is list:
        return _shape(args[0])
    if origin is Literal or annotation in (str, datetime, date):
        return "text"
    if annotation in (int, float):
        return "number"
    if annotation is bool:
        return "bool"
    return "object"


class TestTheEcsDocument:
    def test_a_block_reads_as_ecs_with_its_tenant_actor_ids_and_trace(self) -> None:
        blocked = envelope(connection_blocked("conn-1", "op-1", "inc-1"), "conn-1", sequence=2, operator_id="op-1",
                           actor="soc-analyst-1", traceparent=TRACE, correlation_id="corr-1")  # fmt: skip
        document = to_ecs(blocked)
        assert document["@timestamp"] == blocked.time.isoformat().replace("+00:00", "Z")
        assert document["event"] | {"id": None} == document["event"] | {
            "kind": "event", "category": ["intrusion_detection", "network"], "type": ["denied"], "action": "connection-blocked",
            "code": "ConnectionBlocked", "id": None, "dataset": "smguard.connection", "module": "smguard", "sequence": 2,
            "reason": "unauthorized_access",
        }  # fmt: skip
        assert document["event"]["id"] == blocked.id
        assert document["organization"] == {"id": "op-1"} and document["user"] == {"name": "soc-analyst-1"}
        assert document["trace"] == {"id": "4bf92f3577b34da6a3ce929d0e0e4736"} and document["span"] == {"id": "00f067aa0ba902b7"}
        assert document["labels"] == {"subject": "conn-1", "schema_version": "1", "correlation_id": "corr-1",
                                      "incident_id": "inc-1", "connection_id": "conn-1"}  # fmt: skip
        assert "soc-analyst-1" in document["related"]["user"] and document["related"]["hosts"] == ["conn-1"]
        assert document["smguard"]["connection"]["reason"] == "unauthorized_access"
        assert document["message"] == "blocked for inc-1 (unauthorized_access) by person soc-analyst-1"

    def test_the_agreements_severity_becomes_event_severity(self) -> None:
        opened = to_ecs(envelope(incident_opened("inc-1", "op-1", severity="critical"), "inc-1"))
        assert opened["event"]["severity"] == 99 and opened["event"]["kind"] == "alert"
        assert "severity" not in to_ecs(envelope(connection_blocked("c", "op-1", "i"), "c"))["event"]

    def test_free_form_evidence_is_json_text_so_one_event_cannot_add_fields_to_an_index(self) -> None:
        anomaly = AnomalyDetected(incident_id="inc-1", signal_id="s-1", connection_id="conn-1", operator_id="op-1",
                                  anomaly_type="unauthorized_access", severity="high", observed_at=DETECTED,
                                  evidence={"rule": "HES-ANOM-07", "hits": [1, 2]})  # fmt: skip
        mapped = to_ecs(envelope(anomaly, "inc-1"))["smguard"]["incident"]["evidence"]
        assert json.loads(mapped) == {"rule": "HES-ANOM-07", "hits": [1, 2]}


class TestWhatNeverLeaves:
    def test_sealed_secrets_appear_in_no_ecs_document_nor_line(self) -> None:
        events = [
            envelope(connection_registered("conn-1", "op-1", secrets=SEALED), "conn-1"),
            envelope(SecretsRotated(connection_id="conn-1", operator_id="op-1", secrets=SEALED), "conn-1"),
            envelope(SecretsResealed(connection_id="conn-1", operator_id="op-1", previous_key_id="k1", secrets=SEALED), "conn-1"),
        ]
        for event in events:
            for fmt in ("ecs", "line"):
                shown = Renderer(Selection(), fmt).render(encode(event).value)
                assert shown is not None
                assert not any(secret in shown for secret in ("CIPHERTEXT", "FINGERPRINT", "HINT")), (event.type, fmt)

    def test_a_webhook_url_keeps_only_its_origin(self) -> None:
        contact = ContactChanged(operator_id="op-1", kind="security_incident", name="山田", organisation="東海",
                                 email="soc@op.example", phone="052-000-0000",
                                 webhook_url="https://hooks.op.example:8443/T0/B1/token-5ecret?sig=abc")  # fmt: skip
        notice = NotificationQueued(notification_id="n-1", domain_event_id="e-1", domain_event_type="IncidentOpened",
                                    route="utility_to_operator", channel="webhook", title="t",
                                    recipient=Recipient(kind="security_incident", name="山田",
                                                        webhook_url="https://hooks.op.example/T0/token-5ecret"))  # fmt: skip
        for event in (contact, notice):
            text = json.dumps(to_ecs(envelope(event, "op-1")), ensure_ascii=False)
            assert "5ecret" not in text and "sig=" not in text
        assert payload(contact)["webhook_url"] == "https://hooks.op.example:8443/…"


class TestTheReadableLine:
    def test_a_title_cannot_move_the_terminal_or_break_the_line(self) -> None:
        hostile = incident_opened("inc-1", "op-1", title="ok\x1b[2J\x1b]8;;http://evil\x07\nFAKE LINE\u202eevil" + "x" * 500)
        shown = Renderer(Selection(), "line").render(encode(envelope(hostile, "inc-1")).value)
        assert shown is not None and "\n" not in shown and "\x1b" not in shown and "\u202e" not in shown
        assert len(shown) < 400 and "FAKE LINE" in shown

    def test_times_are_japan_time_unless_utc_is_asked(self) -> None:
        event = envelope(incident_opened("inc-1", "op-1"), "inc-1", time=datetime.fromisoformat("2026-11-26T09:00:05+00:00"))
        assert Renderer(Selection(), "line").render(encode(event).value).startswith("2026-11-26 18:00:05 JST  IncidentOpened")
        assert Renderer(Selection(), "line", utc=True).render(encode(event).value).startswith("2026-11-26 09:00:05 UTC")


class TestFilters:
    def test_an_incident_filter_finds_the_notice_about_it_and_the_block_for_it(self) -> None:
        notice = NotificationQueued(notification_id="n-1", domain_event_id="e-1", domain_event_type="IncidentOpened",
                                    subject_id="inc-1", operator_id="op-1", route="utility_to_operator", channel="email",
                                    title="t", recipient=Recipient(kind="security_incident", name="山田"))  # fmt: skip
        wanted = Renderer(Selection(incident="inc-1"), "line")
        assert wanted.render(encode(envelope(notice, "n-1")).value) is not None
        assert wanted.render(encode(envelope(connection_blocked("c-1", "op-1", "inc-1"), "c-1")).value) is not None
        assert wanted.render(encode(envelope(incident_opened("inc-2", "op-1"), "inc-2")).value) is None

    def test_an_operator_filter_finds_an_incident_that_names_several_operators(self) -> None:
        fleet = incident_opened("inc-1", None, operator_ids=["op-1", "op-2"])
        assert Renderer(Selection(operator="op-2"), "line").render(encode(envelope(fleet, "inc-1")).value) is not None
        assert Renderer(Selection(operator="op-3"), "line").render(encode(envelope(fleet, "inc-1")).value) is None


def test_the_ecs_table_in_soc_integration_is_fresh__run_smguard_schemas_when_this_fails() -> None:
    assert not doc.is_stale()
    table = doc.table()
    assert all(f"| `{name}` |" in table for name in CATALOG)
