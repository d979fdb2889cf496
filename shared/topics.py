"""Kafka topic names: one topic of events per aggregate type, plus sensor input and dead letters."""

INCIDENT_EVENTS = "smguard.incident.events"
CONNECTION_EVENTS = "smguard.connection.events"
POLICY_EVENTS = "smguard.policy.events"
OPERATOR_EVENTS = "smguard.operator.events"
CONTACT_EVENTS = "smguard.contact.events"
NOTIFICATION_EVENTS = "smguard.notification.events"
SENSOR_ANOMALIES = "smguard.sensor.anomalies"
DEAD_LETTERS = "smguard.deadletters"

EVENT_TOPICS = (
    INCIDENT_EVENTS,
    CONNECTION_EVENTS,
    POLICY_EVENTS,
    OPERATOR_EVENTS,
    CONTACT_EVENTS,
    NOTIFICATION_EVENTS,
)
ALL_TOPICS = (*EVENT_TOPICS, SENSOR_ANOMALIES, DEAD_LETTERS)


def position_key(topic_base: str, partition: int) -> str:
    """How a partition is named across services: ``<topic base>/<partition>``, e.g. ``smguard.incident.events/0``."""
    return f"{topic_base}/{partition}"
