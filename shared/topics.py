"""Kafka topic names: one topic of events per aggregate type, plus sensor input and dead letters."""

INCIDENT_EVENTS = "smguard.incident.events"
CONNECTION_EVENTS = "smguard.connection.events"
POLICY_EVENTS = "smguard.policy.events"
OPERATOR_EVENTS = "smguard.operator.events"
CONTACT_EVENTS = "smguard.contact.events"
NOTIFICATION_EVENTS = "smguard.notification.events"
SENSOR_ANOMALIES = "smguard.sensor.anomalies"
DEAD_LETTERS = "smguard.deadletters"

# Each service's inbox: commands keyed by the aggregate they are for, read by the instance that owns
# its partition (the incident service's inbox is the sensors' topic, keyed by connection id).
CONNECTION_COMMANDS = "smguard.connection.commands"
NOTIFICATION_COMMANDS = "smguard.notification.commands"
# Each service's changelog: the latest snapshot of every aggregate and the recent idempotency keys
# (compacted: a cache of the event topics, rebuilt from them when it is lost).
INCIDENT_STATE = "smguard.incident.state"
CONNECTION_STATE = "smguard.connection.state"
NOTIFICATION_STATE = "smguard.notification.state"

EVENT_TOPICS = (
    INCIDENT_EVENTS,
    CONNECTION_EVENTS,
    POLICY_EVENTS,
    OPERATOR_EVENTS,
    CONTACT_EVENTS,
    NOTIFICATION_EVENTS,
)
COMMAND_TOPICS = (CONNECTION_COMMANDS, NOTIFICATION_COMMANDS)
STATE_TOPICS = (INCIDENT_STATE, CONNECTION_STATE, NOTIFICATION_STATE)
ALL_TOPICS = (*EVENT_TOPICS, SENSOR_ANOMALIES, DEAD_LETTERS, *COMMAND_TOPICS, *STATE_TOPICS)


def position_key(topic_base: str, partition: int) -> str:
    """How a partition is named across services: ``<topic base>/<partition>``, e.g. ``smguard.incident.events/0``."""
    return f"{topic_base}/{partition}"
