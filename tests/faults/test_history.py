"""The history checker and the report, without I/O: each invariant holds on a clean history and breaks
on the matching flaw."""

from __future__ import annotations

import json

from tests.faults import history as h
from tests.faults.history import Delivery, Event, History, check
from tests.faults.render import latest, render

TOPIC = "p.smguard.connection.events"
NOTICES = "p.smguard.notification.events"


def ev(offset: int, subject: str, sequence: int, type_: str = "ConnectionRegistered", *, id_: str | None = None,
       partition: int = 0, topic: str = TOPIC, **data) -> Event:
    return Event(topic, partition, offset, id_ or f"e-{topic}-{partition}-{offset}-{subject}-{sequence}", subject, sequence, type_, data)


def clean() -> History:
    events = [
        ev(0, "c1", 1), ev(1, "c1", 2, "ConnectionBlocked", request_id="r1"), ev(2, "c2", 1),
        ev(0, "i1", 1, "AnomalyDetected", topic="p.smguard.incident.events", signal_id="s1"),
        ev(1, "i1", 2, "AnomalyAttached", topic="p.smguard.incident.events", signal_id="s2"),
        ev(0, "n1", 1, "NotificationQueued", topic=NOTICES, notification_id="n1", channel="email"),
        ev(1, "n1", 2, "NotificationDelivered", topic=NOTICES, notification_id="n1"),
    ]
    return History(
        acknowledged={"c1": "connection", "c2": "connection"}, anomalies=["s1", "s2"], attacked={"c1"},
        events=events,
        deliveries=[Delivery("enforcement", "r1", "c1:block"), Delivery("enforcement", "r1", "c1:block"),
                    Delivery("mail", "n1", "said-a")],
        replay_differences={"connection": []}, audit_root="abc", rebuilt_audit_root="abc",
    )


def broken(history: History) -> set[str]:
    return set(check(history).broken())


def test_a_clean_history_holds_with_its_figures() -> None:
    verdict = check(clean())
    assert verdict.held, verdict.broken()
    assert verdict.figures["events"] == 7 and verdict.figures["peer_repeats"] == 1


def test_an_acknowledged_command_or_anomaly_missing_from_the_topics_breaks_accounting() -> None:
    history = clean()
    history.acknowledged["c9"] = "connection"
    assert broken(history) == {h.ACCOUNTED}
    history = clean()
    history.anomalies.append("s3")
    assert broken(history) == {h.ACCOUNTED}


def test_an_event_twice_or_an_anomaly_recorded_twice_breaks_once() -> None:
    history = clean()
    history.events.append(ev(3, "c2", 2, id_=history.events[0].id))
    assert broken(history) == {h.ONCE}
    history = clean()
    history.events.append(ev(2, "i1", 3, "AnomalyAttached", topic="p.smguard.incident.events", signal_id="s1"))
    assert broken(history) == {h.ONCE}


def test_a_gap_a_repeat_a_swap_or_a_second_partition_breaks_order() -> None:
    for flaw in ([ev(0, "a", 1), ev(1, "a", 3)], [ev(0, "a", 1), ev(1, "a", 1)], [ev(0, "a", 2), ev(1, "a", 1)],
                 [ev(0, "a", 1), ev(1, "a", 2, partition=1)]):
        history = clean()
        history.events += flaw
        assert broken(history) == {h.ORDER}, flaw


def test_read_offsets_not_arrival_order_decide_the_order() -> None:
    history = clean()
    history.events.reverse()
    assert check(history).held


def test_a_read_model_difference_or_no_comparison_breaks_read_models() -> None:
    history = clean()
    history.replay_differences = {"incident": ["incidents.i1.status: open != cleared"]}
    assert broken(history) == {h.READ_MODELS}
    history.replay_differences = None
    assert broken(history) == {h.READ_MODELS}


def test_a_different_or_missing_audit_root_breaks_audit() -> None:
    history = clean()
    history.rebuilt_audit_root = "abd"
    assert broken(history) == {h.AUDIT}
    history.rebuilt_audit_root = None
    assert broken(history) == {h.AUDIT}


def test_one_peer_id_for_two_logical_requests_breaks_peers() -> None:
    history = clean()
    history.deliveries.append(Delivery("mail", "n1", "said-b"))
    assert broken(history) == {h.PEERS}


def test_an_attacked_meter_blocked_twice_never_or_without_its_request_breaks_blocked_once() -> None:
    history = clean()
    history.events.append(ev(3, "c1", 3, "ConnectionBlocked", request_id="r2"))
    assert broken(history) == {h.BLOCKED_ONCE}
    history = clean()
    history.attacked.add("c2")
    assert broken(history) == {h.BLOCKED_ONCE}
    history = clean()
    history.deliveries = [d for d in history.deliveries if d.peer != "enforcement"]
    assert broken(history) == {h.BLOCKED_ONCE}
    history = clean()
    history.deliveries.append(Delivery("enforcement", "r9", "c1:block"))
    assert broken(history) == {h.BLOCKED_ONCE}


def test_an_email_recorded_as_delivered_that_no_mail_carries_breaks_mailed() -> None:
    history = clean()
    history.deliveries = [d for d in history.deliveries if d.peer != "mail"]
    assert broken(history) == {h.MAILED}
    history = clean()  # a webhook delivery is not the mail peer's to have
    history.events.append(ev(2, "n2", 1, "NotificationQueued", topic=NOTICES, notification_id="n2", channel="webhook"))
    history.events.append(ev(3, "n2", 2, "NotificationDelivered", topic=NOTICES, notification_id="n2"))
    assert broken(history) == set()


def test_records_are_read_as_the_services_write_them() -> None:
    value = json.dumps({"id": "x", "subject": "c1", "sequence": 4, "type": "jp.smguard.ConnectionBlocked",
                        "data": {"request_id": "r"}}).encode()
    assert h.event_of(TOPIC, 1, 7, value) == Event(TOPIC, 1, 7, "x", "c1", 4, "ConnectionBlocked", {"request_id": "r"})
    assert h.event_of(TOPIC, 1, 8, b"not json") is None
    lines = [json.dumps({"request_id": "r", "connection_id": "c1", "action": "block"}), ""]
    assert h.enforcement_deliveries(lines) == [Delivery("enforcement", "r", "c1:block")]


def test_the_report_is_a_table_with_machine_date_and_command_and_the_latest_row_per_result() -> None:
    rows = [
        {"fault": "SIGKILL incident", "invariant": "accounted", "outcome": "broken", "figures": {"n": 1}, "test": "t::a"},
        {"fault": "SIGKILL incident", "invariant": "accounted", "outcome": "held", "figures": {"n": 300}, "test": "t::a"},
        {"fault": "broker | hang", "invariant": "readyz", "outcome": "broken", "figures": {"statuses": [503]}, "test": "t::b"},
    ]
    text = render(rows, machine="Linux x86_64, 2 CPUs", date="2026-12-07", command="make faults")
    assert "Linux x86_64, 2 CPUs" in text and "2026-12-07" in text and "`make faults`" in text
    assert "| fault | invariant | outcome | figures | test |" in text
    assert "| SIGKILL incident | accounted | held | n=300 | `t::a` |" in text
    assert "broker \\| hang" in text and "**broken**" in text and "statuses=[503]" in text
    assert len(latest(rows)) == 2 and "1 of 2 results held" in text


def test_a_result_row_carries_the_first_problems_only_when_the_invariant_broke() -> None:
    history = clean()
    history.anomalies += ["s8", "s9"]
    verdict = check(history)
    assert "problems" not in verdict.figures_for(h.ORDER)
    assert verdict.figures_for(h.ACCOUNTED)["problems"] == ["anomaly s8 recorded on no incident",
                                                           "anomaly s9 recorded on no incident"]


def test_a_result_row_is_one_json_line_in_its_area_file(tmp_path, monkeypatch) -> None:
    import pytest

    from tests.faults import report

    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    path = report.record(fault="f", invariant="i", outcome="held", area="history", events=3)
    report.record(fault="f", invariant="j", outcome="broken", area="history")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.name == "history.jsonl" and [r["outcome"] for r in rows] == ["held", "broken"]
    assert rows[0]["figures"] == {"events": 3} and rows[0]["test"].endswith("::test_a_result_row_is_one_json_line_in_its_area_file")
    with pytest.raises(ValueError):
        report.record(fault="f", invariant="i", outcome="fine")
