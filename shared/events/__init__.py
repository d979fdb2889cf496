"""The event catalog: every domain event of smguard, one module per producing aggregate type."""

from shared.events import connection, contact, incident, notification, operator  # noqa: F401  (registers)
from shared.events.base import CATALOG, DomainEvent, UnknownEventType, event_class

__all__ = ["CATALOG", "DomainEvent", "UnknownEventType", "event_class"]
