"""The ECS categorization and summary of every event type of the catalog: data, one entry per event type.

``event.kind``, ``event.category`` and ``event.type`` take ECS's allowed values, each type one its
categories expect (``KINDS``, ``EXPECTED_TYPES``; a test holds the table to them). ``summary`` is the event's one-line
``message`` (``{field}`` / ``{field.sub}`` of its data). ``fields`` puts data fields in further ECS
fields. A category ECS has no bucket for (notifications) is left out rather than forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = frozenset({"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"})
EXPECTED_TYPES: dict[str, frozenset[str]] = {
    "api": frozenset({"access", "admin", "allowed", "change", "creation", "deletion", "denied", "end", "info", "start", "user"}),
    "authentication": frozenset({"start", "end", "info"}),
    "configuration": frozenset({"access", "change", "creation", "deletion", "info"}),
    "database": frozenset({"access", "change", "info", "error"}),
    "driver": frozenset({"change", "end", "info", "start"}),
    "file": frozenset({"access", "change", "creation", "deletion", "info"}),
    "host": frozenset({"access", "change", "end", "info", "start"}),
    "iam": frozenset({"admin", "change", "creation", "deletion", "group", "info", "user"}),
    "intrusion_detection": frozenset({"allowed", "denied", "info"}),
    "library": frozenset({"start"}),
    "malware": frozenset({"info"}),
    "network": frozenset({"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"}),
    "package": frozenset({"access", "change", "deletion", "info", "installation", "start"}),
    "process": frozenset({"access", "change", "end", "info", "start"}),
    "registry": frozenset({"access", "change", "creation", "deletion"}),
    "session": frozenset({"start", "end", "info"}),
    "threat": frozenset({"indicator"}),
    "vulnerability": frozenset({"info"}),
    "web": frozenset({"access", "error", "info"}),
}
"""ECS's allowed ``event.category`` values, each with the ``event.type`` values ECS expects with it."""
OUTCOMES = frozenset({"success", "failure", "unknown"})


@dataclass(frozen=True)
class Entry:
    """How one event type reads in ECS."""

    kind: str
    category: tuple[str, ...]
    type: tuple[str, ...]
    summary: str
    outcome: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    """ECS field → path in the event's data, e.g. ``{"event.reason": "reason"}``."""


_IDS = ("intrusion_detection",)
_CONFIG = ("configuration",)
_NET = ("network",)
_NONE: tuple[str, ...] = ()
_ANOMALY = {"rule.name": "anomaly_type"}

MAPPING: dict[str, Entry] = {
    # incident: smguard.incident.events
    "IncidentOpened": Entry("alert", _IDS, ("info",), "{severity} {category} incident opened ({origin}, by the {opened_by}): {title}"),
    "AnomalyDetected": Entry("alert", (*_IDS, "network"), ("info",),
                             "{anomaly_type} ({severity}) on {connection_id}, signal {signal_id}", fields=_ANOMALY),
    "AnomalyAttached": Entry("alert", (*_IDS, "network"), ("info",),
                             "another {anomaly_type} ({severity}) on {connection_id}, signal {signal_id}", fields=_ANOMALY),
    "VulnerabilityDeclared": Entry("alert", ("vulnerability",), ("info",),
                                   "{severity} vulnerability in {asset_kind} {maker} {model} {firmware}: {title}",
                                   fields={"vulnerability.description": "title", "vulnerability.severity": "severity"}),
    "ReportFiled": Entry("event", _IDS, ("info",), "{part} report revision {revision} filed by the {filed_by}"),
    "ReportOverdue": Entry("alert", _IDS, ("info",), "{part} report overdue since {due_at}"),
    "IncidentNoteAttached": Entry("event", _IDS, ("info",), "note attached by the {attached_by}: {text}"),
    "IncidentCleared": Entry("event", _IDS, ("info",), "cleared by the {cleared_by}: {summary}"),
    # connection: smguard.connection.events
    "ConnectionRegistered": Entry("event", _CONFIG, ("creation",), "{kind} {maker} {model} {firmware} registered, meters {smart_meter_ids}",
                                  fields={"device.manufacturer": "maker", "device.model.name": "model"}),
    "SecretsRotated": Entry("event", ("iam",), ("change",), "the connection's secrets were replaced"),
    "SecretsResealed": Entry("event", _CONFIG, ("change",), "secrets sealed again with a newer key (was {previous_key_id})"),
    "CredentialsCompromised": Entry("alert", ("iam",), ("change",), "the connection's secrets are compromised (incident {incident_id})"),
    "BlockRecommended": Entry("alert", _IDS, ("info",), "block recommended for {incident_id} ({reason}): {recommendation_id}",
                              fields={"event.reason": "reason"}),
    "BlockRecommendationRejected": Entry("event", _IDS, ("allowed",), "block recommendation {recommendation_id} rejected by {decided_by.id}"),
    "ConnectionBlocked": Entry("event", (*_IDS, "network"), ("denied",),
                               "blocked for {incident_id} ({reason}) by {decided_by.kind} {decided_by.id}", fields={"event.reason": "reason"}),
    "BlockEnforced": Entry("event", _NET, ("denied",), "the block was enforced (request {request_id})", outcome="success"),
    "BlockEnforcementFailed": Entry("event", _NET, ("info",), "{action} request {request_id}, attempt {attempt} failed: {error}",
                                    outcome="failure", fields={"error.message": "error"}),
    "BlockReleased": Entry("event", _IDS, ("info",), "released by the clearing of {incident_id}; still blocking: {still_blocking}"),
    "ReconnectionApproved": Entry("event", _NET, ("allowed",), "the {party} approved reconnection ({decided_by.id})"),
    "ConnectionReconnected": Entry("event", _NET, ("allowed",), "both parties approved: reconnecting (request {request_id})"),
    "ReconnectEnforced": Entry("event", _NET, ("allowed",), "the reconnection was enforced (request {request_id})", outcome="success"),
    "EnforcementEscalated": Entry("alert", _NET, ("info",), "{action} request {request_id} not acknowledged after {waited_seconds} s",
                                  outcome="failure"),
    # policy: smguard.policy.events
    "BlockPolicyChanged": Entry("event", _CONFIG, ("change",), "block policy set by {decided_by.id}: {policy}"),
    # operator: smguard.operator.events
    "OperatorOnboarded": Entry("event", _CONFIG, ("creation",), "onboarded: {name} (agreement of {agreement_date})",
                               fields={"organization.name": "name"}),
    "RiskAssessmentRecorded": Entry("event", ("vulnerability",), ("info",), "risk assessment of {date} ({scope}): {remediation_status}"),
    "TrainingRecorded": Entry("event", _CONFIG, ("info",), "{kind} on {date}, {participants} participants"),
    "LeakageControlsAttested": Entry("event", _CONFIG, ("info",), "leakage controls attested on {date} by {attested_by}: {controls}"),
    "StatusRequested": Entry("event", _CONFIG, ("info",), "status requested ({request_id}), reply by {reply_by}: {subject}"),
    "StatusReported": Entry("event", _CONFIG, ("info",), "status reported for {request_id}: {summary}"),
    "ComplianceOverdue": Entry("alert", _CONFIG, ("info",), "{item} overdue since {due_date} (last done {last_done})"),
    # contact: smguard.contact.events
    "ContactRegistered": Entry("event", ("iam",), ("creation", "user"), "{kind} contact registered: {name}, {organisation}"),
    "ContactChanged": Entry("event", ("iam",), ("change", "user"), "{kind} contact changed ({changed_fields}): {name}, {organisation}"),
    # notification: smguard.notification.events
    "NotificationQueued": Entry("event", _NONE, _NONE, "{channel} to {recipient.kind} {recipient.name} about {domain_event_type}: {title}"),
    "NotificationExtended": Entry("event", _NONE, _NONE, "{member_count} members now: {message_subject}"),
    "NotificationFollowedUp": Entry("event", _NONE, _NONE, "went out; later members go to digest {digest_id}"),
    "NotificationDelivered": Entry("event", _NONE, _NONE, "delivered by {channel} (attempt {attempt})", outcome="success"),
    "NotificationFailed": Entry("event", _NONE, _NONE, "{channel} attempt {attempt} failed: {error}", outcome="failure",
                                fields={"error.message": "error"}),
    "NotificationAcknowledged": Entry("event", _NONE, _NONE, "acknowledged by {acknowledged_by}", outcome="success"),
    "NotificationEscalated": Entry("alert", _NONE, _NONE, "escalated to {escalated_to.kind} {escalated_to.name}: {reason}"),
}  # fmt: skip
